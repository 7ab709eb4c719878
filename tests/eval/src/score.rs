//! Scoring one answered question: the tool trajectory (the right tools, in order, each with the
//! expected filter and a searched window that matches the question's), the facts its answer
//! states, and the citations it makes (each `[ev:…]` the agent's `citations` event marked known
//! was returned by a tool in that chat).

use std::sync::LazyLock;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use regex::Regex;
use serde_json::Value;

use crate::chat::{Citation, ToolCall, Transcript};
use crate::facts::{Fact, Scope};
use crate::questions::{Call, Expect, Question};
use crate::truth::{Archive, Window};
use crate::window;

/// How one question scored.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub id: &'static str,
    pub declined_expected: bool,
    /// The tool calls made, as `name(filter)`.
    pub calls: Vec<String>,
    pub trajectory_ok: bool,
    /// Why the trajectory is wrong, when it is.
    pub trajectory_note: Option<String>,
    pub facts: usize,
    pub found: usize,
    /// The facts not found.
    pub misses: Vec<String>,
    pub cited: usize,
    /// Citations marked known by the agent and verified against the archive ([`verified`]).
    pub cited_known: usize,
    /// Refs cited in the text but absent from the `citations` event.
    pub unchecked_refs: usize,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.trajectory_ok
            && self.found == self.facts
            && self.cited_known == self.cited
            && self.unchecked_refs == 0
    }
}

static WINDOW: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#""window"\s*:\s*\{\s*"start"\s*:\s*"([^"]+)"\s*,\s*"end"\s*:\s*"([^"]+)""#)
        .unwrap_or_else(|e| panic!("window pattern: {e}"))
});
static CITED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\[ev:([0-9a-f]{8})\]").unwrap_or_else(|e| panic!("citation pattern: {e}"))
});

/// The window a tool's answer says it searched (read from the start of its JSON, which the
/// stream's size cap never cuts).
pub fn searched_window(output: &str) -> Option<Window> {
    let caps = WINDOW.captures(output)?;
    Some(Window {
        start: caps[1].parse().ok()?,
        end: caps[2].parse().ok()?,
    })
}

fn filter_of(input: &Value) -> Option<(String, String)> {
    let key = input["attribute_key"].as_str()?;
    let value = input["attribute_value"].as_str()?;
    Some((key.to_owned(), value.to_owned()))
}

fn describe(call: &ToolCall) -> String {
    let name = call.name.rsplit("___").next().unwrap_or(&call.name);
    match filter_of(&call.input) {
        Some((k, v)) => format!("{name}({k}={v})"),
        None => format!("{name}()"),
    }
}

/// Why `made` is not `expected`, or `None` when it is.
fn check_call(
    made: &ToolCall,
    expected: &Call,
    asked_at: Timestamp,
    tz: &TimeZone,
) -> Option<String> {
    if !made.name.ends_with(expected.tool.name()) {
        return Some(format!(
            "called {} instead of {}",
            made.name,
            expected.tool.name()
        ));
    }
    if made.status != "ok" {
        return Some(format!("{} ended {}", made.name, made.status));
    }
    let filter = filter_of(&made.input);
    let wanted = expected.filter.map(|(k, v)| (k.to_owned(), v.to_owned()));
    if filter != wanted {
        return Some(format!("filter {filter:?}, expected {wanted:?}"));
    }
    let want = expected.period.resolve(asked_at, tz);
    match searched_window(&made.output) {
        None => Some("no window in the tool's answer".into()),
        Some(got) if !window::matches(got, want) => Some(format!(
            "searched {}..{}, expected {}..{} ({:?})",
            got.start, got.end, want.start, want.end, expected.period
        )),
        Some(_) => None,
    }
}

/// The expected calls, plus the follow-up a careful answer makes when the principal the question
/// names made no call in the window: the same window unfiltered, to say who was active instead.
fn with_followup(
    calls: &[Call],
    transcript: &Transcript,
    archive: &Archive,
    asked_at: Timestamp,
    tz: &TimeZone,
) -> Vec<Call> {
    let mut out = calls.to_vec();
    if let Some(last) = calls.last()
        && transcript.tools.len() == calls.len() + 1
        && last.tool == crate::questions::Tool::Summarize
        && let Some(("Username", user)) = last.filter
        && archive
            .by_user(last.period.resolve(asked_at, tz), user)
            .next()
            .is_none()
    {
        out.push(Call {
            filter: None,
            ..*last
        });
    }
    out
}

