//! Who acts in the sample account, how they identify, from where, when, and what they usually do.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::{Call, MakeElements, SPAN_DAYS};

/// The sample account.
pub const ACCOUNT: &str = "123456789012";
const SSO_ROLE: &str = "AWSReservedSSO_AdministratorAccess_0123456789abcdef";
const CI_ROLE: &str = "github-actions-deploy";
/// The IAM user whose keys a support portal uses to issue federated sessions (GetFederationToken).
const FEDERATION_BROKER: &str = "support-portal-broker";

/// How a principal identifies in `userIdentity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    IamUser,
    SsoSession,
    CiRole,
    /// A session from `GetFederationToken`, issued by `FEDERATION_BROKER`.
    FederatedUser,
    Root,
    Service(&'static str),
}

/// One principal of the sample.
#[derive(Debug)]
pub struct Actor {
    pub name: &'static str,
    pub kind: Kind,
    access_key: &'static str,
    session_key: &'static str,
    /// The unique id of the user, of the role (assumed roles) or of the issuing user (federated).
    principal_id: &'static str,
    ips: &'static [&'static str],
    agents: &'static [&'static str],
    /// Working hours in UTC, `[from, to)`.
    hours: (i8, i8),
    /// Relative activity weight in the background.
    weight: u32,
    /// Percent of its background calls that are denied.
    denied_percent: u8,
}

const CLI_AGENTS: &[&str] = &[
    "aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/macos#24.1.0 md/arch#arm64 lang/python#3.12.7 md/pyimpl#CPython cfg/retry-mode#standard md/installer#source md/prompt#off md/command#s3api.list-buckets",
    "aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.12.7 md/pyimpl#CPython cfg/retry-mode#standard",
    "Boto3/1.35.66 md/Botocore#1.35.66 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.10 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.66",
];
const CONSOLE_AGENT: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const CI_AGENTS: &[&str] = &[
    "aws-cdk/2.170.0 (CloudFormation) aws-sdk-js/3.699.0 ua/2.1 os/linux#6.5.0-1025-azure lang/js md/nodejs#20.18.0 api/cloudformation#3.699.0",
    "APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) terraform-provider-aws/5.78.0 aws-sdk-go-v2/1.32.5 os/linux lang/go#1.23.3 md/GOOS#linux md/GOARCH#amd64 api/lambda#1.67.0",
];

pub static ALICE: Actor = Actor {
    name: "alice",
    kind: Kind::IamUser,
    access_key: "AKIA3SAMPLEALICE0001",
    session_key: "ASIA3SAMPLEALICE0002",
    principal_id: "AIDA3SAMPLEALICE00001",
    ips: &["203.0.113.10", "203.0.113.11"],
    agents: CLI_AGENTS,
    hours: (0, 10),
    weight: 30,
    denied_percent: 2,
};
pub static BOB: Actor = Actor {
    name: "bob",
    kind: Kind::IamUser,
    access_key: "AKIA3SAMPLEBOB000001",
    session_key: "ASIA3SAMPLEBOB000002",
    principal_id: "AIDA3SAMPLEBOB000001",
    ips: &["198.51.100.23"],
    agents: CLI_AGENTS,
    hours: (1, 9),
    weight: 20,
    // A read-only analyst who keeps trying things.
    denied_percent: 18,
};
pub static CAROL: Actor = Actor {
    name: "carol@example.com",
    kind: Kind::SsoSession,
    access_key: "ASIA3SAMPLECAROL0001",
    session_key: "ASIA3SAMPLECAROL0002",
    principal_id: "AROA3SAMPLESSOADMIN01",
    ips: &["192.0.2.44"],
    agents: CLI_AGENTS,
    hours: (23, 8),
    weight: 15,
    denied_percent: 2,
};
pub static CI: Actor = Actor {
    name: CI_ROLE,
    kind: Kind::CiRole,
    access_key: "ASIA3SAMPLECIDEPLOY1",
    session_key: "ASIA3SAMPLECIDEPLOY1",
    principal_id: "AROA3SAMPLECIROLE0001",
    ips: &["20.42.7.118", "4.175.113.201"],
    agents: CI_AGENTS,
    hours: (0, 24),
    weight: 20,
    denied_percent: 2,
};
pub static DAVE: Actor = Actor {
    name: "dave",
    kind: Kind::FederatedUser,
    access_key: "ASIA3SAMPLEDAVE00001",
    session_key: "ASIA3SAMPLEDAVE00001",
    principal_id: "AIDA3SAMPLEBROKER0001",
    ips: &["198.51.100.77"],
    agents: &[CLI_AGENTS[2]],
    hours: (0, 9),
    weight: 8,
    // A support engineer whose session policy allows little, so attempts beyond it fail.
    denied_percent: 8,
};
pub static ROOT: Actor = Actor {
    name: "root",
    kind: Kind::Root,
    access_key: "",
    session_key: "ASIA3SAMPLEROOT00001",
    principal_id: ACCOUNT,
    ips: &["203.0.113.200"],
    agents: &[CONSOLE_AGENT],
    hours: (0, 24),
    weight: 0,
    denied_percent: 0,
};
pub static LAMBDA_SERVICE: Actor = Actor {
    name: "lambda.amazonaws.com",
    kind: Kind::Service("lambda.amazonaws.com"),
    access_key: "",
    session_key: "",
    principal_id: "",
    ips: &["lambda.amazonaws.com"],
    agents: &["lambda.amazonaws.com"],
    hours: (0, 24),
    weight: 10,
    // A service acting on its own is not refused by an account's policies.
    denied_percent: 0,
};

