//! Reading a question in English or Japanese: what is asked about (a principal's activity, who
//! did an action, failed calls, console logins, an overview), whether it asks for a count, which
//! service it names, and over which period, resolved to absolute times in the user's timezone.
//!
//! What the planner cannot answer is a topic of its own ([`Topic::Unsupported`], with why), so an
//! unknown question gets "I can't answer that offline" and phrasings that work, never an
//! unrelated summary. Names are taken only from the places a name can be (after "user", before
//! "さんの", as the subject of "what did X do"...) and never when they are function words,
//! generic nouns, AWS service names or descriptions such as "the CI role".

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

/// A family of actions ("who deleted/created/attached ..."): which CloudTrail event names it
/// covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Delete,
    Create,
    Change,
    Attach,
    Detach,
    Stop,
    Start,
}

impl Verb {
    /// CloudTrail event names of this family start with one of these.
    pub fn prefixes(self) -> &'static [&'static str] {
        match self {
            Verb::Delete => &["Delete", "Remove", "Terminate", "Deregister", "Purge"],
            Verb::Create => &[
                "Create", "Run", "Launch", "Add", "Register", "Allocate", "Import",
            ],
            Verb::Change => &[
                "Put",
                "Update",
                "Modify",
                "Attach",
                "Detach",
                "Set",
                "Change",
                "Enable",
                "Disable",
                "Associate",
                "Disassociate",
                "Replace",
                "Tag",
                "Untag",
                "Authorize",
                "Revoke",
                "Rotate",
                "Reset",
            ],
            Verb::Attach => &["Attach", "Associate"],
            Verb::Detach => &["Detach", "Disassociate", "Remove"],
            Verb::Stop => &["Stop", "Terminate", "Disable", "Suspend", "Deactivate"],
            Verb::Start => &["Start", "Run", "Enable", "Reboot", "Resume", "Activate"],
        }
    }

    /// Whether `event_name` belongs to this family. "Change" is any write: an administrator who
    /// asks what changed means created and deleted things too, so it is every call whose name
    /// is not a read's.
    pub fn matches(self, event_name: &str) -> bool {
        match self {
            Verb::Change => !READ_PREFIXES.iter().any(|p| event_name.starts_with(p)),
            _ => self.prefixes().iter().any(|p| event_name.starts_with(p)),
        }
    }

    /// The family's name in an answer.
    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Verb::Delete, Lang::En) => "deletions",
            (Verb::Create, Lang::En) => "creations",
            (Verb::Change, Lang::En) => "changes",
            (Verb::Attach, Lang::En) => "attachments",
            (Verb::Detach, Lang::En) => "detachments",
            (Verb::Stop, Lang::En) => "stops",
            (Verb::Start, Lang::En) => "starts",
            (Verb::Delete, Lang::Ja) => "削除",
            (Verb::Create, Lang::Ja) => "作成",
            (Verb::Change, Lang::Ja) => "変更",
            (Verb::Attach, Lang::Ja) => "アタッチ",
            (Verb::Detach, Lang::Ja) => "デタッチ",
            (Verb::Stop, Lang::Ja) => "停止",
            (Verb::Start, Lang::Ja) => "起動",
        }
    }
}

/// Event names of read-only calls start with one of these.
const READ_PREFIXES: &[&str] = &[
    "Get", "List", "Describe", "Head", "Lookup", "Search", "Scan", "Query", "BatchGet", "Select",
    "Decrypt", "Check", "Validate", "Estimate", "Preview", "View", "Test",
];

/// Why the offline planner cannot answer a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsupported {
    /// Costs, bills, prices: not in CloudTrail.
    Cost,
    /// CPU, latency, usage: CloudWatch metrics, not CloudTrail.
    Metrics,
    /// The current state or configuration of a resource, or advice: CloudTrail records calls.
    State,
    /// Nothing in the question was recognised.
    NotUnderstood,
}

/// What the question is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    /// What one principal did, optionally only one family of actions ("what did bob delete?").
    Activity {
        principal: String,
        verb: Option<Verb>,
    },
    /// Who did an action, on a named resource or anywhere.
    WhoDid {
        verb: Verb,
        resource: Option<String>,
    },
    Failures {
        principal: Option<String>,
    },
    ConsoleLogins {
        principal: Option<String>,
    },
    /// The account's (or one service's) activity, optionally one family of actions ("what was
    /// deleted yesterday?").
    Overview {
        verb: Option<Verb>,
    },
    /// A principal described rather than named ("the CI role", "管理者"): which one it is cannot
    /// be known offline.
    Unresolved {
        description: String,
        verb: Option<Verb>,
    },
    Unsupported {
        reason: Unsupported,
    },
}

/// A unit of a rolling period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Hours,
    Days,
    Weeks,
}

/// The period a question names, as it was understood (answers state it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Today,
    Yesterday,
    DayBeforeYesterday,
    /// Monday 00:00 of this calendar week until now.
    ThisWeek,
    /// The previous calendar week, Monday to Sunday.
    LastWeek,
    ThisMonth,
    LastMonth,
    /// The last `amount` units until now.
    Last {
        amount: i64,
        unit: Unit,
    },
    /// Whole days, `first` to `last` inclusive.
    Days {
        first: Date,
        last: Date,
    },
    /// None was named: the topic's default, the last `hours` hours.
    Default {
        hours: i64,
    },
}

/// A parsed question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub lang: Lang,
    pub topic: Topic,
    /// The AWS service the question names, as a CloudTrail event source (`s3.amazonaws.com`).
    pub service: Option<String>,
    /// The API action the question names (`DeleteBucket`, `ConsoleLogin`).
    pub action: Option<String>,
    /// The question asks how many.
    pub count: bool,
    pub period: Period,
    pub start: Timestamp,
    pub end: Timestamp,
    /// The window runs until the moment of the question.
    pub until_now: bool,
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("bad built-in pattern {pattern}: {e}"))
}

static JAPANESE: LazyLock<Regex> = LazyLock::new(|| re(r"[\p{Hiragana}\p{Katakana}\p{Han}]"));

// ---- Periods ----

static LAST_N: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:last|past|previous|recent|over\s+the\s+(?:last|past))\s+(\d{1,3})\s*(hours?|hrs?|h|days?|d|weeks?|w)\b|\b(\d{1,3})\s*(hours?|hrs?|days?|weeks?)\s+ago\b|\bsince\s+(\d{1,3})\s*(hours?|days?|weeks?)\s+ago\b",
    )
});
static LAST_N_JA: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:過去|直近|最近|ここ|この)\s*(\d{1,3})\s*(時間|日間|日|週間|週)|(\d{1,3})\s*(時間|日間|週間)(?:以内|前から)?",
    )
});
/// A rolling week or day said in words: "the past week", "last 24 hours" is caught above.
static PAST_WEEK: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:past|last)\s+(?:seven\s+days|week\s+or\s+so)\b|\b(?:the|this)\s+past\s+week\b|\bpast\s+week\b|\bover\s+the\s+(?:last|past)\s+week\b",
    )
});
// `(?-u:\b)`: ASCII word boundaries, since a Japanese character next to an ASCII token is a
// Unicode word character ("2026-11-20の", "i-0a1b2c3dを").
static ISO_DATE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?-u:\b)(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?-u:\b)"));
static JA_DATE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?:(\d{4})年\s*)?(\d{1,2})月\s*(\d{1,2})日"));
static SLASH_DATE: LazyLock<Regex> = LazyLock::new(|| re(r"(?-u:\b)(\d{1,2})/(\d{1,2})(?-u:\b)"));
static MONTH_NAME_DATE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b|\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\b",
    )
});
static WEEKDAY_EN: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:on\s+|last\s+|this\s+past\s+)?(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b",
    )
});
static WEEKDAY_JA: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?:先週の)?([月火水木金土日])曜(?:日)?"));

