//! Reading a question in English or Japanese: what is asked about (a principal's activity, who
//! did an action, failed calls, console logins) and over which window, resolved to absolute
//! times in the user's timezone.

use std::sync::LazyLock;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, ToSpan};
use regex::Regex;

/// The language to answer in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ja,
}

/// A family of actions in "who deleted/created/changed ...".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Delete,
    Create,
    Change,
    Stop,
}

impl Verb {
    /// CloudTrail event names of this family start with one of these.
    pub fn prefixes(self) -> &'static [&'static str] {
        match self {
            Verb::Delete => &["Delete", "Remove", "Terminate"],
            Verb::Create => &["Create", "Run", "Launch", "Add"],
            Verb::Change => &[
                "Put", "Update", "Modify", "Attach", "Detach", "Set", "Change",
            ],
            Verb::Stop => &["Stop", "Terminate", "Disable"],
        }
    }

    /// Whether `event_name` belongs to this family.
    pub fn matches(self, event_name: &str) -> bool {
        self.prefixes().iter().any(|p| event_name.starts_with(p))
    }
}

/// What the question is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    Activity {
        principal: String,
    },
    WhoDid {
        verb: Verb,
        resource: Option<String>,
    },
    Failures {
        principal: Option<String>,
    },
    ConsoleLogins,
    Overview,
}

/// A parsed question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub lang: Lang,
    pub topic: Topic,
    pub start: Timestamp,
    pub end: Timestamp,
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("bad built-in pattern {pattern}: {e}"))
}

static JAPANESE: LazyLock<Regex> = LazyLock::new(|| re(r"[\p{Hiragana}\p{Katakana}\p{Han}]"));
static LAST_N: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?:last|past|previous)\s+(\d{1,3})\s*(hours?|hrs?|h|days?|d|weeks?)\b|(\d{1,3})\s*(hours?|days?)\s+ago",
    )
});
static LAST_N_JA: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?:過去|直近|最近|ここ)\s*(\d{1,3})\s*(時間|日間|日|週間|週)|(\d{1,3})\s*(時間|日間|週間)")
});
static ISO_DATE: LazyLock<Regex> = LazyLock::new(|| re(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"));
static JA_DATE: LazyLock<Regex> = LazyLock::new(|| re(r"(\d{1,2})月(\d{1,2})日"));
static SLASH_DATE: LazyLock<Regex> = LazyLock::new(|| re(r"\b(\d{1,2})/(\d{1,2})\b"));
static LOGIN: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)console\s*log\s*-?ins?|sign[- ]?ins?\b|ログイン|サインイン"));
static WHO: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)\bwho\b|誰|だれ|どのユーザー"));
static FAILED: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:denied|deny|failed|failures?|errors?|unauthori[sz]ed|forbidden)\b|拒否|失敗|エラー|権限",
    )
});
static QUOTED: LazyLock<Regex> = LazyLock::new(|| re(r#"[`"'「『]([^`"'」』\s]+)[`"'」』]"#));
static AFTER_KIND: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:bucket|role|user|instance|table|function|queue|topic|key|stack|cluster|group|policy)\s+([A-Za-z0-9][A-Za-z0-9_.@+=,:/-]+)|(?:バケット|ロール|インスタンス|テーブル|関数)\s*([A-Za-z0-9][A-Za-z0-9_.@+=,:/-]+)",
    )
});
static NAME_LIKE: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b([a-z0-9][a-z0-9.]*-[a-z0-9.-]*[a-z0-9])\b"));
static PRINCIPAL_EN: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)what\s+(?:did|has|have)\s+(?:the\s+)?(?:user\s+)?([A-Za-z0-9_.@+=,-]+)\s+(?:do|done)|([A-Za-z0-9_.@+=,-]+)'s\s+(?:activity|actions|calls|api)|(?:activity|actions|calls|done|did|investigate|doing)\s+(?:of|by|for|from)\s+(?:user\s+)?([A-Za-z0-9_.@+=,-]+)|\buser\s+([A-Za-z0-9_.@+=,-]+)|\binvestigate\s+(?:what\s+)?([A-Za-z0-9_.@+=,-]+)",
    )
});
static PRINCIPAL_JA: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"([A-Za-z0-9][A-Za-z0-9_.@+=,-]*)\s*(?:さん|氏)?\s*(?:は|が|の|による)|ユーザー\s*([A-Za-z0-9][A-Za-z0-9_.@+=,-]*)",
    )
});
static DELETE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)\b(?:delet|remov|terminat|destroy)|削除|消し|消去"));
static CREATE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)\b(?:creat|launch|made|add)|作成|作っ|追加"));
static STOP: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)\b(?:stop|disabl)|停止|無効"));
static CHANGE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)\b(?:chang|modif|updat|edit|attach|detach|put)|変更|更新|編集"));

