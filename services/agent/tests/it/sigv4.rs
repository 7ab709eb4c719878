//! SigV4 for IAM-protected MCP servers, checked by a loopback verifier that recomputes every
//! signature independently (hmac + sha2 here, not aws-sigv4) from known test credentials and
//! refuses anything that does not match, in front of the real cloudtrail-mcp server.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use agent::mcp::sigv4::SigV4Signer;
use agent::mcp::{McpAuth, McpServerConfig, McpSettings, McpToolbox};
use agent::tools::{CallContext, ToolProvider};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use cloudtrail_contract::Caller;
use cloudtrail_contract::caller::CALLER_HEADER;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::helpers::*;

pub(crate) const KEY_ID: &str = "AKIDTESTVERIFIER";
pub(crate) const SECRET: &str = "test/secret/key+for+verification";
pub(crate) const TOKEN: &str = "session-token-123";
pub(crate) const REGION: &str = "ap-northeast-1";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Recomputes the signature of a request to `service` (signed with the constants above);
/// returns why it is not valid.
pub(crate) fn verify(
    parts: &axum::http::request::Parts,
    body: &[u8],
    service: &str,
) -> Result<(), String> {
    let auth = parts
        .headers
        .get("authorization")
        .ok_or("no authorization header")?;
    let auth = auth.to_str().map_err(|e| e.to_string())?;
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("not AWS4-HMAC-SHA256")?;
    let field = |name: &str| {
        rest.split(", ")
            .find_map(|f| f.strip_prefix(name))
            .map(str::to_owned)
            .ok_or(format!("no {name}"))
    };
    let credential = field("Credential=")?;
    let signed_headers = field("SignedHeaders=")?;
    let signature = field("Signature=")?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, date, region, signed_service, "aws4_request"] = scope[..] else {
        return Err(format!("bad credential scope {credential}"));
    };
    if key_id != KEY_ID || region != REGION || signed_service != service {
        return Err(format!("wrong key, region or service in {credential}"));
    }
    let amz_date = parts
        .headers
        .get("x-amz-date")
        .ok_or("no x-amz-date")?
        .to_str()
        .map_err(|e| e.to_string())?;
    if !amz_date.starts_with(date) {
        return Err("x-amz-date does not match the scope".into());
    }
    if parts
        .headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok())
        != Some(TOKEN)
    {
        return Err("missing session token".into());
    }
    for required in ["host", "x-amz-date", "x-amz-security-token"] {
        if !signed_headers.split(';').any(|h| h == required) {
            return Err(format!("{required} is not signed"));
        }
    }
    let canonical_headers: String = signed_headers
        .split(';')
        .map(|name| {
            let value = parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            format!("{name}:{}\n", value.trim())
        })
        .collect();
    let canonical_request = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        parts.method,
        parts.uri.path(),
        parts.uri.query().unwrap_or(""),
        hex(&Sha256::digest(body)),
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/{service}/aws4_request\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{SECRET}").as_bytes(), date);
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part);
    }
    let expected = hex(&hmac(&key, &string_to_sign));
    if expected != signature {
        return Err("signature mismatch".into());
    }
    Ok(())
}

/// cloudtrail-mcp behind the verifier; counts verified and refused requests.
async fn spawn_verified() -> (McpApp, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let (mcp, verified, refused, _) = spawn_verified_seeing().await;
    (mcp, verified, refused)
}

/// Each request's caller header and whether it was among the signed headers.
type Seen = Arc<Mutex<Vec<(Option<String>, bool)>>>;

async fn spawn_verified_seeing() -> (McpApp, Arc<AtomicUsize>, Arc<AtomicUsize>, Seen) {
    let verified = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let seen: Seen = Arc::default();
    let (ok, bad, log) = (verified.clone(), refused.clone(), seen.clone());
    let mcp = spawn_mcp_with(move |router| {
        router.layer(middleware::from_fn(
            move |request: Request<Body>, next: Next| {
                let (ok, bad, log) = (ok.clone(), bad.clone(), log.clone());
                async move {
                    let (parts, body) = request.into_parts();
                    let caller = parts
                        .headers
                        .get(CALLER_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let signed = parts
                        .headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.contains(CALLER_HEADER));
                    log.lock().unwrap().push((caller, signed));
                    let bytes = to_bytes(body, 2 << 20).await.unwrap();
                    if let Err(why) = verify(&parts, &bytes, "lambda") {
                        bad.fetch_add(1, Ordering::SeqCst);
                        return (StatusCode::FORBIDDEN, why).into_response();
                    }
                    ok.fetch_add(1, Ordering::SeqCst);
                    let response: Response = next
                        .run(Request::from_parts(parts, Body::from(bytes)))
                        .await;
                    response
                }
            },
        ))
    })
    .await;
    (mcp, verified, refused, seen)
}

/// A JSON-RPC POST to `url` as rmcp sends it, with `headers` (a signature, a caller) added.
fn post_with(
    url: &str,
    body: String,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
) -> impl Future<Output = reqwest::Result<reqwest::Response>> {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.send()
}

