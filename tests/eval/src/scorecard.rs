//! The scorecard: per-question lines and the suite's scores, checked against thresholds.

use std::fmt::Write as _;

use crate::score::Outcome;

/// The suite's scores (fractions in `0..=1`; `None` when nothing was measured).
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    pub questions: usize,
    pub passed: usize,
    /// Answerable questions whose tool calls were the expected ones.
    pub trajectory: Option<f64>,
    /// Expected facts found in the answers of answerable questions.
    pub recall: Option<f64>,
    /// Questions to decline that were declined without a tool call.
    pub declines: Option<f64>,
    /// Cited refs the agent marked known (and no cited ref left unchecked).
    pub citation_precision: Option<f64>,
}

fn ratio(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

impl Scores {
    pub fn of(outcomes: &[Outcome]) -> Self {
        let answerable: Vec<&Outcome> = outcomes.iter().filter(|o| !o.declined_expected).collect();
        let declines: Vec<&Outcome> = outcomes.iter().filter(|o| o.declined_expected).collect();
        let sum =
            |f: fn(&Outcome) -> usize, of: &[&Outcome]| of.iter().map(|o| f(o)).sum::<usize>();
        let cited: usize = outcomes.iter().map(|o| o.cited + o.unchecked_refs).sum();
        let known: usize = outcomes.iter().map(|o| o.cited_known).sum();
        Scores {
            questions: outcomes.len(),
            passed: outcomes.iter().filter(|o| o.passed()).count(),
            trajectory: ratio(
                answerable.iter().filter(|o| o.trajectory_ok).count(),
                answerable.len(),
            ),
            recall: ratio(sum(|o| o.found, &answerable), sum(|o| o.facts, &answerable)),
            declines: ratio(
                declines
                    .iter()
                    .filter(|o| o.trajectory_ok && o.found == o.facts)
                    .count(),
                declines.len(),
            ),
            citation_precision: ratio(known, cited),
        }
    }

    /// The scores below `min` (each threshold applies when the score was measured).
    pub fn below(&self, min: &Thresholds) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |name: &str, score: Option<f64>, min: Option<f64>| {
            if let (Some(score), Some(min)) = (score, min)
                && score + 1e-9 < min
            {
                out.push(format!(
                    "{name} {} < {}",
                    percent(Some(score)),
                    percent(Some(min))
                ));
            }
        };
        check("trajectory", self.trajectory, min.trajectory);
        check("fact recall", self.recall, min.recall);
        check("declines", self.declines, min.declines);
        check(
            "citation precision",
            self.citation_precision,
            min.citation_precision,
        );
        out
    }
}

/// Minimum scores (`None`: reported only).
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub trajectory: Option<f64>,
    pub recall: Option<f64>,
    pub declines: Option<f64>,
    pub citation_precision: Option<f64>,
}

impl Thresholds {
    /// Deterministic runs (offline planner, recorded model turns): everything is exact.
    pub const EXACT: Thresholds = Thresholds {
        trajectory: Some(1.0),
        recall: Some(1.0),
        declines: Some(1.0),
        citation_precision: Some(1.0),
    };
    /// A live model: reported, and only citations must be right.
    pub const LIVE: Thresholds = Thresholds {
        trajectory: None,
        recall: None,
        declines: None,
        citation_precision: Some(1.0),
    };
}

fn percent(score: Option<f64>) -> String {
    score.map_or("n/a".into(), |s| format!("{:.1}%", s * 100.0))
}

/// The scorecard as text: one line per question, then the scores.
pub fn render(title: &str, outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n== {title} ==");
    let _ = writeln!(
        out,
        "{:<30} {:<5} {:<4} {:>7} {:>6}  tool calls / misses",
        "question", "pass", "traj", "facts", "cites"
    );
    for o in outcomes {
        let mark = |ok: bool| if ok { "ok" } else { "FAIL" };
        let mut notes = o.calls.join(" -> ");
        if let Some(why) = &o.trajectory_note {
            let _ = write!(notes, "  [{why}]");
        }
        if !o.misses.is_empty() {
            let _ = write!(notes, "  missing: {}", o.misses.join(", "));
        }
        let _ = writeln!(
            out,
            "{:<30} {:<5} {:<4} {:>7} {:>6}  {}",
            o.id,
            mark(o.passed()),
            mark(o.trajectory_ok),
            format!("{}/{}", o.found, o.facts),
            format!("{}/{}", o.cited_known, o.cited + o.unchecked_refs),
            notes
        );
    }
    let s = Scores::of(outcomes);
    let _ = writeln!(
        out,
        "\n{title}: {}/{} questions passed | trajectory {} | fact recall {} | declines {} | citation precision {}",
        s.passed,
        s.questions,
        percent(s.trajectory),
        percent(s.recall),
        percent(s.declines),
        percent(s.citation_precision)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(trajectory_ok: bool, found: usize, facts: usize, declined: bool) -> Outcome {
        Outcome {
            trajectory_ok,
            found,
            facts,
            declined_expected: declined,
            ..Outcome::default()
        }
    }

    #[test]
    fn scores_and_thresholds() {
        let outcomes = [
            outcome(true, 3, 4, false),
            outcome(false, 1, 1, false),
            outcome(true, 1, 1, true),
        ];
        let s = Scores::of(&outcomes);
        assert_eq!(s.trajectory, Some(0.5));
        assert_eq!(s.recall, Some(0.8));
        assert_eq!(s.declines, Some(1.0));
        assert_eq!(s.citation_precision, None);
        assert_eq!(s.passed, 1);
        let below = s.below(&Thresholds::EXACT);
        assert_eq!(below.len(), 2, "{below:?}");
        assert!(
            Scores::of(&[outcome(true, 1, 1, false)])
                .below(&Thresholds::EXACT)
                .is_empty()
        );
        assert!(render("t", &outcomes).contains("1/3 questions passed"));
    }
}
