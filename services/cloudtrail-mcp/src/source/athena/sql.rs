//! The SQL compiler of the athena source: tool arguments (window, one lookup attribute, accounts,
//! regions, a keyset position) to Athena SQL (Trino dialect) over AWS's documented CloudTrail
//! table with partition projection (`account`, `region`, `timestamp` = `yyyy/MM/dd` from the
//! `AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/` layout).
//!
//! Two rules hold by construction:
//! - Values never enter the SQL text. The text is assembled from this module's own constant
//!   fragments, the validated table name and integers; every value is a `?` placeholder whose
//!   [`Param`] travels in Athena's `ExecutionParameters`.
//! - Every statement carries partition predicates. A [`Statement`] can only be made from a
//!   [`Scan`], and a `Scan` only from a window, whose dates (and accounts and regions, when
//!   given) always become predicates on the partition columns. There is no other constructor.
//!
//! CloudTrail files events by delivery time: an event a few minutes before midnight can sit in
//! the next day's folder, and a file can be delivered twice. So the date range reaches
//! [`DELIVERY_SLACK_DAYS`] past the window's last day, the window itself is a predicate on
//! `eventtime`, and rows are de-duplicated by `eventid` before anything else sees them.

use jiff::Timestamp;
use jiff::civil::Date;

use crate::source::{AttributeKey, Filter, Scope};

mod summary;
pub use summary::{SUMMARY_HEAD, summary};

/// How many days after an event its file may be delivered (the folder date is the delivery
/// date). CloudTrail delivers within minutes; a day covers events just before midnight.
pub const DELIVERY_SLACK_DAYS: i32 = 1;

/// A value for one `?` placeholder, in Athena's `ExecutionParameters` form: a SQL literal as
/// text (`'alice'`, quotes doubled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param(String);

impl Param {
    /// A string value.
    pub fn text(value: &str) -> Self {
        Self(format!("'{}'", value.replace('\'', "''")))
    }

    /// The literal as Athena receives it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a table name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a valid Athena database or table name (letters, digits and underscores only)"
)]
pub struct BadName(pub String);

/// The CloudTrail table, `"database"."table"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    database: String,
    table: String,
}

impl Table {
    /// A table; names are checked so they can be quoted into the SQL text safely.
    pub fn new(database: &str, table: &str) -> Result<Self, BadName> {
        let check = |name: &str| {
            let ok = !name.is_empty()
                && name.len() <= 255
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if ok {
                Ok(name.to_ascii_lowercase())
            } else {
                Err(BadName(name.to_owned()))
            }
        };
        Ok(Self {
            database: check(database)?,
            table: check(table)?,
        })
    }

    /// `database.table`, for ids and messages.
    pub fn name(&self) -> String {
        format!("{}.{}", self.database, self.table)
    }
}

/// The partitions a window touches: the folder dates (widened for delivery), and the accounts
/// and regions when the scope names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partitions {
    first_day: Date,
    last_day: Date,
    accounts: Vec<String>,
    regions: Vec<String>,
}

impl Partitions {
    /// The partitions of `[start, end]` in `scope`.
    fn of(start: Timestamp, end: Timestamp, scope: &Scope) -> Self {
        let day = |t: Timestamp| t.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
        let last = day(end);
        Self {
            first_day: day(start),
            last_day: last
                .checked_add(jiff::Span::new().days(DELIVERY_SLACK_DAYS))
                .unwrap_or(last),
            accounts: scope.accounts.clone(),
            regions: scope.regions.clone(),
        }
    }

    /// The folder dates searched, `yyyy/MM/dd`, first and last (inclusive).
    pub fn days(&self) -> (String, String) {
        let fmt = |d: Date| d.strftime("%Y/%m/%d").to_string();
        (fmt(self.first_day), fmt(self.last_day))
    }
}

/// What one query reads: the table, the partitions, the window and the filter. The only way to
/// a [`Statement`].
#[derive(Debug, Clone)]
pub struct Scan<'a> {
    table: &'a Table,
    partitions: Partitions,
    start: Timestamp,
    end: Timestamp,
    filter: Option<&'a Filter>,
}

