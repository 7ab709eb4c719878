//! The timeline of a summary: the window cut into equal buckets, each counting the read, write
//! and failed calls that fell in it.
//!
//! The bucket size is picked from a ladder of round durations (1 min ... 30 days) as the
//! smallest that cuts the window into at most [`MAX_BUCKETS`] pieces: an hour for a day, 6 hours
//! for a week, a day for a month. Buckets start at multiples of their size since the Unix epoch
//! (UTC midnight for day buckets), so two summaries of overlapping windows share bucket edges; a
//! window that does not start on an edge spans one bucket more. Every bucket from the one
//! holding the window's start to the one holding its end is listed, empty ones too, so a chart
//! needs no gap filling.

use jiff::Timestamp;

pub use cloudtrail_contract::summary::{Bucket, Timeline};

/// The most buckets a window is cut into (one more when it does not start on an edge).
pub const MAX_BUCKETS: u64 = 36;

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// Round bucket sizes, smallest first.
const LADDER: [u64; 17] = [
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    3 * DAY,
    7 * DAY,
    14 * DAY,
    30 * DAY,
];

/// The bucket size for a window of `window_seconds`: the smallest rung of the ladder that cuts
/// it into at most [`MAX_BUCKETS`] buckets; beyond the ladder, whole days.
pub fn bucket_seconds(window_seconds: u64) -> u64 {
    LADDER
        .into_iter()
        .find(|size| window_seconds.div_ceil(*size) <= MAX_BUCKETS)
        .unwrap_or_else(|| window_seconds.div_ceil(MAX_BUCKETS).div_ceil(DAY) * DAY)
}

/// The bucket size of the window `[start, end]` (what [`TimelineBuilder::new`] picks), for a
/// query engine that groups by bucket itself.
pub fn window_bucket_seconds(start: Timestamp, end: Timestamp) -> u64 {
    let (start, end) = (start.as_second(), end.as_second().max(start.as_second()));
    bucket_seconds(end.abs_diff(start))
}

/// Counts calls into the buckets of one window.
#[derive(Debug, Clone)]
pub struct TimelineBuilder {
    /// The start of the first bucket, in seconds since the epoch.
    first: i64,
    size: u64,
    buckets: Vec<(u64, u64, u64)>,
}

impl TimelineBuilder {
    /// The empty buckets of `[start, end]`.
    pub fn new(start: Timestamp, end: Timestamp) -> Self {
        let size = window_bucket_seconds(start, end);
        let (start, end) = (start.as_second(), end.as_second().max(start.as_second()));
        let width = i64::try_from(size).unwrap_or(i64::MAX);
        let first = start.div_euclid(width) * width;
        let last = end.div_euclid(width) * width;
        let count = usize::try_from((last - first) / width + 1).unwrap_or(1);
        Self {
            first,
            size,
            buckets: vec![(0, 0, 0); count],
        }
    }

    /// Counts one call at `time` (clamped into the window's buckets).
    pub fn add(&mut self, time: Timestamp, read_only: bool, failed: bool) {
        self.add_many(time, read_only, failed, 1);
    }

    /// Counts `n` calls at `time` alike (a query engine's group of calls in one bucket).
    pub fn add_many(&mut self, time: Timestamp, read_only: bool, failed: bool, n: u64) {
        let width = i64::try_from(self.size).unwrap_or(i64::MAX);
        let index = (time.as_second() - self.first).div_euclid(width);
        let last = self.buckets.len().saturating_sub(1);
        let index = usize::try_from(index.max(0)).unwrap_or(last).min(last);
        if let Some(bucket) = self.buckets.get_mut(index) {
            if read_only {
                bucket.0 += n;
            } else {
                bucket.1 += n;
            }
            if failed {
                bucket.2 += n;
            }
        }
    }

    /// The timeline.
    pub fn finish(self) -> Timeline {
        let width = i64::try_from(self.size).unwrap_or(i64::MAX);
        let buckets = self
            .buckets
            .into_iter()
            .enumerate()
            .map(|(i, (read, write, failed))| {
                let start = self.first + width * i64::try_from(i).unwrap_or(0);
                Bucket {
                    start: rfc3339(start),
                    read,
                    write,
                    failed,
                }
            })
            .collect();
        Timeline {
            bucket_seconds: self.size,
            buckets,
        }
    }
}

fn rfc3339(seconds: i64) -> String {
    Timestamp::from_second(seconds)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_string()
}

