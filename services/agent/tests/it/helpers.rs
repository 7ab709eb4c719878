//! Test servers on 127.0.0.1:0: the real cloudtrail-mcp router over the built-in sample, the
//! agent's router with any model, and a small SSE client.

use std::sync::Arc;
use std::time::Duration;

use agent::access::AccessPolicy;
use agent::agent::{Agent, Limits};
use agent::api::app;
use agent::mcp::{McpAuth, McpServerConfig, McpSettings, McpToolbox};
use agent::model::Model;
use agent::model::offline::OfflineModel;
use agent::prompt::Persona;
use agent::server::{ServerLimits, serve};
use agent::session::{MemoryStore, SessionLimits};
use agent::signin::SignIn;
use agent::state::AppState;
use agent::tools::ToolProvider;
use cloudtrail_mcp::cursor::CursorCodec;
use cloudtrail_mcp::source::EventSource;
use cloudtrail_mcp::source::builtin::SampleSource;
use cloudtrail_mcp::{CloudTrailServer, HostPolicy, ToolSettings};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running cloudtrail-mcp server.
pub struct McpApp {
    pub url: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl McpApp {
    /// Stops the server and waits until its port is closed.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

/// The cloudtrail-mcp router, optionally wrapped by `layer` (request counting, SigV4 checks).
pub async fn spawn_mcp_with(wrap: impl FnOnce(axum::Router) -> axum::Router) -> McpApp {
    let source: Arc<dyn EventSource> = Arc::new(SampleSource::new(jiff::Timestamp::now(), 42));
    let server = CloudTrailServer::new(source, CursorCodec::new("k"), ToolSettings::default());
    let router = wrap(cloudtrail_mcp::app(server, HostPolicy::loopback()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    McpApp {
        url: format!("http://{addr}/mcp"),
        shutdown: Some(tx),
        task: Some(task),
    }
}

pub async fn spawn_mcp() -> McpApp {
    spawn_mcp_with(|router| router).await
}

/// A toolbox over plain-HTTP MCP servers.
pub fn toolbox(urls: &[&str], prefix: &str) -> McpToolbox {
    let configs: Vec<McpServerConfig> = urls
        .iter()
        .map(|url| McpServerConfig {
            url: url.to_string(),
            auth: McpAuth::None,
            prefix: prefix.into(),
            region: None,
        })
        .collect();
    let settings = McpSettings {
        connect_timeout: Duration::from_secs(2),
        ..McpSettings::default()
    };
    McpToolbox::new(&configs, None, &settings).unwrap()
}

/// A client of one agent's HTTP API (an in-process app or a spawned binary).
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

/// A running agent.
pub struct AgentApp {
    pub api: Api,
    /// The agent's store, to look inside.
    pub sessions: Arc<MemoryStore>,
}

impl std::ops::Deref for AgentApp {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

pub struct AgentOptions {
    pub model: Arc<dyn Model>,
    pub tools: Arc<dyn ToolProvider>,
    pub limits: Limits,
    pub sessions: SessionLimits,
    pub access: AccessPolicy,
    pub sign_in: SignIn,
    pub server: ServerLimits,
}

impl AgentOptions {
    /// The offline model over `tools`, chunks delayed by `delay_ms`.
    pub fn offline(tools: Arc<dyn ToolProvider>, delay_ms: u64) -> Self {
        Self {
            model: Arc::new(OfflineModel {
                chunk_delay: Duration::from_millis(delay_ms),
            }),
            tools,
            limits: Limits::default(),
            sessions: SessionLimits::default(),
            access: AccessPolicy::default(),
            sign_in: SignIn::default(),
            server: ServerLimits::default(),
        }
    }
}

pub async fn spawn_agent(options: AgentOptions) -> AgentApp {
    let sessions = Arc::new(MemoryStore::new(options.sessions));
    let state = Arc::new(AppState {
        model: options.model.info(),
        agent: Agent {
            model: options.model,
            tools: options.tools,
            limits: options.limits,
            persona: Persona::Analyst,
        },
        sessions: sessions.clone(),
        secure_cookie: false,
        access: Arc::new(options.access),
        sign_in: Arc::new(options.sign_in),
        prices: agent::metrics::Prices::default(),
        emf: false,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app(state.clone());
    // The server loop `main` uses (header-read timeout, peer addresses), stopped with the runtime.
    tokio::spawn(serve(
        listener,
        router,
        options.server,
        futures::future::pending(),
    ));
    AgentApp {
        api: Api {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
        },
        sessions,
    }
}

/// One SSE event: name and JSON data.
#[derive(Debug, Clone)]
pub struct Sse {
    pub event: String,
    pub data: Value,
}

/// Parses a complete `text/event-stream` body.
pub fn parse_sse(body: &str) -> Vec<Sse> {
    body.replace("\r\n", "\n")
        .split("\n\n")
        .filter_map(|block| {
            let mut event = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            Some(Sse {
                event: event?,
                data: serde_json::from_str(&data).unwrap_or(Value::Null),
            })
        })
        .collect()
}

impl Api {
    /// POST /api/chat with an optional cookie; returns the response (not yet read).
    pub async fn post_chat(&self, cookie: Option<&str>, body: Value) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/api/chat", self.base))
            .json(&body);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap()
    }

    /// Asks `message` and reads the whole stream; returns the cookie to reuse and the events.
    pub async fn ask(&self, cookie: Option<&str>, message: &str) -> (String, Vec<Sse>) {
        let response = self
            .post_chat(
                cookie,
                serde_json::json!({"message": message, "timezone": "Asia/Tokyo"}),
            )
            .await;
        assert_eq!(response.status(), 200, "chat failed");
        let cookie = cookie_of(&response)
            .or(cookie.map(str::to_owned))
            .expect("a session cookie");
        let body = response.text().await.unwrap();
        (cookie, parse_sse(&body))
    }

    /// A bodiless state-changing request (stop, reset), sent as the page sends it: JSON.
    pub async fn post(&self, path: &str, cookie: &str) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("cookie", cookie)
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap()
    }

    pub async fn session(&self, cookie: &str) -> Value {
        self.http
            .get(format!("{}/api/session", self.base))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// `agent_session=...` from a response's Set-Cookie.
pub fn cookie_of(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("set-cookie")?
        .to_str()
        .ok()?
        .split(';')
        .next()
        .map(str::to_owned)
}

pub fn names(events: &[Sse]) -> Vec<&str> {
    events.iter().map(|e| e.event.as_str()).collect()
}

pub fn text_of(events: &[Sse]) -> String {
    events
        .iter()
        .filter(|e| e.event == "text")
        .filter_map(|e| e.data["delta"].as_str())
        .collect()
}
