//! The W3C trace context of a tool call as HTTP headers too: the agent puts `traceparent` (and
//! `tracestate`) in the call's `_meta` (the MCP specification's place for it); this wrapper
//! around rmcp's HTTP client copies them into the request's headers, where HTTP-level tools
//! (load balancers, collectors, the server's HTTP span) look for them. rmcp sends requests from
//! its own worker task, so the values travel with the message rather than with the task.

use std::collections::HashMap;
use std::sync::Arc;

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonRpcMessage};
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};
use sse_stream::{Error as SseError, Sse};
use telemetry::propagate::{TRACEPARENT, TRACESTATE, traceparent_in_meta};

/// An rmcp HTTP client that adds a tool call's trace context as headers.
#[derive(Debug, Clone)]
pub struct TraceHeaders<C>(pub C);

/// The trace context headers of `message`: those of a `tools/call` whose `_meta` carries them.
pub fn trace_headers_of(message: &ClientJsonRpcMessage) -> Vec<(HeaderName, HeaderValue)> {
    let JsonRpcMessage::Request(request) = message else {
        return Vec::new();
    };
    let ClientRequest::CallToolRequest(call) = &request.request else {
        return Vec::new();
    };
    let Some(meta) = call.params.meta.as_ref().map(|m| &m.0.0) else {
        return Vec::new();
    };
    let mut headers = Vec::new();
    if let Some(parent) = traceparent_in_meta(meta)
        && let Ok(value) = HeaderValue::from_str(parent)
    {
        headers.push((HeaderName::from_static(TRACEPARENT), value));
        if let Some(state) = meta.get(TRACESTATE).and_then(|v| v.as_str())
            && let Ok(value) = HeaderValue::from_str(state)
        {
            headers.push((HeaderName::from_static(TRACESTATE), value));
        }
    }
    headers
}

impl<C: StreamableHttpClient + Sync> StreamableHttpClient for TraceHeaders<C> {
    type Error = C::Error;

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
        mut custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        custom_headers.extend(trace_headers_of(&message));
        self.0
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
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
        self.0
            .delete_session(uri, session_id, auth_header, custom_headers)
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
        self.0
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{CallToolRequestParams, MetaObject, RequestMetaObject};
    use serde_json::Value;

    use super::*;

    fn call_with(meta: &[(&str, &str)]) -> ClientJsonRpcMessage {
        let mut params = CallToolRequestParams::new("lookup_events");
        let mut object = MetaObject::new();
        for (k, v) in meta {
            object.0.insert((*k).to_owned(), Value::from(*v));
        }
        params.meta = Some(RequestMetaObject(object));
        let request = ClientRequest::CallToolRequest(rmcp::model::Request::new(params));
        ClientJsonRpcMessage::request(request, rmcp::model::NumberOrString::Number(1))
    }

    #[test]
    fn a_tool_calls_trace_context_becomes_headers_and_nothing_else_does() {
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let headers = trace_headers_of(&call_with(&[
            ("traceparent", parent),
            ("tracestate", "vendor=1"),
            ("aws-ops-agent/caller", "x"),
        ]));
        assert_eq!(
            headers,
            vec![
                (
                    HeaderName::from_static("traceparent"),
                    HeaderValue::from_static(parent)
                ),
                (
                    HeaderName::from_static("tracestate"),
                    HeaderValue::from_static("vendor=1")
                ),
            ]
        );
        assert!(trace_headers_of(&call_with(&[("traceparent", "bogus\r\nx: y")])).is_empty());
        assert!(trace_headers_of(&call_with(&[])).is_empty());
    }
}