impl<'a> Scan<'a> {
    /// The events of `table` in `[start, end]` matching `filter` in `scope`.
    pub fn new(
        table: &'a Table,
        start: Timestamp,
        end: Timestamp,
        filter: Option<&'a Filter>,
        scope: &Scope,
    ) -> Self {
        Self {
            table,
            partitions: Partitions::of(start, end, scope),
            start,
            end,
            filter,
        }
    }

    /// The partitions this scan reads.
    pub fn partitions(&self) -> &Partitions {
        &self.partitions
    }
}

/// A compiled query: SQL text with `?` placeholders and their values, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    sql: String,
    params: Vec<Param>,
}

impl Statement {
    pub fn sql(&self) -> &str {
        &self.sql
    }
    pub fn params(&self) -> &[Param] {
        &self.params
    }
}

/// Builds a statement; private, so only this module's compilers write SQL text.
struct Sql(Statement);

impl Sql {
    fn new() -> Self {
        Self(Statement {
            sql: String::with_capacity(4_096),
            params: Vec::new(),
        })
    }

    /// Appends SQL text of this module (never a value).
    fn push(&mut self, text: &str) -> &mut Self {
        self.0.sql.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    fn bind(&mut self, value: Param) -> &mut Self {
        self.0.sql.push('?');
        self.0.params.push(value);
        self
    }

    fn bind_list(&mut self, values: &[String]) -> &mut Self {
        self.push("(");
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(Param::text(value));
        }
        self.push(")")
    }
}

/// `eventtime` as CloudTrail writes it (`2026-11-23T09:12:03Z`): strings of this one format
/// compare in time order, so the window is compared as text and the partitions stay prunable.
fn event_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The window rounded inwards to whole seconds (event times have no fractions).
fn whole_seconds(start: Timestamp, end: Timestamp) -> (Timestamp, Timestamp) {
    let ceil = if start.subsec_nanosecond() == 0 {
        start
    } else {
        Timestamp::from_second(start.as_second() + 1).unwrap_or(start)
    };
    let floor = Timestamp::from_second(end.as_second()).unwrap_or(end);
    (ceil, floor)
}

/// The user name LookupEvents filters on ([`crate::record::username`]).
const USERNAME: &str = "CASE useridentity.type WHEN 'Root' THEN 'root' WHEN 'AWSService' THEN CAST(NULL AS VARCHAR) \
WHEN 'AssumedRole' THEN element_at(split(useridentity.arn, '/'), -1) \
WHEN 'FederatedUser' THEN element_at(split(useridentity.arn, '/'), -1) ELSE useridentity.username END";

/// The principal a summary counts ([`crate::record::identity`]'s name).
const PRINCIPAL: &str = "CASE useridentity.type WHEN 'Root' THEN 'root' WHEN 'AWSService' THEN useridentity.invokedby \
WHEN 'AssumedRole' THEN element_at(split(useridentity.arn, '/'), -1) \
WHEN 'FederatedUser' THEN element_at(split(useridentity.arn, '/'), -1) ELSE useridentity.username END";

/// Request parameters that name a resource, as [`crate::record::resources`] reads them.
const PARAMETER_RESOURCES: [(&str, &str); 9] = [
    ("bucketName", "AWS::S3::Bucket"),
    ("userName", "AWS::IAM::User"),
    ("roleName", "AWS::IAM::Role"),
    ("policyArn", "AWS::IAM::Policy"),
    ("functionName", "AWS::Lambda::Function"),
    ("stackName", "AWS::CloudFormation::Stack"),
    ("keyId", "AWS::KMS::Key"),
    ("logGroupName", "AWS::Logs::LogGroup"),
    ("groupId", "AWS::EC2::SecurityGroup"),
];

const EMPTY: &str = "CAST(ARRAY[] AS ARRAY(VARCHAR))";

/// EC2 instance ids in the request's or response's item lists.
fn instance_ids() -> String {
    let lists = [
        "requestparameters, '$.instancesSet.items'",
        "requestparameters, '$.resourcesSet.items'",
        "responseelements, '$.instancesSet.items'",
        "responseelements, '$.resourcesSet.items'",
    ];
    let parts: Vec<String> = lists
        .iter()
        .map(|list| {
            format!(
                "coalesce(filter(transform(CAST(json_extract({list}) AS ARRAY(JSON)), i -> coalesce(json_extract_scalar(i, '$.instanceId'), json_extract_scalar(i, '$.resourceId'))), x -> x LIKE 'i-%'), {EMPTY})"
            )
        })
        .collect();
    format!("concat({})", parts.join(", "))
}