impl Actor {
    /// Whether the actor is an AWS service principal.
    pub fn is_service(&self) -> bool {
        matches!(self.kind, Kind::Service(_))
    }

    /// The role an assumed-role session belongs to: its name and ARN.
    fn role(&self) -> Option<(&'static str, String)> {
        match self.kind {
            Kind::SsoSession => Some((
                SSO_ROLE,
                format!(
                    "arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/ap-northeast-1/{SSO_ROLE}"
                ),
            )),
            Kind::CiRole => Some((CI_ROLE, format!("arn:aws:iam::{ACCOUNT}:role/{CI_ROLE}"))),
            _ => None,
        }
    }

    /// The ARN CloudTrail records for the caller (`userIdentity.arn`, and the `User:` of an
    /// access-denied message); none for an AWS service.
    pub fn arn(&self) -> Option<String> {
        match self.kind {
            Kind::IamUser => Some(format!("arn:aws:iam::{ACCOUNT}:user/{}", self.name)),
            Kind::SsoSession | Kind::CiRole => {
                let (role, _) = self.role()?;
                Some(format!(
                    "arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{}",
                    self.name
                ))
            }
            Kind::FederatedUser => Some(format!(
                "arn:aws:sts::{ACCOUNT}:federated-user/{}",
                self.name
            )),
            Kind::Root => Some(format!("arn:aws:iam::{ACCOUNT}:root")),
            Kind::Service(_) => None,
        }
    }

    /// The `userIdentity` block.
    pub fn identity(&self, console: bool, at: Timestamp) -> Value {
        let session_start = (at - SignedDuration::from_mins(37))
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let arn = self.arn();
        match self.kind {
            Kind::IamUser => {
                let mut id = json!({"type": "IAMUser", "principalId": self.principal_id,
                    "arn": arn, "accountId": ACCOUNT,
                    "accessKeyId": if console { self.session_key } else { self.access_key }, "userName": self.name});
                if console {
                    id["sessionContext"] = json!({"attributes": {"creationDate": session_start, "mfaAuthenticated": "true"}});
                }
                id
            }
            Kind::SsoSession | Kind::CiRole => {
                let (role, role_arn) = self.role().unwrap_or_default();
                json!({"type": "AssumedRole", "principalId": format!("{}:{}", self.principal_id, self.name),
                    "arn": arn, "accountId": ACCOUNT,
                    "accessKeyId": self.access_key,
                    "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": self.principal_id,
                        "arn": role_arn, "accountId": ACCOUNT, "userName": role},
                        "attributes": {"creationDate": session_start, "mfaAuthenticated": "false"}}})
            }
            Kind::FederatedUser => {
                json!({"type": "FederatedUser", "principalId": format!("{ACCOUNT}:{}", self.name),
                    "arn": arn, "accountId": ACCOUNT, "accessKeyId": self.access_key,
                    "sessionContext": {"sessionIssuer": {"type": "IAMUser", "principalId": self.principal_id,
                        "arn": format!("arn:aws:iam::{ACCOUNT}:user/{FEDERATION_BROKER}"), "accountId": ACCOUNT,
                        "userName": FEDERATION_BROKER},
                        "attributes": {"creationDate": session_start, "mfaAuthenticated": "false"}}})
            }
            Kind::Root => {
                json!({"type": "Root", "principalId": ACCOUNT, "arn": arn,
                "accountId": ACCOUNT, "accessKeyId": self.session_key,
                "sessionContext": {"attributes": {"creationDate": session_start, "mfaAuthenticated": "true"}}})
            }
            Kind::Service(service) => json!({"type": "AWSService", "invokedBy": service}),
        }
    }

    /// The caller's source IP (or the service name for service calls).
    pub fn source_ip(&self, rng: &mut fastrand::Rng, event_source: &str) -> String {
        if self.kind == Kind::CiRole
            && event_source == "cloudformation.amazonaws.com"
            && rng.u8(..) < 40
        {
            return "cloudformation.amazonaws.com".to_owned();
        }
        self.ips[rng.usize(..self.ips.len())].to_owned()
    }

    /// The caller's user agent.
    pub fn user_agent(&self, rng: &mut fastrand::Rng, console: bool) -> String {
        if console {
            return CONSOLE_AGENT.to_owned();
        }
        self.agents[rng.usize(..self.agents.len())].to_owned()
    }
}

