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
// The signer (credential cache + SigV4) is shared with the OTLP span exporter.
pub use telemetry::sigv4::{SigV4Signer, SignError};

/// The region of a Lambda Function URL (`<id>.lambda-url.<region>.on.aws`), if `url` is one.
pub fn region_from_function_url(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split(['/', ':']).next()?;
    let rest = host.split_once(".lambda-url.")?.1;
    let region = rest.strip_suffix(".on.aws")?;
    (!region.is_empty() && !region.contains('.')).then(|| region.to_owned())
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
}