// ---- Topics ----

static LOGIN: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\bconsole\s*log-?ins?\b|\blog(?:ged|ging)?[\s-]?(?:in|on)(?:to)?\b|\blog-?ins?\b|\blog-?ons?\b|\bsign(?:ed|ing|s)?[\s-]?(?:in|on)(?:to)?s?\b|\bconsolelogin\b|ログイン|サインイン|ログオン",
    )
});
static WHO: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\bwho(?:m|se)?\b|誰|だれ|どのユーザー|どのプリンシパル|どなた|した(?:ユーザー|人|者|の)(?:は|を)",
    )
});
static FAILED: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:denied|deny|denies|failed|fail|fails|failures?|failing|errors?|erroring|errored|unauthori[sz]ed|forbidden|rejected|blocked|throttled)\b|access\s*denied|拒否|失敗|エラー|権限(?:が|の)?(?:不足|ない|なかった|エラー)|弾かれ|スロットリング",
    )
});
static COUNT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\bhow\s+many\b|\bhow\s+often\b|\bnumber\s+of\b|\bcount\b|何件|何回|件数|回数|いくつ|何個",
    )
});
static COST: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:bill|bills|billing|billed|cost|costs|costing|spend|spent|spending|price|prices|pricing|charges?|charged|invoices?|budget|expensive|cheaper)\b|料金|請求|コスト|費用|課金|値段|いくら|予算",
    )
});
static METRICS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:cpu|latency|utili[sz]ation|metrics?|throughput|iops|uptime|memory\s+usage|disk\s+usage|response\s+times?|load\s+average)\b|メトリクス|使用率|レイテンシ|メモリ使用|応答時間|稼働率",
    )
});
static STATE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^\s*(?:is|are)\s+(?:(?:there|any)\b)?|^\s*(?:does|do|can|could|should|will|would|how\s+(?:do|can|should)\s+(?:i|we))\b|\bcurrently\b|\bright\s+now\b|\bcurrent\s+(?:state|config\w*|settings?|policy)\b|現在の|今の(?:設定|状態)|(?:されて|になって)(?:いますか|いる[?？]?$)|どうすれば|方法",
    )
});
/// Questions about the state of a thing, whoever they name ("is MFA enabled for alice?",
/// "bobのアクセスキーは有効ですか？"): CloudTrail records calls, not states.
static STATE_STRONG: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^\s*(?:is|are|does|do)\b.*\b(?:enabled|disabled|active|inactive|public|private|encrypted|running|allowed|configured|compliant|exposed|valid|expired|have\s+(?:mfa|access|permissions?|admin\w*|rights|a\s+policy))\b|(?:有効|無効|公開|暗号化|存在|期限切れ)(?:されて|になって)?(?:います|です|でしょう)か|(?:権限|アクセス権)(?:は|が|を)(?:あります|持って)",
    )
});
/// An API action named as such: `DeleteBucket`, `ConsoleLogin`, `AttachRolePolicy`.
static ACTION: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?-u:\b)((?:Create|Delete|Put|Get|List|Describe|Update|Modify|Attach|Detach|Run|Start|Stop|Terminate|Remove|Add|Set|Assume|Console|Authorize|Revoke|Enable|Disable|Associate|Disassociate|Tag|Untag|Invoke|Decrypt|Encrypt|Generate|Rotate|Reset|Change|Register|Deregister|Import|Export|Copy|Restore|Reboot|Upload|Execute|Lookup|Batch|Replace|Publish|Send|Receive)[A-Z][A-Za-z0-9]*)(?-u:\b)",
    )
});

/// "is there", "are there any": questions about events, not state.
static THERE_ARE: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)^\s*(?:is|are)\s+there\b"));
static OVERVIEW: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\bwhat\s+(?:happened|changed|went\s+on|has\s+happened|is\s+going\s+on|'s\s+been\s+(?:happening|going\s+on))\b|\bactivit(?:y|ies)\b|\bsummar\w*|\boverview\b|\bevents?\b|\b(?:api\s+)?calls?\b|\brequests\b|\banything\s+(?:unusual|suspicious|new|odd)\b|\bsuspicious\b|\bunusual\b|\bchanges?\b|\bactions\b|\boperations\b|\bregions?\b|\bip\s+address(?:es)?\b|\bsource\s+ips?\b|\bservices?\b|\bprincipals?\b|\bmost\s+active\b|\bbusiest\b|何があ|何が起|何をし|何した|何を|操作|アクティビティ|概要|まとめ|集計|イベント|変更|呼び出し|出来事|動き|不審|怪し|活動|リージョン|送信元|サービス|一番多|最も多",
    )
});

// ---- Verbs: English stems, Japanese verbs and katakana loan words ----

/// Families in the order they are tried: the specific ones (detach, attach...) before the
/// general "change", and "detach" before "attach".
static VERBS: LazyLock<Vec<(Verb, Regex)>> = LazyLock::new(|| {
    [
        (
            Verb::Detach,
            r"(?i)\b(?:detach|disassociat|unattach|unlink)|デタッチ|取り外|外し|外さ|関連付けを?解除|アタッチ解除",
        ),
        (
            Verb::Attach,
            r"(?i)\b(?:attach|associat|grant)|アタッチ|付与|紐付け|紐づけ|関連付け|割り当て|割当",
        ),
        (
            Verb::Delete,
            r"(?i)\b(?:delet|remov|terminat|destroy|drop|purg|wipe|wiping|tore\s+down|tear\s+down|deregist)|削除|消し|消去|消さ|破棄|撤去|デリート|リムーブ|ターミネート",
        ),
        (
            Verb::Create,
            r"(?i)\b(?:creat|launch|provision|spun\s+up|spin\s+up|set\s+up|register)|\badd(?:ed|s|ing)?\b|作成|作っ|作ら|作り|追加|新規|登録|立ち上げ|クリエイト|クリエート|ローンチ",
        ),
        (
            Verb::Stop,
            r"(?i)\b(?:stop|disabl|suspend|shut\s*down|halt|deactivat)|停止|止め|止まっ|止ま|無効|ストップ|シャットダウン|サスペンド",
        ),
        (
            Verb::Start,
            r"(?i)\b(?:start|restart|enabl|reboot|resum|activat)|\bturn(?:ed)?\s+on\b|起動|開始|有効|再開|スタート|リブート",
        ),
        (
            Verb::Change,
            r"(?i)\b(?:chang|modif|updat|edit|alter|tweak|reconfigur|rotat|renam|replac)|\b(?:put|puts|set|tag|tagged|touch|touched|open|opened|expos\w*)\b|変更|更新|編集|修正|設定|書き換|差し替|いじ|アップデート|モディファイ|チェンジ|タグ付け",
        ),
    ]
    .into_iter()
    .map(|(verb, pattern)| (verb, re(pattern)))
    .collect()
});

fn verb(question: &str) -> Option<Verb> {
    VERBS
        .iter()
        .find(|(_, pattern)| pattern.is_match(question))
        .map(|(verb, _)| *verb)
}

// ---- Services ----

