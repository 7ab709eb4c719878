//! The chat as a Markdown report (`GET /api/report.md`): the questions and answers (citations
//! kept as `[ev:…]` refs), the timeline of the summaries as a table, their server-computed
//! highlights with their refs, the evidence (every cited
//! event with its id, time, principal and action), every tool call with its window and filter,
//! and what was not searched (windows, regions, caps hit, shortened lists, unknown citations).
//!
//! Pure: built from the transcript as the page shows it. Values from tools are untrusted and are
//! escaped into plain table text; invisible and bidi controls are written as visible escapes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::Timestamp;

use crate::conversation::Role;
use crate::evidence::Citation;
use crate::model::offline::answer::md;
use crate::observed::{self, Observed, SeenEvent};
use crate::runner::display_safe;
use crate::transcript::{Part, ShownMessage};

/// The report's file name for a chat exported at `at`.
pub fn file_name(at: Timestamp) -> String {
    format!("cloudtrail-report-{}.md", at.strftime("%Y%m%dT%H%M%SZ"))
}

/// One cell of a table: escaped, one line, visible controls.
fn cell(value: &str) -> String {
    md(&display_safe(value))
}

/// One tool call as the report lists it.
struct Call<'a> {
    number: usize,
    question: usize,
    name: &'a str,
    input: &'a serde_json::Value,
    status: &'static str,
    observed: Option<Observed>,
}

/// The report of `messages` (the chat as shown), generated at `at` by `model`.
pub fn build(messages: &[ShownMessage], at: Timestamp, model: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# CloudTrail investigation report\n");
    let _ = writeln!(
        out,
        "Generated {} by the AWS operations agent ({}).\n",
        at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        cell(model)
    );
    if messages.is_empty() {
        out.push_str("This chat has no questions yet.\n");
        return out;
    }
    let mut calls: Vec<Call<'_>> = Vec::new();
    let mut citations: Vec<(usize, Citation)> = Vec::new();
    let mut question = 0;
    out.push_str("## Questions and answers\n\n");
    for message in messages {
        match message.role {
            Role::User => {
                question += 1;
                let _ = writeln!(
                    out,
                    "### {question}. {}\n",
                    cell(&message.text()).replace('\n', " ")
                );
            }
            Role::Assistant => {
                let answer = message.text();
                if answer.trim().is_empty() {
                    out.push_str("_(no answer text)_\n\n");
                } else {
                    // The answer as the chat showed it (Markdown, citations as refs), with no
                    // HTML: a model may echo a tag from tool data, and a Markdown viewer would
                    // render it.
                    let answer = display_safe(answer.trim_end()).replace('<', "&lt;");
                    let _ = writeln!(out, "{answer}\n");
                }
                for error in &message.errors {
                    let _ = writeln!(out, "> Error: {}\n", cell(&error.message));
                }
                for part in &message.parts {
                    if let Part::Text {
                        citations: cited, ..
                    } = part
                    {
                        citations.extend(cited.iter().map(|c| (question, c.clone())));
                    }
                }
                for card in &message.tools {
                    calls.push(Call {
                        number: calls.len() + 1,
                        question,
                        name: &card.name,
                        input: &card.input,
                        status: match card.status {
                            Some(crate::events::ToolStatus::Ok) => "ok",
                            Some(crate::events::ToolStatus::Error) => "error",
                            Some(crate::events::ToolStatus::Cancelled) | None => "cancelled",
                        },
                        observed: observed::read(&card.output),
                    });
                }
            }
        }
    }
    timeline(&mut out, &calls);
    highlights(&mut out, &calls);
    evidence(&mut out, messages, &calls, &citations);
    tool_calls(&mut out, &calls);
    not_searched(&mut out, &calls, &citations);
    out
}

fn timeline(out: &mut String, calls: &[Call<'_>]) {
    out.push_str("## Timeline\n\n");
    let with_timeline: Vec<_> = calls
        .iter()
        .filter_map(|c| Some((c, c.observed.as_ref()?)))
        .filter(|(_, o)| !o.timeline.is_empty())
        .collect();
    if with_timeline.is_empty() {
        out.push_str("No summary with a timeline was made in this chat.\n\n");
        return;
    }
    for (call, seen) in with_timeline {
        let window = seen.window.as_ref().map_or("?".to_owned(), |(s, e)| {
            format!("{} – {}", cell(s), cell(e))
        });
        let bucket = seen
            .bucket_seconds
            .map_or(String::new(), |s| format!(", buckets of {}", seconds(s)));
        let lower = if seen.hit_cap {
            " (counts are lower bounds: the scan hit its cap)"
        } else {
            ""
        };
        let _ = writeln!(out, "Tool call {}: {window}{bucket}{lower}\n", call.number);
        out.push_str("| Start (UTC) | Read | Write | Failed |\n|---|---:|---:|---:|\n");
        for b in &seen.timeline {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                cell(&b.start),
                b.read,
                b.write,
                b.failed
            );
        }
        out.push('\n');
    }
}