fn credentials(secret: &str) -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Credentials::new(
        KEY_ID,
        secret,
        Some(TOKEN.into()),
        None,
        "test",
    ))
}

#[tokio::test]
async fn iam_auth_signs_every_request_and_the_verifier_accepts_them() {
    let (mcp, verified, refused) = spawn_verified().await;
    let config = McpServerConfig {
        url: mcp.url.clone(),
        auth: McpAuth::Iam,
        prefix: String::new(),
        // 127.0.0.1 names no region: the configured one is used.
        region: Some(REGION.into()),
    };
    let tools = McpToolbox::new(
        &[config],
        Some(credentials(SECRET)),
        &McpSettings::default(),
    )
    .unwrap();
    let listing = tools.list_tools().await;
    assert!(listing.unavailable.is_empty(), "{:?}", listing.unavailable);
    assert_eq!(listing.tools.len(), 3);
    let output = tools
        .call_tool(
            "lookup_events",
            json!({"attribute_key": "Username", "attribute_value": "alice", "max_results": 2}),
            &Default::default(),
        )
        .await
        .unwrap();
    assert!(!output.is_error, "{}", output.text);
    assert_eq!(refused.load(Ordering::SeqCst), 0);
    assert!(verified.load(Ordering::SeqCst) >= 3);
}

#[tokio::test]
async fn wrong_credentials_and_tampered_requests_are_refused() {
    let (mcp, verified, refused) = spawn_verified().await;
    // A wrong secret: the server is unavailable to this client, with the reason.
    let config = McpServerConfig {
        url: mcp.url.clone(),
        auth: McpAuth::Iam,
        prefix: String::new(),
        region: Some(REGION.into()),
    };
    let tools = McpToolbox::new(
        &[config],
        Some(credentials("not-the-secret")),
        &McpSettings::default(),
    )
    .unwrap();
    let listing = tools.list_tools().await;
    assert!(listing.tools.is_empty());
    assert_eq!(listing.unavailable.len(), 1);
    assert!(refused.load(Ordering::SeqCst) >= 1);

    // A correctly signed request whose body is changed on the way.
    let signer = SigV4Signer::new(credentials(SECRET), REGION.into(), "lambda");
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "lookup_events", "arguments": {"max_results": 1}}})
    .to_string();
    let send = |body: String, headers| post_with(&mcp.url, body, headers);
    let headers = signer
        .sign("POST", &mcp.url, &[], body.as_bytes())
        .await
        .unwrap();
    let before = verified.load(Ordering::SeqCst);
    let untouched = send(body.clone(), headers.clone()).await.unwrap();
    assert_eq!(untouched.status(), 200);
    assert_eq!(verified.load(Ordering::SeqCst), before + 1);
    let tampered = send(
        body.replace("\"max_results\":1", "\"max_results\":200"),
        headers,
    )
    .await
    .unwrap();
    assert_eq!(tampered.status(), 403);
    assert_eq!(tampered.text().await.unwrap(), "signature mismatch");
    // And an unsigned one.
    assert_eq!(send(body, vec![]).await.unwrap().status(), 403);
}

#[tokio::test]
async fn the_caller_travels_with_each_tool_call_in_a_signed_header() {
    let (mcp, verified, refused, seen) = spawn_verified_seeing().await;
    let config = McpServerConfig {
        url: mcp.url.clone(),
        auth: McpAuth::Iam,
        prefix: String::new(),
        region: Some(REGION.into()),
    };
    let tools = McpToolbox::new(
        &[config],
        Some(credentials(SECRET)),
        &McpSettings::default(),
    )
    .unwrap();
    let alice = CallContext {
        caller: Some(Caller {
            sub: "u-alice".into(),
            email: Some("alice@example.com".into()),
        }),
    };
    assert!(tools.list_tools().await.unavailable.is_empty());
    let output = tools
        .call_tool("get_event", json!({"event_id": "none"}), &alice)
        .await
        .unwrap();
    assert_eq!(refused.load(Ordering::SeqCst), 0, "{}", output.text);
    // The handshake carries no caller; the tool call does, signed.
    let seen = seen.lock().unwrap().clone();
    assert!(seen.contains(&(Some("u-alice".into()), true)), "{seen:?}");
    assert!(
        seen.iter()
            .all(|(caller, signed)| caller.is_some() == *signed)
    );

    // A request whose caller header was changed after signing is refused.
    let signer = SigV4Signer::new(credentials(SECRET), REGION.into(), "lambda");
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    let headers = signer
        .sign(
            "POST",
            &mcp.url,
            &[(CALLER_HEADER, "u-alice")],
            body.as_bytes(),
        )
        .await
        .unwrap();
    let before = verified.load(Ordering::SeqCst);
    let send = |caller: &'static str| {
        let mut sent = headers.clone();
        sent.push((
            http::HeaderName::from_static(CALLER_HEADER),
            http::HeaderValue::from_static(caller),
        ));
        post_with(&mcp.url, body.clone(), sent)
    };
    assert_eq!(send("u-mallory").await.unwrap().status(), 403);
    assert_eq!(verified.load(Ordering::SeqCst), before);
    assert_ne!(send("u-alice").await.unwrap().status(), 403);
}
