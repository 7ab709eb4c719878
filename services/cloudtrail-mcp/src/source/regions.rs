//! Which regions a `LookupEvents` search covers: the region-name check, the global region of a
//! partition, and the rule that adds it whenever events of global services can match.
//!
//! CloudTrail records the calls of global services (IAM, STS's global endpoint, console sign-in,
//! CloudFront, Organizations, Route 53...) in one region per partition: `us-east-1` in `aws`,
//! `us-gov-west-1` in `aws-us-gov`, `cn-north-1` in `aws-cn`. A search that can match such
//! events therefore covers that region too, even when the deployment does not list it. The rule
//! is conservative: the global region is left out only when the filter proves every matching
//! event regional (an `EventSource` or `ResourceType` of a service known to be regional, or a
//! `ResourceName` that is an ARN with a region); no filter, `Username`, `AccessKeyId`,
//! `EventName`, `EventId`, `ReadOnly` and anything unknown keep it. A wrong "regional" would
//! silently hide events; a wrong "global" costs one more region's requests.
//!
//! The tools' `regions` argument is exact: it names the regions whose events (by `awsRegion`)
//! the caller wants, so the global region is searched only when listed there.

use super::{AttributeKey, Filter, SourceError};

/// Whether `value` has the shape of a region name: `us-east-1`, `ap-northeast-2`,
/// `us-gov-west-1`, `eu-central-2`.
pub fn is_region_name(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    parts.len() >= 3
        && parts.len() <= 4
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok_and(|n| n > 0)
}

/// The region where CloudTrail records global services' events for the partition of `region`.
pub fn global_region(region: &str) -> &'static str {
    if region.starts_with("us-gov-") {
        "us-gov-west-1"
    } else if region.starts_with("cn-") {
        "cn-north-1"
    } else {
        "us-east-1"
    }
}

/// Services whose every event is recorded in the region it happened in (the `x` of
/// `x.amazonaws.com` and of `AWS::X::...`, lower case). Anything not listed counts as possibly
/// global.
const REGIONAL_SERVICES: &[&str] = &[
    "acm",
    "apigateway",
    "athena",
    "autoscaling",
    "backup",
    "batch",
    "bedrock",
    "cloudformation",
    "cloudtrail",
    "codebuild",
    "codecommit",
    "codedeploy",
    "codepipeline",
    "config",
    "dynamodb",
    "ec2",
    "ecr",
    "ecs",
    "efs",
    "eks",
    "elasticache",
    "elasticfilesystem",
    "elasticloadbalancing",
    "elasticmapreduce",
    "emr",
    "es",
    "events",
    "firehose",
    "glue",
    "guardduty",
    "kinesis",
    "kms",
    "lambda",
    "logs",
    "monitoring",
    "rds",
    "redshift",
    "s3",
    "sagemaker",
    "secretsmanager",
    "securityhub",
    "sns",
    "sqs",
    "ssm",
    "states",
];

fn regional_service(service: &str) -> bool {
    REGIONAL_SERVICES.contains(&service.to_ascii_lowercase().as_str())
}

/// Whether events of global services can match `filter` (see the module doc).
pub fn may_match_global(filter: Option<&Filter>) -> bool {
    let Some(filter) = filter else {
        return true;
    };
    let value = filter.attribute_value.trim();
    let provably_regional = match filter.attribute_key {
        AttributeKey::EventSource => value
            .strip_suffix(".amazonaws.com")
            .is_some_and(regional_service),
        AttributeKey::ResourceType => {
            let mut parts = value.split("::");
            parts.next() == Some("AWS") && parts.next().is_some_and(regional_service)
        }
        // arn:partition:service:region:account:resource; global resources have no region.
        AttributeKey::ResourceName => {
            let parts: Vec<&str> = value.splitn(6, ':').collect();
            parts.len() == 6 && parts[0] == "arn" && is_region_name(parts[3])
        }
        AttributeKey::EventId
        | AttributeKey::EventName
        | AttributeKey::ReadOnly
        | AttributeKey::Username
        | AttributeKey::AccessKeyId => false,
    };
    !provably_regional
}

/// The regions a server may search: the configured ones and their partitions' global regions,
/// sorted.
pub fn allowed(configured: &[String]) -> Vec<String> {
    let mut all: Vec<String> = configured
        .iter()
        .flat_map(|r| [r.clone(), global_region(r).to_owned()])
        .collect();
    all.sort();
    all.dedup();
    all
}