/// AWS service names a question may use, and their CloudTrail event sources. Only names that
/// are not also everyday words ("logs", "config", "events" are left out).
const SERVICES: &[(&str, &str)] = &[
    ("s3", "s3.amazonaws.com"),
    ("ec2", "ec2.amazonaws.com"),
    ("ebs", "ec2.amazonaws.com"),
    ("vpc", "ec2.amazonaws.com"),
    ("iam", "iam.amazonaws.com"),
    ("lambda", "lambda.amazonaws.com"),
    ("rds", "rds.amazonaws.com"),
    ("sts", "sts.amazonaws.com"),
    ("kms", "kms.amazonaws.com"),
    ("cloudtrail", "cloudtrail.amazonaws.com"),
    ("cloudwatch", "monitoring.amazonaws.com"),
    ("dynamodb", "dynamodb.amazonaws.com"),
    ("sqs", "sqs.amazonaws.com"),
    ("sns", "sns.amazonaws.com"),
    ("ecs", "ecs.amazonaws.com"),
    ("eks", "eks.amazonaws.com"),
    ("ecr", "ecr.amazonaws.com"),
    ("elb", "elasticloadbalancing.amazonaws.com"),
    ("route53", "route53.amazonaws.com"),
    ("cloudformation", "cloudformation.amazonaws.com"),
    ("ssm", "ssm.amazonaws.com"),
    ("secretsmanager", "secretsmanager.amazonaws.com"),
    ("organizations", "organizations.amazonaws.com"),
    ("guardduty", "guardduty.amazonaws.com"),
    ("athena", "athena.amazonaws.com"),
    ("glue", "glue.amazonaws.com"),
    ("redshift", "redshift.amazonaws.com"),
    ("kinesis", "kinesis.amazonaws.com"),
    ("apigateway", "apigateway.amazonaws.com"),
    ("bedrock", "bedrock.amazonaws.com"),
    ("sagemaker", "sagemaker.amazonaws.com"),
    ("cognito", "cognito-idp.amazonaws.com"),
];

fn service_source(word: &str) -> Option<&'static str> {
    let word = word.to_ascii_lowercase();
    SERVICES
        .iter()
        .find(|(name, _)| *name == word)
        .map(|(_, source)| *source)
}

/// The first AWS service the question names.
fn service(question: &str) -> Option<String> {
    TOKEN
        .find_iter(question)
        .find_map(|m| service_source(m.as_str()))
        .map(str::to_owned)
}

// ---- Names ----

/// A run of characters a principal or resource name can hold (ASCII: Japanese text around it
/// is never part of it, which is how particles such as の, が, を are stripped).
static TOKEN: LazyLock<Regex> = LazyLock::new(|| re(r"[A-Za-z0-9][A-Za-z0-9_.@+=,:/-]*"));
static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| re(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"));

/// Words that are never a principal or resource name: function words, question words, time
/// words, generic nouns and the words of the questions themselves.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "access",
    "account",
    "accounts",
    "action",
    "actions",
    "activity",
    "after",
    "ago",
    "all",
    "also",
    "an",
    "and",
    "any",
    "anybody",
    "anyone",
    "anything",
    "api",
    "are",
    "as",
    "at",
    "aws",
    "be",
    "been",
    "before",
    "being",
    "between",
    "bucket",
    "buckets",
    "but",
    "by",
    "call",
    "calls",
    "can",
    "change",
    "changes",
    "check",
    "console",
    "could",
    "data",
    "day",
    "days",
    "did",
    "do",
    "does",
    "done",
    "during",
    "each",
    "every",
    "everyone",
    "everything",
    "event",
    "events",
    "file",
    "files",
    "find",
    "for",
    "from",
    "get",
    "give",
    "had",
    "has",
    "have",
    "he",
    "her",
    "here",
    "his",
    "hour",
    "hours",
    "how",
    "i",
    "in",
    "instance",
    "instances",
    "into",
    "is",
    "it",
    "its",
    "just",
    "last",
    "list",
    "login",
    "logins",
    "look",
    "made",
    "make",
    "many",
    "may",
    "me",
    "might",
    "month",
    "more",
    "most",
    "much",
    "must",
    "my",
    "name",
    "named",
    "new",
    "no",
    "nobody",
    "not",
    "now",
    "object",
    "objects",
    "of",
    "on",
    "onto",
    "or",
    "our",
    "over",
    "past",
    "people",
    "permission",
    "permissions",
    "please",
    "policies",
    "policy",
    "previous",
    "principal",
    "recently",
    "request",
    "requests",
    "resource",
    "resources",
    "role",
    "roles",
    "see",
    "service",
    "services",
    "she",
    "should",
    "show",
    "since",
    "so",
    "some",
    "somebody",
    "someone",
    "something",
    "such",
    "table",
    "tell",
    "than",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "to",
    "today",
    "tomorrow",
    "under",
    "until",
    "up",
    "us",
    "user",
    "users",
    "was",
    "we",
    "week",
    "weeks",
    "were",
    "what",
    "when",
    "where",
    "which",
    "who",
    "whom",
    "whose",
    "why",
    "will",
    "with",
    "would",
    "yesterday",
    "you",
    "your",
];

/// Kinds of resources: generic nouns, never a name on their own ("the trail", "access keys").
const KIND_WORDS: &[&str] = &[
    "trail",
    "trails",
    "key",
    "keys",
    "group",
    "groups",
    "function",
    "functions",
    "stack",
    "stacks",
    "table",
    "tables",
    "queue",
    "queues",
    "topic",
    "topics",
    "secret",
    "secrets",
    "volume",
    "volumes",
    "snapshot",
    "snapshots",
    "image",
    "images",
    "cluster",
    "clusters",
    "database",
    "databases",
    "region",
    "regions",
    "ip",
    "ips",
    "address",
    "addresses",
    "mfa",
    "password",
    "credentials",
    "token",
    "tokens",
    "certificate",
    "certificates",
    "alarm",
    "alarms",
    "rule",
    "rules",
    "subnet",
    "subnets",
    "network",
    "repository",
    "repositories",
];

/// Nouns that, after a name-like word, make it a description ("the CI role", "deploy bot").
const DESCRIPTOR_NOUNS: &[&str] = &[
    "role",
    "roles",
    "user",
    "users",
    "team",
    "pipeline",
    "pipelines",
    "job",
    "jobs",
    "bot",
    "bots",
    "service",
    "account",
    "admin",
    "admins",
    "administrator",
    "administrators",
    "developer",
    "developers",
    "system",
    "script",
    "automation",
    "runner",
];

/// Whether `word` can be a name: not a stop word, not a service, not a number or date.
fn name_like(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    !lower.is_empty()
        && !STOP_WORDS.contains(&lower.as_str())
        && !KIND_WORDS.contains(&lower.as_str())
        && service_source(&lower).is_none()
        && word.chars().any(|c| c.is_ascii_alphabetic())
        && !ISO_DATE.is_match(word)
        && !is_time_word(&lower)
}

/// Words of periods that the token pattern sees as words ("24h", "7d", "monday").
fn is_time_word(lower: &str) -> bool {
    static TIME: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"^(?:\d+(?:h|d|w|hrs?|days?|hours?|weeks?)|monday|tuesday|wednesday|thursday|friday|saturday|sunday|morning|night|tonight|week|month)$",
        )
    });
    TIME.is_match(lower)
}

/// A word as a name: trailing punctuation and an English possessive removed.
fn clean(word: &str) -> &str {
    let word = word.trim_end_matches(['.', ',', '?', '!', ':', ';', '/']);
    word.strip_suffix("'s").unwrap_or(word)
}

/// What a principal slot of a question holds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Who {
    Named(String),
    Described(String),
}

