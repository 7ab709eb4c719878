//! What hostile or unlucky clients must not achieve: foreign Host headers and cross-site
//! requests (DNS rebinding, CSRF), adopted session ids, cached conversations, anonymous floods
//! evicting other people's chats, idle sockets piling up, and a hung tool listing stalling runs
//! past Stop, the wall-time limit, or other users' runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agent::agent::Limits;
use agent::server::ServerLimits;
use agent::session::SessionLimits;
use agent::testing::{ScriptedModel, Step};
use agent::tools::{CallContext, ToolError, ToolListing, ToolOutput, ToolProvider};
use async_trait::async_trait;
use axum::body::Body;
use axum::http::Request;
use axum::middleware::Next;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

fn offline_over(mcp: &McpApp) -> AgentOptions {
    AgentOptions::offline(Arc::new(toolbox(&[&mcp.url], "")), 0)
}

#[tokio::test]
async fn foreign_hosts_and_origins_are_refused_but_the_health_check_answers_any_host() {
    let mcp = spawn_mcp().await;
    let agent = spawn_agent(offline_over(&mcp)).await;
    for path in ["/", "/api/session", "/assets/app.js"] {
        let response = agent
            .http
            .get(format!("{}{path}", agent.base))
            .header("host", "rebound.attacker.example")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{path}");
        assert!(response.headers().get("set-cookie").is_none());
    }
    let chat = agent
        .http
        .post(format!("{}/api/chat", agent.base))
        .header("host", "rebound.attacker.example:8080")
        .json(&json!({"message": "what did alice do yesterday?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(chat.status(), 403);
    assert!(
        chat.text()
            .await
            .unwrap()
            .contains("rebound.attacker.example")
    );
    // A page on another site posting to the agent (CSRF): its Origin is refused.
    let cross = agent
        .http
        .post(format!("{}/api/chat", agent.base))
        .header("origin", "https://attacker.example")
        .json(&json!({"message": "what did alice do yesterday?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    assert!(agent.sessions.is_empty(), "nothing was created");
    // The page's own origin is fine; so is the target group's health check with the task's IP.
    let same = agent
        .http
        .post(format!("{}/api/chat", agent.base))
        .header("origin", agent.base.clone())
        .json(&json!({"message": "what did alice do yesterday?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 200);
    let health = agent
        .http
        .get(format!("{}/healthz", agent.base))
        .header("host", "10.0.1.23:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn session_ids_are_issued_by_the_server_and_conversations_are_not_cached() {
    let mcp = spawn_mcp().await;
    let agent = spawn_agent(offline_over(&mcp)).await;
    // A client-chosen (fixated) id is not adopted: the answer comes with a fresh one.
    let chosen = format!("agent_session={}", uuid::Uuid::new_v4());
    let response = agent
        .post_chat(
            Some(&chosen),
            json!({"message": "what did alice do yesterday?"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let issued = cookie_of(&response).expect("a server-issued cookie");
    assert_ne!(issued, chosen);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let _ = response.text().await;
    let session = agent
        .http
        .get(format!("{}/api/session", agent.base))
        .header("cookie", &issued)
        .send()
        .await
        .unwrap();
    assert_eq!(session.headers()["cache-control"], "no-store");
    let view: Value = session.json().await.unwrap();
    assert_eq!(view["messages"].as_array().unwrap().len(), 2);
    // The chosen id shows nothing.
    assert_eq!(agent.session(&chosen).await["messages"], json!([]));
}

#[tokio::test]
async fn stop_and_reset_must_be_sent_as_json() {
    let mcp = spawn_mcp().await;
    let agent = spawn_agent(offline_over(&mcp)).await;
    let (cookie, _) = agent.ask(None, "what did alice do yesterday?").await;
    for path in ["/api/chat/stop", "/api/session/reset"] {
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
        ] {
            let mut request = agent
                .http
                .post(format!("{}{path}", agent.base))
                .header("cookie", &cookie);
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type).body("x=1");
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 415, "{path} {content_type:?}");
        }
    }
    // Nothing was reset by the refused requests.
    assert_eq!(
        agent.session(&cookie).await["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn anonymous_requests_cannot_evict_other_peoples_chats() {
    let mcp = spawn_mcp().await;
    let mut options = offline_over(&mcp);
    options.sessions = SessionLimits {
        max_sessions: 3,
        ..SessionLimits::default()
    };
    let agent = spawn_agent(options).await;
    let (alice, _) = agent.ask(None, "what did alice do yesterday?").await;
    let mut refused = 0;
    for _ in 0..10 {
        let response = agent
            .post_chat(None, json!({"message": "what did bob do yesterday?"}))
            .await;
        if response.status() == 503 {
            refused += 1;
            let error: Value = response.json().await.unwrap();
            assert!(
                error["error"].as_str().unwrap().contains("limit of 3"),
                "{error}"
            );
        } else {
            assert_eq!(response.status(), 200);
            let _ = response.text().await;
        }
    }
    assert_eq!(refused, 8, "two newcomers fit, the rest are refused");
    let view = agent.session(&alice).await;
    assert_eq!(
        view["messages"].as_array().unwrap().len(),
        2,
        "alice's chat is intact"
    );
}

#[tokio::test]
async fn new_chats_are_limited_per_client_address() {
    let mcp = spawn_mcp().await;
    let mut options = offline_over(&mcp);
    options.sessions = SessionLimits {
        new_per_client_per_minute: 2,
        ..SessionLimits::default()
    };
    let agent = spawn_agent(options).await;
    for _ in 0..2 {
        let response = agent.post_chat(None, json!({"message": "hello"})).await;
        assert_eq!(response.status(), 200);
        let _ = response.text().await;
    }
    let third = agent.post_chat(None, json!({"message": "hello"})).await;
    assert_eq!(third.status(), 429);
    assert!(third.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn idle_and_silent_connections_are_closed() {
    let mcp = spawn_mcp().await;
    let mut options = offline_over(&mcp);
    options.server = ServerLimits {
        header_read: Duration::from_millis(300),
        ..ServerLimits::default()
    };
    let agent = spawn_agent(options).await;
    let addr = agent.base.trim_start_matches("http://").to_owned();
    // A socket that never sends a request.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // A keep-alive connection left idle after one request.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = vec![0u8; 1024];
    let n = idle.read(&mut buffer).await.unwrap();
    assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 200"));
    for (name, socket) in [("silent", &mut silent), ("idle", &mut idle)] {
        let started = Instant::now();
        let read = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match socket.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(read.is_ok(), "{name} connection still open after 5 s");
        assert!(started.elapsed() < Duration::from_secs(3), "{name}");
    }
}

/// A tool listing that never returns.
struct HungListing;

#[async_trait]
impl ToolProvider for HungListing {
    async fn list_tools(&self) -> ToolListing {
        futures::future::pending().await
    }
    async fn call_tool(
        &self,
        name: &str,
        _input: Value,
        _context: &CallContext,
    ) -> Result<ToolOutput, ToolError> {
        Err(ToolError::UnknownTool(name.to_owned()))
    }
}

#[tokio::test]
async fn stop_and_the_wall_time_limit_end_a_run_stuck_in_the_tool_listing() {
    let agent = spawn_agent(AgentOptions {
        model: Arc::new(ScriptedModel::new(vec![Step::text("never reached")])),
        tools: Arc::new(HungListing),
        limits: Limits {
            max_wall_time: Duration::from_secs(1),
            ..Limits::default()
        },
        sessions: Default::default(),
        access: Default::default(),
        sign_in: Default::default(),
        server: Default::default(),
    })
    .await;
    // The wall-time limit.
    let started = Instant::now();
    let (cookie, events) = tokio::time::timeout(Duration::from_secs(10), agent.ask(None, "first"))
        .await
        .expect("the wall-time limit ends a run waiting for the tool listing");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(events.last().unwrap().data["stop_reason"], "limit");
    // Stop: the run ends within moments, and the chat accepts the next question at once.
    let response = agent
        .post_chat(Some(&cookie), json!({"message": "second"}))
        .await;
    assert_eq!(response.status(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopped: Value = agent
        .post("/api/chat/stop", &cookie)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stopped["stopped"], true);
    let body = tokio::time::timeout(Duration::from_secs(10), response.text())
        .await
        .expect("Stop ends a run waiting for the tool listing");
    let events = parse_sse(&body.unwrap());
    assert_eq!(events.last().unwrap().data["stop_reason"], "stopped");
    assert_eq!(agent.session(&cookie).await["running"], false);
}

#[tokio::test]
async fn a_hung_tools_list_delays_each_run_once_and_says_the_server_is_unavailable() {
    // The real cloudtrail-mcp, except that tools/list never answers.
    let mcp = spawn_mcp_with(|router| {
        router.layer(axum::middleware::from_fn(
            |request: Request<Body>, next: Next| async move {
                let (parts, body) = request.into_parts();
                let bytes = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
                if String::from_utf8_lossy(&bytes).contains("\"tools/list\"") {
                    futures::future::pending::<()>().await;
                }
                next.run(Request::from_parts(parts, Body::from(bytes)))
                    .await
            },
        ))
    })
    .await;
    let settings = agent::mcp::McpSettings {
        connect_timeout: Duration::from_secs(2),
        list_timeout: Duration::from_secs(1),
        ..agent::mcp::McpSettings::default()
    };
    let tools = agent::mcp::McpToolbox::new(
        &[agent::mcp::McpServerConfig {
            url: mcp.url.clone(),
            auth: agent::mcp::McpAuth::None,
            prefix: String::new(),
            region: None,
        }],
        None,
        &settings,
    )
    .unwrap();
    let agent = Arc::new(spawn_agent(AgentOptions::offline(Arc::new(tools), 0)).await);
    // Three users ask at once.
    let started = Instant::now();
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let agent = agent.clone();
            tokio::spawn(async move { agent.ask(None, "what did alice do yesterday?").await })
        })
        .collect();
    for run in runs {
        let (_, events) = tokio::time::timeout(Duration::from_secs(20), run)
            .await
            .expect("each run ends soon after the listing timeout")
            .unwrap();
        let errors: Vec<_> = events.iter().filter(|e| e.event == "error").collect();
        assert!(
            errors.iter().any(|e| e.data["kind"] == "mcp_unavailable"),
            "{:?}",
            names(&events)
        );
        for end in events.iter().filter(|e| e.event == "tool_end") {
            let output = end.data["output"].as_str().unwrap();
            assert!(!output.contains("unknown tool"), "{output}");
            assert!(output.contains("unavailable"), "{output}");
        }
    }
    // One listing timeout (plus a little), not one per queued run.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}