/// The resources' names (ARN's last part), or their types.
fn arn_resources(field: &str) -> String {
    let value = match field {
        "type" => "r.type",
        _ => "regexp_extract(r.arn, '[^:/]*$')",
    };
    format!(
        "coalesce(transform(filter(resources, r -> r.type IS NOT NULL AND r.arn IS NOT NULL), r -> {value}), {EMPTY})"
    )
}

/// The names of the resources an event touched, as [`crate::record::resources`] lists them
/// (a name may repeat; callers that count use `array_distinct`).
fn resource_names() -> String {
    let params: Vec<String> = PARAMETER_RESOURCES
        .iter()
        .map(|(key, _)| format!("json_extract_scalar(requestparameters, '$.{key}')"))
        .collect();
    format!(
        "filter(concat(ARRAY[{}], {}, {}), x -> x IS NOT NULL)",
        params.join(", "),
        instance_ids(),
        arn_resources("name")
    )
}

/// The types of the resources an event touched.
fn resource_types() -> String {
    let params: Vec<String> = PARAMETER_RESOURCES
        .iter()
        .map(|(key, kind)| {
            format!(
                "CASE WHEN json_extract_scalar(requestparameters, '$.{key}') IS NOT NULL THEN '{kind}' END"
            )
        })
        .collect();
    format!(
        "filter(concat(ARRAY[{}, CASE WHEN cardinality({}) > 0 THEN 'AWS::EC2::Instance' END], {}), x -> x IS NOT NULL)",
        params.join(", "),
        instance_ids(),
        arn_resources("type")
    )
}

/// The columns a row of events carries, in [`super::rows`]'s order.
pub const EVENT_COLUMNS: [&str; 26] = [
    "eventid",
    "eventtime",
    "eventsource",
    "eventname",
    "awsregion",
    "sourceipaddress",
    "useragent",
    "errorcode",
    "errormessage",
    "readonly",
    "requestparameters",
    "responseelements",
    "additionaleventdata",
    "requestid",
    "eventtype",
    "recipientaccountid",
    "eventversion",
    "ui_type",
    "ui_principalid",
    "ui_arn",
    "ui_accountid",
    "ui_invokedby",
    "ui_accesskeyid",
    "ui_username",
    "res_arns",
    "res_types",
];

/// The expressions behind [`EVENT_COLUMNS`] that are not plain columns.
const EVENT_SELECT: &str = "eventid, eventtime, eventsource, eventname, awsregion, sourceipaddress, useragent, \
errorcode, errormessage, readonly, requestparameters, responseelements, additionaleventdata, requestid, eventtype, \
recipientaccountid, eventversion, useridentity.type AS ui_type, useridentity.principalid AS ui_principalid, \
useridentity.arn AS ui_arn, useridentity.accountid AS ui_accountid, useridentity.invokedby AS ui_invokedby, \
useridentity.accesskeyid AS ui_accesskeyid, useridentity.username AS ui_username, \
json_format(CAST(transform(resources, r -> r.arn) AS JSON)) AS res_arns, \
json_format(CAST(transform(resources, r -> r.type) AS JSON)) AS res_types";

