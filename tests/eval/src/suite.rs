//! Running questions against a started stack: each in a new chat, one after another (answers
//! are scored against the archive, not against each other).

use jiff::Timestamp;

use crate::EvalError;
use crate::chat::{Client, Transcript};
use crate::questions::Question;
use crate::score::{Outcome, score};
use crate::truth::Archive;

/// Asks every question through `client` and scores the answers.
pub async fn run(
    client: &Client,
    archive: &Archive,
    questions: &[Question],
) -> Result<Vec<(Outcome, Transcript)>, EvalError> {
    let mut out = Vec::with_capacity(questions.len());
    for question in questions {
        let asked_at = Timestamp::now();
        let transcript = client.ask(question.text, question.tz).await?;
        let outcome = score(question, &transcript, archive, asked_at);
        out.push((outcome, transcript));
    }
    Ok(out)
}
