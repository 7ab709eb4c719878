//! Writing the offline model's answers: short Markdown built from a tool's answer, read into the
//! contract's types ([`cloudtrail_contract`]), so a field the server renamed is an error here,
//! never a silent zero. Every value taken from a tool result is untrusted (it comes from
//! CloudTrail, where anyone who can make a call can place text), so it is Markdown-escaped and
//! length-capped before it is written.
//!
//! Answers say what they rest on: the period as it was understood ("this week (Mon 23 Nov –
//! now)"), counts as lower bounds when the scan stopped early, lists as the newest N of M when
//! they were capped, and what cannot be answered offline with phrasings that can.

use std::fmt::Write as _;

use cloudtrail_contract::{
    ActionLine, ActivitySummary, CompactEvent, Count, Events, Highlight, LookupAnswer, TooLarge,
};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::de::DeserializeOwned;

use super::ToolKind;
use super::intent::{Intent, Lang, Period, Topic, Unit, Unsupported, Verb};

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

// ---- Times and periods ----

const WEEKDAYS_JA: [&str; 7] = ["月", "火", "水", "木", "金", "土", "日"];

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

/// A day (and the time, unless `day_only`) as a reader says it: `Mon 23 Nov`,
/// `11月23日(月) 09:00`.
fn day(at: Timestamp, tz: &TimeZone, lang: Lang, with_time: bool) -> String {
    let zoned = at.to_zoned_datetime(tz.clone());
    match lang {
        Lang::En => {
            let format = if with_time {
                "%a %-d %b %H:%M"
            } else {
                "%a %-d %b"
            };
            zoned.strftime(format).to_string()
        }
        Lang::Ja => {
            let weekday = WEEKDAYS_JA[zoned.weekday().to_monday_zero_offset() as usize];
            let date = format!("{}月{}日({weekday})", zoned.month(), zoned.day());
            if with_time {
                format!("{date} {}", zoned.strftime("%H:%M"))
            } else {
                date
            }
        }
    }
}

/// The window's range: `Mon 23 Nov – now`, `Mon 16 Nov – Sun 22 Nov`, `Tue 24 Nov`.
fn range(intent: &Intent, tz: &TimeZone) -> String {
    let lang = intent.lang;
    let midnight = |t: Timestamp| {
        let z = t.to_zoned_datetime(tz.clone());
        (z.hour(), z.minute(), z.second()) == (0, 0, 0)
    };
    // Rolling periods start at a time of day, whole-day periods at midnight.
    let rolling = matches!(
        intent.period,
        Period::Today | Period::Last { .. } | Period::Default { .. }
    );
    let start = day(intent.start, tz, lang, rolling || !midnight(intent.start));
    let (to, now) = match lang {
        Lang::En => (" – ", "now"),
        Lang::Ja => (" 〜 ", "現在"),
    };
    if intent.until_now {
        return format!("{start}{to}{now}");
    }
    if midnight(intent.end) {
        // Whole days: name the last one (the end is the midnight after it).
        let last = intent.end - jiff::SignedDuration::from_nanos(1);
        let last_day = day(last, tz, lang, false);
        if last_day == start {
            return start;
        }
        return format!("{start}{to}{last_day}");
    }
    format!("{start}{to}{}", day(intent.end, tz, lang, true))
}

/// The period as it was understood, with its range and timezone: "this week (Mon 23 Nov –
/// now, Asia/Tokyo)", "先週（11月16日(月) 〜 11月22日(日)、Asia/Tokyo）".
pub fn period_line(intent: &Intent, tz: &TimeZone) -> String {
    let range = range(intent, tz);
    let tz = tz_name(tz);
    let unit = |unit: Unit, amount: i64| match (intent.lang, unit) {
        (Lang::En, Unit::Hours) => format!("the last {amount} hour{}", plural(amount)),
        (Lang::En, Unit::Days) => format!("the last {amount} day{}", plural(amount)),
        (Lang::En, Unit::Weeks) => format!("the last {amount} week{}", plural(amount)),
        (Lang::Ja, Unit::Hours) => format!("過去{amount}時間"),
        (Lang::Ja, Unit::Days) => format!("過去{amount}日間"),
        (Lang::Ja, Unit::Weeks) => format!("過去{amount}週間"),
    };
    // "the last 7 days" rather than "the last 168 hours".
    let whole_days = |hours: i64| {
        if hours > 24 && hours % 24 == 0 {
            unit(Unit::Days, hours / 24)
        } else {
            unit(Unit::Hours, hours)
        }
    };
    let label = match (intent.period, intent.lang) {
        (Period::Today, Lang::En) => "today".to_owned(),
        (Period::Today, Lang::Ja) => "今日".to_owned(),
        (Period::Yesterday, Lang::En) => "yesterday".to_owned(),
        (Period::Yesterday, Lang::Ja) => "昨日".to_owned(),
        (Period::DayBeforeYesterday, Lang::En) => "the day before yesterday".to_owned(),
        (Period::DayBeforeYesterday, Lang::Ja) => "一昨日".to_owned(),
        (Period::ThisWeek, Lang::En) => "this week".to_owned(),
        (Period::ThisWeek, Lang::Ja) => "今週".to_owned(),
        (Period::LastWeek, Lang::En) => "last week".to_owned(),
        (Period::LastWeek, Lang::Ja) => "先週".to_owned(),
        (Period::ThisMonth, Lang::En) => "this month".to_owned(),
        (Period::ThisMonth, Lang::Ja) => "今月".to_owned(),
        (Period::LastMonth, Lang::En) => "last month".to_owned(),
        (Period::LastMonth, Lang::Ja) => "先月".to_owned(),
        (Period::Last { amount, unit: u }, _) => unit(u, amount),
        (Period::Days { .. }, _) => String::new(),
        (Period::Default { hours }, Lang::En) => {
            format!("{} (no period was named)", whole_days(hours))
        }
        (Period::Default { hours }, Lang::Ja) => {
            format!("{}（期間の指定なし）", whole_days(hours))
        }
    };
    match (intent.lang, label.is_empty()) {
        (Lang::En, false) => format!("{label} ({range}, {tz})"),
        (Lang::En, true) => format!("{range} ({tz})"),
        (Lang::Ja, false) => format!("{label}（{range}、{tz}）"),
        (Lang::Ja, true) => format!("{range}（{tz}）"),
    }
}