/// The server's highlights of every summary, each with the refs of its events.
fn highlights(out: &mut String, calls: &[Call<'_>]) {
    let found: Vec<_> = calls
        .iter()
        .filter_map(|c| Some((c.number, c.observed.as_ref()?)))
        .flat_map(|(n, o)| o.highlights.iter().map(move |h| (n, h)))
        .collect();
    if found.is_empty() {
        return;
    }
    out.push_str(
        "## Highlights\n\nFound by the server over every event of the summarized windows.\n\n\
         | Tool call | Kind | What | Principal | Count | Events |\n|---:|---|---|---|---:|---|\n",
    );
    for (number, h) in found {
        let refs: Vec<String> = h
            .refs
            .iter()
            .filter(|r| crate::evidence::is_ref(r))
            .map(|r| format!("[ev:{r}]"))
            .collect();
        let _ = writeln!(
            out,
            "| {number} | {} | {} | {} | {} | {} |",
            cell(&h.kind),
            cell(&h.title),
            cell(h.principal.as_deref().unwrap_or("")),
            h.count,
            refs.join(" ")
        );
    }
    out.push('\n');
}

fn seconds(s: u64) -> String {
    match s {
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3_600 == 0 => format!("{} h", s / 3_600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

fn evidence(
    out: &mut String,
    messages: &[ShownMessage],
    calls: &[Call<'_>],
    citations: &[(usize, Citation)],
) {
    out.push_str("## Evidence\n\n");
    let ids = crate::transcript::known_refs(messages);
    // What the tools said about each ref (the first answer listing it).
    let mut seen: BTreeMap<&str, &SeenEvent> = BTreeMap::new();
    for event in calls
        .iter()
        .filter_map(|c| c.observed.as_ref())
        .flat_map(|o| &o.events)
    {
        if let Some(r) = event.event_ref.as_deref() {
            seen.entry(r).or_insert(event);
        }
    }
    let mut listed: Vec<&Citation> = Vec::new();
    for (_, citation) in citations {
        if !listed.iter().any(|c| c.event_ref == citation.event_ref) {
            listed.push(citation);
        }
    }
    if listed.is_empty() {
        out.push_str("No answer cited an event.\n\n");
        return;
    }
    out.push_str(
        "Every event the answers cite, as the tools returned it.\n\n\
         | Ref | Event id | Time (UTC) | Principal | Action | Result |\n|---|---|---|---|---|---|\n",
    );
    for citation in listed {
        let r = citation.event_ref.as_str();
        let event = seen.get(r);
        let id = citation
            .event_id
            .as_deref()
            .or_else(|| ids.get(r).map(String::as_str))
            .or_else(|| event.and_then(|e| e.event_id.as_deref()));
        let Some(id) = id.filter(|_| citation.known) else {
            let _ = writeln!(
                out,
                "| `{r}` | **unknown: no tool in this chat returned this ref** | | | | |"
            );
            continue;
        };
        let (time, principal, action, result) = match event {
            Some(e) => (
                cell(&e.time),
                cell(e.principal.as_deref().unwrap_or("")),
                cell(&e.action),
                cell(e.error.as_deref().unwrap_or("ok")),
            ),
            None => Default::default(),
        };
        let _ = writeln!(
            out,
            "| `{r}` | {} | {time} | {principal} | {action} | {result} |",
            cell(id)
        );
    }
    out.push('\n');
}

fn tool_calls(out: &mut String, calls: &[Call<'_>]) {
    out.push_str("## Tool calls\n\n");
    if calls.is_empty() {
        out.push_str("No tool was called in this chat.\n\n");
        return;
    }
    out.push_str(
        "| # | Question | Tool | Window (UTC) | Filter | Result |\n|---:|---:|---|---|---|---|\n",
    );
    for call in calls {
        let asked = |key: &str| call.input.get(key).and_then(|v| v.as_str());
        let window = match call.observed.as_ref().and_then(|o| o.window.as_ref()) {
            Some((start, end)) => format!("{} – {}", cell(start), cell(end)),
            None => match (asked("start_time"), asked("end_time")) {
                (None, None) => String::new(),
                (s, e) => format!(
                    "{} – {} (as asked)",
                    cell(s.unwrap_or("?")),
                    cell(e.unwrap_or("now"))
                ),
            },
        };
        let filter = match call.observed.as_ref().and_then(|o| o.filter.as_ref()) {
            Some((key, value)) => format!("{} = {}", cell(key), cell(value)),
            None => match (asked("attribute_key"), asked("attribute_value")) {
                (Some(key), Some(value)) => format!("{} = {}", cell(key), cell(value)),
                _ => asked("event_id")
                    .map(|id| format!("event {}", cell(id)))
                    .unwrap_or_else(|| "none".into()),
            },
        };
        let result = match &call.observed {
            Some(o) if !o.events.is_empty() => {
                format!("{}, {} events listed", call.status, o.events.len())
            }
            _ => call.status.to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {window} | {filter} | {result} |",
            call.number,
            call.question,
            cell(call.name)
        );
    }
    out.push('\n');
}

fn not_searched(out: &mut String, calls: &[Call<'_>], citations: &[(usize, Citation)]) {
    out.push_str("## What was not searched\n\n");
    let mut lines: Vec<String> = Vec::new();
    let windows: Vec<String> = calls
        .iter()
        .filter_map(|c| c.observed.as_ref()?.window.as_ref())
        .map(|(s, e)| format!("{} – {}", cell(s), cell(e)))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if windows.is_empty() {
        lines.push("No time window was searched.".into());
    } else {
        lines.push(format!(
            "Only these windows were searched: {}. Events outside them are not in this report.",
            windows.join("; ")
        ));
    }
    let regions: std::collections::BTreeSet<String> = calls
        .iter()
        .filter_map(|c| c.observed.as_ref())
        .flat_map(|o| o.regions.iter().map(|r| cell(r)))
        .collect();
    let searched: std::collections::BTreeSet<String> = calls
        .iter()
        .filter_map(|c| c.observed.as_ref())
        .flat_map(|o| o.searched_regions.iter().map(|r| cell(r)))
        .collect();
    if !searched.is_empty() {
        lines.push(format!(
            "Regions searched: {}. CloudTrail's event history is kept per region: events \
             recorded in other regions are not in this report.",
            searched.into_iter().collect::<Vec<_>>().join(", ")
        ));
        if !regions.is_empty() {
            lines.push(format!(
                "Regions in the results: {}.",
                regions.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
    } else if !regions.is_empty() {
        lines.push(format!(
            "Regions in the results: {}. CloudTrail's event history is kept per region: other \
             regions were not searched.",
            regions.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    for call in calls {
        let n = call.number;
        match &call.observed {
            Some(o) => {
                if o.hit_cap {
                    let note = o.note.as_deref().map(cell).unwrap_or_default();
                    lines.push(format!(
                        "Tool call {n} hit its scan cap: its counts are lower bounds ({note})."
                    ));
                }
                if o.truncated {
                    lines.push(format!(
                        "Tool call {n} was shortened to fit the size budget: some events or list \
                         lines were left out."
                    ));
                }
                if o.omitted > 0 {
                    lines.push(format!(
                        "Tool call {n} omitted {} listed lines (counts include them).",
                        o.omitted
                    ));
                }
                if o.more_pages {
                    lines.push(format!("Tool call {n} had more pages that were not read."));
                }
            }
            None if call.status != "ok" => lines.push(format!(
                "Tool call {n} ({}) did not answer ({}).",
                cell(call.name),
                call.status
            )),
            None => {}
        }
    }
    for (question, citation) in citations.iter().filter(|(_, c)| !c.known) {
        lines.push(format!(
            "Answer {question} cites `[ev:{}]`, which no tool in this chat returned: it is not \
             evidence.",
            citation.event_ref
        ));
    }
    for line in lines {
        let _ = writeln!(out, "- {line}");
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::events::{AgentEvent, ToolStatus};
    use crate::evidence::RefMap;
    use crate::transcript::Transcript;

    fn chat() -> Transcript {
        chat_with(json!({}))
    }

    /// The chat, its summary answer with the fields of `extra` added.
    fn chat_with(extra: serde_json::Value) -> Transcript {
        let mut summary = json!({
            "window": {"start": "2026-11-23T00:00:00Z", "end": "2026-11-24T00:00:00Z"},
            "filter": {"attribute_key": "Username", "attribute_value": "alice"},
            "hit_cap": true, "note": "stopped at max_events", "failed_events": 0,
            "truncated": false, "regions": [{"key": "ap-northeast-1", "count": 3}],
            "write_actions": [{"ref": "1a2b3c4d", "event_time": "2026-11-23T09:00:00Z",
                "event_name": "DeleteBucket", "event_source": "s3.amazonaws.com",
                "principal": "alice|<img src=x onerror=alert(1)>", "error_code": null,
                "resources": ["logs"]}],
            "write_actions_omitted": 2, "failures": [], "failures_omitted": 0,
            "timeline": {"bucket_seconds": 3600, "buckets": [
                {"start": "2026-11-23T09:00:00Z", "read": 4, "write": 1, "failed": 0}]},
            "highlights": [{"kind": "deletion", "title": "Deletions", "principal": "alice",
                            "count": 1, "refs": ["1a2b3c4d", "not a ref"]}],
        });
        if let (Some(summary), Some(extra)) = (summary.as_object_mut(), extra.as_object()) {
            summary.extend(extra.clone());
        }
        let mut t = Transcript::default();
        t.begin("what did alice do yesterday?");
        t.apply(&AgentEvent::ToolStart {
            id: "t1".into(),
            name: "summarize_activity".into(),
            input: json!({"start_time": "2026-11-23T00:00:00Z"}),
        });
        t.apply(&AgentEvent::ToolEnd {
            id: "t1".into(),
            name: "summarize_activity".into(),
            status: ToolStatus::Ok,
            duration_ms: 5,
            output: summary.to_string(),
            refs: RefMap::from([("1a2b3c4d".into(), "ev-id-0001".into())]),
        });
        t.apply(&AgentEvent::Text {
            delta: "Alice deleted logs [ev:1a2b3c4d] and more [ev:deadbeef]. \
                    <img src=x onerror=alert(1)>"
                .into(),
        });
        t.apply(&AgentEvent::Citations {
            refs: crate::evidence::check(
                "[ev:1a2b3c4d] [ev:deadbeef]",
                &RefMap::from([("1a2b3c4d".into(), "ev-id-0001".into())]),
            ),
        });
        t.close();
        t
    }

    #[test]
    fn the_report_holds_questions_answers_timeline_evidence_and_gaps() {
        let at: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
        let report = build(chat().messages(), at, "offline planner");
        assert!(
            report.contains("### 1. what did alice do yesterday?"),
            "{report}"
        );
        assert!(report.contains("Alice deleted logs [ev:1a2b3c4d]"));
        assert!(report.contains("&lt;img src=x"), "an echoed tag stays text");
        assert!(
            report.contains("| 2026-11-23T09:00:00Z | 4 | 1 | 0 |"),
            "{report}"
        );
        assert!(report.contains("buckets of 1 h"));
        assert!(
            report.contains("| 1 | deletion | Deletions | alice | 1 | [ev:1a2b3c4d] |"),
            "{report}"
        );
        // The evidence row: ref, full id, time, principal (escaped), action.
        let row = report
            .lines()
            .find(|l| l.starts_with("| `1a2b3c4d`"))
            .expect("an evidence row");
        assert!(
            row.contains("ev-id-0001") && row.contains("DeleteBucket"),
            "{row}"
        );
        assert!(
            row.contains(r"alice\|\<img src=x onerror=alert\(1\)\>"),
            "{row}"
        );
        assert_eq!(
            report.matches("<img").count(),
            report.matches("\\<img").count(),
            "tool text stays inert (escaped)"
        );
        assert!(report.contains("| `deadbeef` | **unknown"));
        // The tool call with its window and filter.
        assert!(report.contains(
            "| 1 | 1 | summarize\\_activity | 2026-11-23T00:00:00Z – 2026-11-24T00:00:00Z | Username = alice |"
        ), "{report}");
        // What was not searched.
        assert!(report.contains(
            "Only these windows were searched: 2026-11-23T00:00:00Z – 2026-11-24T00:00:00Z"
        ));
        assert!(report.contains("Regions in the results: ap-northeast-1"));
        assert!(report.contains("Tool call 1 hit its scan cap"));
        assert!(report.contains("omitted 2 listed lines"));
        assert!(report.contains("Answer 1 cites `[ev:deadbeef]`"));
        assert_eq!(file_name(at), "cloudtrail-report-20261124T100000Z.md");
    }

    #[test]
    fn the_report_lists_the_regions_an_answer_searched() {
        let searched = chat_with(json!({"searched_regions": ["ap-northeast-1", "us-east-1"]}));
        let report = build(searched.messages(), Timestamp::UNIX_EPOCH, "m");
        assert!(
            report.contains("Regions searched: ap-northeast-1, us-east-1. "),
            "{report}"
        );
        assert!(report.contains("Regions in the results: ap-northeast-1.\n"));
        assert!(!report.contains("other regions were not searched"));
        // Without the field, the report only knows the regions of the results.
        let report = build(chat().messages(), Timestamp::UNIX_EPOCH, "m");
        assert!(!report.contains("Regions searched"));
        assert!(report.contains("other regions were not searched"));
    }

    #[test]
    fn an_empty_chat_says_so() {
        let report = build(&[], Timestamp::UNIX_EPOCH, "m");
        assert!(report.contains("no questions yet"));
    }
}