/// `WITH matched AS (...), events AS (...)`: the de-duplicated events of the scan, with
/// `extra` columns.
fn events_cte(q: &mut Sql, scan: &Scan<'_>, extra: &str) {
    q.push("WITH matched AS (SELECT ")
        .push(EVENT_SELECT)
        .push(extra)
        .push(", row_number() OVER (PARTITION BY eventid ORDER BY eventtime) AS copy FROM \"")
        .push(&scan.table.database)
        .push("\".\"")
        .push(&scan.table.table)
        .push("\" WHERE ");
    // Partition predicates first: what Athena prunes the S3 listing with.
    let p = &scan.partitions;
    let (first, last) = p.days();
    q.push("\"timestamp\" BETWEEN ")
        .bind(Param::text(&first))
        .push(" AND ")
        .bind(Param::text(&last));
    if !p.accounts.is_empty() {
        q.push(" AND account IN ").bind_list(&p.accounts);
    }
    if !p.regions.is_empty() {
        q.push(" AND region IN ").bind_list(&p.regions);
    }
    let (start, end) = whole_seconds(scan.start, scan.end);
    q.push(" AND eventtime BETWEEN ")
        .bind(Param::text(&event_time(start)))
        .push(" AND ")
        .bind(Param::text(&event_time(end)));
    if let Some(filter) = scan.filter {
        q.push(" AND ");
        let value = Param::text(&filter.attribute_value);
        match filter.attribute_key {
            AttributeKey::EventId => q.push("eventid = ").bind(value),
            AttributeKey::EventName => q.push("eventname = ").bind(value),
            AttributeKey::EventSource => q.push("eventsource = ").bind(value),
            AttributeKey::ReadOnly => q.push("readonly = ").bind(value),
            AttributeKey::AccessKeyId => q.push("useridentity.accesskeyid = ").bind(value),
            AttributeKey::Username => q.push("(").push(USERNAME).push(") = ").bind(value),
            AttributeKey::ResourceName => q
                .push("contains(")
                .push(&resource_names())
                .push(", ")
                .bind(value)
                .push(")"),
            AttributeKey::ResourceType => q
                .push("contains(")
                .push(&resource_types())
                .push(", ")
                .bind(value)
                .push(")"),
        };
    }
    q.push("), events AS (SELECT * FROM matched WHERE copy = 1) ");
}

const NEWEST_FIRST: &str = " ORDER BY eventtime DESC, eventid DESC";