/// Whether a citation is right: the agent marked it known, resolved it to an event id whose ref
/// it is, that event is in the archive, and a tool of the chat searched a window holding it.
fn verified(citation: &Citation, archive: &Archive, searched: &[Window]) -> bool {
    let Some(id) = citation.event_id.as_deref() else {
        return false;
    };
    citation.known
        && cloudtrail_contract::evidence::event_ref(id) == citation.reference
        && archive
            .by_ref(&citation.reference)
            .is_some_and(|e| e.id == id && searched.iter().any(|w| w.contains(e.time)))
}

/// Scores `transcript`, the answer to `question` asked at `asked_at`.
pub fn score(
    question: &Question,
    transcript: &Transcript,
    archive: &Archive,
    asked_at: Timestamp,
) -> Outcome {
    let tz = TimeZone::get(question.tz).unwrap_or(TimeZone::UTC);
    let mut outcome = Outcome {
        id: question.id,
        calls: transcript.tools.iter().map(describe).collect(),
        ..Outcome::default()
    };
    let facts: Vec<Fact> = match &question.expect {
        Expect::Decline => {
            outcome.declined_expected = true;
            outcome.trajectory_note = (!transcript.tools.is_empty()).then(|| {
                format!(
                    "{} tool call(s) for a question to decline",
                    transcript.tools.len()
                )
            });
            vec![Fact::Declined]
        }
        Expect::Answer { calls, facts } => {
            let calls = &with_followup(calls, transcript, archive, asked_at, &tz);
            outcome.trajectory_note = if transcript.tools.len() != calls.len() {
                Some(format!(
                    "{} tool call(s), expected {}",
                    transcript.tools.len(),
                    calls.len()
                ))
            } else {
                transcript
                    .tools
                    .iter()
                    .zip(calls)
                    .find_map(|(made, expected)| check_call(made, expected, asked_at, &tz))
            };
            // The facts of the window the last call searched, when it is the expected one.
            let expected = calls
                .last()
                .map(|c| c.period.resolve(asked_at, &tz))
                .unwrap_or(Window {
                    start: asked_at,
                    end: asked_at,
                });
            let window = transcript
                .tools
                .last()
                .and_then(|t| searched_window(&t.output))
                .filter(|w| window::matches(*w, expected))
                .unwrap_or(expected);
            facts(&Scope {
                archive,
                window,
                tz: &tz,
            })
        }
    };
    outcome.trajectory_ok = outcome.trajectory_note.is_none();
    outcome.facts = facts.len();
    for fact in &facts {
        if fact.found_in(&transcript.text) {
            outcome.found += 1;
        } else {
            outcome.misses.push(fact.label());
        }
    }
    outcome.cited = transcript.citations.len();
    let searched: Vec<Window> = transcript
        .tools
        .iter()
        .filter_map(|t| searched_window(&t.output))
        .collect();
    outcome.cited_known = transcript
        .citations
        .iter()
        .filter(|c| verified(c, archive, &searched))
        .count();
    outcome.unchecked_refs = CITED
        .captures_iter(&transcript.text)
        .filter(|caps| !transcript.citations.iter().any(|c| c.reference == caps[1]))
        .count();
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::questions::{Tool, all};
    use crate::window::Period;

    #[test]
    fn reads_the_searched_window_from_a_cut_answer() {
        let w = searched_window(
            r#"{"window":{"start":"2026-11-24T00:00:00Z","end":"2026-11-25T00:00:00Z"},"filter":nu"#,
        )
        .unwrap();
        assert_eq!(w.start, "2026-11-24T00:00:00Z".parse().unwrap());
    }

    fn transcript(tool: &str, input: Value, window: &str, text: &str) -> Transcript {
        Transcript {
            text: text.into(),
            tools: vec![ToolCall {
                id: "t".into(),
                name: tool.into(),
                input,
                status: "ok".into(),
                output: format!(r#"{{"window":{window},"scanned":0}}"#),
            }],
            ..Transcript::default()
        }
    }

    #[test]
    fn a_wrong_filter_window_or_tool_fails_the_trajectory() {
        let now: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
        let archive = Archive::default();
        let q = all()
            .into_iter()
            .find(|q| q.id == "alice-yesterday")
            .unwrap();
        let yesterday = r#"{"start":"2026-11-24T00:00:00Z","end":"2026-11-25T00:00:00Z"}"#;
        let good = serde_json::json!({"attribute_key": "Username", "attribute_value": "alice"});
        // No events: the answer must say 0 calls, 0 failed.
        let ok = score(
            &q,
            &transcript(
                "summarize_activity",
                good.clone(),
                yesterday,
                "alice made 0 calls",
            ),
            &archive,
            now,
        );
        assert!(ok.trajectory_ok && ok.passed(), "{ok:?}");
        let bob = serde_json::json!({"attribute_key": "Username", "attribute_value": "bob"});
        assert!(
            !score(
                &q,
                &transcript("summarize_activity", bob, yesterday, ""),
                &archive,
                now
            )
            .trajectory_ok
        );
        let today = r#"{"start":"2026-11-25T00:00:00Z","end":"2026-11-25T10:00:00Z"}"#;
        assert!(
            !score(
                &q,
                &transcript("summarize_activity", good.clone(), today, ""),
                &archive,
                now
            )
            .trajectory_ok
        );
        assert!(
            !score(
                &q,
                &transcript("lookup_events", good, yesterday, ""),
                &archive,
                now
            )
            .trajectory_ok
        );
        assert_eq!(Tool::Summarize.name(), "summarize_activity");
        assert_eq!(
            Period::Yesterday.resolve(now, &TimeZone::UTC).start,
            "2026-11-24T00:00:00Z".parse().unwrap()
        );
    }

    #[test]
    fn citations_must_be_known_real_and_searched() {
        let now: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
        let event = crate::truth::Event::from_record(&serde_json::json!({
            "eventID": "e-1", "eventTime": "2026-11-24T09:00:00Z", "eventName": "DeleteBucket",
            "userIdentity": {"type": "IAMUser", "userName": "bob"}}))
        .unwrap();
        let archive = Archive::new(vec![event]);
        let real = cloudtrail_contract::evidence::event_ref("e-1");
        let q = all()
            .into_iter()
            .find(|q| q.id == "alice-yesterday")
            .unwrap();
        let input = serde_json::json!({"attribute_key": "Username", "attribute_value": "alice"});
        let yesterday = r#"{"start":"2026-11-24T00:00:00Z","end":"2026-11-25T00:00:00Z"}"#;
        let cite = |reference: &str, id: Option<&str>, known: bool| Citation {
            reference: reference.into(),
            event_id: id.map(str::to_owned),
            known,
        };
        let mut t = transcript("summarize_activity", input, yesterday, "");
        t.text = format!("0 calls [ev:{real}] [ev:deadbeef]");
        // Known and real, but "deadbeef" was never checked by the agent.
        t.citations = vec![cite(&real, Some("e-1"), true)];
        let o = score(&q, &t, &archive, now);
        assert_eq!((o.cited, o.cited_known, o.unchecked_refs), (1, 1, 1));
        assert!(!o.passed());
        // Marked unknown: not precise.
        t.citations.push(cite("deadbeef", None, false));
        let o = score(&q, &t, &archive, now);
        assert_eq!((o.cited, o.cited_known, o.unchecked_refs), (2, 1, 0));
        assert!(!o.passed() && o.trajectory_ok);
        // Marked known but resolved to an id that is not its ref's: not precise either.
        t.citations = vec![cite(&real, Some("e-2"), true)];
        t.text = format!("0 calls [ev:{real}]");
        assert_eq!(score(&q, &t, &archive, now).cited_known, 0);
        // A real event outside every searched window does not support the answer.
        t.tools[0].output =
            r#"{"window":{"start":"2026-11-23T00:00:00Z","end":"2026-11-24T00:00:00Z"}}"#.into();
        t.citations = vec![cite(&real, Some("e-1"), true)];
        assert_eq!(score(&q, &t, &archive, now).cited_known, 0);
    }
}
