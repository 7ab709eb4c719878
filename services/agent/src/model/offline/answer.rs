//! Writing the offline model's answers: short Markdown built from the tool's JSON. Every value
//! taken from a tool result is untrusted (it comes from CloudTrail, where anyone who can make a
//! call can place text), so it is Markdown-escaped and length-capped before it is written.

use std::fmt::Write as _;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;

use super::ToolKind;
use super::intent::{Intent, Lang, Topic, Verb};

/// How many table rows an answer shows before "and N more".
const MAX_ROWS: usize = 15;

/// Escapes Markdown and HTML-significant characters and caps the length, so a value from a
/// tool is always shown as plain text in one table cell.
pub fn md(value: &str) -> String {
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        if i >= 120 {
            out.push('…');
            break;
        }
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '~' | '(' | ')' | '!'
            | '{' | '}' | '&' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn s<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

fn n(value: &Value, key: &str) -> u64 {
    value.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// An RFC 3339 time from a tool, in the user's timezone.
fn local(time: &str, tz: &TimeZone) -> String {
    time.parse::<Timestamp>()
        .map(|t| {
            t.to_zoned_datetime(tz.clone())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|_| md(time))
}

fn tz_name(tz: &TimeZone) -> &str {
    tz.iana_name().unwrap_or("UTC")
}

fn window_line(intent: &Intent, tz: &TimeZone) -> String {
    let (from, to) = (
        local(&intent.start.to_string(), tz),
        local(&intent.end.to_string(), tz),
    );
    match intent.lang {
        Lang::En => format!("Window: {from} → {to} ({})", tz_name(tz)),
        Lang::Ja => format!("期間: {from} → {to}（{}）", tz_name(tz)),
    }
}

fn counts(value: &Value, key: &str, max: usize) -> String {
    list(value, key)
        .iter()
        .take(max)
        .map(|c| format!("{} ({})", md(s(c, "key")), n(c, "count")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn service(event_source: &str) -> String {
    md(event_source.trim_end_matches(".amazonaws.com"))
}

/// The line the model streams before it calls the tool.
pub fn preface(intent: &Intent, tz: &TimeZone) -> String {
    let what = match (&intent.topic, intent.lang) {
        (Topic::Activity { principal }, Lang::En) => {
            format!("Looking up what {} did", md(principal))
        }
        (Topic::Activity { principal }, Lang::Ja) => format!("{} の操作を調べます", md(principal)),
        (
            Topic::WhoDid {
                resource: Some(r), ..
            },
            Lang::En,
        ) => format!("Looking up who acted on {}", md(r)),
        (
            Topic::WhoDid {
                resource: Some(r), ..
            },
            Lang::Ja,
        ) => format!("{} を操作したユーザーを調べます", md(r)),
        (Topic::WhoDid { .. }, Lang::En) => "Looking through write actions".into(),
        (Topic::WhoDid { .. }, Lang::Ja) => "書き込み操作を調べます".into(),
        (Topic::Failures { .. }, Lang::En) => "Looking for failed and denied calls".into(),
        (Topic::Failures { .. }, Lang::Ja) => "失敗・拒否された呼び出しを調べます".into(),
        (Topic::ConsoleLogins, Lang::En) => "Looking up console logins".into(),
        (Topic::ConsoleLogins, Lang::Ja) => "コンソールログインを調べます".into(),
        (Topic::Overview, Lang::En) => "Summarizing account activity".into(),
        (Topic::Overview, Lang::Ja) => "アカウントの操作を集計します".into(),
    };
    format!("{what} — {}.\n\n", window_line(intent, tz))
}

/// The answer to `intent` from the JSON `result` of a `kind` tool call.
pub fn compose(
    intent: &Intent,
    kind: ToolKind,
    result: &str,
    is_error: bool,
    tz: &TimeZone,
) -> String {
    let ja = intent.lang == Lang::Ja;
    if is_error {
        return if ja {
            format!("ツールがエラーを返しました: {}", md(result))
        } else {
            format!("The tool reported an error: {}", md(result))
        };
    }
    let Ok(value) = serde_json::from_str::<Value>(result) else {
        return if ja {
            "ツールの結果を読み取れませんでした。".into()
        } else {
            "The tool's answer could not be read.".into()
        };
    };
    let mut out = match (kind, &intent.topic) {
        (ToolKind::Lookup, Topic::WhoDid { verb, resource }) => {
            who_did_events(&value, *verb, resource.as_deref().unwrap_or(""), ja, tz)
        }
        (ToolKind::Lookup, _) => logins(&value, ja, tz),
        (ToolKind::Summarize, Topic::WhoDid { verb, .. }) => who_did_summary(&value, *verb, ja, tz),
        (ToolKind::Summarize, Topic::Failures { .. }) => failures(&value, ja, tz),
        (ToolKind::Summarize, Topic::Activity { principal }) => {
            activity(&value, Some(principal), ja, tz)
        }
        (ToolKind::Summarize, _) => activity(&value, None, ja, tz),
    };
    if value.get("truncated") == Some(&Value::Bool(true))
        || value.get("hit_cap") == Some(&Value::Bool(true))
    {
        out.push_str(if ja {
            "\n_結果は上限で打ち切られています。期間を狭めると詳しく見られます。_\n"
        } else {
            "\n_The results hit a cap; narrow the window to see everything._\n"
        });
    }
    out
}

fn table(out: &mut String, header: &[&str], rows: Vec<Vec<String>>, ja: bool) {
    let total = rows.len();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for row in rows.into_iter().take(MAX_ROWS) {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    if total > MAX_ROWS {
        let more = total - MAX_ROWS;
        let _ = writeln!(
            out,
            "{}",
            if ja {
                format!("…ほか {more} 件")
            } else {
                format!("…and {more} more")
            }
        );
    }
    out.push('\n');
}

fn action_rows(lines: &[&Value], tz: &TimeZone, with_principal: bool) -> Vec<Vec<String>> {
    lines
        .iter()
        .map(|a| {
            let mut row = vec![local(s(a, "event_time"), tz)];
            if with_principal {
                row.push(md(s(a, "principal")));
            }
            row.push(md(s(a, "event_name")));
            row.push(service(s(a, "event_source")));
            let resources: Vec<String> = list(a, "resources")
                .iter()
                .filter_map(Value::as_str)
                .map(md)
                .collect();
            row.push(resources.join(", "));
            row.push(match a.get("error_code").and_then(Value::as_str) {
                Some(code) => md(code),
                None => "ok".into(),
            });
            row
        })
        .collect()
}

fn activity(v: &Value, principal: Option<&str>, ja: bool, tz: &TimeZone) -> String {
    let mut out = String::new();
    let scanned = n(v, "scanned");
    let who = principal.map(md);
    if scanned == 0 {
        return match (ja, who) {
            (false, Some(p)) => format!("No CloudTrail events for **{p}** in this window."),
            (false, None) => "No CloudTrail events in this window.".into(),
            (true, Some(p)) => format!("この期間に **{p}** の CloudTrail イベントはありません。"),
            (true, None) => "この期間に CloudTrail イベントはありません。".into(),
        };
    }
    let (read, write, failed) = (
        n(v, "read_events"),
        n(v, "write_events"),
        n(v, "failed_events"),
    );
    let (first, last) = (local(s(v, "first_seen"), tz), local(s(v, "last_seen"), tz));
    if ja {
        let subject = who.map(|p| format!("**{p}** の")).unwrap_or_default();
        let _ = writeln!(
            out,
            "{subject}イベントは **{scanned} 件**（読み取り {read}、書き込み {write}、失敗 {failed}）。最初 {first}、最後 {last}。\n"
        );
    } else {
        let subject = who
            .map(|p| format!("**{p}** made "))
            .unwrap_or_else(|| "There were ".into());
        let _ = writeln!(
            out,
            "{subject}**{scanned} calls** ({read} read, {write} write, {failed} failed), first at {first}, last at {last}.\n"
        );
    }
    let [services, principals, regions, ips] = if ja {
        ["サービス", "ユーザー", "リージョン", "送信元 IP"]
    } else {
        ["Services", "Principals", "Regions", "Source IPs"]
    };
    let _ = writeln!(out, "- {services}: {}", counts(v, "by_service", 6));
    if principal.is_none() {
        let _ = writeln!(out, "- {principals}: {}", counts(v, "by_principal", 6));
    }
    let _ = writeln!(out, "- {regions}: {}", counts(v, "regions", 4));
    let _ = writeln!(out, "- {ips}: {}\n", counts(v, "source_ips", 4));
    let writes: Vec<&Value> = list(v, "write_actions").iter().collect();
    if !writes.is_empty() {
        let label = if ja { "変更操作" } else { "Changes" };
        let _ = writeln!(out, "**{label}:** {}\n", action_counts(&writes));
        out.push_str(if ja {
            "**書き込み操作**（新しい順）\n\n"
        } else {
            "**Write actions** (newest first)\n\n"
        });
        let header: &[&str] = if ja {
            &["時刻", "操作", "サービス", "リソース", "結果"]
        } else {
            &["Time", "Action", "Service", "Resources", "Result"]
        };
        table(&mut out, header, action_rows(&writes, tz, false), ja);
    }
    let errors = counts(v, "by_error_code", 5);
    if !errors.is_empty() {
        let _ = writeln!(
            out,
            "{} {errors}",
            if ja { "**エラー:**" } else { "**Errors:**" }
        );
    }
    out
}

/// `CreateBucket ×2, DeleteBucket ×1`: every write action by name, most frequent first, so the
/// answer names them all even when the table below is cut.
fn action_counts(lines: &[&Value]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for line in lines {
        let name = s(line, "event_name");
        match counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, count)) => *count += 1,
            None => counts.push((name, 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    counts
        .iter()
        .map(|(name, count)| format!("{} ×{count}", md(name)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn failures(v: &Value, ja: bool, tz: &TimeZone) -> String {
    let lines: Vec<&Value> = list(v, "failures").iter().collect();
    if lines.is_empty() {
        return if ja {
            format!(
                "この期間に失敗・拒否された呼び出しはありません（{} 件を確認）。",
                n(v, "scanned")
            )
        } else {
            format!(
                "No failed or denied calls in this window ({} events checked).",
                n(v, "scanned")
            )
        };
    }
    let mut out = String::new();
    let failed = n(v, "failed_events");
    if ja {
        let _ = writeln!(
            out,
            "失敗・拒否された呼び出しは **{failed} 件**: {}\n",
            counts(v, "by_error_code", 5)
        );
    } else {
        let _ = writeln!(
            out,
            "**{failed} calls failed**: {}\n",
            counts(v, "by_error_code", 5)
        );
    }
    let header: &[&str] = if ja {
        &["時刻", "ユーザー", "操作", "サービス", "リソース", "エラー"]
    } else {
        &[
            "Time",
            "Principal",
            "Action",
            "Service",
            "Resources",
            "Error",
        ]
    };
    table(&mut out, header, action_rows(&lines, tz, true), ja);
    out
}

fn who_did_summary(v: &Value, verb: Verb, ja: bool, tz: &TimeZone) -> String {
    let lines: Vec<&Value> = list(v, "write_actions")
        .iter()
        .filter(|a| verb.matches(s(a, "event_name")))
        .collect();
    if lines.is_empty() {
        return if ja {
            "この期間に該当する操作は見つかりませんでした。リソース名を教えていただければ絞り込めます。".into()
        } else {
            "No matching actions in this window. Name the resource and I can narrow it down.".into()
        };
    }
    let mut out = String::new();
    let header: &[&str] = if ja {
        &["時刻", "ユーザー", "操作", "サービス", "リソース", "結果"]
    } else {
        &[
            "Time",
            "Principal",
            "Action",
            "Service",
            "Resources",
            "Result",
        ]
    };
    table(&mut out, header, action_rows(&lines, tz, true), ja);
    out
}

fn event_row(e: &Value, tz: &TimeZone) -> Vec<String> {
    let principal = e.get("principal").cloned().unwrap_or(Value::Null);
    let who = [
        s(&principal, "name"),
        s(&principal, "arn"),
        s(&principal, "type"),
    ]
    .into_iter()
    .find(|x| !x.is_empty())
    .unwrap_or("?");
    vec![
        local(s(e, "event_time"), tz),
        md(who),
        md(s(e, "event_name")),
        md(s(e, "source_ip")),
        match e.get("error_code").and_then(Value::as_str) {
            Some(code) => md(&format!("{code} {}", s(e, "error_message"))),
            None => "ok".into(),
        },
    ]
}

/// The header of [`event_row`] tables.
fn event_header(ja: bool) -> &'static [&'static str] {
    if ja {
        &["時刻", "ユーザー", "操作", "送信元 IP", "結果"]
    } else {
        &["Time", "Principal", "Action", "Source IP", "Result"]
    }
}

fn who_did_events(v: &Value, verb: Verb, resource: &str, ja: bool, tz: &TimeZone) -> String {
    let events = list(v, "events");
    let matching: Vec<Vec<String>> = events
        .iter()
        .filter(|e| verb.matches(s(e, "event_name")))
        .map(|e| event_row(e, tz))
        .collect();
    let resource = md(resource);
    let header = event_header(ja);
    let mut out = String::new();
    if matching.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            if ja {
                format!(
                    "この期間に **{resource}** への該当する操作はありません（このリソースのイベント {} 件）。",
                    events.len()
                )
            } else {
                format!(
                    "No matching action on **{resource}** in this window ({} events touched it).",
                    events.len()
                )
            }
        );
        if !events.is_empty() {
            out.push('\n');
            table(
                &mut out,
                header,
                events.iter().map(|e| event_row(e, tz)).collect(),
                ja,
            );
        }
        return out;
    }
    let _ = writeln!(
        out,
        "{}\n",
        if ja {
            format!("**{resource}** への操作:")
        } else {
            format!("Actions on **{resource}**:")
        }
    );
    table(&mut out, header, matching, ja);
    out
}

fn logins(v: &Value, ja: bool, tz: &TimeZone) -> String {
    let events = list(v, "events");
    if events.is_empty() {
        return if ja {
            "この期間にコンソールログインはありません。".into()
        } else {
            "No console logins in this window.".into()
        };
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}\n",
        if ja {
            format!("コンソールログイン {} 件:", events.len())
        } else {
            format!("{} console logins:", events.len())
        }
    );
    let header = event_header(ja);
    table(
        &mut out,
        header,
        events.iter().map(|e| event_row(e, tz)).collect(),
        ja,
    );
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::offline::intent::parse;

    #[test]
    fn escaping_keeps_html_and_tables_inert() {
        assert_eq!(
            md("<img src=x onerror=alert(1)>"),
            "\\<img src=x onerror=alert\\(1\\)\\>"
        );
        assert_eq!(md("a|b\nc"), "a\\|b c");
        assert!(md(&"x".repeat(500)).chars().count() <= 121);
    }

    #[test]
    fn activity_answer_names_the_writes_in_local_time() {
        let tz = TimeZone::get("Asia/Tokyo").unwrap();
        let intent = parse(
            "what did alice do yesterday?",
            "2026-11-25T00:00:00Z".parse().unwrap(),
            &tz,
        );
        let result = json!({"scanned": 3, "read_events": 1, "write_events": 2, "failed_events": 1,
            "first_seen": "2026-11-24T00:12:00Z", "last_seen": "2026-11-24T05:00:00Z",
            "by_service": [{"key": "s3.amazonaws.com", "count": 3}],
            "by_error_code": [{"key": "AccessDenied", "count": 1}],
            "write_actions": [{"event_time": "2026-11-24T05:00:00Z", "event_name": "CreateBucket",
                "event_source": "s3.amazonaws.com", "principal": "alice", "error_code": null,
                "resources": ["alice-<b>reports</b>"]}]});
        let text = compose(
            &intent,
            ToolKind::Summarize,
            &result.to_string(),
            false,
            &tz,
        );
        assert!(text.contains("**alice** made **3 calls**"), "{text}");
        assert!(
            text.contains(
                "| 2026-11-24 14:00 | CreateBucket | s3 | alice-\\<b\\>reports\\</b\\> | ok |"
            ),
            "{text}"
        );
        assert!(text.contains("AccessDenied (1)"), "{text}");
        assert!(text.contains("**Changes:** CreateBucket ×1"), "{text}");
        let ja = parse(
            "昨日aliceは何をした？",
            "2026-11-25T00:00:00Z".parse().unwrap(),
            &tz,
        );
        let text = compose(&ja, ToolKind::Summarize, &result.to_string(), false, &tz);
        assert!(text.contains("**alice** のイベントは **3 件**"), "{text}");
        assert!(text.contains("書き込み操作"), "{text}");
    }

    #[test]
    fn who_deleted_filters_by_verb_and_errors_are_reported() {
        let tz = TimeZone::UTC;
        let intent = parse(
            "who deleted bob-old-logs?",
            "2026-11-25T00:00:00Z".parse().unwrap(),
            &tz,
        );
        let result = json!({"events": [
            {"event_time": "2026-11-24T03:00:00Z", "event_name": "DeleteBucket", "principal": {"name": "bob"}, "source_ip": "198.51.100.7"},
            {"event_time": "2026-11-20T03:00:00Z", "event_name": "CreateBucket", "principal": {"name": "bob"}}]});
        let text = compose(&intent, ToolKind::Lookup, &result.to_string(), false, &tz);
        assert!(
            text.contains("| 2026-11-24 03:00 | bob | DeleteBucket | 198.51.100.7 | ok |"),
            "{text}"
        );
        assert!(!text.contains("CreateBucket"), "{text}");
        let text = compose(&intent, ToolKind::Lookup, "start_time: bad time", true, &tz);
        assert_eq!(text, "The tool reported an error: start\\_time: bad time");
    }
}
