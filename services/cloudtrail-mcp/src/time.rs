//! Time expressions the tools accept, resolved to UTC instants.
//!
//! A model writes times in many ways; we accept a small, unambiguous set and name the problem
//! precisely for anything else:
//! - RFC 3339 with an offset: `2026-11-23T09:00:00Z`, `2026-11-23T18:00:00+09:00`;
//! - a calendar date `2026-11-23`: midnight at the start of that day in the given timezone;
//! - `now`, `today`, `yesterday` (midnight at the start of that day in the given timezone);
//! - relative: `N <unit> ago` with units s/m/h/d/w (or their English words), e.g. `24h ago`,
//!   `7 days ago`.

use jiff::{SignedDuration, Timestamp, ZonedDateTime, civil::Date, tz::TimeZone};

/// Why a time expression was refused. The caller adds the argument name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error(
        "is empty; expected an RFC 3339 time such as 2026-11-23T09:00:00Z, or now, today, yesterday, `24h ago`"
    )]
    Empty,
    #[error("`{0}` has no UTC offset; add `Z` or an offset such as `+09:00`")]
    MissingOffset(String),
    #[error(
        "`{0}` is not a time; expected an RFC 3339 time such as 2026-11-23T09:00:00Z, a date 2026-11-23, or now, today, yesterday, `24h ago`, `7d ago`"
    )]
    Unrecognized(String),
    #[error("`{0}` is out of range")]
    OutOfRange(String),
    #[error(
        "`{0}` is not an IANA timezone name; expected e.g. `UTC`, `Asia/Tokyo`, `America/New_York`"
    )]
    UnknownTimezone(String),
}

/// Resolves an IANA timezone name (`Asia/Tokyo`, `UTC`).
pub fn parse_timezone(name: &str) -> Result<TimeZone, TimeError> {
    TimeZone::get(name.trim()).map_err(|_| TimeError::UnknownTimezone(name.to_owned()))
}

/// Resolves `input` to an instant, relative to `now` and, for day-based forms, `tz`.
pub fn parse_instant(input: &str, now: Timestamp, tz: &TimeZone) -> Result<Timestamp, TimeError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(TimeError::Empty);
    }
    let lower = text.to_ascii_lowercase();
    match lower.as_str() {
        "now" => return Ok(now),
        "today" => return start_of_day(now.to_zoned_datetime(tz.clone()).date(), tz, text),
        "yesterday" => {
            let today = now.to_zoned_datetime(tz.clone()).date();
            let day = today
                .yesterday()
                .map_err(|_| TimeError::OutOfRange(text.to_owned()))?;
            return start_of_day(day, tz, text);
        }
        _ => {}
    }
    if let Some(ago) = lower.strip_suffix("ago") {
        let span =
            parse_span(ago.trim()).ok_or_else(|| TimeError::Unrecognized(text.to_owned()))?;
        return now
            .checked_sub(span)
            .map_err(|_| TimeError::OutOfRange(text.to_owned()));
    }
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(ts);
    }
    if let Ok(date) = text.parse::<Date>()
        && text.len() == 10
    {
        return start_of_day(date, tz, text);
    }
    if text.parse::<jiff::civil::DateTime>().is_ok() {
        return Err(TimeError::MissingOffset(text.to_owned()));
    }
    Err(TimeError::Unrecognized(text.to_owned()))
}

fn start_of_day(date: Date, tz: &TimeZone, text: &str) -> Result<Timestamp, TimeError> {
    date.to_zoned_datetime(tz.clone())
        .map(|z: ZonedDateTime| z.timestamp())
        .map_err(|_| TimeError::OutOfRange(text.to_owned()))
}

/// Parses `24h`, `24 h`, `24 hours`, `7d`, `90 minutes`, `2w` into a duration.
fn parse_span(text: &str) -> Option<SignedDuration> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let n: i64 = number.parse().ok()?;
    let seconds_per_unit: i64 = match unit.trim() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(seconds_per_unit)
        .map(SignedDuration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-11-24T03:30:00Z".parse().unwrap()
    }

    fn at(s: &str, tz: &str) -> Result<String, TimeError> {
        parse_instant(s, now(), &TimeZone::get(tz).unwrap()).map(|t| t.to_string())
    }

    #[test]
    fn absolute_times_keep_their_offset() {
        assert_eq!(
            at("2026-11-23T09:00:00Z", "UTC").unwrap(),
            "2026-11-23T09:00:00Z"
        );
        assert_eq!(
            at("2026-11-23T18:00:00+09:00", "UTC").unwrap(),
            "2026-11-23T09:00:00Z"
        );
    }

    #[test]
    fn days_start_at_local_midnight() {
        // 03:30 UTC is 12:30 in Tokyo on the same day, and 19:30 the day before in Los Angeles.
        assert_eq!(at("today", "UTC").unwrap(), "2026-11-24T00:00:00Z");
        assert_eq!(at("today", "Asia/Tokyo").unwrap(), "2026-11-23T15:00:00Z");
        assert_eq!(
            at("yesterday", "Asia/Tokyo").unwrap(),
            "2026-11-22T15:00:00Z"
        );
        assert_eq!(
            at("Yesterday", "America/Los_Angeles").unwrap(),
            "2026-11-22T08:00:00Z"
        );
        assert_eq!(
            at("2026-11-20", "Asia/Tokyo").unwrap(),
            "2026-11-19T15:00:00Z"
        );
    }

    #[test]
    fn relative_forms() {
        assert_eq!(at("now", "UTC").unwrap(), "2026-11-24T03:30:00Z");
        assert_eq!(at("24h ago", "UTC").unwrap(), "2026-11-23T03:30:00Z");
        assert_eq!(at("7 days ago", "UTC").unwrap(), "2026-11-17T03:30:00Z");
        assert_eq!(at("90m ago", "UTC").unwrap(), "2026-11-24T02:00:00Z");
        assert_eq!(at("2 weeks ago", "UTC").unwrap(), "2026-11-10T03:30:00Z");
    }

    #[test]
    fn bad_input_is_named() {
        assert_eq!(at("", "UTC"), Err(TimeError::Empty));
        assert_eq!(
            at("2026-11-23T09:00:00", "UTC"),
            Err(TimeError::MissingOffset("2026-11-23T09:00:00".into()))
        );
        assert!(matches!(
            at("last tuesday", "UTC"),
            Err(TimeError::Unrecognized(_))
        ));
        assert!(matches!(
            at("5 fortnights ago", "UTC"),
            Err(TimeError::Unrecognized(_))
        ));
        assert!(matches!(
            at("99999999999999d ago", "UTC"),
            Err(TimeError::OutOfRange(_))
        ));
        assert!(at("2026-13-01", "UTC").is_err());
        let message = at("soon", "UTC").unwrap_err().to_string();
        assert!(
            message.contains("`soon`") && message.contains("RFC 3339"),
            "{message}"
        );
    }

    #[test]
    fn timezones_are_checked() {
        assert!(parse_timezone("Asia/Tokyo").is_ok());
        let err = parse_timezone("Mars/Olympus").unwrap_err().to_string();
        assert!(
            err.contains("Mars/Olympus") && err.contains("IANA"),
            "{err}"
        );
    }
}
