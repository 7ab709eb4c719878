//! The arguments the tools share, validated: the window and filter of `lookup_events` and
//! `summarize_activity` into a resolved [`Selection`], integer ranges, and every tool's
//! `max_bytes` into its answer [`Budget`].

use cloudtrail_contract::Window;
use cloudtrail_contract::budget::{MAX_BYTES, MIN_BYTES};
use jiff::{SignedDuration, Timestamp};

use super::Budget;
use crate::error::ToolError;
use crate::source::regions::is_region_name;
use crate::source::{AttributeKey, Filter, Scope};
use crate::time::{parse_instant, parse_timezone};

/// Default start when none is given.
pub const DEFAULT_START: &str = "24h ago";

/// The raw selection arguments, as the model sent them.
#[derive(Debug, Default, Clone, Copy)]
pub struct SelectionArgs<'a> {
    pub start_time: Option<&'a str>,
    pub end_time: Option<&'a str>,
    pub timezone: Option<&'a str>,
    pub attribute_key: Option<AttributeKey>,
    pub attribute_value: Option<&'a str>,
    pub accounts: Option<&'a [String]>,
    pub regions: Option<&'a [String]>,
}

/// The most accounts or regions one query may name.
pub const MAX_SCOPE: usize = 100;

impl SelectionArgs<'_> {
    /// The first selection argument that is set, for "pass the cursor alone" errors.
    pub fn first_set(&self) -> Option<&'static str> {
        [
            ("start_time", self.start_time.is_some()),
            ("end_time", self.end_time.is_some()),
            ("timezone", self.timezone.is_some()),
            ("attribute_key", self.attribute_key.is_some()),
            ("attribute_value", self.attribute_value.is_some()),
            ("accounts", self.accounts.is_some()),
            ("regions", self.regions.is_some()),
        ]
        .into_iter()
        .find_map(|(name, set)| set.then_some(name))
    }
}

/// A validated window and filter, in UTC.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub start: Timestamp,
    pub end: Timestamp,
    pub filter: Option<Filter>,
    pub scope: Scope,
}

/// Checks one scope list: at most [`MAX_SCOPE`] entries, each of the expected shape; duplicates
/// are dropped, order kept.
fn scope_list(
    field: &'static str,
    values: Option<&[String]>,
    valid: fn(&str) -> bool,
    example: &'static str,
) -> Result<Vec<String>, ToolError> {
    let Some(values) = values else {
        return Ok(Vec::new());
    };
    if values.is_empty() || values.len() > MAX_SCOPE {
        return Err(ToolError::ScopeList {
            field,
            max: MAX_SCOPE,
        });
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        let value = value.trim();
        if !valid(value) {
            return Err(ToolError::ScopeValue {
                field,
                value: value.to_owned(),
                example,
            });
        }
        if !out.iter().any(|v| v == value) {
            out.push(value.to_owned());
        }
    }
    Ok(out)
}

fn is_account(value: &str) -> bool {
    value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit())
}

/// Resolves and checks the arguments against `now` and the source's retention.
pub fn resolve(
    args: SelectionArgs<'_>,
    now: Timestamp,
    retention: Option<SignedDuration>,
) -> Result<Selection, ToolError> {
    let tz = parse_timezone(args.timezone.unwrap_or("UTC")).map_err(|source| ToolError::Time {
        field: "timezone",
        source,
    })?;
    let start =
        parse_instant(args.start_time.unwrap_or(DEFAULT_START), now, &tz).map_err(|source| {
            ToolError::Time {
                field: "start_time",
                source,
            }
        })?;
    let end = parse_instant(args.end_time.unwrap_or("now"), now, &tz).map_err(|source| {
        ToolError::Time {
            field: "end_time",
            source,
        }
    })?;
    if start > end {
        return Err(ToolError::StartAfterEnd {
            start: start.to_string(),
            end: end.to_string(),
        });
    }
    if let Some(retention) = retention {
        // A minute of slack so "90d ago" computed a moment earlier by the model still passes.
        let oldest = now - retention - SignedDuration::from_mins(1);
        if start < oldest {
            return Err(ToolError::TooOld {
                start: start.to_string(),
                days: retention.as_secs() / 86_400,
            });
        }
    }
    let filter = match (args.attribute_key, args.attribute_value) {
        (None, None) => None,
        (Some(key), Some(value)) => {
            let value = value.trim();
            if value.is_empty() {
                return Err(ToolError::Empty("attribute_value"));
            }
            if key == AttributeKey::ReadOnly && !matches!(value, "true" | "false") {
                return Err(ToolError::ReadOnlyValue(value.to_owned()));
            }
            Some(Filter {
                attribute_key: key,
                attribute_value: value.to_owned(),
            })
        }
        _ => return Err(ToolError::HalfFilter),
    };
    let scope = Scope {
        accounts: scope_list("accounts", args.accounts, is_account, "123456789012")?,
        regions: scope_list("regions", args.regions, is_region_name, "us-east-1")?,
    };
    Ok(Selection {
        start,
        end,
        filter,
        scope,
    })
}

/// Checks an integer argument's range, applying its default.
pub fn ranged(
    field: &'static str,
    value: Option<u32>,
    default: u32,
    min: u32,
    max: u32,
) -> Result<usize, ToolError> {
    let got = value.unwrap_or(default);
    if !(min..=max).contains(&got) {
        return Err(ToolError::OutOfRange {
            field,
            min: min.into(),
            max: max.into(),
            got: got.into(),
        });
    }
    Ok(got as usize)
}

