//! One page from several day indexes: the S3 archive keeps one index per account, region and
//! delivery day, asks each for its first `limit` matches after the page token, and merges them
//! here, newest first (time, then event id, descending: the directory archive's order), keeping
//! one copy of an event found in two folders.

use jiff::Timestamp;

/// The outcome of [`merge`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// Per list, how many of its hits the page consumed (returned, or dropped as a copy): a
    /// prefix, since every list is newest first.
    pub consumed: Vec<usize>,
    /// The page: (list, position in that list), newest first.
    pub order: Vec<(usize, usize)>,
    /// Whether more matches follow the page.
    pub more: bool,
}

/// Merges `lists` (each newest first; `more[i]`: list `i` has matches past its hits) into a page
/// of at most `limit` events.
pub fn merge(lists: &[Vec<(Timestamp, &str)>], more: &[bool], limit: usize) -> Merged {
    let mut all: Vec<((Timestamp, &str), usize, usize)> = lists
        .iter()
        .enumerate()
        .flat_map(|(i, list)| list.iter().enumerate().map(move |(j, key)| (*key, i, j)))
        .collect();
    // Newest first; equal keys (one event in two folders) by list, so the first list wins.
    all.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut merged = Merged {
        consumed: vec![0; lists.len()],
        order: Vec::with_capacity(limit.min(all.len())),
        more: more.iter().any(|&m| m),
    };
    let mut last: Option<(Timestamp, &str)> = None;
    for (key, i, j) in all {
        if last == Some(key) {
            merged.consumed[i] = j + 1;
            continue;
        }
        if merged.order.len() == limit {
            merged.more = true;
            break;
        }
        merged.consumed[i] = j + 1;
        merged.order.push((i, j));
        last = Some(key);
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    #[test]
    fn pages_are_newest_first_across_lists_with_one_copy_each() {
        let a = vec![(at(9), "e9"), (at(5), "e5"), (at(2), "e2")];
        let b = vec![(at(7), "e7"), (at(5), "e5"), (at(5), "e4"), (at(1), "e1")];
        let m = merge(&[a.clone(), b.clone()], &[false, false], 10);
        let ids: Vec<&str> = m.order.iter().map(|&(i, j)| [&a, &b][i][j].1).collect();
        assert_eq!(ids, ["e9", "e7", "e5", "e4", "e2", "e1"]);
        assert_eq!(m.consumed, [3, 4]);
        assert!(!m.more);

        // A short page: the copy of e5 right after the cut is consumed, nothing past it.
        let m = merge(&[a.clone(), b.clone()], &[false, false], 3);
        assert_eq!(m.order, [(0, 0), (1, 0), (0, 1)]);
        assert_eq!(m.consumed, [2, 2]);
        assert!(m.more);
        // Exactly all distinct events: no more.
        let m = merge(&[a.clone(), b.clone()], &[false, false], 6);
        assert!(!m.more);
        assert_eq!(m.order.len(), 6);
    }

    #[test]
    fn a_list_with_more_matches_means_more() {
        let a = vec![(at(3), "x")];
        let m = merge(&[a, vec![]], &[false, true], 5);
        assert_eq!(m.order, [(0, 0)]);
        assert!(m.more);
        let m = merge(&[], &[], 5);
        assert!(m.order.is_empty() && !m.more);
    }
}
