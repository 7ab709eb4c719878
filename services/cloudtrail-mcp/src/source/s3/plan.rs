//! Which S3 prefixes a query lists: the pure part of the S3 archive, apart from the I/O.
//!
//! A trail writes `AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/*.json.gz`, the date
//! being the *delivery* date (UTC): an event a few minutes before midnight sits in the next
//! day's folder. So a window's events are in the folders of its days and of the day after its
//! last one ([`DELIVERY_SLACK_DAYS`]), and nowhere else; folders after today do not exist yet.
//! Nothing ever lists the bucket as a whole: accounts and regions are discovered one folder
//! level at a time (delimiter `/`), and a [`Scope`](crate::source::Scope) that names them skips
//! the discovery of that level.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// How many days after an event its file may be delivered (the folder date is the delivery
/// date). CloudTrail delivers within minutes; a day covers events just before midnight.
pub const DELIVERY_SLACK_DAYS: i64 = 1;

/// How long after a day ends its folder may still receive files (deliveries in flight, clock
/// skew between this server and S3). Until then the folder is live: listed again, not cached
/// for good.
pub const SETTLE: SignedDuration = SignedDuration::from_mins(15);

fn date(t: Timestamp) -> Date {
    t.to_zoned_datetime(TimeZone::UTC).date()
}

/// The delivery dates whose folders can hold events of `[start, end]`, oldest first: the
/// window's days and the day after, up to today (`now`, allowing for [`SETTLE`]).
pub fn days(start: Timestamp, end: Timestamp, now: Timestamp) -> Vec<Date> {
    let first = date(start);
    let slack = date(end)
        .checked_add(jiff::Span::new().days(DELIVERY_SLACK_DAYS))
        .unwrap_or_else(|_| date(end));
    let last = slack.min(date(now + SETTLE));
    let mut out = Vec::new();
    let mut day = first;
    while day <= last {
        out.push(day);
        match day.tomorrow() {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    out
}

/// Whether the folder of `day` may still receive files at `now`.
pub fn is_live(day: Date, now: Timestamp) -> bool {
    let Ok(next) = day.tomorrow() else {
        return false;
    };
    match next.to_zoned_datetime(TimeZone::UTC) {
        Ok(end) => now < end.timestamp() + SETTLE,
        Err(_) => false,
    }
}

/// The instant every event in the folder of delivery day `day` is older than: the end of that
/// day (a file is delivered after its events).
pub fn after_folder(day: Date) -> Timestamp {
    day.tomorrow()
        .ok()
        .and_then(|next| next.to_zoned_datetime(TimeZone::UTC).ok())
        .map_or(Timestamp::MAX, |z| z.timestamp())
}

/// The folder of one account's trail files: `<account folder>CloudTrail/`.
pub fn trail_prefix(account_folder: &str) -> String {
    format!("{account_folder}CloudTrail/")
}

/// The folder of one region: `<account folder>CloudTrail/<region>/`.
pub fn region_prefix(account_folder: &str, region: &str) -> String {
    format!("{}{region}/", trail_prefix(account_folder))
}

/// The folder of one delivery day: `<region folder>YYYY/MM/DD/`.
pub fn day_prefix(region_folder: &str, day: Date) -> String {
    format!("{region_folder}{}/", day.strftime("%Y/%m/%d"))
}

/// The name of the folder `common_prefix` (as a delimited listing of `parent` returns it), or
/// `None` when it is not a folder directly below `parent`.
pub fn child<'a>(parent: &str, common_prefix: &'a str) -> Option<&'a str> {
    let name = common_prefix.strip_prefix(parent)?.strip_suffix('/')?;
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

/// A folder directly below `AWSLogs/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogsFolder {
    /// An account's folder (a single-account trail, or an account of an organization).
    Account(String),
    /// An organization trail's folder (`o-...`), which holds account folders.
    Organization(String),
}

/// Classifies a folder name below `AWSLogs/`; other names (not written by CloudTrail) are `None`.
pub fn logs_folder(name: &str) -> Option<LogsFolder> {
    if is_account_id(name) {
        Some(LogsFolder::Account(name.to_owned()))
    } else if name.len() > 2
        && name.starts_with("o-")
        && name[2..].bytes().all(|b| b.is_ascii_alphanumeric())
    {
        Some(LogsFolder::Organization(name.to_owned()))
    } else {
        None
    }
}

/// Whether `name` is an AWS account id (12 digits).
pub fn is_account_id(name: &str) -> bool {
    name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit())
}

