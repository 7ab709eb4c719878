//! `eval`: runs the evaluation suite and prints the scorecard (see `scripts/eval`).
//!
//! Offline (default): the offline planner, then the Bedrock path on recorded model turns; exits
//! 1 when a score is below its threshold. `--live`: the same questions against real Bedrock
//! (needs AWS credentials; exits 2 without them).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use eval::procs::{Binaries, ModelChoice, beside_self};
use eval::questions::{Question, all};
use eval::scorecard::{Scores, Thresholds, render};
use eval::truth::Archive;
use eval::{EvalError, procs, replay, suite};
use jiff::Timestamp;

/// Evaluation suite: questions over the sample archive, scored for tool trajectory, fact recall
/// and citation precision.
#[derive(Debug, Parser)]
#[command(name = "eval")]
struct Args {
    /// The agent binary (default: beside this one).
    #[arg(long)]
    agent: Option<PathBuf>,
    /// The cloudtrail-mcp binary (default: beside this one).
    #[arg(long)]
    mcp: Option<PathBuf>,
    /// Ask real Amazon Bedrock (AWS credentials and AWS_REGION needed; model from
    /// AGENT_BEDROCK_MODEL_ID or the agent's default).
    #[arg(long)]
    live: bool,
    /// Only the questions with these ids.
    #[arg(long = "only")]
    only: Vec<String>,
    /// Print every answer.
    #[arg(long, short)]
    verbose: bool,
    /// The sample's seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("eval: {error}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: &Args) -> Result<bool, EvalError> {
    let default = beside_self();
    let bins = Binaries {
        agent: args.agent.clone().unwrap_or(default.agent),
        mcp: args.mcp.clone().unwrap_or(default.mcp),
    };
    bins.check()?;
    let questions: Vec<Question> = all()
        .into_iter()
        .filter(|q| args.only.is_empty() || args.only.iter().any(|id| id == q.id))
        .collect();
    // The anchor both the server's sample and the ground truth are generated at.
    let anchor = Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| Timestamp::now());
    let archive = Archive::sample(anchor, args.seed);
    let mut ok = true;
    if args.live {
        replay::require_credentials().await?;
        let stack = procs::start(
            &bins,
            anchor,
            args.seed,
            &ModelChoice::Live {
                model_id: std::env::var("AGENT_BEDROCK_MODEL_ID").ok(),
            },
        )
        .await?;
        // A live model also gets the questions whose tool results carry injected instructions.
        let mut questions = questions;
        questions.extend(
            eval::questions::injection()
                .into_iter()
                .filter(|q| args.only.is_empty() || args.only.iter().any(|id| id == q.id)),
        );
        let results = suite::run(&stack.client, &archive, &questions).await?;
        ok &= report("live Bedrock", &results, Thresholds::LIVE, args.verbose);
        return Ok(ok);
    }
    let stack = procs::start(&bins, anchor, args.seed, &ModelChoice::Offline).await?;
    let results = suite::run(&stack.client, &archive, &questions).await?;
    ok &= report("offline planner", &results, Thresholds::EXACT, args.verbose);
    drop(stack);
    {
        let replayed = replay::run(&bins, anchor, args.seed, &archive, &args.only).await?;
        ok &= report(
            "Bedrock path, recorded turns",
            &replayed.results,
            Thresholds::EXACT,
            args.verbose,
        );
        for failure in &replayed.failures {
            println!("  check FAILED: {failure}");
        }
        println!(
            "  prompt-injection and invented-citation checks: {} recordings, {} failed checks",
            replayed.checked,
            replayed.failures.len()
        );
        let failures = &replayed.failures;
        ok &= failures.is_empty();
    }
    Ok(ok)
}

/// Prints a scorecard; whether every score meets `min`.
fn report(
    title: &str,
    results: &[(eval::score::Outcome, eval::chat::Transcript)],
    min: Thresholds,
    verbose: bool,
) -> bool {
    if verbose {
        for (outcome, transcript) in results {
            println!("\n--- {} ---\n{}", outcome.id, transcript.text);
        }
    }
    let outcomes: Vec<_> = results.iter().map(|(o, _)| o.clone()).collect();
    print!("{}", render(title, &outcomes));
    let below = Scores::of(&outcomes).below(&min);
    for line in &below {
        println!("  below threshold: {line}");
    }
    below.is_empty()
}