fn plural(n: i64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

// ---- What the planner says before it calls a tool, and instead of calling one ----

fn service_name(event_source: &str) -> String {
    md(event_source.trim_end_matches(".amazonaws.com"))
}

/// The line the model streams before it calls the tool.
pub fn preface(intent: &Intent, tz: &TimeZone) -> String {
    let ja = intent.lang == Lang::Ja;
    let service = intent.service.as_deref().map(service_name);
    let what = match (&intent.topic, &intent.action) {
        (Topic::Overview { .. } | Topic::WhoDid { resource: None, .. }, Some(action)) => {
            if ja {
                format!("{} の呼び出しを調べます", md(action))
            } else {
                format!("Looking up calls to {}", md(action))
            }
        }
        _ => String::new(),
    };
    let what = match &intent.topic {
        _ if !what.is_empty() => what,
        Topic::Activity { principal, .. } => {
            if ja {
                format!("{} の操作を調べます", md(principal))
            } else {
                format!("Looking up what {} did", md(principal))
            }
        }
        Topic::WhoDid {
            resource: Some(r), ..
        } => {
            if ja {
                format!("{} を操作したユーザーを調べます", md(r))
            } else {
                format!("Looking up who acted on {}", md(r))
            }
        }
        Topic::WhoDid { .. } | Topic::Overview { verb: Some(_) } => {
            if ja {
                "書き込み操作を調べます".into()
            } else {
                "Looking through write actions".into()
            }
        }
        Topic::Failures { .. } => {
            if ja {
                "失敗・拒否された呼び出しを調べます".into()
            } else {
                "Looking for failed and denied calls".into()
            }
        }
        Topic::ConsoleLogins { .. } => {
            if ja {
                "コンソールログインを調べます".into()
            } else {
                "Looking up console logins".into()
            }
        }
        Topic::Overview { verb: None } | Topic::Unresolved { .. } | Topic::Unsupported { .. } => {
            match (ja, &service) {
                (false, Some(s)) => format!("Summarizing activity in {s}"),
                (false, None) => "Summarizing account activity".into(),
                (true, Some(s)) => format!("{s} の操作を集計します"),
                (true, None) => "アカウントの操作を集計します".into(),
            }
        }
    };
    let end = if ja { "。" } else { "." };
    format!("{what} — {}{end}\n\n", period_line(intent, tz))
}

/// The line before the follow-up call that looks for the names active in the window.
pub fn followup_preface(intent: &Intent) -> String {
    let who = match &intent.topic {
        Topic::Activity { principal, .. }
        | Topic::Failures {
            principal: Some(principal),
        } => md(principal),
        _ => String::new(),
    };
    match intent.lang {
        Lang::En => format!(
            "No events under the exact name **{who}**; looking at which principals were active.\n\n"
        ),
        Lang::Ja => format!(
            "**{who}** という名前のイベントはありません。この期間に操作したプリンシパルを調べます。\n\n"
        ),
    }
}

/// The principal the question names, when the planner filtered by it.
fn named_principal(intent: &Intent) -> Option<&str> {
    match &intent.topic {
        Topic::Activity { principal, .. }
        | Topic::Failures {
            principal: Some(principal),
        } => Some(principal),
        _ => None,
    }
}

/// Whether `result` says the principal the question names made no call under that exact name
/// (CloudTrail names an SSO user `carol@example.com`, an assumed role by its session): then the
/// planner looks at who was active before it answers.
pub fn no_such_principal(intent: &Intent, kind: ToolKind, result: &str, is_error: bool) -> bool {
    if is_error || kind != ToolKind::Summarize || named_principal(intent).is_none() {
        return false;
    }
    serde_json::from_str::<ActivitySummary>(result).is_ok_and(|s| {
        s.scanned == 0
            && s.filter
                .is_some_and(|f| f.attribute_key == cloudtrail_contract::AttributeKey::Username)
    })
}

/// The answer to a question the planner cannot answer offline: why, and phrasings it can.
pub fn unsupported(intent: &Intent, reason: Unsupported) -> String {
    let mut out = String::new();
    if intent.lang == Lang::Ja {
        let why = match reason {
            Unsupported::Cost => {
                "CloudTrail は API 呼び出しの記録で、料金や請求は含みません（Cost Explorer や請求コンソールをご覧ください）"
            }
            Unsupported::Metrics => {
                "CloudTrail は API 呼び出しの記録で、CPU やレイテンシなどのメトリクスは含みません（CloudWatch をご覧ください）"
            }
            Unsupported::State => {
                "CloudTrail は API 呼び出しの記録で、リソースの現在の設定や状態、操作方法には答えられません"
            }
            Unsupported::NotUnderstood => "質問を読み取れませんでした",
        };
        let _ = writeln!(
            out,
            "オフラインモード（LLM なし）ではこの質問に答えられません: {why}。\n\n次のような質問に答えられます:\n"
        );
        for example in [
            "昨日 alice は何をした？",
            "今週 bob の API 呼び出しは何件？",
            "誰が「bob-old-logs」を削除した？",
            "先週拒否された呼び出しは？",
            "今日コンソールにログインしたのは誰？",
            "昨日の S3 の操作",
        ] {
            let _ = writeln!(out, "- {example}");
        }
        out.push_str("\n`--bedrock` で起動すると LLM が自由な質問に答えます。\n");
    } else {
        let why = match reason {
            Unsupported::Cost => {
                "CloudTrail records API calls, not costs or bills (see Cost Explorer or the Billing console)"
            }
            Unsupported::Metrics => {
                "CloudTrail records API calls, not metrics such as CPU or latency (see CloudWatch)"
            }
            Unsupported::State => {
                "CloudTrail records API calls; it does not tell the current configuration or state of a resource, or how to do something"
            }
            Unsupported::NotUnderstood => "I did not recognise what the question asks",
        };
        let _ = writeln!(
            out,
            "I can't answer that offline (no LLM): {why}.\n\nQuestions I can answer look like:\n"
        );
        for example in [
            "what did alice do yesterday?",
            "how many API calls did bob make this week?",
            "who deleted bob-old-logs?",
            "which calls were denied last week?",
            "who logged in to the console today?",
            "what changed in S3 yesterday?",
        ] {
            let _ = writeln!(out, "- {example}");
        }
        out.push_str("\nWith `--bedrock`, an LLM answers free-form questions.\n");
    }
    out
}

// ---- Reading a tool's answer ----

/// Why a tool's answer cannot be used.
fn unreadable(ja: bool, why: &str) -> String {
    if ja {
        format!("ツールの結果を読み取れませんでした（{}）。", md(why))
    } else {
        format!("The tool's answer could not be read ({}).", md(why))
    }
}

fn read<T: DeserializeOwned>(result: &str, ja: bool) -> Result<T, String> {
    serde_json::from_str(result).map_err(|e| unreadable(ja, &e.to_string()))
}

/// The answer to `intent` from the text `result` of a `kind` tool call.
pub fn compose(
    intent: &Intent,
    kind: ToolKind,
    result: &str,
    is_error: bool,
    tz: &TimeZone,
) -> String {
    let ja = intent.lang == Lang::Ja;
    if let Some(too_large) = TooLarge::parse(result) {
        return if ja {
            format!(
                "ツールの結果が大きすぎて（{} バイト、上限 {} バイト）読めませんでした。期間を狭めるか、ユーザー名などで絞り込んでください。",
                too_large.bytes, too_large.limit
            )
        } else {
            format!(
                "The tool's answer was too large to read ({} bytes, over the {}-byte limit). Narrow the window or name a principal or resource.",
                too_large.bytes, too_large.limit
            )
        };
    }
    if is_error {
        return if ja {
            format!("ツールがエラーを返しました: {}", md(result))
        } else {
            format!("The tool reported an error: {}", md(result))
        };
    }
    let answer = match kind {
        ToolKind::Lookup => read::<LookupAnswer>(result, ja).map(|page| match &intent.topic {
            Topic::WhoDid { verb, resource } => {
                who_did_events(&page, *verb, resource.as_deref().unwrap_or(""), ja, tz)
            }
            Topic::ConsoleLogins { principal } => logins(&page, principal.as_deref(), ja, tz),
            _ => logins(&page, None, ja, tz),
        }),
        ToolKind::Summarize => {
            read::<ActivitySummary>(result, ja).map(|summary| summarize(intent, &summary, tz))
        }
    };
    answer.unwrap_or_else(|unreadable| unreadable)
}

fn summarize(intent: &Intent, s: &ActivitySummary, tz: &TimeZone) -> String {
    let ja = intent.lang == Lang::Ja;
    if let Some(principal) = named_principal(intent)
        && s.filter.is_none()
    {
        return unknown_principal(intent, s, principal);
    }
    // A summary of one API action ("how many times was DeleteBucket called?") is answered with
    // its counts and callers, whatever verb the question used.
    let one_action = s
        .filter
        .as_ref()
        .is_some_and(|f| f.attribute_key == cloudtrail_contract::AttributeKey::EventName);
    let mut out = match &intent.topic {
        Topic::Overview { verb: Some(_) } if one_action => activity(intent, s, None, None, tz),
        Topic::WhoDid { verb, .. } | Topic::Overview { verb: Some(verb) } => {
            who_did_summary(s, *verb, ja, tz)
        }
        Topic::Failures { .. } => failures(s, ja, tz),
        Topic::Activity { principal, verb } => activity(intent, s, Some(principal), *verb, tz),
        Topic::Unresolved { description, verb } => unresolved(intent, s, description, *verb, tz),
        _ => activity(intent, s, None, None, tz),
    };
    out.push_str(&highlights(&s.highlights, ja));
    if s.hit_cap {
        let note = s.note.as_deref().map(md).unwrap_or_default();
        out.push_str(&if ja {
            format!(
                "\n_件数は下限です: 期間内のイベントをすべては数えられませんでした（{note}）。期間を狭めると正確な件数になります。_\n"
            )
        } else {
            format!(
                "\n_The counts are lower bounds: not every event of the window was counted ({note}). Narrow the window for exact counts._\n"
            )
        });
    }
    if s.truncated {
        out.push_str(if ja {
            "\n_一覧の一部はサイズ上限のため省略されています（件数はすべて数えています）。_\n"
        } else {
            "\n_Some list entries were left out to fit the size limit (the counts are complete)._\n"
        });
    }
    out
}

/// The server's highlights (what a reviewer should look at first, found in every event of the
/// window), each with its count and its events cited.
fn highlights(list: &[Highlight], ja: bool) -> String {
    if list.is_empty() {
        return String::new();
    }
    let mut out = String::from(if ja {
        "\n**注目点**（サーバーが期間内の全イベントから検出）\n\n"
    } else {
        "\n**Highlights** (found by the server in every event of the window)\n\n"
    });
    for h in list {
        let refs: Vec<String> = h.refs.iter().map(|r| cite(r)).collect();
        let who = h.principal.as_deref().map(md);
        let detail = match (ja, who) {
            (false, Some(who)) => format!("{who}, {}", h.count),
            (false, None) => h.count.to_string(),
            (true, Some(who)) => format!("{who}、{} 件", h.count),
            (true, None) => format!("{} 件", h.count),
        };
        let _ = writeln!(out, "- {} ({detail}) {}", md(&h.title), refs.join(" "));
    }
    out
}

/// `N` or `at least N` when the scan stopped early.
fn number(n: u64, lower_bound: bool) -> String {
    if lower_bound {
        format!("at least {n}")
    } else {
        n.to_string()
    }
}

/// `N 件`, or `N 件以上` when the scan stopped early.
fn ken(n: u64, lower_bound: bool) -> String {
    if lower_bound {
        format!("{n} 件以上")
    } else {
        format!("{n} 件")
    }
}

fn counts(list: &[Count], max: usize) -> String {
    list.iter()
        .take(max)
        .map(|c| format!("{} ({})", md(&c.key), c.count))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes a table; `total` is how many rows exist in all (the answer lists may hold fewer).
fn table(out: &mut String, header: &[&str], rows: Vec<Vec<String>>, total: u64, ja: bool) {
    let shown = rows.len().min(MAX_ROWS) as u64;
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for row in rows.into_iter().take(MAX_ROWS) {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    if total > shown {
        let more = total - shown;
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

fn action_rows(lines: &[&ActionLine], tz: &TimeZone, with_principal: bool) -> Vec<Vec<String>> {
    lines
        .iter()
        .map(|a| {
            let mut row = vec![local(&a.event_time, tz)];
            if with_principal {
                row.push(md(a.principal.as_deref().unwrap_or("?")));
            }
            row.push(md(&a.event_name));
            row.push(service_name(&a.event_source));
            let resources: Vec<String> = a.resources.iter().map(|r| md(r)).collect();
            row.push(resources.join(", "));
            row.push(match &a.error_code {
                Some(code) => md(code),
                None => "ok".into(),
            });
            row.push(cite(&a.event_ref));
            row
        })
        .collect()
}

/// The citation of the event a row is built from (`[ev:1a2b3c4d]`, as the system prompt asks of
/// an LLM), or nothing when the answer carried no valid ref.
fn cite(event_ref: &str) -> String {
    if crate::evidence::is_ref(event_ref) {
        format!("[ev:{event_ref}]")
    } else {
        String::new()
    }
}

fn action_header(ja: bool, with_principal: bool, last: &'static str) -> Vec<&'static str> {
    let mut header = vec![if ja { "時刻" } else { "Time" }];
    if with_principal {
        header.push(if ja { "ユーザー" } else { "Principal" });
    }
    header.extend(if ja {
        ["操作", "サービス", "リソース"]
    } else {
        ["Action", "Service", "Resources"]
    });
    header.push(last);
    header.push(if ja { "根拠" } else { "Evidence" });
    header
}

/// `CreateBucket ×2, DeleteBucket ×1`: every listed action by name, most frequent first, so the
/// answer names them all even when the table below is cut.
fn action_counts(lines: &[&ActionLine]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for line in lines {
        let name = line.event_name.as_str();
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

/// The write actions of `verb`'s family, and how many there are in all: exact from the list
/// when it is complete, else from the (exact, but top-N) action counts, as a lower bound.
fn of_family(s: &ActivitySummary, verb: Verb) -> (Vec<&ActionLine>, u64, bool) {
    let listed: Vec<&ActionLine> = s
        .write_actions
        .iter()
        .filter(|a| verb.matches(&a.event_name))
        .collect();
    if s.write_actions_omitted == 0 {
        return (listed.clone(), listed.len() as u64, s.hit_cap);
    }
    let counted: u64 = s
        .by_action
        .iter()
        .filter(|c| verb.matches(c.key.split(':').nth(1).unwrap_or(&c.key)))
        .map(|c| c.count)
        .sum();
    let total = counted.max(listed.len() as u64);
    (listed, total, true)
}

fn activity(
    intent: &Intent,
    s: &ActivitySummary,
    principal: Option<&str>,
    verb: Option<Verb>,
    tz: &TimeZone,
) -> String {
    let ja = intent.lang == Lang::Ja;
    let mut out = String::new();
    let who = principal.map(md);
    // The service the question names, when the tool was not filtered by it.
    let service = intent.service.as_deref().filter(|_| principal.is_some());
    // What the summary was filtered by, when not by the principal: named in the first line.
    let subject_filter =
        s.filter
            .as_ref()
            .filter(|_| principal.is_none())
            .map(|f| match f.attribute_key {
                cloudtrail_contract::AttributeKey::EventSource => service_name(&f.attribute_value),
                _ => md(&f.attribute_value),
            });
    let by_action = s.filter.as_ref().is_some_and(|f| {
        principal.is_none() && f.attribute_key == cloudtrail_contract::AttributeKey::EventName
    });
    if s.scanned == 0 {
        return match (ja, who) {
            (false, Some(p)) => format!("No CloudTrail events for **{p}** in this window."),
            (false, None) => "No CloudTrail events in this window.".into(),
            (true, Some(p)) => format!("この期間に **{p}** の CloudTrail イベントはありません。"),
            (true, None) => "この期間に CloudTrail イベントはありません。".into(),
        };
    }
    let lower = s.hit_cap;
    let (read, write, failed) = (s.read_events, s.write_events, s.failed_events);
    let first = local(s.first_seen.as_deref().unwrap_or(""), tz);
    let last = local(s.last_seen.as_deref().unwrap_or(""), tz);
    if ja {
        let subject = match (&who, &subject_filter) {
            (Some(p), _) => format!("**{p}** の"),
            (None, Some(f)) => format!("**{f}** の"),
            _ => String::new(),
        };
        let scanned = ken(s.scanned, lower);
        let _ = writeln!(
            out,
            "{subject}イベントは **{scanned}**（読み取り {read}、書き込み {write}、失敗 {failed}）。最初 {first}、最後 {last}。\n"
        );
    } else {
        let scanned = number(s.scanned, lower);
        let _ = match (&who, &subject_filter) {
            (None, Some(action)) if by_action => writeln!(
                out,
                "**{action}** was called **{scanned} time{}** ({failed} failed), first at {first}, last at {last}.\n",
                if s.scanned == 1 { "" } else { "s" }
            ),
            (Some(p), _) => writeln!(
                out,
                "**{p}** made **{scanned} calls** ({read} read, {write} write, {failed} failed), first at {first}, last at {last}.\n"
            ),
            (None, Some(svc)) => writeln!(
                out,
                "In **{svc}** there were **{scanned} calls** ({read} read, {write} write, {failed} failed), first at {first}, last at {last}.\n"
            ),
            (None, None) => writeln!(
                out,
                "There were **{scanned} calls** ({read} read, {write} write, {failed} failed), first at {first}, last at {last}.\n"
            ),
        };
    }
    if let Some(source) = service {
        let calls = s
            .by_service
            .iter()
            .find(|c| c.key == source)
            .map_or(0, |c| c.count);
        let svc = service_name(source);
        let _ = writeln!(
            out,
            "{}\n",
            if ja {
                format!("うち **{svc}** への呼び出しは **{}**。", ken(calls, lower))
            } else {
                format!(
                    "Of these, **{}** were calls to **{svc}**.",
                    number(calls, lower)
                )
            }
        );
    }
    let [services, principals, regions, ips] = if ja {
        ["サービス", "ユーザー", "リージョン", "送信元 IP"]
    } else {
        ["Services", "Principals", "Regions", "Source IPs"]
    };
    let _ = writeln!(out, "- {services}: {}", counts(&s.by_service, 6));
    if principal.is_none() {
        let _ = writeln!(out, "- {principals}: {}", counts(&s.by_principal, 6));
    }
    let _ = writeln!(out, "- {regions}: {}", counts(&s.regions, 4));
    let _ = writeln!(out, "- {ips}: {}\n", counts(&s.source_ips, 4));
    let in_service = |a: &&ActionLine| service.is_none_or(|src| a.event_source == src);
    let (writes, total, lower_total) = match verb {
        Some(verb) => {
            let (lines, total, lower) = of_family(s, verb);
            (lines.into_iter().filter(in_service).collect(), total, lower)
        }
        None => (
            s.write_actions
                .iter()
                .filter(in_service)
                .collect::<Vec<_>>(),
            s.write_events,
            lower,
        ),
    };
    if let Some(verb) = verb {
        let label = verb.label(intent.lang);
        let _ = writeln!(
            out,
            "{}\n",
            if ja {
                format!("{label}の操作: **{}**", ken(total, lower_total))
            } else {
                format!("**{}** {label}.", number(total, lower_total))
            }
        );
    }
    if !writes.is_empty() {
        let label = if ja { "変更操作" } else { "Changes" };
        let _ = writeln!(out, "**{label}:** {}\n", action_counts(&writes));
        out.push_str(if ja {
            "**書き込み操作**（新しい順）\n\n"
        } else {
            "**Write actions** (newest first)\n\n"
        });
        let header = action_header(ja, false, if ja { "結果" } else { "Result" });
        let listed_total = if service.is_some() || verb.is_some() {
            writes.len() as u64
        } else {
            (s.write_actions.len() as u64 + s.write_actions_omitted).max(writes.len() as u64)
        };
        table(
            &mut out,
            &header,
            action_rows(&writes, tz, false),
            listed_total,
            ja,
        );
    }
    let errors = counts(&s.by_error_code, 5);
    if !errors.is_empty() {
        let _ = writeln!(
            out,
            "{} {errors}",
            if ja { "**エラー:**" } else { "**Errors:**" }
        );
    }
    out
}

fn failures(s: &ActivitySummary, ja: bool, tz: &TimeZone) -> String {
    let lower = s.hit_cap;
    if s.failed_events == 0 {
        return if ja {
            format!(
                "この期間に失敗・拒否された呼び出しはありません（{}を確認）。",
                ken(s.scanned, lower)
            )
        } else {
            format!(
                "No failed or denied calls in this window ({} events checked).",
                number(s.scanned, lower)
            )
        };
    }
    let mut out = String::new();
    if ja {
        let _ = writeln!(
            out,
            "失敗・拒否された呼び出しは **{}**: {}\n",
            ken(s.failed_events, lower),
            counts(&s.by_error_code, 5)
        );
    } else {
        let _ = writeln!(
            out,
            "**{} calls failed**: {}\n",
            number(s.failed_events, lower),
            counts(&s.by_error_code, 5)
        );
    }
    let lines: Vec<&ActionLine> = s.failures.iter().collect();
    let header = action_header(ja, true, if ja { "エラー" } else { "Error" });
    let total = s.failures.len() as u64 + s.failures_omitted;
    table(&mut out, &header, action_rows(&lines, tz, true), total, ja);
    out
}

fn who_did_summary(s: &ActivitySummary, verb: Verb, ja: bool, tz: &TimeZone) -> String {
    let (lines, total, lower) = of_family(s, verb);
    if lines.is_empty() {
        return match (ja, s.write_actions_omitted) {
            (false, 0) => {
                "No matching actions in this window. Name the resource and I can narrow it down."
                    .into()
            }
            (false, omitted) => format!(
                "No matching action among the {} newest write actions ({omitted} older ones were not listed). Name the resource or narrow the window.",
                s.write_actions.len()
            ),
            (true, 0) => "この期間に該当する操作は見つかりませんでした。リソース名を教えていただければ絞り込めます。".into(),
            (true, omitted) => format!(
                "新しい順の書き込み操作 {} 件の中に該当する操作はありませんでした（古い {omitted} 件は一覧にありません）。リソース名を指定するか期間を狭めてください。",
                s.write_actions.len()
            ),
        };
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}\n",
        if ja {
            format!(
                "{}の操作は **{}**:",
                verb.label(Lang::Ja),
                ken(total, lower)
            )
        } else {
            format!(
                "**{}** {} in this window:",
                number(total, lower),
                verb.label(Lang::En)
            )
        }
    );
    let header = action_header(ja, true, if ja { "結果" } else { "Result" });
    table(
        &mut out,
        &header,
        action_rows(&lines, tz, true),
        total.max(lines.len() as u64),
        ja,
    );
    out
}

/// A principal with no events under the name the question gave, from a summary of everyone
/// active in the same window.
fn unknown_principal(intent: &Intent, s: &ActivitySummary, principal: &str) -> String {
    let ja = intent.lang == Lang::Ja;
    let wanted = principal.to_lowercase();
    let similar: Vec<&Count> = s
        .by_principal
        .iter()
        .filter(|c| {
            let key = c.key.to_lowercase();
            key.contains(&wanted) || wanted.contains(&key)
        })
        .collect();
    let who = md(principal);
    let active = counts(&s.by_principal, 8);
    match (ja, similar.first()) {
        (false, Some(best)) => format!(
            "No CloudTrail events under the exact name **{who}** in this window. Principals active then whose name contains it: {}.\n\nAsk again with the full name, e.g. “what did {} do?”\n",
            similar
                .iter()
                .map(|c| format!("**{}** ({})", md(&c.key), c.count))
                .collect::<Vec<_>>()
                .join(", "),
            md(&best.key)
        ),
        (false, None) if s.scanned == 0 => {
            format!("No CloudTrail events for **{who}**, nor for anyone else, in this window.")
        }
        (false, None) => format!(
            "No CloudTrail events for **{who}** in this window. The most active principals then: {active}.\n"
        ),
        (true, Some(best)) => format!(
            "この期間に **{who}** という名前のイベントはありません。名前にそれを含むプリンシパル: {}。\n\n正確な名前で聞き直してください（例:「{} は何をした？」）。\n",
            similar
                .iter()
                .map(|c| format!("**{}** ({})", md(&c.key), c.count))
                .collect::<Vec<_>>()
                .join("、"),
            md(&best.key)
        ),
        (true, None) if s.scanned == 0 => {
            format!(
                "この期間に **{who}** のイベントはなく、ほかのプリンシパルのイベントもありません。"
            )
        }
        (true, None) => format!(
            "この期間に **{who}** の CloudTrail イベントはありません。操作の多かったプリンシパル: {active}。\n"
        ),
    }
}

fn unresolved(
    intent: &Intent,
    s: &ActivitySummary,
    description: &str,
    verb: Option<Verb>,
    tz: &TimeZone,
) -> String {
    let ja = intent.lang == Lang::Ja;
    let description = md(description);
    let mut out = String::new();
    let known = counts(&s.by_principal, 8);
    let example = s
        .by_principal
        .first()
        .map(|c| md(&c.key))
        .unwrap_or_else(|| "alice".into());
    if ja {
        let _ = writeln!(
            out,
            "オフラインでは「{description}」がどのプリンシパルかを判断できません（名前で指定してください）。この期間に操作したプリンシパル: {known}\n\n例:「{example} は何をした？」\n"
        );
    } else {
        let _ = writeln!(
            out,
            "I can't tell offline which principal “{description}” is: name it. Principals active in this window: {known}\n\nFor example: “what did {example} do?”\n"
        );
    }
    match verb {
        Some(verb) => {
            out.push_str(if ja {
                "参考: この期間の該当する操作（全プリンシパル）\n\n"
            } else {
                "Meanwhile, the matching actions of every principal in this window:\n\n"
            });
            out.push_str(&who_did_summary(s, verb, ja, tz));
        }
        None => out.push_str(&activity(intent, s, None, None, tz)),
    }
    out
}

fn event_row(e: &CompactEvent, tz: &TimeZone) -> Vec<String> {
    let who = [&e.principal.name, &e.principal.arn, &e.principal.kind]
        .into_iter()
        .flatten()
        .find(|x| !x.is_empty())
        .map_or("?", String::as_str);
    vec![
        local(&e.event_time, tz),
        md(who),
        md(&e.event_name),
        md(e.source_ip.as_deref().unwrap_or("")),
        match (&e.error_code, e.error_message.as_deref()) {
            // Some services repeat the code as the message ("Failed authentication").
            (Some(code), Some(message)) if message != code => md(&format!("{code} {message}")),
            (Some(code), _) => md(code),
            (None, _) => "ok".into(),
        },
        // A server that sent no ref: the ref is the id's, computed the same way everywhere.
        cite(&if e.event_ref.is_empty() && !e.event_id.is_empty() {
            crate::evidence::event_ref(&e.event_id)
        } else {
            e.event_ref.clone()
        }),
    ]
}

/// The header of [`event_row`] tables.
fn event_header(ja: bool) -> &'static [&'static str] {
    if ja {
        &["時刻", "ユーザー", "操作", "送信元 IP", "結果", "根拠"]
    } else {
        &[
            "Time",
            "Principal",
            "Action",
            "Source IP",
            "Result",
            "Evidence",
        ]
    }
}

/// The whole events of a detailed page (the planner asks for `detail: true`; a table is
/// expanded the same way a reader of the contract would).
fn detailed(page: &LookupAnswer) -> Vec<CompactEvent> {
    match &page.events {
        Events::Detailed(detailed) => detailed.events.clone(),
        Events::Table(table) => table
            .expand()
            .unwrap_or_default()
            .into_iter()
            .map(|row| CompactEvent {
                event_id: String::new(),
                event_ref: row.event_ref,
                event_time: row.event_time,
                event_name: row.event_name,
                event_source: format!("{}.amazonaws.com", row.service),
                aws_region: row.region,
                read_only: row.read_only,
                principal: cloudtrail_contract::Principal {
                    kind: row.principal.kind,
                    arn: row.principal.arn,
                    name: row.principal.name,
                    account_id: row.principal.account_id,
                },
                access_key_id: row.principal.access_key_id,
                source_ip: row.source_ip,
                user_agent: row.user_agent,
                error_code: row.error.as_ref().map(|e| e.code.clone()),
                error_message: row.error.and_then(|e| e.message),
                resources: row
                    .resources
                    .into_iter()
                    .map(|name| cloudtrail_contract::ResourceRef {
                        kind: None,
                        name: Some(name),
                    })
                    .collect(),
                request_parameters: row.request_parameters,
                response_elements: None,
            })
            .collect(),
    }
}

/// "There are more events than this page": said whenever the page is not the whole window.
fn more_note(page: &LookupAnswer, ja: bool) -> Option<&'static str> {
    (page.next_cursor.is_some() || page.truncated).then_some(if ja {
        "_この期間にはさらに古いイベントがあります（新しいものから表示）。期間を狭めるとすべて見られます。_\n"
    } else {
        "_There are older events in this window than shown (newest first); narrow the window to see them all._\n"
    })
}

fn who_did_events(
    page: &LookupAnswer,
    verb: Verb,
    resource: &str,
    ja: bool,
    tz: &TimeZone,
) -> String {
    let events = detailed(page);
    let matching: Vec<Vec<String>> = events
        .iter()
        .filter(|e| verb.matches(&e.event_name))
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
            let rows: Vec<Vec<String>> = events.iter().map(|e| event_row(e, tz)).collect();
            let total = rows.len() as u64;
            table(&mut out, header, rows, total, ja);
        }
    } else {
        let _ = writeln!(
            out,
            "{}\n",
            if ja {
                format!("**{resource}** への操作:")
            } else {
                format!("Actions on **{resource}**:")
            }
        );
        let total = matching.len() as u64;
        table(&mut out, header, matching, total, ja);
    }
    if let Some(note) = more_note(page, ja) {
        out.push_str(note);
    }
    out
}

fn logins(page: &LookupAnswer, principal: Option<&str>, ja: bool, tz: &TimeZone) -> String {
    let events: Vec<CompactEvent> = detailed(page)
        .into_iter()
        .filter(|e| principal.is_none_or(|p| e.principal.name.as_deref() == Some(p)))
        .collect();
    let who = principal.map(md);
    let mut out = String::new();
    if events.is_empty() {
        out.push_str(&match (ja, &who) {
            (true, Some(p)) => format!("この期間に **{p}** のコンソールログインはありません。\n"),
            (true, None) => "この期間にコンソールログインはありません。\n".into(),
            (false, Some(p)) => format!("No console logins by **{p}** in this window.\n"),
            (false, None) => "No console logins in this window.\n".into(),
        });
    } else {
        let n = events.len();
        let _ = writeln!(
            out,
            "{}\n",
            match (ja, &who) {
                (true, Some(p)) => format!("**{p}** のコンソールログイン {n} 件:"),
                (true, None) => format!("コンソールログイン {n} 件:"),
                (false, Some(p)) => format!("{n} console logins by **{p}**:"),
                (false, None) => format!("{n} console logins:"),
            }
        );
        let rows: Vec<Vec<String>> = events.iter().map(|e| event_row(e, tz)).collect();
        table(&mut out, event_header(ja), rows, n as u64, ja);
    }
    if let Some(note) = more_note(page, ja) {
        out.push_str(note);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::model::offline::intent::parse;

    fn now() -> Timestamp {
        // Wednesday 25 Nov 2026, 09:00 in Tokyo.
        "2026-11-25T00:00:00Z".parse().unwrap()
    }

    fn summary(fields: Value) -> String {
        let mut base = json!({"window": {"start": "2026-11-24T00:00:00Z", "end": "2026-11-25T00:00:00Z"},
            "filter": null, "scanned": 0, "hit_cap": false, "first_seen": null, "last_seen": null,
            "read_events": 0, "write_events": 0, "failed_events": 0, "by_service": [],
            "by_action": [], "by_error_code": [], "by_principal": [], "regions": [],
            "source_ips": [], "top_resources": [], "write_actions": [],
            "write_actions_omitted": 0, "failures": [], "failures_omitted": 0,
            "timeline": {"bucket_seconds": 3600, "buckets": []}, "highlights": [],
            "truncated": false});
        for (key, value) in fields.as_object().unwrap() {
            base[key] = value.clone();
        }
        base.to_string()
    }

    fn line(time: &str, name: &str, who: &str, error: Option<&str>) -> Value {
        json!({"ref": "1a2b3c4d", "event_time": time, "event_name": name, "event_source": "s3.amazonaws.com",
               "principal": who, "error_code": error, "resources": ["alice-<b>reports</b>"]})
    }

    #[test]
    fn summaries_show_the_servers_highlights_with_their_evidence() {
        let tz = TimeZone::UTC;
        let highlight = json!({"kind": "root_activity", "title": "Root user made 3 calls <b>",
            "principal": "root", "count": 3, "refs": ["1a2b3c4d", "deadbeef"]});
        for (question, header, detail) in [
            ("what happened yesterday?", "**Highlights**", "(root, 3)"),
            ("昨日何があった？", "**注目点**", "(root、3 件)"),
        ] {
            let intent = parse(question, now(), &tz);
            let result = summary(json!({"scanned": 3, "highlights": [highlight.clone()]}));
            let text = compose(&intent, ToolKind::Summarize, &result, false, &tz);
            assert!(text.contains(header), "{text}");
            assert!(
                text.contains(&format!(
                    "- Root user made 3 calls \\<b\\> {detail} [ev:1a2b3c4d] [ev:deadbeef]"
                )),
                "{text}"
            );
        }
        let intent = parse("what happened yesterday?", now(), &tz);
        let text = compose(
            &intent,
            ToolKind::Summarize,
            &summary(json!({"scanned": 3})),
            false,
            &tz,
        );
        assert!(!text.contains("Highlights"));
    }

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
        let intent = parse("what did alice do yesterday?", now(), &tz);
        let result = summary(json!({"scanned": 3, "read_events": 1, "write_events": 2,
            "filter": {"attribute_key": "Username", "attribute_value": "alice"},
            "failed_events": 1, "first_seen": "2026-11-24T00:12:00Z",
            "last_seen": "2026-11-24T05:00:00Z",
            "by_service": [{"key": "s3.amazonaws.com", "count": 3}],
            "by_error_code": [{"key": "AccessDenied", "count": 1}],
            "write_actions": [line("2026-11-24T05:00:00Z", "CreateBucket", "alice", None)]}));
        let text = compose(&intent, ToolKind::Summarize, &result, false, &tz);
        assert!(text.contains("**alice** made **3 calls**"), "{text}");
        assert!(
            text.contains(
                "| 2026-11-24 14:00 | CreateBucket | s3 | alice-\\<b\\>reports\\</b\\> | ok | [ev:1a2b3c4d] |"
            ),
            "{text}"
        );
        assert!(text.contains("AccessDenied (1)"), "{text}");
        assert!(text.contains("**Changes:** CreateBucket ×1"), "{text}");
        let ja = parse("昨日aliceは何をした？", now(), &tz);
        let text = compose(&ja, ToolKind::Summarize, &result, false, &tz);
        assert!(text.contains("**alice** のイベントは **3 件**"), "{text}");
        assert!(text.contains("書き込み操作"), "{text}");
    }

    #[test]
    fn who_deleted_filters_by_verb_and_errors_are_reported() {
        let tz = TimeZone::UTC;
        let intent = parse("who deleted bob-old-logs?", now(), &tz);
        let event = |time: &str, name: &str| {
            json!({"event_id": "e", "ref": "3f79bb7b", "event_time": time, "event_name": name,
                "event_source": "s3.amazonaws.com", "aws_region": null, "read_only": false,
                "principal": {"type": "IAMUser", "arn": null, "name": "bob", "account_id": null},
                "access_key_id": null, "source_ip": "198.51.100.7", "user_agent": null,
                "error_code": null, "error_message": null, "resources": [],
                "request_parameters": null})
        };
        let result = json!({"window": {"start": "a", "end": "b"}, "filter": null,
            "events": [event("2026-11-24T03:00:00Z", "DeleteBucket"),
                       event("2026-11-20T03:00:00Z", "CreateBucket")],
            "returned": 2, "next_cursor": null, "truncated": false});
        let text = compose(&intent, ToolKind::Lookup, &result.to_string(), false, &tz);
        assert!(
            text.contains(
                "| 2026-11-24 03:00 | bob | DeleteBucket | 198.51.100.7 | ok | [ev:3f79bb7b] |"
            ),
            "{text}"
        );
        assert!(!text.contains("CreateBucket"), "{text}");
        let text = compose(&intent, ToolKind::Lookup, "start_time: bad time", true, &tz);
        assert_eq!(text, "The tool reported an error: start\\_time: bad time");
    }

    /// A partial scan must not read as totals ("51 calls failed" when 149 were denied).
    #[test]
    fn counts_of_a_stopped_scan_are_lower_bounds_and_capped_lists_say_so() {
        let tz = TimeZone::UTC;
        let failures: Vec<Value> = (0..50)
            .map(|i| {
                line(
                    &format!("2026-11-24T{:02}:00:00Z", i % 24),
                    "GetObject",
                    "bob",
                    Some("AccessDenied"),
                )
            })
            .collect();
        let stopped = summary(json!({"scanned": 1000, "hit_cap": true, "read_events": 900,
            "write_events": 100, "failed_events": 51,
            "by_error_code": [{"key": "AccessDenied", "count": 51}],
            "failures": failures, "failures_omitted": 1,
            "note": "the scan reached the server's 20 s time limit"}));
        let intent = parse("which calls were denied this week?", now(), &tz);
        let text = compose(&intent, ToolKind::Summarize, &stopped, false, &tz);
        assert!(text.contains("**at least 51 calls failed**"), "{text}");
        assert!(text.contains("lower bounds"), "{text}");
        assert!(text.contains("…and 36 more"), "{text}");
        // A complete scan states exact counts, however long the capped list.
        let complete = summary(json!({"scanned": 2715, "read_events": 2000,
            "write_events": 715, "failed_events": 149,
            "by_error_code": [{"key": "AccessDenied", "count": 149}],
            "failures": (0..50).map(|_| line("2026-11-24T01:00:00Z", "GetObject", "bob", Some("AccessDenied"))).collect::<Vec<_>>(),
            "failures_omitted": 99}));
        let text = compose(&intent, ToolKind::Summarize, &complete, false, &tz);
        assert!(text.contains("**149 calls failed**"), "{text}");
        assert!(text.contains("…and 134 more"), "{text}");
        assert!(!text.contains("lower bound"), "{text}");
        let ja = parse("今週拒否された呼び出しは？", now(), &tz);
        let text = compose(&ja, ToolKind::Summarize, &stopped, false, &tz);
        assert!(text.contains("**51 件以上**"), "{text}");
        assert!(text.contains("下限"), "{text}");
    }

    /// A renamed field is an error, not a zero.
    #[test]
    fn an_answer_that_does_not_match_the_contract_is_reported_not_read_as_zero() {
        let tz = TimeZone::UTC;
        let intent = parse("what did alice do yesterday?", now(), &tz);
        let mut renamed: Value = serde_json::from_str(&summary(json!({"scanned": 5}))).unwrap();
        let failed = renamed
            .as_object_mut()
            .unwrap()
            .remove("failed_events")
            .unwrap();
        renamed["failed"] = failed;
        let text = compose(
            &intent,
            ToolKind::Summarize,
            &renamed.to_string(),
            false,
            &tz,
        );
        assert!(
            text.starts_with("The tool's answer could not be read"),
            "{text}"
        );
        assert!(text.contains("failed\\_events"), "{text}");
        let too_large = TooLarge::new("summarize_activity", 40_000, 32_768).to_json();
        let text = compose(&intent, ToolKind::Summarize, &too_large, true, &tz);
        assert!(
            text.contains("too large") && text.contains("32768"),
            "{text}"
        );
    }

    #[test]
    fn the_period_is_stated_as_it_was_understood() {
        let utc = TimeZone::UTC;
        // Monday 23 Nov 2026 is the week's first day; now is Wednesday 25 Nov 00:00 UTC.
        let line = |q: &str, tz: &TimeZone| period_line(&parse(q, now(), tz), tz);
        assert_eq!(
            line("which calls were denied this week?", &utc),
            "this week (Mon 23 Nov – now, UTC)"
        );
        assert_eq!(
            line("which calls were denied last week?", &utc),
            "last week (Mon 16 Nov – Sun 22 Nov, UTC)"
        );
        assert_eq!(
            line("what did bob do yesterday?", &utc),
            "yesterday (Tue 24 Nov, UTC)"
        );
        let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
        assert_eq!(
            line("先週の拒否された操作は？", &tokyo),
            "先週（11月16日(月) 〜 11月22日(日)、Asia/Tokyo）"
        );
        assert_eq!(
            line("what did bob do in the last 6 hours", &tokyo),
            "the last 6 hours (Wed 25 Nov 03:00 – now, Asia/Tokyo)"
        );
        assert_eq!(
            line("what did bob do", &utc),
            "the last 24 hours (no period was named) (Tue 24 Nov 00:00 – now, UTC)"
        );
        let preface = preface(
            &parse("which calls were denied this week?", now(), &utc),
            &utc,
        );
        assert!(
            preface.contains("this week (Mon 23 Nov – now, UTC)"),
            "{preface}"
        );
    }

    #[test]
    fn counts_by_principal_and_family_are_answered_from_the_summary() {
        let tz = TimeZone::UTC;
        let result = summary(json!({"scanned": 42, "read_events": 40, "write_events": 2,
            "filter": {"attribute_key": "Username", "attribute_value": "bob"},
            "first_seen": "2026-11-24T01:00:00Z", "last_seen": "2026-11-24T09:00:00Z",
            "by_service": [{"key": "s3.amazonaws.com", "count": 30}, {"key": "ec2.amazonaws.com", "count": 12}],
            "write_actions": [line("2026-11-24T09:00:00Z", "DeleteBucket", "bob", None),
                              line("2026-11-24T08:00:00Z", "PutBucketPolicy", "bob", None)]}));
        let intent = parse("how many API calls did bob make yesterday?", now(), &tz);
        let text = compose(&intent, ToolKind::Summarize, &result, false, &tz);
        assert!(text.starts_with("**bob** made **42 calls**"), "{text}");
        let intent = parse("how many S3 calls did bob make yesterday?", now(), &tz);
        let text = compose(&intent, ToolKind::Summarize, &result, false, &tz);
        assert!(text.contains("**30** were calls to **s3**"), "{text}");
        let intent = parse("what did bob delete yesterday?", now(), &tz);
        let text = compose(&intent, ToolKind::Summarize, &result, false, &tz);
        assert!(text.contains("**1** deletions"), "{text}");
        assert!(
            text.contains("DeleteBucket ×1") && !text.contains("PutBucketPolicy"),
            "{text}"
        );
    }

    /// "carol" has no events under that name; the planner looks at who was active and says
    /// which name to use, instead of "no events".
    #[test]
    fn a_principal_unknown_by_that_exact_name_gets_the_names_that_exist() {
        let tz = TimeZone::UTC;
        let intent = parse("what did carol do yesterday?", now(), &tz);
        let none =
            summary(json!({"filter": {"attribute_key": "Username", "attribute_value": "carol"}}));
        assert!(no_such_principal(
            &intent,
            ToolKind::Summarize,
            &none,
            false
        ));
        let everyone = summary(json!({"scanned": 90, "read_events": 90,
            "by_principal": [{"key": "alice", "count": 50}, {"key": "carol@example.com", "count": 40}]}));
        assert!(!no_such_principal(
            &intent,
            ToolKind::Summarize,
            &everyone,
            false
        ));
        let text = compose(&intent, ToolKind::Summarize, &everyone, false, &tz);
        assert!(text.contains("exact name **carol**"), "{text}");
        assert!(text.contains("**carol@example.com** (40)"), "{text}");
        assert!(text.contains("what did carol@example.com do?"), "{text}");
        let nobody = parse("what did dave do yesterday?", now(), &tz);
        let text = compose(&nobody, ToolKind::Summarize, &everyone, false, &tz);
        assert!(text.contains("No CloudTrail events for **dave**"), "{text}");
        assert!(text.contains("alice (50)"), "{text}");
    }

    #[test]
    fn one_named_action_is_counted_with_its_callers() {
        let tz = TimeZone::UTC;
        let intent = parse(
            "How many times was DeleteBucket called this week?",
            now(),
            &tz,
        );
        let result = summary(json!({"scanned": 4, "write_events": 4,
            "filter": {"attribute_key": "EventName", "attribute_value": "DeleteBucket"},
            "first_seen": "2026-11-23T01:00:00Z", "last_seen": "2026-11-24T09:00:00Z",
            "by_principal": [{"key": "alice", "count": 3}, {"key": "bob", "count": 1}]}));
        let text = compose(&intent, ToolKind::Summarize, &result, false, &tz);
        assert!(
            text.starts_with("**DeleteBucket** was called **4 times**"),
            "{text}"
        );
        assert!(text.contains("alice (3), bob (1)"), "{text}");
    }

    #[test]
    fn unsupported_and_described_questions_say_what_works() {
        let tz = TimeZone::UTC;
        let bill = parse("why is my S3 bill so high?", now(), &tz);
        let Topic::Unsupported { reason } = bill.topic else {
            panic!("{:?}", bill.topic)
        };
        let text = unsupported(&bill, reason);
        assert!(text.starts_with("I can't answer that offline"), "{text}");
        assert!(text.contains("not costs"), "{text}");
        assert!(text.contains("what did alice do yesterday?"), "{text}");
        let ci = parse("what did the CI role change last week?", now(), &tz);
        let result = summary(json!({"scanned": 3, "write_events": 3,
            "by_principal": [{"key": "github-actions-deploy", "count": 3}],
            "write_actions": [line("2026-11-20T09:00:00Z", "UpdateFunctionCode", "github-actions-deploy", None)]}));
        let text = compose(&ci, ToolKind::Summarize, &result, false, &tz);
        assert!(text.contains("which principal “the CI role” is"), "{text}");
        assert!(text.contains("github-actions-deploy (3)"), "{text}");
        assert!(text.contains("UpdateFunctionCode"), "{text}");
    }
}