/// Words that look like names but are not principals.
const NOT_NAMES: &[&str] = &[
    "what",
    "who",
    "which",
    "the",
    "that",
    "this",
    "a",
    "an",
    "any",
    "my",
    "our",
    "it",
    "did",
    "do",
    "user",
    "users",
    "me",
    "you",
    "i",
    "aws",
    "calls",
    "call",
    "api",
    "yesterday",
    "today",
    "last",
    "past",
    "week",
    "all",
    "someone",
    "anyone",
    "everyone",
    "console",
    "login",
    "root",
];

fn first_name(caps: &regex::Captures<'_>) -> Option<String> {
    caps.iter()
        .skip(1)
        .flatten()
        .map(|m| m.as_str().trim_end_matches(['.', ',', '?']).to_owned())
        .find(|name| {
            !name.is_empty()
                && !NOT_NAMES.contains(&name.to_ascii_lowercase().as_str())
                && !name.chars().all(|c| c.is_ascii_digit())
        })
}

/// The principal a question names, if any (`root` is kept: it is a real principal).
fn principal(question: &str) -> Option<String> {
    let lower = question.to_ascii_lowercase();
    if lower.contains("root user") || lower.contains("root account") || question.contains("ルート")
    {
        return Some("root".into());
    }
    PRINCIPAL_EN
        .captures_iter(question)
        .chain(PRINCIPAL_JA.captures_iter(question))
        .find_map(|caps| first_name(&caps))
}

fn resource(question: &str) -> Option<String> {
    QUOTED
        .captures(question)
        .or_else(|| AFTER_KIND.captures(question))
        .and_then(|caps| first_name(&caps))
        .or_else(|| {
            NAME_LIKE
                .captures(question)
                .and_then(|caps| first_name(&caps))
        })
}

fn verb(question: &str) -> Option<Verb> {
    [
        (&*DELETE, Verb::Delete),
        (&*CREATE, Verb::Create),
        (&*STOP, Verb::Stop),
        (&*CHANGE, Verb::Change),
    ]
    .into_iter()
    .find(|(pattern, _)| pattern.is_match(question))
    .map(|(_, verb)| verb)
}

fn start_of(date: Date, tz: &TimeZone) -> Option<Timestamp> {
    date.to_zoned_datetime(tz.clone())
        .ok()
        .map(|z| z.timestamp())
}