/// Reads the words in a principal slot ("alice", "the user bob", "bob today", "the CI role",
/// "someone"): one name is a name; a descriptor noun ("role", "pipeline", "admin") or several
/// names make a description, which the planner cannot resolve to one principal.
fn read_slot(slot: &str) -> Option<Who> {
    let words: Vec<&str> = slot.split_whitespace().map(clean).collect();
    // "has the trail been stopped": the slot of a passive is what was acted on, not who acted.
    if words
        .iter()
        .any(|w| matches!(w.to_ascii_lowercase().as_str(), "been" | "being"))
    {
        return None;
    }
    // "the user alice", "IAM user bob", "principal carol@example.com": the kind before a name.
    let mut rest: &[&str] = &words;
    while let [first, tail @ ..] = rest
        && !tail.is_empty()
        && matches!(
            first.to_ascii_lowercase().as_str(),
            "the" | "a" | "an" | "user" | "iam" | "principal" | "session"
        )
    {
        rest = tail;
    }
    let names: Vec<&str> = rest.iter().copied().filter(|w| name_like(w)).collect();
    let described = rest.iter().any(|w| is_descriptor(w))
        || words.first().is_some_and(|w| {
            matches!(
                w.to_ascii_lowercase().as_str(),
                "our" | "my" | "your" | "their" | "that" | "this" | "i" | "we" | "me" | "us"
            )
        });
    let description = || {
        let kept: Vec<&str> = slot
            .split_whitespace()
            .take_while(|w| !is_time_word(&clean(w).to_ascii_lowercase()))
            .filter(|w| {
                let lower = clean(w).to_ascii_lowercase();
                !["today", "yesterday", "now", "recently"].contains(&lower.as_str())
            })
            .collect();
        Who::Described(kept.join(" ").trim_end_matches(['?', '.', ',']).to_owned())
    };
    match (names.as_slice(), described) {
        ([], false) => None,
        ([], true) => Some(description()),
        ([name], false) => Some(Who::Named((*name).to_owned())),
        _ => Some(description()),
    }
}

fn is_descriptor(word: &str) -> bool {
    DESCRIPTOR_NOUNS.contains(&word.to_ascii_lowercase().as_str())
}

/// Verbs that end a principal slot in "what did <slot> <verb>": a description of several words
/// ("the CI role") is read up to one of these.
const SLOT_END: &str = r"(?:do|done|doing|make|made|run|ran|call|called|access|accessed|touch|touched|perform|performed|send|sent|use|used|change|changed|delete|deleted|create|created|modify|modified|update|updated|attach|attached|detach|detached|remove|removed|stop|stopped|start|started|launch|launched|terminate|terminated|edit|edited|log|logged|sign|signed|try|tried|deploy|deployed|push|pushed|write|wrote|read|configure|configured|fix|fixed|upload|uploaded|download|downloaded|install|installed|grant|granted|revoke|revoked|rotate|rotated|tag|tagged|provision|provisioned|invoke|invoked|assume|assumed|list|listed|view|viewed|open|opened|destroy|destroyed|rename|renamed|reboot|rebooted|restart|restarted|disable|disabled|enable|enabled|execute|executed|apply|applied|break|broke|get|got|have|had|see|saw|hit|cause|caused|trigger|triggered)";

/// A determiner a slot may start with, kept in it ("our deploy pipeline"): without it the lazy
/// slot would stop at the determiner when the next word is also a verb ("our" + "deploy").
const DETERMINER: &str = r"(?:(?:the|our|my|your|their|this|that)\s+)?";

static SLOT_PATTERNS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        // what did alice do / what has the CI role changed
        format!(r"(?i)\bwhat\s+(?:else\s+)?(?:did|has|have|had)\s+({DETERMINER}.+?)\s+{SLOT_END}\b"),
        // how many API calls did bob make / which buckets did alice delete / what changes has
        // carol made
        format!(
            r"(?i)\b(?:how\s+(?:many|often)|which|what)\b.*?\b(?:did|has|have|does|do)\s+({DETERMINER}.+?)\s+{SLOT_END}\b"
        ),
        // did root log in / has carol made changes / does bob ...
        format!(r"(?i)^\s*(?:did|has|have|does|do)\s+({DETERMINER}.+?)\s+{SLOT_END}\b"),
        // what did alice <any verb>: one word, whatever the verb
        r"(?i)\bwhat\s+(?:else\s+)?(?:did|has|have|had)\s+(?:the\s+)?(?:user\s+)?(\S+)\s+[a-z]+".to_owned(),
        // show what alice did
        r"(?i)\bwhat\s+(\S+)\s+(?:did|does|has\s+done|had\s+done|was\s+doing|changed|deleted|created|modified|touched)\b".to_owned(),
        // investigate what alice did / investigate bob
        r"(?i)\binvestigate\s+(?:what\s+)?(\S+)".to_owned(),
    ]
    .iter()
    .map(|p| re(p))
    .collect()
});

/// "X's activity", "calls by X", "user X": a single word followed by the rest of the question
/// (to see "the CI role" in "calls by the CI role").
static WORD_PATTERNS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"(?i)(\S+)'s\s+(?:activity|actions|calls|api|events|changes|operations|work|history|logins?|requests)",
        r"(?i)\b(?:activit(?:y|ies)|actions?|calls?|done|did|made|changes?|events?|operations?|performed|doing|requests?|logins?|sign-?ins?|errors?|failures?|denials?|anything|something|everything)\s+(?:of|by|for|from)\s+((?:(?:the|our|my)\s+)?(?:(?:iam\s+)?user\s+|principal\s+)?\S+(?:\s+\S+)?)",
        // every API call alice made / the changes bob performed
        r"(?i)\b(?:calls?|actions?|changes?|events?|requests?|operations?|errors?)\s+((?:the\s+)?\S+)\s+(?:made|did|performed|ran|executed|sent|triggered|caused|got|hit)\b",
        r"(?i)\b(?:iam\s+)?user\s+(\S+)",
        r"(?i)\bprincipal\s+(\S+)",
    ]
    .iter()
    .map(|p| re(p))
    .collect()
});

/// Japanese: "aliceの", "bobさんが", "ユーザー carol".
static JA_NAME: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"([A-Za-z0-9][A-Za-z0-9_.@+=,-]*)\s*(?:さん|様|氏|くん|ちゃん)?\s*(?:は|が|の|による|に\s*よる|って|も)|ユーザー\s*[「『]?([A-Za-z0-9][A-Za-z0-9_.@+=,-]*)|([A-Za-z0-9][A-Za-z0-9_.@+=,-]*)\s*(?:さん|様|氏)",
    )
});
/// Japanese descriptions: "CIロールが", "管理者は", "デプロイ用のユーザーが".
static JA_DESCRIBED: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"((?:[\p{Katakana}A-Za-z0-9ー]+|[\p{Katakana}\p{Han}A-Za-z0-9ー]+用の)(?:ロール|ユーザー|チーム|パイプライン|ジョブ|ボット|アカウント)|[\p{Katakana}A-Za-z0-9ー]*(?:管理者|開発者|担当者|運用者))\s*(?:が|は|の|による)",
    )
});

/// The principal a question names or describes, if any.
fn principal(question: &str) -> Option<Who> {
    let lower = question.to_ascii_lowercase();
    if lower.contains("root user")
        || lower.contains("root account")
        || lower
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w == "root")
        || question.contains("ルート")
    {
        return Some(Who::Named("root".into()));
    }
    if let Some(email) = EMAIL.find(question) {
        return Some(Who::Named(email.as_str().to_owned()));
    }
    for pattern in SLOT_PATTERNS.iter() {
        if let Some(who) = pattern
            .captures_iter(question)
            .filter_map(|caps| caps.get(1))
            .find_map(|slot| read_slot(slot.as_str()))
        {
            return Some(with_descriptor(who, question));
        }
    }
    for pattern in WORD_PATTERNS.iter() {
        if let Some(who) = pattern
            .captures_iter(question)
            .filter_map(|caps| caps.get(1))
            .find_map(|slot| read_slot(slot.as_str()))
        {
            return Some(with_descriptor(who, question));
        }
    }
    if let Some(caps) = JA_DESCRIBED.captures(question) {
        return Some(Who::Described(caps[1].to_owned()));
    }
    JA_NAME.captures_iter(question).find_map(|caps| {
        caps.iter()
            .skip(1)
            .flatten()
            .map(|m| clean(m.as_str()))
            .find(|name| name_like(name) && !looks_like_resource(name))
            .map(|name| Who::Named(name.to_owned()))
    })
}

