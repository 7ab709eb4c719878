//! SigV4 request signing with cached credentials, for the two places our processes call an AWS
//! HTTP endpoint without an SDK client: the OTLP span exporter (service `xray`, the X-Ray OTLP
//! traces endpoint) and the agent's MCP client (service `lambda`, a Function URL with
//! `AuthType: AWS_IAM`).
//!
//! Credentials come from a provider (aws-config's default chain: the ECS task role, the Lambda
//! execution role) and are cached until shortly before they expire, so a request does not fetch
//! them anew.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use http::{HeaderName, HeaderValue};

/// Credentials are refreshed this long before they expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// Credentials that came back already inside the refresh margin (the provider had nothing
/// newer) are used until this close to their expiry, and asked for again at most this often:
/// otherwise every request would fetch them anew.
const LAST_MINUTE: Duration = Duration::from_secs(15);
const RETRY_REFRESH_AFTER: Duration = Duration::from_secs(60);

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("no AWS credentials: {0}")]
    NoCredentials(String),
    #[error("cannot sign the request: {0}")]
    Signing(String),
}

/// Signs requests to one service in one region with cached credentials.
#[derive(Debug)]
pub struct SigV4Signer {
    provider: SharedCredentialsProvider,
    region: String,
    service: &'static str,
    /// The credentials and when they were fetched.
    cached: tokio::sync::Mutex<Option<(Credentials, SystemTime)>>,
}

impl SigV4Signer {
    /// A signer for `service` (the SigV4 signing name, such as `lambda` or `xray`) in `region`.
    pub fn new(provider: SharedCredentialsProvider, region: String, service: &'static str) -> Self {
        Self {
            provider,
            region,
            service,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    async fn credentials(&self) -> Result<Credentials, SignError> {
        let mut cached = self.cached.lock().await;
        let now = SystemTime::now();
        let usable = cached
            .as_ref()
            .is_some_and(|(c, fetched)| match c.expiry() {
                None => true,
                Some(expiry) if expiry > now + REFRESH_MARGIN => true,
                // Inside the margin: refresh, but not on every request while the provider keeps
                // returning the same near-expiry credentials.
                Some(expiry) => {
                    expiry > now + LAST_MINUTE
                        && now.duration_since(*fetched).unwrap_or_default() < RETRY_REFRESH_AFTER
                }
            });
        if !usable {
            let credentials = self
                .provider
                .provide_credentials()
                .await
                .map_err(|e| SignError::NoCredentials(e.to_string()))?;
            *cached = Some((credentials, now));
        }
        cached
            .as_ref()
            .map(|(c, _)| c.clone())
            .ok_or_else(|| SignError::NoCredentials("credential cache is empty".into()))
    }

    /// The headers (`authorization`, `x-amz-date`, and `x-amz-security-token` for temporary
    /// credentials) that sign `method url` with `body` and the request's `signed` headers.
    pub async fn sign(
        &self,
        method: &str,
        url: &str,
        signed: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Vec<(HeaderName, HeaderValue)>, SignError> {
        let identity = self.credentials().await?.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| SignError::Signing(e.to_string()))?
            .into();
        let request = SignableRequest::new(
            method,
            url,
            signed.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| SignError::Signing(e.to_string()))?;
        let (instructions, _signature) = sign(request, &params)
            .map_err(|e| SignError::Signing(e.to_string()))?
            .into_parts();
        instructions
            .headers()
            .map(|(name, value)| {
                Ok((
                    HeaderName::from_bytes(name.as_bytes())
                        .map_err(|e| SignError::Signing(e.to_string()))?,
                    HeaderValue::from_str(value).map_err(|e| SignError::Signing(e.to_string()))?,
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn temporary_credentials_add_the_session_token_and_are_cached() {
        let credentials =
            Credentials::new("AKIDEXAMPLE", "secret", Some("token".into()), None, "test");
        let signer = SigV4Signer::new(
            SharedCredentialsProvider::new(credentials),
            "us-east-1".into(),
            "xray",
        );
        let headers = signer
            .sign(
                "POST",
                "https://xray.us-east-1.amazonaws.com/v1/traces",
                &[],
                b"spans",
            )
            .await
            .unwrap();
        let names: Vec<_> = headers.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"authorization"), "{names:?}");
        assert!(names.contains(&"x-amz-date"));
        assert!(names.contains(&"x-amz-security-token"));
        let auth = headers.iter().find(|(n, _)| n == "authorization").unwrap();
        let auth = auth.1.to_str().unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "{auth}"
        );
        assert!(auth.contains("/us-east-1/xray/aws4_request"), "{auth}");
        assert!(signer.cached.lock().await.is_some());
    }

    /// Counts how often credentials are asked for; they expire in 4 minutes (inside the margin).
    #[derive(Debug)]
    struct NearExpiry(Arc<AtomicUsize>);

    impl ProvideCredentials for NearExpiry {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            self.0.fetch_add(1, Ordering::SeqCst);
            aws_credential_types::provider::future::ProvideCredentials::ready(Ok(Credentials::new(
                "ASIAEXAMPLE",
                "secret",
                Some("token".into()),
                Some(SystemTime::now() + Duration::from_secs(240)),
                "test",
            )))
        }
    }

    #[tokio::test]
    async fn near_expiry_credentials_are_not_fetched_for_every_request() {
        let calls = Arc::new(AtomicUsize::new(0));
        let signer = SigV4Signer::new(
            SharedCredentialsProvider::new(NearExpiry(calls.clone())),
            "us-east-1".into(),
            "lambda",
        );
        for _ in 0..15 {
            signer
                .sign(
                    "POST",
                    "https://x.lambda-url.us-east-1.on.aws/mcp",
                    &[],
                    b"{}",
                )
                .await
                .unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