/// Whether an object below a day folder is a log file the archive reads (as a local directory
/// archive does: `*.json.gz` and `*.json`).
pub fn is_log_file(key: &str) -> bool {
    key.ends_with(".json.gz") || key.ends_with(".json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date as d;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_window_lists_its_days_and_the_next_one_up_to_today() {
        let now = t("2026-11-29T12:00:00Z");
        assert_eq!(
            days(t("2026-11-20T23:50:00Z"), t("2026-11-22T10:00:00Z"), now),
            [
                d(2026, 11, 20),
                d(2026, 11, 21),
                d(2026, 11, 22),
                d(2026, 11, 23)
            ]
        );
        // One instant: its day and the next.
        let one = t("2026-11-24T00:00:00Z");
        assert_eq!(days(one, one, now), [d(2026, 11, 24), d(2026, 11, 25)]);
        // Ending today: tomorrow's folder does not exist yet.
        assert_eq!(
            days(t("2026-11-28T01:00:00Z"), now, now),
            [d(2026, 11, 28), d(2026, 11, 29)]
        );
        // ... unless today is about to end.
        let late = t("2026-11-29T23:50:00Z");
        assert_eq!(days(late, late, late), [d(2026, 11, 29), d(2026, 11, 30)]);
        // Over a month and year end.
        let n = days(t("2025-12-31T00:00:00Z"), t("2026-01-01T00:00:00Z"), now);
        assert_eq!(n, [d(2025, 12, 31), d(2026, 1, 1), d(2026, 1, 2)]);
        // A window in the future, or backwards, lists nothing.
        assert!(days(t("2026-12-05T00:00:00Z"), t("2026-12-06T00:00:00Z"), now).is_empty());
        assert!(days(t("2026-11-25T00:00:00Z"), t("2026-11-20T00:00:00Z"), now).is_empty());
        // 90 days are 91 folders.
        assert_eq!(
            days(t("2026-08-31T00:00:00Z"), t("2026-11-28T23:59:59Z"), now).len(),
            91
        );
    }

    #[test]
    fn a_day_is_live_until_it_has_settled() {
        let day = d(2026, 11, 28);
        assert!(is_live(day, t("2026-11-28T05:00:00Z")));
        assert!(is_live(day, t("2026-11-29T00:14:00Z")));
        assert!(!is_live(day, t("2026-11-29T00:16:00Z")));
        assert!(!is_live(day, t("2026-12-20T00:00:00Z")));
        // Folders dated after now are live too (they may appear).
        assert!(is_live(d(2026, 11, 30), t("2026-11-29T12:00:00Z")));
    }

    #[test]
    fn a_folder_holds_only_events_before_its_day_ends() {
        assert_eq!(after_folder(d(2026, 11, 28)), t("2026-11-29T00:00:00Z"));
        assert_eq!(after_folder(d(2026, 12, 31)), t("2027-01-01T00:00:00Z"));
    }

    #[test]
    fn prefixes_follow_the_trail_layout() {
        let account = "logs/AWSLogs/o-abc123/111122223333/";
        let region = region_prefix(account, "eu-west-1");
        assert_eq!(
            region,
            "logs/AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/"
        );
        assert_eq!(
            day_prefix(&region, d(2026, 3, 7)),
            "logs/AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/2026/03/07/"
        );
        assert_eq!(trail_prefix(account), format!("{account}CloudTrail/"));
    }

    #[test]
    fn folders_are_classified_and_others_ignored() {
        let parent = "p/AWSLogs/";
        assert_eq!(
            child(parent, "p/AWSLogs/111122223333/"),
            Some("111122223333")
        );
        assert_eq!(child(parent, "p/AWSLogs/"), None);
        assert_eq!(child(parent, "q/AWSLogs/x/"), None);
        assert_eq!(child(parent, "p/AWSLogs/a/b/"), None);
        assert_eq!(
            logs_folder("111122223333"),
            Some(LogsFolder::Account("111122223333".into()))
        );
        assert_eq!(
            logs_folder("o-exampleorgid"),
            Some(LogsFolder::Organization("o-exampleorgid".into()))
        );
        for other in ["o-", "1111", "11112222333a", "CloudTrail", "o-a/b"] {
            assert_eq!(logs_folder(other), None, "{other}");
        }
        assert!(is_log_file(
            "x/1_CloudTrail_us-east-1_20261128T0905Z_a.json.gz"
        ));
        assert!(is_log_file("x/manual.json"));
        assert!(!is_log_file("x/notes.txt"));
    }
}