/// The regions to search for one query, sorted: `requested` (the tool's `regions`) exactly when
/// given, which must all be [`allowed`]; otherwise every configured region, plus the global
/// region when [`may_match_global`].
pub fn plan(
    configured: &[String],
    requested: &[String],
    filter: Option<&Filter>,
) -> Result<Vec<String>, SourceError> {
    let allowed = allowed(configured);
    let mut regions: Vec<String> = if requested.is_empty() {
        let global = may_match_global(filter);
        configured
            .iter()
            .flat_map(|r| {
                let extra = global.then(|| global_region(r).to_owned());
                std::iter::once(r.clone()).chain(extra)
            })
            .collect()
    } else {
        if let Some(bad) = requested.iter().find(|r| !allowed.contains(r)) {
            return Err(SourceError::RegionNotAllowed {
                region: bad.clone(),
                allowed: allowed.join(", "),
            });
        }
        requested.to_vec()
    };
    regions.sort();
    regions.dedup();
    Ok(regions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(key: AttributeKey, value: &str) -> Option<Filter> {
        Some(Filter {
            attribute_key: key,
            attribute_value: value.into(),
        })
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn region_names() {
        for good in [
            "us-east-1",
            "ap-northeast-2",
            "us-gov-west-1",
            "eu-central-2",
        ] {
            assert!(is_region_name(good), "{good}");
        }
        for bad in [
            "us-east",
            "US-EAST-1",
            "us-east-1'",
            "moon-1",
            "us-east-0",
            "",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
    }

    #[test]
    fn global_region_per_partition() {
        assert_eq!(global_region("eu-west-1"), "us-east-1");
        assert_eq!(global_region("us-gov-east-1"), "us-gov-west-1");
        assert_eq!(global_region("cn-northwest-1"), "cn-north-1");
    }

    #[test]
    fn global_events_can_match_unless_the_filter_proves_a_regional_service() {
        use AttributeKey::*;
        assert!(may_match_global(None));
        for (key, value) in [
            (EventSource, "iam.amazonaws.com"),
            (EventSource, "sts.amazonaws.com"),
            (EventSource, "signin.amazonaws.com"),
            (EventSource, "cloudfront.amazonaws.com"),
            (EventSource, "organizations.amazonaws.com"),
            (EventSource, "brand-new.amazonaws.com"),
            (EventSource, "ec2"),
            (Username, "alice"),
            (AccessKeyId, "AKIAEXAMPLE"),
            (EventName, "CreateUser"),
            (EventName, "RunInstances"),
            (EventId, "e-1"),
            (ReadOnly, "false"),
            (ResourceType, "AWS::IAM::User"),
            (ResourceType, "AWS::Unknown::Thing"),
            (ResourceName, "arn:aws:iam::123456789012:user/alice"),
            (ResourceName, "alice-reports"),
        ] {
            assert!(
                may_match_global(filter(key, value).as_ref()),
                "{key:?} {value}"
            );
        }
        for (key, value) in [
            (EventSource, "ec2.amazonaws.com"),
            (EventSource, "s3.amazonaws.com"),
            (EventSource, "KMS.amazonaws.com"),
            (ResourceType, "AWS::EC2::Instance"),
            (ResourceType, "AWS::S3::Bucket"),
            (
                ResourceName,
                "arn:aws:lambda:eu-west-1:123456789012:function:f",
            ),
        ] {
            assert!(
                !may_match_global(filter(key, value).as_ref()),
                "{key:?} {value}"
            );
        }
    }

    #[test]
    fn plans_add_the_global_region_only_when_global_events_can_match() {
        let configured = strings(&["eu-west-1", "ap-south-1"]);
        assert_eq!(
            plan(&configured, &[], None).unwrap(),
            ["ap-south-1", "eu-west-1", "us-east-1"]
        );
        let ec2 = filter(AttributeKey::EventSource, "ec2.amazonaws.com");
        assert_eq!(
            plan(&configured, &[], ec2.as_ref()).unwrap(),
            ["ap-south-1", "eu-west-1"]
        );
        // Already configured: listed once.
        let configured = strings(&["us-east-1", "eu-west-1"]);
        assert_eq!(
            plan(&configured, &[], None).unwrap(),
            ["eu-west-1", "us-east-1"]
        );
        let gov = strings(&["us-gov-east-1"]);
        assert_eq!(
            plan(&gov, &[], None).unwrap(),
            ["us-gov-east-1", "us-gov-west-1"]
        );
    }

    #[test]
    fn requested_regions_are_exact_and_must_be_allowed() {
        let configured = strings(&["eu-west-1", "ap-south-1"]);
        assert_eq!(
            plan(&configured, &strings(&["eu-west-1"]), None).unwrap(),
            ["eu-west-1"]
        );
        // The global region may be asked for, though not configured.
        assert_eq!(
            plan(&configured, &strings(&["us-east-1", "eu-west-1"]), None).unwrap(),
            ["eu-west-1", "us-east-1"]
        );
        let err = plan(&configured, &strings(&["eu-west-1", "sa-east-1"]), None).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("`sa-east-1`") && text.contains("ap-south-1, eu-west-1, us-east-1"),
            "{text}"
        );
    }
}