fn dates(question: &str, today: Date) -> Vec<Date> {
    let mut found: Vec<(usize, Date)> = Vec::new();
    for caps in ISO_DATE.captures_iter(question) {
        let n = |i: usize| caps.get(i).and_then(|m| m.as_str().parse::<i16>().ok());
        if let (Some(y), Some(m), Some(d)) = (n(1), n(2), n(3))
            && let Ok(date) = Date::new(y, m as i8, d as i8)
        {
            found.push((caps.get(0).map_or(0, |m| m.start()), date));
        }
    }
    for caps in JA_DATE
        .captures_iter(question)
        .chain(SLASH_DATE.captures_iter(question))
    {
        let n = |i: usize| caps.get(i).and_then(|m| m.as_str().parse::<i8>().ok());
        if let (Some(m), Some(d)) = (n(1), n(2))
            && let Ok(mut date) = Date::new(today.year(), m, d)
        {
            if date > today {
                date = Date::new(today.year() - 1, m, d).unwrap_or(date);
            }
            found.push((caps.get(0).map_or(0, |m| m.start()), date));
        }
    }
    found.sort_by_key(|(at, _)| *at);
    found.into_iter().map(|(_, date)| date).collect()
}

/// The window a question names, or `None` to use the topic's default.
fn window(question: &str, now: Timestamp, tz: &TimeZone) -> Option<(Timestamp, Timestamp)> {
    let today = now.to_zoned_datetime(tz.clone()).date();
    let lower = question.to_lowercase();
    let days = |n: i64| Span::new().days(n);
    if lower.contains("yesterday") || question.contains("昨日") {
        let start = start_of(today.checked_sub(days(1)).ok()?, tz)?;
        return Some((start, start_of(today, tz)?));
    }
    if lower.contains("today") || question.contains("今日") || question.contains("本日") {
        return Some((start_of(today, tz)?, now));
    }
    if let Some(caps) = LAST_N.captures(question) {
        let n: i64 = caps.get(1).or(caps.get(3))?.as_str().parse().ok()?;
        let unit = caps.get(2).or(caps.get(4))?.as_str().to_ascii_lowercase();
        let hours = match unit.chars().next() {
            Some('h') => n,
            Some('w') => n * 24 * 7,
            _ => n * 24,
        };
        return Some((now.checked_sub(hours.hours()).ok()?, now));
    }
    if let Some(caps) = LAST_N_JA.captures(question) {
        let n: i64 = caps.get(1).or(caps.get(3))?.as_str().parse().ok()?;
        let hours = match caps.get(2).or(caps.get(4))?.as_str() {
            "時間" => n,
            "週間" | "週" => n * 24 * 7,
            _ => n * 24,
        };
        return Some((now.checked_sub(hours.hours()).ok()?, now));
    }
    if lower.contains("this week")
        || lower.contains("last week")
        || question.contains("今週")
        || question.contains("先週")
        || question.contains("1週間")
    {
        return Some((now.checked_sub((24 * 7).hours()).ok()?, now));
    }
    let found = dates(question, today);
    let first = *found.first()?;
    let last = *found.last()?;
    let (first, last) = if first <= last {
        (first, last)
    } else {
        (last, first)
    };
    let end = start_of(last.checked_add(days(1)).ok()?, tz)?.min(now);
    Some((start_of(first, tz)?, end))
}