/// The resolved window as answers echo it.
pub fn window(start: Timestamp, end: Timestamp) -> Window {
    Window {
        start: start.to_string(),
        end: end.to_string(),
    }
}

/// The budget of one answer: the client's `max_bytes` when it asks for less than the server's
/// own limit, else that limit (a client cannot raise it).
pub fn budget(max_bytes: Option<u32>, server_limit: usize) -> Result<Budget, ToolError> {
    let Some(asked) = max_bytes else {
        return Ok(Budget::new(server_limit));
    };
    let asked = ranged("max_bytes", Some(asked), MIN_BYTES, MIN_BYTES, MAX_BYTES)?;
    Ok(Budget::new(asked.min(server_limit)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-11-24T03:30:00Z".parse().unwrap()
    }

    #[test]
    fn defaults_to_the_last_24_hours() {
        let s = resolve(SelectionArgs::default(), now(), None).unwrap();
        assert_eq!(s.start.to_string(), "2026-11-23T03:30:00Z");
        assert_eq!(s.end, now());
        assert_eq!(s.filter, None);
    }

    #[test]
    fn yesterday_in_a_timezone() {
        let args = SelectionArgs {
            start_time: Some("yesterday"),
            end_time: Some("today"),
            timezone: Some("Asia/Tokyo"),
            attribute_key: Some(AttributeKey::Username),
            attribute_value: Some(" alice "),
            ..Default::default()
        };
        let s = resolve(args, now(), None).unwrap();
        assert_eq!(s.start.to_string(), "2026-11-22T15:00:00Z");
        assert_eq!(s.end.to_string(), "2026-11-23T15:00:00Z");
        assert_eq!(s.filter.unwrap().attribute_value, "alice");
    }

    #[test]
    fn bad_selections_name_the_field() {
        let err = |args: SelectionArgs<'_>| {
            resolve(args, now(), Some(SignedDuration::from_hours(90 * 24)))
                .unwrap_err()
                .to_string()
        };
        let e = err(SelectionArgs {
            start_time: Some("tomorrow-ish"),
            ..Default::default()
        });
        assert!(e.starts_with("`start_time`"), "{e}");
        let e = err(SelectionArgs {
            start_time: Some("now"),
            end_time: Some("1h ago"),
            ..Default::default()
        });
        assert!(e.contains("after `end_time`"), "{e}");
        let e = err(SelectionArgs {
            start_time: Some("120d ago"),
            ..Default::default()
        });
        assert!(e.contains("90 days"), "{e}");
        let e = err(SelectionArgs {
            timezone: Some("Tokyo"),
            ..Default::default()
        });
        assert!(e.starts_with("`timezone`") && e.contains("IANA"), "{e}");
        let e = err(SelectionArgs {
            attribute_key: Some(AttributeKey::Username),
            ..Default::default()
        });
        assert!(e.contains("go together"), "{e}");
        let e = err(SelectionArgs {
            attribute_key: Some(AttributeKey::ReadOnly),
            attribute_value: Some("yes"),
            ..Default::default()
        });
        assert!(e.contains("`true` or `false`"), "{e}");
        let e = err(SelectionArgs {
            attribute_key: Some(AttributeKey::EventName),
            attribute_value: Some(" "),
            ..Default::default()
        });
        assert!(e.contains("must not be empty"), "{e}");
    }

    #[test]
    fn accounts_and_regions_are_checked_and_deduplicated() {
        let accounts = ["123456789012".to_owned(), " 123456789012".to_owned()];
        let regions = ["us-east-1".to_owned(), "us-gov-west-1".to_owned()];
        let s = resolve(
            SelectionArgs {
                accounts: Some(&accounts),
                regions: Some(&regions),
                ..Default::default()
            },
            now(),
            None,
        )
        .unwrap();
        assert_eq!(s.scope.accounts, ["123456789012"]);
        assert_eq!(s.scope.regions, ["us-east-1", "us-gov-west-1"]);
        let err = |accounts: &[String], regions: &[String]| {
            resolve(
                SelectionArgs {
                    accounts: Some(accounts),
                    regions: Some(regions),
                    ..Default::default()
                },
                now(),
                None,
            )
            .unwrap_err()
            .to_string()
        };
        let ok = ["us-east-1".to_owned()];
        for bad in ["12345", "12345678901a", "' OR 1=1 --"] {
            let e = err(&[bad.to_owned()], &ok);
            assert!(e.contains("`accounts`") && e.contains(bad.trim()), "{e}");
        }
        for bad in ["us-east", "US-EAST-1", "us-east-1'", "moon-1"] {
            let e = err(&["123456789012".to_owned()], &[bad.to_owned()]);
            assert!(e.contains("`regions`"), "{e}");
        }
        let e = err(&[], &ok);
        assert!(e.contains("`accounts` must list 1 to 100"), "{e}");
    }

    #[test]
    fn ranges() {
        assert_eq!(ranged("max_results", None, 50, 1, 200).unwrap(), 50);
        let e = ranged("max_results", Some(0), 50, 1, 200)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "`max_results` must be between 1 and 200; got 0");
    }

    #[test]
    fn a_client_budget_lowers_the_server_limit_but_never_raises_it() {
        assert_eq!(budget(None, 65_536).unwrap().limit(), 65_536);
        assert_eq!(budget(Some(32_768), 65_536).unwrap().limit(), 32_768);
        assert_eq!(budget(Some(1_048_576), 65_536).unwrap().limit(), 65_536);
        let e = budget(Some(100), 65_536).unwrap_err().to_string();
        assert_eq!(e, "`max_bytes` must be between 4096 and 1048576; got 100");
    }
}