/// A kind of call an actor makes in the background.
struct Template {
    source: &'static str,
    name: &'static str,
    read_only: bool,
    make: MakeElements,
}

fn none(_: &mut fastrand::Rng) -> (Value, Value) {
    (Value::Null, Value::Null)
}
fn bucket(rng: &mut fastrand::Rng) -> (Value, Value) {
    let names = [
        "analytics-raw-123456789012",
        "app-assets-prod",
        "terraform-state-123456789012",
        "alice-reports",
    ];
    (
        json!({"bucketName": names[rng.usize(..names.len())], "Host": "s3.ap-northeast-1.amazonaws.com"}),
        Value::Null,
    )
}
fn instances(rng: &mut fastrand::Rng) -> (Value, Value) {
    let id = format!("i-0{:016x}", rng.u64(..) & 0xffff_ffff_ffff);
    (
        json!({"instancesSet": {"items": [{"instanceId": id}]}, "filterSet": {}}),
        Value::Null,
    )
}
fn function(rng: &mut fastrand::Rng) -> (Value, Value) {
    let names = ["orders-api", "thumbnailer", "nightly-report"];
    (
        json!({"functionName": names[rng.usize(..names.len())]}),
        Value::Null,
    )
}
fn stack(rng: &mut fastrand::Rng) -> (Value, Value) {
    let names = ["web-frontend", "orders-service", "shared-network"];
    let name = names[rng.usize(..names.len())];
    (
        json!({"stackName": name}),
        json!({"stackId": format!("arn:aws:cloudformation:ap-northeast-1:{ACCOUNT}:stack/{name}/0b1c2d3e")}),
    )
}
fn log_group(_: &mut fastrand::Rng) -> (Value, Value) {
    (
        json!({"logGroupName": "/aws/lambda/orders-api", "limit": 50}),
        Value::Null,
    )
}
fn kms_key(_: &mut fastrand::Rng) -> (Value, Value) {
    (
        json!({"keyId": format!("arn:aws:kms:ap-northeast-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}),
        Value::Null,
    )
}
fn role(rng: &mut fastrand::Rng) -> (Value, Value) {
    let names = [
        "orders-api-execution",
        "github-actions-deploy",
        "readonly-auditor",
    ];
    (
        json!({"roleName": names[rng.usize(..names.len())]}),
        Value::Null,
    )
}

macro_rules! t {
    ($source:literal, $name:literal, $ro:expr, $make:expr) => {
        Template {
            source: $source,
            name: $name,
            read_only: $ro,
            make: $make,
        }
    };
}

const ALICE_CALLS: &[Template] = &[
    t!("s3.amazonaws.com", "ListBuckets", true, none),
    t!("s3.amazonaws.com", "GetBucketLocation", true, bucket),
    t!("s3.amazonaws.com", "GetBucketPolicy", true, bucket),
    t!("ec2.amazonaws.com", "DescribeInstances", true, instances),
    t!("ec2.amazonaws.com", "DescribeSecurityGroups", true, none),
    t!("lambda.amazonaws.com", "ListFunctions20150331", true, none),
    t!(
        "lambda.amazonaws.com",
        "GetFunction20150331v2",
        true,
        function
    ),
    t!("logs.amazonaws.com", "FilterLogEvents", true, log_group),
    t!("sts.amazonaws.com", "GetCallerIdentity", true, none),
    t!("ec2.amazonaws.com", "StartInstances", false, instances),
];
const BOB_CALLS: &[Template] = &[
    t!("ec2.amazonaws.com", "DescribeInstances", true, instances),
    t!("ec2.amazonaws.com", "DescribeVpcs", true, none),
    t!("s3.amazonaws.com", "ListBuckets", true, none),
    t!(
        "cloudformation.amazonaws.com",
        "DescribeStacks",
        true,
        stack
    ),
    t!("logs.amazonaws.com", "DescribeLogGroups", true, none),
    t!("iam.amazonaws.com", "ListUsers", true, none),
];
const CAROL_CALLS: &[Template] = &[
    t!("iam.amazonaws.com", "ListRoles", true, none),
    t!("iam.amazonaws.com", "GetRole", true, role),
    t!("kms.amazonaws.com", "ListKeys", true, none),
    t!("kms.amazonaws.com", "Decrypt", true, kms_key),
    t!(
        "cloudformation.amazonaws.com",
        "DescribeStacks",
        true,
        stack
    ),
    t!("ec2.amazonaws.com", "DescribeInstances", true, instances),
    t!("iam.amazonaws.com", "AttachRolePolicy", false, role),
];
const CI_CALLS: &[Template] = &[
    t!(
        "cloudformation.amazonaws.com",
        "DescribeStacks",
        true,
        stack
    ),
    t!(
        "cloudformation.amazonaws.com",
        "CreateChangeSet",
        false,
        stack
    ),
    t!(
        "cloudformation.amazonaws.com",
        "ExecuteChangeSet",
        false,
        stack
    ),
    t!("cloudformation.amazonaws.com", "UpdateStack", false, stack),
    t!(
        "lambda.amazonaws.com",
        "UpdateFunctionCode20150331v2",
        false,
        function
    ),
    t!("s3.amazonaws.com", "GetBucketLocation", true, bucket),
    t!("sts.amazonaws.com", "GetCallerIdentity", true, none),
];
const DAVE_CALLS: &[Template] = &[
    t!("s3.amazonaws.com", "ListBuckets", true, none),
    t!("s3.amazonaws.com", "GetBucketLocation", true, bucket),
    t!("ec2.amazonaws.com", "DescribeInstances", true, instances),
    t!("ec2.amazonaws.com", "RebootInstances", false, instances),
    t!("logs.amazonaws.com", "FilterLogEvents", true, log_group),
    t!(
        "lambda.amazonaws.com",
        "GetFunction20150331v2",
        true,
        function
    ),
];
const SERVICE_CALLS: &[Template] = &[
    t!("sts.amazonaws.com", "AssumeRole", true, role),
    t!("kms.amazonaws.com", "Decrypt", true, kms_key),
];

const REGIONS: [&str; 3] = ["ap-northeast-1", "us-east-1", "eu-west-1"];

/// Background activity: `count` calls over the [`SPAN_DAYS`] before `anchor`, in each actor's
/// working hours, some of them denied.
pub fn background(rng: &mut fastrand::Rng, anchor: Timestamp, count: usize) -> Vec<Call> {
    let actors: [(&'static Actor, &[Template]); 6] = [
        (&ALICE, ALICE_CALLS),
        (&BOB, BOB_CALLS),
        (&CAROL, CAROL_CALLS),
        (&CI, CI_CALLS),
        (&DAVE, DAVE_CALLS),
        (&LAMBDA_SERVICE, SERVICE_CALLS),
    ];
    let total: u32 = actors.iter().map(|(a, _)| a.weight).sum();
    let day0 = anchor
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp())
        .unwrap_or(anchor);
    let mut calls = Vec::with_capacity(count);
    while calls.len() < count {
        let mut pick = rng.u32(..total);
        let (actor, templates) = actors
            .iter()
            .find(|(a, _)| {
                if pick < a.weight {
                    return true;
                }
                pick -= a.weight;
                false
            })
            .copied()
            .unwrap_or(actors[0]);
        let (from, to) = actor.hours;
        let span = if to > from { to - from } else { to + 24 - from };
        let hour = i64::from((from + rng.i8(0..span)).rem_euclid(24));
        let day = rng.i64(0..SPAN_DAYS);
        let time = day0 - SignedDuration::from_hours(24 * day)
            + SignedDuration::from_secs(hour * 3600 + rng.i64(0..3600));
        if time >= anchor - SignedDuration::from_mins(1)
            || time < anchor - SignedDuration::from_hours(24 * SPAN_DAYS)
        {
            continue;
        }
        let template = &templates[rng.usize(..templates.len())];
        // IAM is global and recorded in us-east-1; the rest mostly in the home region.
        let region = match (template.source, rng.u8(..100)) {
            ("iam.amazonaws.com", _) => "us-east-1",
            (_, 0..70) => REGIONS[0],
            (_, 70..90) => REGIONS[1],
            _ => REGIONS[2],
        };
        // Each principal is denied at its own rate, with a message naming that principal.
        let error = (rng.u8(..100) < actor.denied_percent)
            .then(|| denial(actor, template.source, template.name));
        calls.push(Call {
            time,
            actor,
            source: template.source,
            name: template.name,
            region,
            read_only: template.read_only,
            request: Value::Null,
            response: Value::Null,
            make: Some(template.make),
            error,
            resources: Vec::new(),
            console: actor.kind == Kind::IamUser && rng.u8(..100) < 15,
            mfa: true,
            from: None,
        });
    }
    calls
}

/// The IAM action of an API call: the event name without the API version some services append
/// (`GetFunction20150331v2` is `lambda:GetFunction`).
fn iam_action(event_name: &str) -> &str {
    let digits = |s: &str| s.bytes().rev().take_while(u8::is_ascii_digit).count();
    // An optional `v<n>` after the date.
    let dated = match event_name.rsplit_once('v') {
        Some((head, n)) if !n.is_empty() && digits(n) == n.len() => head,
        _ => event_name,
    };
    match digits(dated) {
        8 => &dated[..dated.len() - 8],
        _ => event_name,
    }
}

/// The error CloudTrail records when `actor` is denied a call: the `User:` is the caller's own
/// ARN (the same as its `userIdentity.arn`), and the reason is the policy that plausibly refused
/// it: an SCP for the root user and the administrator SSO session (identity policies do not
/// limit them), the session policy for a federated user, an identity policy otherwise.
pub fn denial(actor: &Actor, source: &str, name: &str) -> (&'static str, String) {
    let who = actor.arn().unwrap_or_else(|| actor.name.to_owned());
    let service = source.trim_end_matches(".amazonaws.com");
    let action = format!("{service}:{}", iam_action(name));
    let reason = match actor.kind {
        Kind::Root | Kind::SsoSession => {
            "with an explicit deny in a service control policy".to_owned()
        }
        Kind::FederatedUser => format!("because no session policy allows the {action} action"),
        _ => format!("because no identity-based policy allows the {action} action"),
    };
    let message = format!("User: {who} is not authorized to perform: {action} {reason}");
    if service == "ec2" {
        (
            "Client.UnauthorizedOperation",
            format!("You are not authorized to perform this operation. {message}."),
        )
    } else {
        ("AccessDenied", message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_actions_drop_api_versions() {
        assert_eq!(iam_action("GetFunction20150331v2"), "GetFunction");
        assert_eq!(iam_action("ListFunctions20150331"), "ListFunctions");
        assert_eq!(iam_action("CreateUser"), "CreateUser");
        assert_eq!(iam_action("DescribeInstances"), "DescribeInstances");
    }

    #[test]
    fn every_caller_is_denied_under_its_own_arn() {
        for actor in [&ALICE, &BOB, &CAROL, &CI, &DAVE, &ROOT] {
            let arn = actor.arn().unwrap();
            let identity = actor.identity(false, Timestamp::UNIX_EPOCH);
            assert_eq!(identity["arn"], arn.as_str(), "{}", actor.name);
            let (_, message) = denial(actor, "iam.amazonaws.com", "CreateUser");
            assert!(
                message.starts_with(&format!(
                    "User: {arn} is not authorized to perform: iam:CreateUser "
                )),
                "{message}"
            );
        }
    }
}
