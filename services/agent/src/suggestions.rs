//! Follow-up suggestions: up to [`MAX_SUGGESTIONS`] questions computed from a run's tool results
//! (never by the model), shown as chips the user can click. Pure: the agent loop gives it what
//! the tools answered ([`crate::observed`]) and the question's language.
//!
//! The rules, in order: what else the principal of the most notable event did within an hour of
//! it (an event a server highlight points at, else the first failure, else the first write);
//! who else touched its resource; the denied calls of the window, when there were failures; and
//! a principal a server highlight names, when it is another one.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::observed::{Observed, SeenEvent};

/// The most suggestions one answer gets.
pub const MAX_SUGGESTIONS: usize = 4;

/// Longest name (principal, resource) quoted in a suggestion, in characters.
const MAX_NAME_CHARS: usize = 80;

/// One suggestion: a short chip label and the question it sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    pub label: String,
    pub question: String,
}

/// Whether `text` is Japanese (kana or kanji anywhere): the answer's language rule.
pub fn is_japanese(text: &str) -> bool {
    text.chars().any(|c| {
        matches!(c, '\u{3040}'..='\u{30FF}' | '\u{4E00}'..='\u{9FFF}' | '\u{FF66}'..='\u{FF9F}')
    })
}

/// A name as quoted: one line, bounded.
fn name(value: &str) -> String {
    let one_line: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut kept: String = one_line.trim().chars().take(MAX_NAME_CHARS).collect();
    if one_line.trim().chars().count() > MAX_NAME_CHARS {
        kept.push('…');
    }
    kept
}

/// `2026-11-23 08:00` (UTC), or the text as given when it is not a time.
fn minute(at: &str) -> String {
    at.parse::<Timestamp>()
        .map(|t| t.strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| at.to_owned())
}

fn around(at: &str) -> Option<(String, String)> {
    let t: Timestamp = at.parse().ok()?;
    let hour = SignedDuration::from_hours(1);
    let fmt = |t: Timestamp| t.strftime("%Y-%m-%d %H:%M").to_string();
    Some((
        fmt(t.checked_sub(hour).ok()?),
        fmt(t.checked_add(hour).ok()?),
    ))
}

fn denied(error: &str) -> bool {
    let e = error.to_ascii_lowercase();
    e.contains("denied") || e.contains("unauthorized") || e.contains("forbidden")
}