/// A named principal followed by a descriptor noun in the question ("CI role") is a
/// description.
fn with_descriptor(who: Who, question: &str) -> Who {
    let Who::Named(name) = &who else {
        return who;
    };
    let words: Vec<&str> = question.split_whitespace().map(clean).collect();
    match words.iter().position(|w| w == name) {
        Some(i) if words.get(i + 1).is_some_and(|w| is_descriptor(w)) => {
            Who::Described(format!("{name} {}", words[i + 1]))
        }
        _ => who,
    }
}

// ---- Resources ----

static QUOTED: LazyLock<Regex> =
    LazyLock::new(|| re(r#"[`"「『“]([^`"」』”\s]+)[`"」』”]|(?:^|\s)'([^'\s]+)'"#));
const KINDS_EN: &str = r"bucket|role|user|instance|table|function|queue|topic|key|stack|cluster|group|policy|secret|parameter|repository|repo|trail|vpc|subnet|volume|snapshot|image|ami|domain|zone|certificate|alarm|rule|layer|distribution|database|db|keypair|gateway|endpoint|cluster|stream|workgroup|pipeline";
static AFTER_KIND: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?i)\b(?:{KINDS_EN})s?\s+(?:named\s+|called\s+)?({})",
        TOKEN.as_str()
    ))
});
static BEFORE_KIND: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"(?i)\b({})\s+(?:{KINDS_EN})\b", TOKEN.as_str())));
static JA_KIND: LazyLock<Regex> = LazyLock::new(|| {
    let kinds = "バケット|ロール|インスタンス|テーブル|関数|ポリシー|ユーザー|キュー|トピック|キー|スタック|クラスター|グループ|シークレット|ボリューム|スナップショット";
    re(&format!(
        r"(?:{kinds})\s*[「『]?({token})|({token})\s*(?:という|って|の)?\s*(?:{kinds})",
        token = TOKEN.as_str()
    ))
});
/// Names made of lower-case words joined by hyphens (`bob-old-logs`, `i-0a1b2c3d`).
static NAME_LIKE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?-u:\b)([a-z0-9][a-z0-9._]*-[a-z0-9._-]*[a-z0-9])(?-u:\b)"));

/// Whether a word is shaped like a resource id rather than a person (`i-0a1b...`, `arn:...`).
fn looks_like_resource(word: &str) -> bool {
    word.starts_with("arn:") || word.contains('/') || (word.starts_with("i-") && word.len() > 8)
}

fn resource(question: &str) -> Option<String> {
    let named = |m: Option<regex::Match<'_>>| {
        m.map(|m| clean(m.as_str()).to_owned())
            .filter(|name| name_like(name) && !is_descriptor(name))
    };
    QUOTED
        .captures_iter(question)
        .find_map(|caps| named(caps.get(1).or(caps.get(2))))
        .or_else(|| {
            AFTER_KIND
                .captures_iter(question)
                .find_map(|caps| named(caps.get(1)))
        })
        .or_else(|| {
            JA_KIND
                .captures_iter(question)
                .find_map(|caps| named(caps.get(1).or(caps.get(2))))
        })
        .or_else(|| {
            BEFORE_KIND
                .captures_iter(question)
                .find_map(|caps| named(caps.get(1)).filter(|n| n.contains(['-', '_', '.'])))
        })
        .or_else(|| {
            NAME_LIKE
                .captures_iter(question)
                .find_map(|caps| named(caps.get(1)))
                .filter(|n| !ISO_DATE.is_match(n))
        })
}

// ---- Windows ----

fn start_of(date: Date, tz: &TimeZone) -> Option<Timestamp> {
    date.to_zoned_datetime(tz.clone())
        .ok()
        .map(|z| z.timestamp())
}

fn month_number(name: &str) -> Option<i8> {
    let months = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let prefix: String = name.to_ascii_lowercase().chars().take(3).collect();
    months
        .iter()
        .position(|m| *m == prefix)
        .map(|i| i as i8 + 1)
}

/// A month and day without a year: the latest such date not after today.
fn recent(today: Date, month: i8, day: i8) -> Option<Date> {
    let date = Date::new(today.year(), month, day).ok()?;
    if date > today {
        Date::new(today.year() - 1, month, day).ok()
    } else {
        Some(date)
    }
}

fn dates(question: &str, today: Date) -> Vec<Date> {
    let mut found: Vec<(usize, Date)> = Vec::new();
    let at = |caps: &regex::Captures<'_>| caps.get(0).map_or(0, |m| m.start());
    let num = |caps: &regex::Captures<'_>, i: usize| {
        caps.get(i).and_then(|m| m.as_str().parse::<i16>().ok())
    };
    for caps in ISO_DATE.captures_iter(question) {
        if let (Some(y), Some(m), Some(d)) = (num(&caps, 1), num(&caps, 2), num(&caps, 3))
            && let Ok(date) = Date::new(y, m as i8, d as i8)
        {
            found.push((at(&caps), date));
        }
    }
    for caps in JA_DATE.captures_iter(question) {
        let (Some(m), Some(d)) = (num(&caps, 2), num(&caps, 3)) else {
            continue;
        };
        let date = match num(&caps, 1) {
            Some(y) => Date::new(y, m as i8, d as i8).ok(),
            None => recent(today, m as i8, d as i8),
        };
        if let Some(date) = date {
            found.push((at(&caps), date));
        }
    }
    if found.is_empty() {
        for caps in SLASH_DATE.captures_iter(question) {
            if let (Some(m), Some(d)) = (num(&caps, 1), num(&caps, 2))
                && let Some(date) = recent(today, m as i8, d as i8)
            {
                found.push((at(&caps), date));
            }
        }
    }
    for caps in MONTH_NAME_DATE.captures_iter(question) {
        let (month, day) = match (caps.get(1), caps.get(4)) {
            (Some(month), _) => (month_number(month.as_str()), num(&caps, 2)),
            (None, Some(month)) => (month_number(month.as_str()), num(&caps, 3)),
            _ => continue,
        };
        if let (Some(m), Some(d)) = (month, day)
            && let Some(date) = recent(today, m, d as i8)
        {
            found.push((at(&caps), date));
        }
    }
    found.sort_by_key(|(at, _)| *at);
    found.into_iter().map(|(_, date)| date).collect()
}

/// The most recent `weekday` before today ("on Monday", "月曜日").
fn last_weekday(today: Date, monday_offset: i8) -> Option<Date> {
    let back = (today.weekday().to_monday_zero_offset() - monday_offset).rem_euclid(7);
    let back = if back == 0 { 7 } else { back };
    today.checked_sub(Span::new().days(i64::from(back))).ok()
}

