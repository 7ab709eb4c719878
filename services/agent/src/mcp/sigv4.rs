//! IAM authentication for MCP servers behind a Lambda Function URL with `AuthType: AWS_IAM`:
//! every HTTP request rmcp sends is signed with SigV4 (service `lambda`) using credentials from
//! aws-config's default chain (the ECS task role when deployed), cached until shortly before they
//! expire.
//!
//! [`SigningHttpClient`] wraps rmcp's own reqwest client: it computes the signature over the
//! exact JSON body rmcp will send (`serde_json::to_vec` of the message, as reqwest's `.json()`
//! does) and hands the signature headers to rmcp as custom headers, so response handling (JSON
//! or SSE, size limits) stays rmcp's.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use cloudtrail_contract::Caller;
use cloudtrail_contract::caller::CALLER_HEADER;
use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};
use sse_stream::{Error as SseError, Sse};

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

/// The region of a Lambda Function URL (`<id>.lambda-url.<region>.on.aws`), if `url` is one.
pub fn region_from_function_url(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split(['/', ':']).next()?;
    let rest = host.split_once(".lambda-url.")?.1;
    let region = rest.strip_suffix(".on.aws")?;
    (!region.is_empty() && !region.contains('.')).then(|| region.to_owned())
}

/// Signs requests for one region with cached credentials.
#[derive(Debug)]
pub struct SigV4Signer {
    provider: SharedCredentialsProvider,
    region: String,
    /// The credentials and when they were fetched.
    cached: tokio::sync::Mutex<Option<(Credentials, SystemTime)>>,
}

impl SigV4Signer {
    pub fn new(provider: SharedCredentialsProvider, region: String) -> Self {
        Self {
            provider,
            region,
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
            .name("lambda")
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

/// The caller in a JSON-RPC request body's `params._meta` (a `tools/call` the agent made for a
/// signed-in user), if any.
fn caller_of(body: &[u8]) -> Option<Caller> {
    let message: serde_json::Value = serde_json::from_slice(body).ok()?;
    let meta = message.get("params")?.get("_meta")?.as_object()?;
    Caller::from_meta(meta)
}

/// rmcp's reqwest client with every request signed by a [`SigV4Signer`].
#[derive(Debug, Clone)]
pub struct SigningHttpClient {
    inner: reqwest::Client,
    signer: Arc<SigV4Signer>,
}

impl SigningHttpClient {
    pub fn new(inner: reqwest::Client, signer: Arc<SigV4Signer>) -> Self {
        Self { inner, signer }
    }

    async fn signed_headers(
        &self,
        method: &str,
        uri: &str,
        body: &[u8],
        mut headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<HashMap<HeaderName, HeaderValue>, StreamableHttpError<reqwest::Error>> {
        // The caller of a tool call travels as a header too, covered by the signature (the body
        // is covered by its hash): a Function URL's logs and policies can see who it was for.
        let caller = caller_of(body);
        let caller_sub = caller.as_ref().and_then(Caller::header_value);
        let signed: Vec<(&str, &str)> = caller_sub
            .map(|sub| (CALLER_HEADER, sub))
            .into_iter()
            .collect();
        let signature = self
            .signer
            .sign(method, uri, &signed, body)
            .await
            .map_err(|e| StreamableHttpError::Io(std::io::Error::other(e)))?;
        if let Some(sub) = caller_sub
            && let Ok(value) = HeaderValue::from_str(sub)
        {
            headers.insert(HeaderName::from_static(CALLER_HEADER), value);
        }
        headers.extend(signature);
        Ok(headers)
    }
}

impl StreamableHttpClient for SigningHttpClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            StreamableHttpResponseLimits::default(),
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        // The same bytes reqwest's `.json(&message)` sends.
        let body = serde_json::to_vec(&message)?;
        let headers = self
            .signed_headers("POST", &uri, &body, custom_headers)
            .await?;
        self.inner
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                headers,
                limits,
            )
            .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        let headers = self
            .signed_headers("DELETE", &uri, b"", custom_headers)
            .await?;
        self.inner
            .delete_session(uri, session_id, auth_header, headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        let headers = self
            .signed_headers("GET", &uri, b"", custom_headers)
            .await?;
        self.inner
            .get_stream(uri, session_id, last_event_id, auth_header, headers)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_comes_from_function_url_hosts_only() {
        assert_eq!(
            region_from_function_url("https://abc123.lambda-url.ap-northeast-1.on.aws/mcp")
                .as_deref(),
            Some("ap-northeast-1")
        );
        assert_eq!(region_from_function_url("http://127.0.0.1:3000/mcp"), None);
        assert_eq!(region_from_function_url("https://example.com/mcp"), None);
        assert_eq!(
            region_from_function_url("https://x.lambda-url.evil.example.on.aws/"),
            None
        );
    }

    #[tokio::test]
    async fn temporary_credentials_add_the_session_token_and_are_cached() {
        let credentials =
            Credentials::new("AKIDEXAMPLE", "secret", Some("token".into()), None, "test");
        let signer = SigV4Signer::new(
            SharedCredentialsProvider::new(credentials),
            "us-east-1".into(),
        );
        let headers = signer
            .sign(
                "POST",
                "https://x.lambda-url.us-east-1.on.aws/mcp",
                &[],
                b"{}",
            )
            .await
            .unwrap();
        let names: Vec<_> = headers.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"authorization"), "{names:?}");
        assert!(names.contains(&"x-amz-date"));
        assert!(names.contains(&"x-amz-security-token"));
        let auth = &headers
            .iter()
            .find(|(n, _)| n == "authorization")
            .unwrap()
            .1;
        let auth = auth.to_str().unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "{auth}"
        );
        assert!(auth.contains("/us-east-1/lambda/aws4_request"), "{auth}");
        assert!(signer.cached.lock().await.is_some());
    }

    /// Counts how often credentials are asked for; they expire in 4 minutes (inside the margin).
    #[derive(Debug)]
    struct NearExpiry(Arc<std::sync::atomic::AtomicUsize>);

    impl ProvideCredentials for NearExpiry {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
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
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let signer = SigV4Signer::new(
            SharedCredentialsProvider::new(NearExpiry(calls.clone())),
            "us-east-1".into(),
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
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