/// Up to [`MAX_SUGGESTIONS`] follow-ups from `results` (this run's tool answers, in call
/// order), worded in Japanese when `japanese`. `asked` is left out (the question just answered).
pub fn suggest(results: &[Observed], japanese: bool, asked: &str) -> Vec<Suggestion> {
    let events: Vec<&SeenEvent> = results.iter().flat_map(|r| &r.events).collect();
    let highlighted: Vec<&str> = results
        .iter()
        .flat_map(|r| &r.highlights)
        .flat_map(|h| h.refs.iter().map(String::as_str))
        .collect();
    let with_principal = |test: &dyn Fn(&SeenEvent) -> bool| {
        events
            .iter()
            .find(|e| e.principal.is_some() && test(e))
            .copied()
    };
    let notable = with_principal(&|e| {
        e.event_ref
            .as_deref()
            .is_some_and(|r| highlighted.contains(&r))
    })
    .or_else(|| with_principal(&|e| e.error.is_some()))
    .or_else(|| with_principal(&|e| e.read_only == Some(false)))
    .or_else(|| with_principal(&|_| true));
    let mut out: Vec<Suggestion> = Vec::new();
    let mut push = |label: String, question: String| {
        if out.len() < MAX_SUGGESTIONS
            && question.trim() != asked.trim()
            && !out.iter().any(|s| s.question == question)
        {
            out.push(Suggestion { label, question });
        }
    };
    let mut first_principal = None;
    if let Some(event) = notable
        && let Some(principal) = event.principal.as_deref().map(name)
        && let Some((from, to)) = around(&event.time)
    {
        first_principal = Some(principal.clone());
        if japanese {
            push(
                format!("{principal} の前後 1 時間"),
                format!("{from} から {to} (UTC) の間に {principal} は他に何をしましたか？"),
            );
        } else {
            push(
                format!("{principal} ±1 h"),
                format!("What else did {principal} do between {from} and {to} UTC?"),
            );
        }
    }
    let resource = notable
        .and_then(|e| e.resources.first())
        .or_else(|| events.iter().find_map(|e| e.resources.first()))
        .map(|r| name(r));
    if let Some(resource) = resource {
        if japanese {
            push(
                format!("{resource} に触れた他のユーザー"),
                format!("{resource} を操作した他のユーザーは誰ですか？"),
            );
        } else {
            push(
                format!("Who else touched {resource}"),
                format!("Who else touched {resource}?"),
            );
        }
    }
    let failures = results.iter().any(|r| r.failed_events > 0)
        || events
            .iter()
            .any(|e| e.error.as_deref().is_some_and(denied));
    if failures && let Some((start, end)) = results.iter().find_map(|r| r.window.clone()) {
        let (start, end) = (minute(&start), minute(&end));
        if japanese {
            push(
                "拒否された呼び出し".into(),
                format!("{start} から {end} (UTC) の間に拒否された呼び出しを見せてください。"),
            );
        } else {
            push(
                "Denied calls".into(),
                format!("Show the denied calls between {start} and {end} UTC."),
            );
        }
    }
    let highlighted = results
        .iter()
        .flat_map(|r| r.highlights.iter().map(move |h| (h, r.window.as_ref())))
        .find_map(|(h, window)| {
            let principal = name(h.principal.as_deref()?);
            (Some(&principal) != first_principal.as_ref())
                .then(|| (principal, h.title.clone(), window.cloned()))
        });
    if let Some((principal, title, Some((start, end)))) = highlighted {
        let (start, end) = (minute(&start), minute(&end));
        let title = name(&title);
        if japanese {
            push(
                format!("{principal}: {title}"),
                format!("{start} から {end} (UTC) の間に {principal} は何をしましたか？"),
            );
        } else {
            push(
                format!("{principal}: {title}"),
                format!("What did {principal} do between {start} and {end} UTC?"),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use serde_json::Value;

    use super::*;
    use crate::evidence::event_ref;
    use crate::observed::read;

    fn summary() -> Observed {
        let line = |time: &str, name: &str, who: &str, error: Option<&str>, res: &str| {
            json!({"ref": event_ref(time), "event_time": time, "event_name": name,
                   "event_source": "s3.amazonaws.com", "principal": who, "error_code": error,
                   "resources": [res]})
        };
        read(&json!({
            "window": {"start": "2026-11-23T00:00:00Z", "end": "2026-11-24T00:00:00Z"},
            "filter": null, "failed_events": 3,
            "write_actions": [line("2026-11-23T09:30:00Z", "DeleteBucket", "alice", None, "logs")],
            "failures": [line("2026-11-23T10:00:00Z", "GetObject", "bob", Some("AccessDenied"), "x")],
            "highlights": [{"kind": "root_activity", "title": "Root user activity",
                            "principal": "root", "count": 2, "refs": []}],
        }).to_string())
        .unwrap()
    }

    #[test]
    fn suggestions_follow_the_results() {
        let got = suggest(&[summary()], false, "what happened yesterday?");
        let questions: Vec<&str> = got.iter().map(|s| s.question.as_str()).collect();
        assert_eq!(
            questions,
            [
                "What else did bob do between 2026-11-23 09:00 and 2026-11-23 11:00 UTC?",
                "Who else touched x?",
                "Show the denied calls between 2026-11-23 00:00 and 2026-11-24 00:00 UTC.",
                "What did root do between 2026-11-23 00:00 and 2026-11-24 00:00 UTC?",
            ]
        );
        assert_eq!(got[0].label, "bob ±1 h");
    }

    #[test]
    fn an_event_a_highlight_points_at_comes_first_then_a_failure() {
        let line = |r: &str, time: &str, who: &str, error: Option<&str>| {
            json!({"ref": r, "event_time": time, "event_name": "X", "event_source": "iam",
                   "principal": who, "error_code": error, "resources": [format!("{who}-thing")]})
        };
        let answer = |highlight_refs: Value| {
            read(&json!({
                "window": {"start": "2026-11-23T00:00:00Z", "end": "2026-11-24T00:00:00Z"},
                "failed_events": 1,
                "write_actions": [line("00000001", "2026-11-23T09:00:00Z", "alice", None),
                                  line("00000002", "2026-11-23T12:00:00Z", "carol", None)],
                "failures": [line("00000003", "2026-11-23T10:00:00Z", "bob", Some("AccessDenied"))],
                "highlights": [{"kind": "iam_policy_change", "title": "IAM policy changes",
                                "principal": "carol", "count": 1, "refs": highlight_refs}],
            }).to_string())
            .unwrap()
        };
        let got = suggest(&[answer(json!(["00000002"]))], false, "q");
        assert_eq!(got[0].label, "carol ±1 h");
        assert_eq!(got[1].question, "Who else touched carol-thing?");
        let got = suggest(&[answer(json!([]))], false, "q");
        assert_eq!(got[0].label, "bob ±1 h", "{got:?}");
    }

    #[test]
    fn japanese_questions_get_japanese_suggestions_and_nothing_gives_nothing() {
        let got = suggest(&[summary()], true, "昨日何があった？");
        assert_eq!(got.len(), 4);
        assert!(got.iter().all(|s| is_japanese(&s.question)), "{got:?}");
        assert!(is_japanese("昨日の操作") && !is_japanese("what happened?"));
        assert!(suggest(&[], false, "q").is_empty());
        let empty = read(r#"{"window": {"start": "a", "end": "b"}, "failed_events": 0}"#).unwrap();
        assert!(suggest(&[empty], false, "q").is_empty());
    }

    #[test]
    fn the_question_just_asked_is_not_suggested_and_names_are_one_bounded_line() {
        let asked = "Who else touched x?";
        let got = suggest(&[summary()], false, asked);
        assert!(got.iter().all(|s| s.question != asked));
        let long = format!("evil\nname{}", "x".repeat(200));
        let odd = read(
            &json!({"events": [{"event_time": "2026-11-23T09:00:00Z", "event_name": "X",
                "principal": {"name": long}, "read_only": false, "resources": []}]})
            .to_string(),
        )
        .unwrap();
        let got = suggest(&[odd], false, "q");
        assert!(!got[0].question.contains('\n'));
        assert!(got[0].label.chars().count() < 100);
    }
}