/// The period a question names, or `None` to use the topic's default.
fn period(question: &str, today: Date) -> Option<Period> {
    let lower = question.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if has(&["day before yesterday"])
        || question.contains("一昨日")
        || question.contains("おととい")
    {
        return Some(Period::DayBeforeYesterday);
    }
    if has(&["weekend"]) || question.contains("週末") {
        // The most recent Saturday and Sunday (this one, so far, on a weekend).
        let offset = i64::from(today.weekday().to_monday_zero_offset());
        let saturday = today
            .checked_sub(Span::new().days(if offset >= 5 { offset - 5 } else { offset + 2 }))
            .ok()?;
        let sunday = saturday.checked_add(Span::new().days(1)).ok()?;
        return Some(Period::Days {
            first: saturday,
            last: sunday.min(today),
        });
    }
    if has(&["yesterday"]) || question.contains("昨日") || question.contains("きのう") {
        return Some(Period::Yesterday);
    }
    if has(&["today", "so far this day"])
        || question.contains("今日")
        || question.contains("本日")
        || question.contains("きょう")
    {
        return Some(Period::Today);
    }
    if let Some(caps) = LAST_N.captures(question) {
        let amount: i64 = caps
            .get(1)
            .or(caps.get(3))
            .or(caps.get(5))?
            .as_str()
            .parse()
            .ok()?;
        let unit = caps.get(2).or(caps.get(4)).or(caps.get(6))?.as_str();
        let unit = match unit.to_ascii_lowercase().chars().next() {
            Some('h') => Unit::Hours,
            Some('w') => Unit::Weeks,
            _ => Unit::Days,
        };
        return Some(Period::Last { amount, unit });
    }
    if let Some(caps) = LAST_N_JA.captures(question) {
        let amount: i64 = caps.get(1).or(caps.get(3))?.as_str().parse().ok()?;
        let unit = match caps.get(2).or(caps.get(4))?.as_str() {
            "時間" => Unit::Hours,
            "週間" | "週" => Unit::Weeks,
            _ => Unit::Days,
        };
        return Some(Period::Last { amount, unit });
    }
    if PAST_WEEK.is_match(question) || question.contains("この一週間") {
        return Some(Period::Last {
            amount: 7,
            unit: Unit::Days,
        });
    }
    if has(&["this week", "so far this week"]) || question.contains("今週") {
        return Some(Period::ThisWeek);
    }
    if has(&["last week", "previous week", "prior week"]) || question.contains("先週") {
        if let Some(caps) = WEEKDAY_JA.captures(question)
            && question.contains("先週の")
        {
            let offset = "月火水木金土日"
                .chars()
                .position(|c| caps[1].starts_with(c))?;
            let monday = today
                .checked_sub(
                    Span::new().days(i64::from(today.weekday().to_monday_zero_offset()) + 7),
                )
                .ok()?;
            let day = monday.checked_add(Span::new().days(offset as i64)).ok()?;
            return Some(Period::Days {
                first: day,
                last: day,
            });
        }
        return Some(Period::LastWeek);
    }
    if has(&["this month"]) || question.contains("今月") {
        return Some(Period::ThisMonth);
    }
    if has(&["last month", "previous month"]) || question.contains("先月") {
        return Some(Period::LastMonth);
    }
    let found = dates(question, today);
    if let (Some(first), Some(last)) = (found.first(), found.last()) {
        let (first, last) = if first <= last {
            (*first, *last)
        } else {
            (*last, *first)
        };
        return Some(Period::Days { first, last });
    }
    let weekday = WEEKDAY_EN
        .captures(question)
        .and_then(|caps| {
            let name = caps[1].to_ascii_lowercase();
            [
                "monday",
                "tuesday",
                "wednesday",
                "thursday",
                "friday",
                "saturday",
                "sunday",
            ]
            .iter()
            .position(|d| *d == name)
        })
        .or_else(|| {
            WEEKDAY_JA.captures(question).and_then(|caps| {
                "月火水木金土日"
                    .chars()
                    .position(|c| caps[1].starts_with(c))
            })
        });
    if let Some(offset) = weekday {
        let day = last_weekday(today, offset as i8)?;
        return Some(Period::Days {
            first: day,
            last: day,
        });
    }
    if question.contains("1週間") || question.contains("一週間") {
        return Some(Period::Last {
            amount: 7,
            unit: Unit::Days,
        });
    }
    None
}

/// The window of `period`, and whether it runs until now.
fn window(
    period: Period,
    now: Timestamp,
    today: Date,
    tz: &TimeZone,
) -> Option<(Timestamp, Timestamp, bool)> {
    let days = |n: i64| Span::new().days(n);
    let monday = today
        .checked_sub(days(i64::from(today.weekday().to_monday_zero_offset())))
        .ok()?;
    let rolling = |hours: i64| Some((now.checked_sub(hours.hours()).ok()?, now, true));
    match period {
        Period::Today => Some((start_of(today, tz)?, now, true)),
        Period::Yesterday => Some((
            start_of(today.checked_sub(days(1)).ok()?, tz)?,
            start_of(today, tz)?,
            false,
        )),
        Period::DayBeforeYesterday => Some((
            start_of(today.checked_sub(days(2)).ok()?, tz)?,
            start_of(today.checked_sub(days(1)).ok()?, tz)?,
            false,
        )),
        Period::ThisWeek => Some((start_of(monday, tz)?, now, true)),
        Period::LastWeek => Some((
            start_of(monday.checked_sub(days(7)).ok()?, tz)?,
            start_of(monday, tz)?,
            false,
        )),
        Period::ThisMonth => Some((start_of(today.first_of_month(), tz)?, now, true)),
        Period::LastMonth => {
            let first = today
                .first_of_month()
                .checked_sub(Span::new().months(1))
                .ok()?;
            Some((
                start_of(first, tz)?,
                start_of(today.first_of_month(), tz)?,
                false,
            ))
        }
        Period::Last { amount, unit } => rolling(match unit {
            Unit::Hours => amount,
            Unit::Days => amount * 24,
            Unit::Weeks => amount * 24 * 7,
        }),
        Period::Days { first, last } => {
            let end = start_of(last.checked_add(days(1)).ok()?, tz)?;
            Some((start_of(first, tz)?, end.min(now), end >= now))
        }
        Period::Default { hours } => rolling(hours),
    }
}

/// Parses `question`, asked at `now` by a user in `tz`.
pub fn parse(question: &str, now: Timestamp, tz: &TimeZone) -> Intent {
    let question = &normalize(question);
    let lang = if JAPANESE.is_match(question) {
        Lang::Ja
    } else {
        Lang::En
    };
    let topic = topic(question);
    let default_hours: i64 = match topic {
        Topic::Activity { .. } | Topic::Overview { .. } | Topic::Unresolved { .. } => 24,
        _ => 24 * 7,
    };
    let today = now.to_zoned_datetime(tz.clone()).date();
    let named = period(question, today);
    let (period, (start, end, until_now)) = named
        .and_then(|p| window(p, now, today, tz).map(|w| (p, w)))
        .unwrap_or_else(|| {
            let start = now.checked_sub(default_hours.hours()).unwrap_or(now);
            (
                Period::Default {
                    hours: default_hours,
                },
                (start, now, true),
            )
        });
    Intent {
        lang,
        service: service(question),
        action: ACTION.captures(question).map(|caps| caps[1].to_owned()),
        count: COUNT.is_match(question),
        topic,
        period,
        start,
        end,
        until_now,
    }
}

/// Full-width ASCII (`ａｌｉｃｅ`, `Ｓ３`) and the ideographic space as plain ASCII, as a
/// Japanese keyboard often types them.
fn normalize(question: &str) -> String {
    question
        .chars()
        .map(|c| match c {
            '\u{3000}' => ' ',
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            c => c,
        })
        .collect()
}

