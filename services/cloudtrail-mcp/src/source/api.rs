//! `CloudTrailApi`: the CloudTrail `LookupEvents` API as an event source.
//!
//! LookupEvents allows 2 requests per second per account and region. The SDK's adaptive retries
//! absorb occasional throttling, and a client-side limiter spaces this process's requests to
//! that rate so concurrent tool calls (e.g. a summary paging through 40 pages while the model
//! asks for a single event) do not trip it in the first place. The limiter is shared by every
//! client of the same region (and endpoint, so tests against separate stand-ins stay apart); a
//! deployment reads a single account, so region is the account-and-region key.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_sdk_cloudtrail::Client;
use aws_sdk_cloudtrail::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_cloudtrail::operation::lookup_events::LookupEventsError;
use aws_sdk_cloudtrail::types::{Event, LookupAttribute, LookupAttributeKey};
use aws_smithy_types::DateTime;
use jiff::{SignedDuration, Timestamp};
use tokio::time::Instant;
use tracing::Instrument;

use super::{AttributeKey, EventSource, Page, Query, RawEvent, Resource, SourceError};

/// LookupEvents' own limit: requests per second per account and region.
pub const REQUESTS_PER_SECOND: u32 = 2;
/// The most events LookupEvents returns per page.
pub const MAX_PAGE: usize = 50;
/// How far back LookupEvents reaches.
pub const RETENTION_DAYS: i64 = 90;

/// Spaces requests evenly at a fixed rate (a token bucket of depth one), across tasks.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: tokio::sync::Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter allowing `per_second` requests per second.
    pub fn new(per_second: u32) -> Self {
        Self {
            interval: Duration::from_secs(1) / per_second.max(1),
            next: tokio::sync::Mutex::new(None),
        }
    }

    /// Waits for this caller's turn.
    pub async fn acquire(&self) {
        let wait_until = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(wait_until).await;
    }
}

static LIMITERS: LazyLock<Mutex<HashMap<String, Arc<RateLimiter>>>> =
    LazyLock::new(Default::default);

fn shared_limiter(key: &str) -> Arc<RateLimiter> {
    let mut limiters = LIMITERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    limiters
        .entry(key.to_owned())
        .or_insert_with(|| Arc::new(RateLimiter::new(REQUESTS_PER_SECOND)))
        .clone()
}

/// LookupEvents in one region.
#[derive(Debug, Clone)]
pub struct CloudTrailApi {
    client: Client,
    id: String,
    limiter: Arc<RateLimiter>,
}

impl CloudTrailApi {
    /// A client with adaptive retries (4 attempts) for the region of `sdk`.
    pub fn new(sdk: &SdkConfig) -> Result<Self, SourceError> {
        Self::with_retry(sdk, RetryConfig::adaptive().with_max_attempts(4))
    }

    /// A client with the given retry policy (tests shorten the backoff).
    pub fn with_retry(sdk: &SdkConfig, retry: RetryConfig) -> Result<Self, SourceError> {
        let region = sdk
            .region()
            .ok_or_else(|| {
                SourceError::InvalidQuery(
                    "no AWS region is configured for the CloudTrail API".into(),
                )
            })?
            .to_string();
        let config = aws_sdk_cloudtrail::config::Builder::from(sdk)
            .retry_config(retry)
            .build();
        let key = format!("{region}|{}", sdk.endpoint_url().unwrap_or_default());
        Ok(Self {
            client: Client::from_conf(config),
            id: format!("api:{region}"),
            limiter: shared_limiter(&key),
        })
    }
}

fn attribute_key(key: AttributeKey) -> LookupAttributeKey {
    match key {
        AttributeKey::EventId => LookupAttributeKey::EventId,
        AttributeKey::EventName => LookupAttributeKey::EventName,
        AttributeKey::ReadOnly => LookupAttributeKey::ReadOnly,
        AttributeKey::Username => LookupAttributeKey::Username,
        AttributeKey::ResourceType => LookupAttributeKey::ResourceType,
        AttributeKey::ResourceName => LookupAttributeKey::ResourceName,
        AttributeKey::EventSource => LookupAttributeKey::EventSource,
        AttributeKey::AccessKeyId => LookupAttributeKey::AccessKeyId,
    }
}

fn to_datetime(t: Timestamp) -> DateTime {
    DateTime::from_secs_and_nanos(t.as_second(), t.subsec_nanosecond().unsigned_abs())
}

fn to_timestamp(t: &DateTime) -> Option<Timestamp> {
    Timestamp::new(t.secs(), i32::try_from(t.subsec_nanos()).ok()?).ok()
}

/// Maps one SDK event to the shared shape; events without an id or time are dropped.
pub fn raw_event(event: &Event) -> Option<RawEvent> {
    Some(RawEvent {
        event_id: event.event_id()?.to_owned(),
        event_time: to_timestamp(event.event_time()?)?,
        event_name: event.event_name().unwrap_or_default().to_owned(),
        event_source: event.event_source().unwrap_or_default().to_owned(),
        username: event.username().map(str::to_owned),
        access_key_id: event.access_key_id().map(str::to_owned),
        read_only: event.read_only().and_then(|r| r.parse().ok()),
        resources: event
            .resources()
            .iter()
            .map(|r| Resource {
                resource_type: r.resource_type().map(str::to_owned),
                resource_name: r.resource_name().map(str::to_owned),
            })
            .collect(),
        record: event.cloud_trail_event().unwrap_or("{}").to_owned(),
    })
}

