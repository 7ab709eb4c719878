//! What a raw CloudTrail record says, read one way for the whole server: who made the call (from
//! `userIdentity`) and the fields `LookupEvents` indexes (user name, access key, read-only,
//! resources).
//!
//! Both the sources (a log archive derives its index from records) and the projection (a compact
//! event names its principal) need these readings, and they must agree: the user name a filter
//! matches is the name an answer shows. So they live here, beneath both, and this module imports
//! neither: it works on `serde_json::Value` alone.

use serde_json::Value;

/// Who made a call, as `userIdentity` says it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// `IAMUser`, `AssumedRole`, `Root`, `AWSService`, `FederatedUser`...
    pub kind: Option<String>,
    pub arn: Option<String>,
    /// The user name, the session name (assumed roles, federated users), `root`, or the invoking
    /// service.
    pub name: Option<String>,
    pub account_id: Option<String>,
}

fn user_identity(record: &Value) -> &Value {
    record.get("userIdentity").unwrap_or(&Value::Null)
}

/// Who made the call, read from `userIdentity`.
pub fn identity(record: &Value) -> Identity {
    let identity = user_identity(record);
    let field = |key: &str| identity.get(key).and_then(Value::as_str).map(str::to_owned);
    let kind = field("type");
    let arn = field("arn");
    let name = match kind.as_deref() {
        Some("Root") => Some("root".to_owned()),
        Some("AWSService") => field("invokedBy"),
        // The session name: `assumed-role/<role>/<session>`, `federated-user/<name>`.
        Some("AssumedRole" | "FederatedUser") => arn
            .as_deref()
            .and_then(|a| a.rsplit('/').next())
            .map(str::to_owned),
        _ => field("userName"),
    };
    Identity {
        kind,
        arn,
        name,
        account_id: field("accountId"),
    }
}

/// The user name `LookupEvents` reports and filters on: the caller's name, none for calls AWS
/// services make on their own.
pub fn username(record: &Value) -> Option<String> {
    let identity = identity(record);
    match identity.kind.as_deref() {
        Some("AWSService") => None,
        _ => identity.name,
    }
}

/// The access key the call was signed with; CloudTrail writes `""` for none.
pub fn access_key_id(record: &Value) -> Option<String> {
    user_identity(record)
        .get("accessKeyId")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
}

/// Whether the call only read. Some services write `"true"`/`"false"` as strings.
pub fn read_only(record: &Value) -> Option<bool> {
    record.get("readOnly").and_then(|v| {
        v.as_bool()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    })
}

/// Request parameter keys that name a resource, and the resource type LookupEvents reports.
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

/// The resources a call touched as `LookupEvents` lists them, `(type, name)`, each name once:
/// named in request parameters, EC2 instances in request or response item lists, and the
/// record's own `resources` (by the last part of their ARN).
pub fn resources(record: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut push = |kind: &str, name: &str| {
        if !out.iter().any(|(_, n)| n == name) {
            out.push((kind.to_owned(), name.to_owned()));
        }
    };
    let request = record.get("requestParameters").unwrap_or(&Value::Null);
    for (key, kind) in PARAMETER_RESOURCES {
        if let Some(name) = request.get(key).and_then(Value::as_str) {
            push(kind, name);
        }
    }
    // EC2 instance ids in request or response item lists, and tagged resources.
    for side in [
        request,
        record.get("responseElements").unwrap_or(&Value::Null),
    ] {
        for list in ["instancesSet", "resourcesSet"] {
            let items = side
                .get(list)
                .and_then(|l| l.get("items"))
                .and_then(Value::as_array);
            for item in items.into_iter().flatten() {
                let id = item
                    .get("instanceId")
                    .or_else(|| item.get("resourceId"))
                    .and_then(Value::as_str);
                if let Some(id) = id.filter(|id| id.starts_with("i-")) {
                    push("AWS::EC2::Instance", id);
                }
            }
        }
    }
    for resource in record
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(kind), Some(arn)) = (
            resource.get("type").and_then(Value::as_str),
            resource.get("ARN").and_then(Value::as_str),
        ) {
            let name = arn.rsplit([':', '/']).next().unwrap_or(arn);
            push(kind, name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_by_identity_type() {
        let name = |identity: Value| identity_of(identity).name;
        assert_eq!(
            name(json!({"type": "AssumedRole",
                "arn": "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123/carol@example.com"})),
            Some("carol@example.com".to_owned())
        );
        assert_eq!(
            name(json!({"type": "Root", "arn": "arn:aws:iam::123456789012:root"})),
            Some("root".to_owned())
        );
        assert_eq!(
            name(json!({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"})),
            Some("ec2.amazonaws.com".to_owned())
        );
        assert_eq!(
            name(
                json!({"type": "FederatedUser", "principalId": "123456789012:dave",
                "arn": "arn:aws:sts::123456789012:federated-user/dave"})
            ),
            Some("dave".to_owned())
        );
        assert_eq!(
            name(json!({"type": "IAMUser", "userName": "alice"})),
            Some("alice".to_owned())
        );
        assert_eq!(identity(&Value::Null), Identity::default());
    }

    fn identity_of(user_identity: Value) -> Identity {
        identity(&json!({ "userIdentity": user_identity }))
    }

    #[test]
    fn lookup_fields_follow_cloudtrail() {
        let service = json!({"userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"},
                             "readOnly": "true"});
        assert_eq!(username(&service), None);
        assert_eq!(read_only(&service), Some(true));
        let root = json!({"userIdentity": {"type": "Root", "arn": "arn:aws:iam::1:root", "accessKeyId": ""},
                          "readOnly": false});
        assert_eq!(username(&root).as_deref(), Some("root"));
        assert_eq!(access_key_id(&root), None);
        assert_eq!(read_only(&root), Some(false));
    }

    #[test]
    fn resources_from_parameters_item_lists_and_arns_once_each() {
        let record = json!({
            "requestParameters": {"bucketName": "logs", "resourcesSet": {"items": [{"resourceId": "i-0abc"}, {"resourceId": "sg-1"}]}},
            "responseElements": {"instancesSet": {"items": [{"instanceId": "i-0abc"}, {"instanceId": "i-0def"}]}},
            "resources": [{"type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::logs"},
                          {"type": "AWS::KMS::Key", "ARN": "arn:aws:kms:us-east-1:1:key/k-1"}]
        });
        let pair = |k: &str, n: &str| (k.to_owned(), n.to_owned());
        assert_eq!(
            resources(&record),
            [
                pair("AWS::S3::Bucket", "logs"),
                pair("AWS::EC2::Instance", "i-0abc"),
                pair("AWS::EC2::Instance", "i-0def"),
                pair("AWS::KMS::Key", "k-1"),
            ]
        );
    }
}