fn topic(question: &str) -> Topic {
    let unsupported = |reason| Topic::Unsupported { reason };
    if COST.is_match(question) {
        return unsupported(Unsupported::Cost);
    }
    if METRICS.is_match(question) {
        return unsupported(Unsupported::Metrics);
    }
    if STATE_STRONG.is_match(question) {
        return unsupported(Unsupported::State);
    }
    let verb = verb(question);
    let who = principal(question);
    let named = match &who {
        Some(Who::Named(name)) => Some(name.clone()),
        _ => None,
    };
    if LOGIN.is_match(question) {
        return Topic::ConsoleLogins { principal: named };
    }
    if WHO.is_match(question)
        && let Some(verb) = verb
    {
        return Topic::WhoDid {
            verb,
            resource: resource(question),
        };
    }
    if FAILED.is_match(question) {
        return Topic::Failures { principal: named };
    }
    match who {
        Some(Who::Named(principal)) => return Topic::Activity { principal, verb },
        Some(Who::Described(description)) => return Topic::Unresolved { description, verb },
        None => {}
    }
    let state = STATE.is_match(question) && !THERE_ARE.is_match(question);
    if !state
        && (verb.is_some()
            || WHO.is_match(question)
            || OVERVIEW.is_match(question)
            || service(question).is_some()
            || ACTION.is_match(question))
    {
        return Topic::Overview { verb };
    }
    if state {
        return unsupported(Unsupported::State);
    }
    unsupported(Unsupported::NotUnderstood)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> (Timestamp, TimeZone) {
        // Wednesday 2026-11-25 09:00 in Tokyo.
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

    fn activity(principal: &str) -> Topic {
        Topic::Activity {
            principal: principal.into(),
            verb: None,
        }
    }

    #[test]
    fn principal_activity_yesterday_in_both_languages() {
        for q in [
            "what did alice do yesterday?",
            "昨日aliceは何をした？",
            "Investigate what alice did in AWS yesterday",
        ] {
            let intent = p(q);
            assert_eq!(intent.topic, activity("alice"), "{q}");
            assert_eq!(intent.start, ts("2026-11-23T15:00:00Z"), "{q}");
            assert_eq!(intent.end, ts("2026-11-24T15:00:00Z"), "{q}");
            assert_eq!(intent.period, Period::Yesterday);
        }
        assert_eq!(p("昨日aliceは何をした？").lang, Lang::Ja);
        assert_eq!(p("what did alice do yesterday?").lang, Lang::En);
        assert_eq!(
            p("show carol@example.com's activity").topic,
            activity("carol@example.com")
        );
        assert_eq!(p("ユーザー bob の操作を教えて").topic, activity("bob"));
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
            p("who created i-0a1b2c3d4e5f60718?").topic,
            Topic::WhoDid {
                verb: Verb::Create,
                resource: Some("i-0a1b2c3d4e5f60718".into())
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
            Topic::ConsoleLogins { principal: None }
        );
        assert_eq!(
            p("昨日のコンソールログインは？").topic,
            Topic::ConsoleLogins { principal: None }
        );
        assert_eq!(p("what happened?").topic, Topic::Overview { verb: None });
        assert!(Verb::Delete.matches("DeleteBucket") && !Verb::Delete.matches("CreateBucket"));
    }

    /// The word after a kind ("policy", "role") is a name only if it can be one.
    #[test]
    fn function_words_and_generic_nouns_are_never_names() {
        for q in [
            "who attached a policy to a role?",
            "who attached a policy to the role last week?",
            "who created a role for the deployment?",
            "who deleted the user account?",
            "who changed the bucket policy on a bucket?",
        ] {
            let Topic::WhoDid { resource, .. } = p(q).topic else {
                panic!("{q}: {:?}", p(q).topic)
            };
            assert_eq!(resource, None, "{q}");
        }
        assert_eq!(
            p("who attached a policy to the role deploy-role?").topic,
            Topic::WhoDid {
                verb: Verb::Attach,
                resource: Some("deploy-role".into())
            }
        );
        assert_eq!(
            p("who deleted the bob-old-logs bucket?").topic,
            Topic::WhoDid {
                verb: Verb::Delete,
                resource: Some("bob-old-logs".into())
            }
        );
        // A service before a Japanese particle is a service, not a principal.
        let intent = p("昨日のS3の操作を教えて");
        assert_eq!(intent.topic, Topic::Overview { verb: None });
        assert_eq!(intent.service.as_deref(), Some("s3.amazonaws.com"));
        let intent = p("先週EC2で何があった？");
        assert_eq!(intent.topic, Topic::Overview { verb: None });
        assert_eq!(intent.service.as_deref(), Some("ec2.amazonaws.com"));
        // Particles and honorifics around a name are not part of it.
        for q in [
            "bobさんの昨日の操作",
            "昨日bobが何をしたか",
            "bobによる操作を見せて",
        ] {
            assert_eq!(p(q).topic, activity("bob"), "{q}");
        }
        // Full-width letters are letters.
        assert_eq!(p("昨日ａｌｉｃｅは何をした？").topic, activity("alice"));
    }

    #[test]
    fn verbs_cover_english_stems_japanese_verbs_and_katakana_loan_words() {
        let who = |q: &str| match p(q).topic {
            Topic::WhoDid { verb, .. } => verb,
            other => panic!("{q}: {other:?}"),
        };
        assert_eq!(who("誰がポリシーをアタッチした？"), Verb::Attach);
        assert_eq!(who("誰がロールからポリシーをデタッチした？"), Verb::Detach);
        assert_eq!(who("誰がバケットをデリートした？"), Verb::Delete);
        assert_eq!(who("誰がインスタンスを起動した？"), Verb::Start);
        assert_eq!(who("誰がインスタンスを停止した？"), Verb::Stop);
        assert_eq!(who("誰が設定をアップデートした？"), Verb::Change);
        assert_eq!(who("誰がユーザーを作成した？"), Verb::Create);
        assert_eq!(who("who disassociated the route table?"), Verb::Detach);
        assert_eq!(who("who terminated i-0a1b2c3d4e5f60718?"), Verb::Delete);
        assert_eq!(who("who rebooted the instance?"), Verb::Start);
        assert_eq!(who("who granted bob admin?"), Verb::Attach);
        assert!(Verb::Attach.matches("AttachRolePolicy"));
        assert!(
            Verb::Detach.matches("DetachRolePolicy") && !Verb::Attach.matches("DetachRolePolicy")
        );
        // "make" in "how many calls did bob make" is not "create".
        assert_eq!(
            p("how many API calls did bob make yesterday?").topic,
            activity("bob")
        );
    }

    #[test]
    fn sign_ins_in_any_phrasing() {
        for q in [
            "who logged in to the console yesterday?",
            "did anyone log in to the console this week?",
            "who signed in today?",
            "who signed into the console?",
            "show me the sign-ins from last week",
            "list console log-ins",
            "昨日コンソールにサインインしたのは誰？",
            "今週ログオンしたユーザーは？",
        ] {
            assert!(
                matches!(p(q).topic, Topic::ConsoleLogins { .. }),
                "{q}: {:?}",
                p(q).topic
            );
        }
        assert_eq!(
            p("did root log in to the console today?").topic,
            Topic::ConsoleLogins {
                principal: Some("root".into())
            }
        );
        // Log words that are not sign-ins.
        assert!(!matches!(
            p("who deleted bob-old-logs in S3?").topic,
            Topic::ConsoleLogins { .. }
        ));
    }

    #[test]
    fn calendar_weeks_and_months_are_calendar_periods() {
        // Wednesday 25 Nov in Tokyo: this week began Monday 23 Nov 00:00 JST.
        let w = p("which calls were denied this week?");
        assert_eq!(w.period, Period::ThisWeek);
        assert_eq!(
            (w.start, w.end, w.until_now),
            (ts("2026-11-22T15:00:00Z"), at().0, true)
        );
        for q in [
            "先週の拒否された操作は？",
            "which calls were denied last week?",
        ] {
            let w = p(q);
            assert_eq!(w.period, Period::LastWeek, "{q}");
            // Monday 16 Nov 00:00 to Monday 23 Nov 00:00, Tokyo.
            assert_eq!(
                (w.start, w.end, w.until_now),
                (
                    ts("2026-11-15T15:00:00Z"),
                    ts("2026-11-22T15:00:00Z"),
                    false
                ),
                "{q}"
            );
        }
        // A rolling week stays rolling.
        let w = p("what did bob do in the past week?");
        assert_eq!(
            w.period,
            Period::Last {
                amount: 7,
                unit: Unit::Days
            }
        );
        assert_eq!(w.start, ts("2026-11-18T00:00:00Z"));
        let w = p("先月のaliceの操作");
        assert_eq!(w.period, Period::LastMonth);
        assert_eq!(
            (w.start, w.end),
            (ts("2026-09-30T15:00:00Z"), ts("2026-10-31T15:00:00Z"))
        );
        let w = p("what did alice do on Monday?");
        assert_eq!(
            (w.start, w.end),
            (ts("2026-11-22T15:00:00Z"), ts("2026-11-23T15:00:00Z"))
        );
        let w = p("what did alice do on Nov 20?");
        assert_eq!(w.start, ts("2026-11-19T15:00:00Z"));
        let w = p("一昨日のbobの操作");
        assert_eq!(w.period, Period::DayBeforeYesterday);
        assert_eq!(w.start, ts("2026-11-22T15:00:00Z"));
    }

    #[test]
    fn counts_and_services_are_read_alongside_the_topic() {
        let intent = p("how many API calls did bob make yesterday?");
        assert!(intent.count);
        assert_eq!(intent.topic, activity("bob"));
        let intent = p("how many calls were denied this week?");
        assert!(intent.count);
        assert_eq!(intent.topic, Topic::Failures { principal: None });
        let intent = p("what did alice do in S3 yesterday?");
        assert_eq!(intent.topic, activity("alice"));
        assert_eq!(intent.service.as_deref(), Some("s3.amazonaws.com"));
        assert_eq!(
            p("what did bob delete yesterday?").topic,
            Topic::Activity {
                principal: "bob".into(),
                verb: Some(Verb::Delete)
            }
        );
        assert_eq!(
            p("what was deleted yesterday?").topic,
            Topic::Overview {
                verb: Some(Verb::Delete)
            }
        );
    }

    #[test]
    fn described_principals_are_not_taken_for_names() {
        for (q, description) in [
            ("what did the CI role change last week?", "the CI role"),
            (
                "what has our deploy pipeline done today?",
                "our deploy pipeline",
            ),
            ("show the calls made by the CI role", "the CI role"),
            ("先週CIロールが変更したものは？", "CIロール"),
            ("管理者が昨日何をしたか教えて", "管理者"),
        ] {
            match p(q).topic {
                Topic::Unresolved { description: d, .. } => assert_eq!(d, description, "{q}"),
                other => panic!("{q}: {other:?}"),
            }
        }
        assert_eq!(
            p("what did the CI role change last week?").topic,
            Topic::Unresolved {
                description: "the CI role".into(),
                verb: Some(Verb::Change)
            }
        );
    }

    #[test]
    fn principals_are_found_whatever_the_verb_and_ascii_names_next_to_japanese_are_whole() {
        assert_eq!(
            p("What did github-actions-deploy deploy last week?").topic,
            activity("github-actions-deploy")
        );
        assert_eq!(
            p("Which calls did bob make from IP 198.51.100.23?").topic,
            activity("bob")
        );
        assert_eq!(
            p("what did the CI role deploy on Monday?").topic,
            Topic::Unresolved {
                description: "the CI role".into(),
                verb: None
            }
        );
        // A Japanese character right after an ASCII name or date is not part of a word with it.
        assert_eq!(
            p("i-0a1b2c3d4e5f60718を停止したのは誰？").topic,
            Topic::WhoDid {
                verb: Verb::Stop,
                resource: Some("i-0a1b2c3d4e5f60718".into())
            }
        );
        let w = p("2026-11-20のaliceの操作");
        assert_eq!(w.start, ts("2026-11-19T15:00:00Z"));
        // An API action named as such narrows to it.
        let intent = p("How many times was DeleteBucket called this month?");
        assert_eq!(intent.action.as_deref(), Some("DeleteBucket"));
        assert!(intent.count);
        // "Change" is any write, not only Put/Update.
        assert!(Verb::Change.matches("CreateBucket") && Verb::Change.matches("DeleteRole"));
        assert!(!Verb::Change.matches("ListBuckets") && !Verb::Change.matches("GetObject"));
    }

    #[test]
    fn more_phrasings_of_who_and_when() {
        assert_eq!(
            p("Show me every API call alice made on November 23").topic,
            activity("alice")
        );
        assert_eq!(
            p("Any errors from github-actions-deploy today?").topic,
            Topic::Failures {
                principal: Some("github-actions-deploy".into())
            }
        );
        assert_eq!(
            p("How many denied calls did bob have last week?").topic,
            Topic::Failures {
                principal: Some("bob".into())
            }
        );
        // A passive's subject is what was acted on.
        assert_eq!(
            p("Has the CloudTrail trail been stopped?").topic,
            Topic::Overview {
                verb: Some(Verb::Stop)
            }
        );
        // "who" with a verb the table does not know: who was active.
        assert_eq!(
            p("Who has been assuming roles this week?").topic,
            Topic::Overview { verb: None }
        );
        assert_eq!(
            p("先月一番多く API を呼んだのは誰？").topic,
            Topic::Overview { verb: None }
        );
        assert_eq!(
            p("What regions were used yesterday?").topic,
            Topic::Overview { verb: None }
        );
        assert!(matches!(
            p("ポリシーをデタッチしたユーザーは？").topic,
            Topic::WhoDid {
                verb: Verb::Detach,
                ..
            }
        ));
        // Hiragana day words, and the weekend (Wednesday 25 Nov: Sat 21 and Sun 22 Nov).
        assert_eq!(
            p("alice がきのう削除したものは？").period,
            Period::Yesterday
        );
        let w = p("先週末に何か変更はありましたか？");
        assert_eq!(
            (w.start, w.end),
            (ts("2026-11-20T15:00:00Z"), ts("2026-11-22T15:00:00Z"))
        );
        assert_eq!(
            p("What changed in the account over the weekend?").period,
            w.period
        );
    }

    #[test]
    fn questions_outside_cloudtrail_are_unsupported_not_summarised() {
        let reason = |q: &str| match p(q).topic {
            Topic::Unsupported { reason } => reason,
            other => panic!("{q}: {other:?}"),
        };
        assert_eq!(
            reason("why is my S3 bill so high this month?"),
            Unsupported::Cost
        );
        assert_eq!(
            reason("how much did we spend on EC2 last week?"),
            Unsupported::Cost
        );
        assert_eq!(reason("先月のS3の料金は？"), Unsupported::Cost);
        assert_eq!(
            reason("what is the CPU utilization of my instances?"),
            Unsupported::Metrics
        );
        assert_eq!(reason("is bob-old-logs public?"), Unsupported::State);
        assert_eq!(reason("how do I rotate an access key?"), Unsupported::State);
        // A state question is one whoever it names.
        assert_eq!(reason("Is MFA enabled for alice?"), Unsupported::State);
        assert_eq!(reason("does bob have admin access?"), Unsupported::State);
        assert_eq!(
            reason("bobのアクセスキーは有効ですか？"),
            Unsupported::State
        );
        assert_eq!(reason("tell me a joke"), Unsupported::NotUnderstood);
        assert_eq!(reason("こんにちは"), Unsupported::NotUnderstood);
        // Event questions that start like state questions are still event questions.
        assert_eq!(
            p("are there any denied calls today?").topic,
            Topic::Failures { principal: None }
        );
        assert_eq!(
            p("is there any activity from bob today?").topic,
            activity("bob")
        );
    }
}
