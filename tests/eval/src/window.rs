//! The window a question means, resolved the way an investigator reads it: "yesterday" is the
//! previous calendar day in the user's zone, "this week" starts on Monday 00:00, "the last 3 days"
//! is rolling. The harness compares it with the window the tool actually searched (the `window`
//! of the tool's answer).

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};

use crate::truth::Window;

/// How far a searched window's ends may be from the expected ones: rolling windows end at the
/// moment the question was asked, which the harness only knows to within a run's duration.
pub const TOLERANCE: SignedDuration = SignedDuration::from_secs(180);

/// A period a question names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Today,
    Yesterday,
    ThisWeek,
    LastWeek,
    /// The last N hours until now (also the planner's default windows: 24 h, 7 d).
    LastHours(i64),
    /// From `from` hours ago to `to` hours ago.
    HoursAgo {
        from: i64,
        to: i64,
    },
}

impl Period {
    /// The window of this period for a question asked at `now` in `tz`.
    pub fn resolve(self, now: Timestamp, tz: &TimeZone) -> Window {
        let today = now.to_zoned_datetime(tz.clone()).date();
        let midnight = |d: Date| {
            d.to_zoned_datetime(tz.clone())
                .map(|z| z.timestamp())
                .unwrap_or(now)
        };
        let monday = today
            .checked_sub(i64::from(today.weekday().to_monday_zero_offset()).days())
            .unwrap_or(today);
        let back = |d: Date, n: i64| d.checked_sub(n.days()).unwrap_or(d);
        let (start, end) = match self {
            Period::Today => (midnight(today), now),
            Period::Yesterday => (midnight(back(today, 1)), midnight(today)),
            Period::ThisWeek => (midnight(monday), now),
            Period::LastWeek => (midnight(back(monday, 7)), midnight(monday)),
            Period::LastHours(h) => (now - SignedDuration::from_hours(h), now),
            Period::HoursAgo { from, to } => (
                now - SignedDuration::from_hours(from),
                now - SignedDuration::from_hours(to),
            ),
        };
        Window { start, end }
    }
}

/// Whether `searched` is `expected` within [`TOLERANCE`] at both ends.
pub fn matches(searched: Window, expected: Window) -> bool {
    let close = |a: Timestamp, b: Timestamp| (a - b).abs() <= TOLERANCE;
    close(searched.start, expected.start) && close(searched.end, expected.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn calendar_periods_in_the_users_zone() {
        // Wednesday 25 Nov 2026, 09:00 in Tokyo.
        let now = ts("2026-11-25T00:00:00Z");
        let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
        let w = Period::Yesterday.resolve(now, &tokyo);
        assert_eq!(
            (w.start, w.end),
            (ts("2026-11-23T15:00:00Z"), ts("2026-11-24T15:00:00Z"))
        );
        let w = Period::LastWeek.resolve(now, &tokyo);
        assert_eq!(
            (w.start, w.end),
            (ts("2026-11-15T15:00:00Z"), ts("2026-11-22T15:00:00Z"))
        );
        let w = Period::ThisWeek.resolve(now, &TimeZone::UTC);
        assert_eq!((w.start, w.end), (ts("2026-11-23T00:00:00Z"), now));
        let w = Period::LastHours(72).resolve(now, &TimeZone::UTC);
        assert_eq!(w.start, ts("2026-11-22T00:00:00Z"));
    }

    #[test]
    fn tolerance_covers_a_run_not_a_day() {
        let now = ts("2026-11-25T00:00:00Z");
        let w = Period::LastHours(24).resolve(now, &TimeZone::UTC);
        let later =
            Period::LastHours(24).resolve(now + SignedDuration::from_secs(60), &TimeZone::UTC);
        assert!(matches(later, w));
        let yesterday = Period::Yesterday.resolve(now, &TimeZone::UTC);
        assert!(!matches(
            yesterday,
            Period::Today.resolve(now, &TimeZone::UTC)
        ));
    }
}