/// `timeline` with buckets twice as long (pairs merged on the doubled edges), counts unchanged:
/// how a summary over its byte budget shortens its timeline without losing a call.
pub fn coarsen(timeline: &Timeline) -> Timeline {
    let size = timeline.bucket_seconds.saturating_mul(2);
    let width = i64::try_from(size).unwrap_or(i64::MAX);
    let mut buckets: Vec<Bucket> = Vec::new();
    for bucket in &timeline.buckets {
        let start = bucket
            .start
            .parse::<Timestamp>()
            .map(|t| t.as_second().div_euclid(width) * width)
            .unwrap_or(0);
        let start = rfc3339(start);
        match buckets.last_mut() {
            Some(last) if last.start == start => {
                last.read += bucket.read;
                last.write += bucket.write;
                last.failed += bucket.failed;
            }
            _ => buckets.push(Bucket {
                start,
                ..bucket.clone()
            }),
        }
    }
    Timeline {
        bucket_seconds: size,
        buckets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn bucket_sizes_follow_the_window() {
        assert_eq!(bucket_seconds(0), MINUTE);
        assert_eq!(bucket_seconds(30 * MINUTE), MINUTE);
        assert_eq!(bucket_seconds(HOUR), 2 * MINUTE);
        assert_eq!(bucket_seconds(DAY), HOUR, "an hour for a day");
        assert_eq!(bucket_seconds(3 * DAY), 2 * HOUR);
        assert_eq!(bucket_seconds(7 * DAY), 6 * HOUR);
        assert_eq!(bucket_seconds(30 * DAY), DAY, "a day for a month");
        assert_eq!(bucket_seconds(90 * DAY), 3 * DAY);
        assert_eq!(bucket_seconds(365 * DAY), 14 * DAY);
        // Beyond the ladder: whole days, still at most MAX_BUCKETS.
        let decade = 3650 * DAY;
        let size = bucket_seconds(decade);
        assert_eq!(size % DAY, 0);
        assert!(decade.div_ceil(size) <= MAX_BUCKETS, "{size}");
        for window in [1, 59, 61, 3_599, 86_399, 86_401, 604_801, 7_776_000] {
            let size = bucket_seconds(window);
            assert!(window.div_ceil(size) <= MAX_BUCKETS, "{window}: {size}");
            // Not needlessly coarse: the next smaller rung would give too many buckets.
            if let Some(smaller) = LADDER.iter().rev().find(|s| **s < size) {
                assert!(window.div_ceil(*smaller) > MAX_BUCKETS, "{window}: {size}");
            }
        }
    }

    #[test]
    fn a_day_is_24_hour_buckets_on_the_hour_empty_ones_included() {
        let mut builder =
            TimelineBuilder::new(t("2026-11-23T00:00:00Z"), t("2026-11-23T23:59:59Z"));
        builder.add(t("2026-11-23T00:00:00Z"), true, false);
        builder.add(t("2026-11-23T09:12:00Z"), false, true);
        builder.add(t("2026-11-23T09:59:59Z"), true, true);
        builder.add(t("2026-11-23T23:59:59Z"), false, false);
        let timeline = builder.finish();
        assert_eq!(timeline.bucket_seconds, 3_600);
        assert_eq!(timeline.buckets.len(), 24);
        assert_eq!(timeline.buckets[0].start, "2026-11-23T00:00:00Z");
        assert_eq!(timeline.buckets[9].start, "2026-11-23T09:00:00Z");
        let b = &timeline.buckets[9];
        assert_eq!((b.read, b.write, b.failed), (1, 1, 2));
        assert_eq!(timeline.buckets[23].write, 1);
        assert_eq!(timeline.buckets[5].read + timeline.buckets[5].write, 0);
    }

    #[test]
    fn an_unaligned_window_spans_one_more_bucket_and_outliers_are_clamped() {
        let mut builder =
            TimelineBuilder::new(t("2026-11-23T09:30:00Z"), t("2026-11-24T09:30:00Z"));
        builder.add(t("2026-11-20T00:00:00Z"), true, false);
        builder.add(t("2026-11-30T00:00:00Z"), true, false);
        let timeline = builder.finish();
        assert_eq!(timeline.buckets.len(), 25);
        assert_eq!(timeline.buckets[0].start, "2026-11-23T09:00:00Z");
        assert_eq!(timeline.buckets[0].read, 1);
        assert_eq!(timeline.buckets[24].read, 1);
    }

    #[test]
    fn coarsening_halves_the_buckets_and_keeps_every_count() {
        let mut builder =
            TimelineBuilder::new(t("2026-11-23T01:00:00Z"), t("2026-11-23T23:00:00Z"));
        for h in 1..=23 {
            builder.add(
                t(&format!("2026-11-23T{h:02}:10:00Z")),
                h % 2 == 0,
                h % 3 == 0,
            );
        }
        let fine = builder.finish();
        let coarse = coarsen(&fine);
        assert_eq!(coarse.bucket_seconds, 7_200);
        // 01:00 sits in the 00:00-02:00 bucket, 23:00 in 22:00-24:00.
        assert_eq!(coarse.buckets.len(), 12);
        assert_eq!(coarse.buckets[0].start, "2026-11-23T00:00:00Z");
        let sum = |t: &Timeline| {
            t.buckets.iter().fold((0, 0, 0), |(r, w, f), b| {
                (r + b.read, w + b.write, f + b.failed)
            })
        };
        assert_eq!(sum(&coarse), sum(&fine));
        assert_eq!(sum(&fine), (11, 12, 7));
    }
}