/// Parses `question`, asked at `now` by a user in `tz`.
pub fn parse(question: &str, now: Timestamp, tz: &TimeZone) -> Intent {
    let lang = if JAPANESE.is_match(question) {
        Lang::Ja
    } else {
        Lang::En
    };
    let topic = if LOGIN.is_match(question) {
        Topic::ConsoleLogins
    } else if WHO.is_match(question)
        && let Some(verb) = verb(question)
    {
        Topic::WhoDid {
            verb,
            resource: resource(question),
        }
    } else if FAILED.is_match(question) {
        Topic::Failures {
            principal: principal(question),
        }
    } else if let Some(principal) = principal(question) {
        Topic::Activity { principal }
    } else {
        Topic::Overview
    };
    let default_hours: i64 = match topic {
        Topic::Activity { .. } | Topic::Overview => 24,
        _ => 24 * 7,
    };
    let (start, end) = window(question, now, tz)
        .unwrap_or_else(|| (now.checked_sub(default_hours.hours()).unwrap_or(now), now));
    Intent {
        lang,
        topic,
        start,
        end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> (Timestamp, TimeZone) {
        // 2026-11-25 09:00 in Tokyo.
        (
            "2026-11-25T00:00:00Z".parse().unwrap(),
            TimeZone::get("Asia/Tokyo").unwrap(),
        )
    }

    fn p(q: &str) -> Intent {
        let (now, tz) = at();
        parse(q, now, &tz)
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn principal_activity_yesterday_in_both_languages() {
        for q in [
            "what did alice do yesterday?",
            "昨日aliceは何をした？",
            "Investigate what alice did in AWS yesterday",
        ] {
            let intent = p(q);
            assert_eq!(
                intent.topic,
                Topic::Activity {
                    principal: "alice".into()
                },
                "{q}"
            );
            assert_eq!(intent.start, ts("2026-11-23T15:00:00Z"), "{q}");
            assert_eq!(intent.end, ts("2026-11-24T15:00:00Z"), "{q}");
        }
        assert_eq!(p("昨日aliceは何をした？").lang, Lang::Ja);
        assert_eq!(p("what did alice do yesterday?").lang, Lang::En);
        assert_eq!(
            p("show carol@example.com's activity").topic,
            Topic::Activity {
                principal: "carol@example.com".into()
            }
        );
        assert_eq!(
            p("ユーザー bob の操作を教えて").topic,
            Topic::Activity {
                principal: "bob".into()
            }
        );
    }

    #[test]
    fn windows_relative_and_explicit() {
        let (now, _) = at();
        let w = p("what did bob do in the last 6 hours");
        assert_eq!((w.start, w.end), (ts("2026-11-24T18:00:00Z"), now));
        let w = p("過去3日間のbobの操作");
        assert_eq!(w.start, ts("2026-11-22T00:00:00Z"));
        let w = p("what did bob do today");
        assert_eq!(w.start, ts("2026-11-24T15:00:00Z"));
        let w = p("what did bob do on 2026-11-20");
        assert_eq!(
            (w.start, w.end),
            (ts("2026-11-19T15:00:00Z"), ts("2026-11-20T15:00:00Z"))
        );
        let w = p("11月18日から11月20日のbobの操作");
        assert_eq!(
            (w.start, w.end),
            (ts("2026-11-17T15:00:00Z"), ts("2026-11-20T15:00:00Z"))
        );
        // Default windows: a day for activity, a week for failures.
        assert_eq!(p("what did bob do").start, ts("2026-11-24T00:00:00Z"));
        assert_eq!(
            p("which calls were denied?").start,
            ts("2026-11-18T00:00:00Z")
        );
    }

    #[test]
    fn who_did_failures_and_logins() {
        assert_eq!(
            p("who deleted the bucket bob-old-logs?").topic,
            Topic::WhoDid {
                verb: Verb::Delete,
                resource: Some("bob-old-logs".into())
            }
        );
        assert_eq!(
            p("誰が「bob-old-logs」を削除した？").topic,
            Topic::WhoDid {
                verb: Verb::Delete,
                resource: Some("bob-old-logs".into())
            }
        );
        assert_eq!(
            p("who deleted that bucket?").topic,
            Topic::WhoDid {
                verb: Verb::Delete,
                resource: None
            }
        );
        assert_eq!(
            p("which calls were denied this week?").topic,
            Topic::Failures { principal: None }
        );
        assert_eq!(
            p("今週拒否されたaliceの操作は？").topic,
            Topic::Failures {
                principal: Some("alice".into())
            }
        );
        assert_eq!(
            p("any console logins yesterday?").topic,
            Topic::ConsoleLogins
        );
        assert_eq!(
            p("昨日のコンソールログインは？").topic,
            Topic::ConsoleLogins
        );
        assert_eq!(p("what happened?").topic, Topic::Overview);
        assert!(Verb::Delete.matches("DeleteBucket") && !Verb::Delete.matches("CreateBucket"));
    }
}