/// Maps SDK errors to source errors, keeping AWS's message.
pub fn map_error(error: SdkError<LookupEventsError>) -> SourceError {
    match &error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let code = err.code().unwrap_or("Unknown");
            let message = format!("{code}: {}", err.message().unwrap_or("no message"));
            match code {
                "AccessDeniedException"
                | "AccessDenied"
                | "UnauthorizedOperation"
                | "OperationNotPermittedException" => SourceError::AccessDenied(message),
                "ThrottlingException"
                | "Throttling"
                | "RequestLimitExceeded"
                | "TooManyRequestsException" => SourceError::Throttled(message),
                "ExpiredTokenException"
                | "ExpiredToken"
                | "UnrecognizedClientException"
                | "InvalidClientTokenId"
                | "InvalidSignatureException"
                | "SignatureDoesNotMatch"
                | "IncompleteSignature" => SourceError::Credentials(message),
                "InvalidNextTokenException" => SourceError::InvalidNextToken(message),
                c if c.starts_with("Invalid") || c == "UnsupportedOperationException" => {
                    SourceError::InvalidQuery(message)
                }
                _ => SourceError::Unavailable(message),
            }
        }
        SdkError::TimeoutError(_) => {
            SourceError::Unavailable("the request to CloudTrail timed out".into())
        }
        _ => {
            let text = DisplayErrorContext(&error).to_string();
            if text.to_ascii_lowercase().contains("credentials") {
                SourceError::Credentials(text)
            } else {
                SourceError::Unavailable(text)
            }
        }
    }
}

#[async_trait]
impl EventSource for CloudTrailApi {
    fn id(&self) -> &str {
        &self.id
    }

    fn retention(&self) -> Option<SignedDuration> {
        Some(SignedDuration::from_hours(24 * RETENTION_DAYS))
    }

    async fn lookup(&self, query: &Query) -> Result<Page, SourceError> {
        if !query.scope.is_all() {
            return Err(SourceError::ScopeUnsupported {
                what: "accounts or regions",
                why: "LookupEvents reads the one account and region this server runs in; search an organization trail with the athena source".into(),
            });
        }
        let mut request = self
            .client
            .lookup_events()
            .start_time(to_datetime(query.start))
            .end_time(to_datetime(query.end))
            .max_results(query.max_results.clamp(1, MAX_PAGE) as i32)
            .set_next_token(query.next_token.clone());
        if let Some(filter) = &query.filter {
            let attribute = LookupAttribute::builder()
                .attribute_key(attribute_key(filter.attribute_key))
                .attribute_value(&filter.attribute_value)
                .build()
                .map_err(|e| SourceError::InvalidQuery(e.to_string()))?;
            request = request.lookup_attributes(attribute);
        }
        self.limiter.acquire().await;
        // The AWS call as a client span (OpenTelemetry's AWS SDK conventions).
        let span = telemetry::span(|| {
            tracing::info_span!(
                "CloudTrail.LookupEvents",
                otel.kind = "client",
                otel.status_code = tracing::field::Empty,
                rpc.system = "aws-api",
                rpc.service = "CloudTrail",
                rpc.method = "LookupEvents",
                cloud.region = self.id.strip_prefix("api:").unwrap_or(""),
                error.type = tracing::field::Empty,
            )
        });
        let sent = request.send().instrument(span.clone()).await;
        if sent.is_err() {
            span.record("error.type", "aws_error");
            span.record("otel.status_code", "ERROR");
        }
        let output = sent.map_err(map_error)?;
        let events = output.events().iter().filter_map(raw_event).collect();
        Ok(Page {
            events,
            next_token: output.next_token().map(str::to_owned),
            ..Page::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn limiter_spaces_concurrent_callers() {
        let limiter = Arc::new(RateLimiter::new(2));
        let start = Instant::now();
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move {
                    limiter.acquire().await;
                    Instant::now() - start
                })
            })
            .collect();
        let mut times = Vec::new();
        for task in tasks {
            times.push(task.await.unwrap());
        }
        times.sort();
        let expected: Vec<Duration> = (0..6).map(|i| Duration::from_millis(500 * i)).collect();
        assert_eq!(times, expected);
        // After an idle period the next caller goes at once.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let t = Instant::now();
        limiter.acquire().await;
        assert_eq!(Instant::now() - t, Duration::ZERO);
    }

    #[test]
    fn events_map_like_lookup_events_reports_them() {
        let event = Event::builder()
            .event_id("e-1")
            .event_name("DeleteBucket")
            .event_source("s3.amazonaws.com")
            .event_time(DateTime::from_secs(1_763_900_000))
            .read_only("false")
            .username("alice")
            .resources(
                aws_sdk_cloudtrail::types::Resource::builder()
                    .resource_type("AWS::S3::Bucket")
                    .resource_name("logs")
                    .build(),
            )
            .cloud_trail_event("{\"eventID\":\"e-1\"}")
            .build();
        let raw = raw_event(&event).unwrap();
        assert_eq!(raw.event_time.as_second(), 1_763_900_000);
        assert_eq!(raw.read_only, Some(false));
        assert_eq!(raw.resources[0].resource_name.as_deref(), Some("logs"));
        assert_eq!(raw.record, "{\"eventID\":\"e-1\"}");
        assert!(raw_event(&Event::builder().event_name("x").build()).is_none());
    }

    #[test]
    fn times_round_trip() {
        let t: Timestamp = "2026-11-23T09:12:03.5Z".parse().unwrap();
        assert_eq!(to_timestamp(&to_datetime(t)), Some(t));
    }
}