/// One page of events, newest first, after the keyset position `after` (time and event id of
/// the last event of the previous page): `limit` rows.
pub fn lookup(scan: &Scan<'_>, after: Option<(Timestamp, &str)>, limit: usize) -> Statement {
    let mut q = Sql::new();
    events_cte(&mut q, scan, "");
    q.push("SELECT ").push(&EVENT_COLUMNS.join(", "));
    q.push(" FROM events");
    if let Some((time, id)) = after {
        let time = event_time(time);
        q.push(" WHERE (eventtime < ")
            .bind(Param::text(&time))
            .push(" OR (eventtime = ")
            .bind(Param::text(&time))
            .push(" AND eventid < ")
            .bind(Param::text(id))
            .push("))");
    }
    q.push(NEWEST_FIRST)
        .push(" LIMIT ")
        .push(&limit.max(1).to_string());
    q.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;

    fn table() -> Table {
        Table::new("cloudtrail", "org_trail").unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn filter(key: AttributeKey, value: &str) -> Filter {
        Filter {
            attribute_key: key,
            attribute_value: value.into(),
        }
    }

    fn params(s: &Statement) -> Vec<&str> {
        s.params().iter().map(Param::as_str).collect()
    }

    /// Every statement this module can make, over a few scopes and filters.
    fn every_statement() -> Vec<Statement> {
        let table = table();
        let keys = [
            AttributeKey::EventId,
            AttributeKey::EventName,
            AttributeKey::EventSource,
            AttributeKey::ReadOnly,
            AttributeKey::AccessKeyId,
            AttributeKey::Username,
            AttributeKey::ResourceName,
            AttributeKey::ResourceType,
        ];
        let filters: Vec<Option<Filter>> = std::iter::once(None)
            .chain(keys.iter().map(|&k| Some(filter(k, "x"))))
            .collect();
        let scopes = [
            Scope::default(),
            Scope {
                accounts: vec!["111111111111".into(), "222222222222".into()],
                regions: vec!["eu-west-1".into()],
            },
        ];
        let mut out = Vec::new();
        for f in &filters {
            for scope in &scopes {
                let scan = Scan::new(
                    &table,
                    ts("2026-11-01T00:00:00Z"),
                    ts("2026-11-24T00:00:00Z"),
                    f.as_ref(),
                    scope,
                );
                out.push(lookup(&scan, None, 51));
                out.push(lookup(&scan, Some((ts("2026-11-20T00:00:00Z"), "id")), 51));
                out.push(summary(&scan, 3_600, 15, 100, 50));
            }
        }
        out
    }

    #[test]
    fn every_statement_carries_the_partition_predicates_and_binds_every_placeholder() {
        for s in every_statement() {
            let sql = s.sql();
            assert!(sql.contains("WHERE \"timestamp\" BETWEEN ? AND ?"), "{sql}");
            assert_eq!(params(&s)[..2], ["'2026/11/01'", "'2026/11/25'"]);
            assert_eq!(sql.matches('?').count(), s.params().len(), "{sql}");
            // The window on the event time follows the partitions, always.
            assert!(sql.contains("eventtime BETWEEN ? AND ?"), "{sql}");
            if params(&s).contains(&"'111111111111'") {
                assert!(sql.contains("account IN (?, ?) AND region IN (?)"), "{sql}");
            } else {
                assert!(!sql.contains("account IN") && !sql.contains("region IN"));
            }
            // De-duplicated by event id before anything reads the rows.
            assert!(sql.contains("PARTITION BY eventid") && sql.contains("copy = 1"));
        }
    }

    #[test]
    fn values_are_parameters_never_text() {
        let table = table();
        let evil = "x' OR '1'='1";
        for key in [AttributeKey::Username, AttributeKey::ResourceName] {
            let f = filter(key, evil);
            let scope = Scope {
                accounts: vec!["123456789012".into()],
                regions: vec![],
            };
            let scan = Scan::new(
                &table,
                ts("2026-11-23T00:00:00Z"),
                ts("2026-11-23T12:00:00Z"),
                Some(&f),
                &scope,
            );
            for s in [
                lookup(&scan, Some((ts("2026-11-23T06:00:00Z"), evil)), 10),
                summary(&scan, 3_600, 15, 100, 50),
            ] {
                assert!(!s.sql().contains("OR '1'"), "{}", s.sql());
                assert!(!s.sql().contains("123456789012"));
                assert!(params(&s).contains(&"'x'' OR ''1''=''1'"));
            }
        }
    }

    #[test]
    fn the_date_range_is_widened_for_delivery_and_the_window_rounded_inwards() {
        let table = table();
        let scan = Scan::new(
            &table,
            ts("2026-12-31T23:59:59.5Z"),
            ts("2026-12-31T23:59:59.9Z"),
            None,
            &Scope::default(),
        );
        assert_eq!(
            scan.partitions().days(),
            ("2026/12/31".into(), "2027/01/01".into())
        );
        let s = lookup(&scan, None, 5);
        assert_eq!(
            params(&s),
            [
                "'2026/12/31'",
                "'2027/01/01'",
                "'2027-01-01T00:00:00Z'",
                "'2026-12-31T23:59:59Z'"
            ]
        );
        assert!(
            s.sql()
                .ends_with("ORDER BY eventtime DESC, eventid DESC LIMIT 5")
        );
        let long = Scan::new(
            &table,
            ts("2026-11-24T00:00:00Z") - SignedDuration::from_hours(24 * 90),
            ts("2026-11-24T00:00:00Z"),
            None,
            &Scope::default(),
        );
        assert_eq!(
            long.partitions().days(),
            ("2026/08/26".into(), "2026/11/25".into())
        );
    }

    #[test]
    fn filters_compile_to_their_columns() {
        let table = table();
        let sql = |key| {
            let f = filter(key, "v");
            let scan = Scan::new(
                &table,
                ts("2026-11-23T00:00:00Z"),
                ts("2026-11-24T00:00:00Z"),
                Some(&f),
                &Scope::default(),
            );
            lookup(&scan, None, 1).sql().to_owned()
        };
        assert!(sql(AttributeKey::EventName).contains("AND eventname = ?)"));
        assert!(sql(AttributeKey::AccessKeyId).contains("useridentity.accesskeyid = ?"));
        assert!(sql(AttributeKey::Username).contains("ELSE useridentity.username END) = ?"));
        assert!(sql(AttributeKey::ResourceName).contains("'$.bucketName'"));
        assert!(sql(AttributeKey::ResourceType).contains("'AWS::EC2::Instance'"));
    }

    #[test]
    fn table_names_are_checked() {
        assert!(Table::new("db", "t-1").is_err());
        assert!(Table::new("db\"; DROP", "t").is_err());
        assert!(Table::new("", "t").is_err());
        assert_eq!(Table::new("DB", "T_1").unwrap().name(), "db.t_1");
    }
}
