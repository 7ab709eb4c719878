//! The DynamoDB session store against a real DynamoDB implementation running locally (moto's
//! server mode) with the real SDK client: two agent binaries sharing one table continue each
//! other's chats, keep "one answer at a time" across tasks, stop an answer from the other task,
//! free a chat whose task died once its lease lapses, and never show expired items.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use agent::session::dynamo::{DynamoStore, LeaseSettings, create_table};
use agent::session::{SessionError, SessionLimits, SessionStore};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::helpers::{Api, cookie_of, parse_sse, spawn_mcp, text_of};
use crate::moto::Moto;

const LEASE_SECS: u64 = 3;

/// One agent binary using the DynamoDB store.
struct Task {
    api: Api,
    child: Child,
}

impl std::ops::Deref for Task {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Task {
    async fn spawn(moto: &Moto, table: &str, mcp_url: &str, extra: &[&str]) -> Task {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let lease = LEASE_SECS.to_string();
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec![
            "--listen",
            &listen,
            "--mcp-url",
            mcp_url,
            "--session-store",
            "dynamodb",
            "--sessions-table",
            table,
            "--session-lease-secs",
            &lease,
        ];
        args.extend_from_slice(extra);
        let child = Command::new(env!("CARGO_BIN_EXE_agent"))
            .args(&args)
            .env("AWS_ENDPOINT_URL_DYNAMODB", &moto.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AGENT_LOG_FORMAT", "text")
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if http.get(format!("{base}/healthz")).send().await.is_ok() {
                return Task {
                    api: Api { base, http },
                    child,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("agent did not start");
    }

    async fn chat(&self, cookie: Option<&str>, message: &str) -> reqwest::Response {
        self.post_chat(cookie, json!({"message": message})).await
    }

    /// Starts an answer and returns its stream once the first text arrived.
    async fn start(&self, cookie: &str, message: &str) -> Stream {
        let response = self.chat(Some(cookie), message).await;
        assert_eq!(response.status(), 200);
        let mut stream = Stream {
            inner: Box::pin(response.bytes_stream()),
            seen: String::new(),
        };
        while !stream.seen.contains("event: text") {
            stream.next_chunk().await;
        }
        stream
    }

    async fn stop(&self, cookie: &str) -> Value {
        let response = self.post("/api/chat/stop", cookie).await;
        response.json().await.unwrap()
    }
}

type ByteStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

struct Stream {
    inner: ByteStream,
    seen: String,
}

impl Stream {
    async fn next_chunk(&mut self) -> bool {
        match self.inner.next().await {
            Some(chunk) => {
                self.seen
                    .push_str(&String::from_utf8_lossy(&chunk.unwrap()));
                true
            }
            None => false,
        }
    }

    async fn finish(mut self) -> Vec<crate::helpers::Sse> {
        while self.next_chunk().await {}
        parse_sse(&self.seen)
    }
}

async fn table(moto: &Moto) -> String {
    let name = format!("sessions-{}", uuid::Uuid::new_v4().simple());
    create_table(&moto.client(), &name).await.unwrap();
    name
}

/// Messages without the parts that change as an answer streams (compared across tasks).
fn messages(view: &Value) -> Vec<(String, String)> {
    view["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_owned(),
                m["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn two_tasks_share_chats_one_answer_at_a_time_and_stop_from_either() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let table = table(&moto).await;
    let mcp = spawn_mcp().await;
    let slow = ["--offline-delay-ms", "400"];
    let a = Task::spawn(&moto, &table, &mcp.url, &slow).await;
    let b = Task::spawn(&moto, &table, &mcp.url, &slow).await;

    // A chat started on A continues on B, and both show the same chat.
    let (cookie, first) = a.ask(None, "who deleted bob-old-logs?").await;
    assert_eq!(first.last().unwrap().data["stop_reason"], "end_turn");
    assert!(text_of(&first).contains("DeleteBucket"));
    let on_b = b.session(&cookie).await;
    assert_eq!(on_b["messages"], a.session(&cookie).await["messages"]);
    assert_eq!(messages(&on_b)[0].1, "who deleted bob-old-logs?");
    assert_eq!(on_b["messages"][1]["tools"][0]["status"], "ok");

    let response = b
        .chat(Some(&cookie), "which calls were denied last week?")
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        cookie_of(&response).is_none(),
        "B continued the chat, no new one"
    );
    let events = parse_sse(&response.text().await.unwrap());
    assert_eq!(events.last().unwrap().data["stop_reason"], "end_turn");
    let view = a.session(&cookie).await;
    assert_eq!(messages(&view).len(), 4);
    assert_eq!(view["messages"], b.session(&cookie).await["messages"]);

    // While A answers: B refuses a second question (409) and shows the answer so far.
    let running = a.start(&cookie, "what did alice do yesterday?").await;
    let busy = b.chat(Some(&cookie), "again").await;
    assert_eq!(busy.status(), 409);
    let on_b = b.session(&cookie).await;
    assert_eq!(on_b["running"], true);
    assert_eq!(messages(&on_b)[4].1, "what did alice do yesterday?");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let partial = b.session(&cookie).await;
        if !messages(&partial)[5].1.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no progress reached B: {partial}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Stop sent to B ends the answer running on A within a couple of seconds.
    let asked = Instant::now();
    assert_eq!(b.stop(&cookie).await["stopped"], true);
    let events = tokio::time::timeout(Duration::from_secs(5), running.finish())
        .await
        .expect("the answer on A ended");
    let took = asked.elapsed();
    assert_eq!(events.last().unwrap().data["stop_reason"], "stopped");
    assert!(took < Duration::from_millis(2500), "stop took {took:?}");
    assert_eq!(b.stop(&cookie).await["stopped"], false);
    let (_, events) = b
        .ask(Some(&cookie), "who logged in to the console today?")
        .await;
    assert_eq!(events.last().unwrap().data["stop_reason"], "end_turn");
    assert_eq!(
        a.session(&cookie).await["messages"],
        b.session(&cookie).await["messages"]
    );
    assert_eq!(messages(&a.session(&cookie).await).len(), 8);
    moto.stop().await;
}

#[tokio::test]
async fn a_task_killed_mid_answer_frees_the_chat_when_its_lease_lapses() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let table = table(&moto).await;
    let mcp = spawn_mcp().await;
    let mut a = Task::spawn(&moto, &table, &mcp.url, &["--offline-delay-ms", "400"]).await;
    let b = Task::spawn(&moto, &table, &mcp.url, &[]).await;
    let (cookie, _) = b.ask(None, "who deleted bob-old-logs?").await;
    let running = a.start(&cookie, "what did alice do yesterday?").await;
    a.child.kill().await.unwrap();
    drop(running);
    let killed = Instant::now();
    assert_eq!(b.chat(Some(&cookie), "now?").await.status(), 409);
    // B answers once the dead task's lease has lapsed (LEASE_SECS), not before.
    let answered = loop {
        let response = b
            .chat(Some(&cookie), "which calls were denied last week?")
            .await;
        if response.status() == 200 {
            break parse_sse(&response.text().await.unwrap());
        }
        assert_eq!(response.status(), 409);
        assert!(
            killed.elapsed() < Duration::from_secs(LEASE_SECS + 5),
            "still locked"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(killed.elapsed() >= Duration::from_secs(LEASE_SECS - 1));
    assert_eq!(answered.last().unwrap().data["stop_reason"], "end_turn");
    // The dead exchange still shows its question; the chat goes on after it.
    let view = b.session(&cookie).await;
    let shown = messages(&view);
    assert_eq!(shown.len(), 6, "{view}");
    assert_eq!(shown[2].1, "what did alice do yesterday?");
    assert_eq!(shown[4].1, "which calls were denied last week?");
    assert_eq!(view["running"], false);
    moto.stop().await;
}

#[tokio::test]
async fn expired_chats_are_invisible_and_store_failures_are_503() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let table = table(&moto).await;
    let mcp = spawn_mcp().await;
    let a = Task::spawn(&moto, &table, &mcp.url, &["--session-idle-secs", "2"]).await;
    let (cookie, _) = a.ask(None, "who deleted bob-old-logs?").await;
    assert_eq!(messages(&a.session(&cookie).await).len(), 2);
    // The items are still in the table (TTL deletion is late), but past their expiry.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(a.session(&cookie).await["messages"], json!([]));
    let response = a.chat(Some(&cookie), "who deleted bob-old-logs?").await;
    assert_eq!(response.status(), 200);
    let fresh = cookie_of(&response).expect("an expired chat is not continued");
    assert_ne!(fresh, cookie);
    drop(response);

    // A table that does not exist: a clear 503 carrying DynamoDB's message, no panic.
    let broken = Task::spawn(&moto, "no-such-table", &mcp.url, &[]).await;
    let response = broken.chat(None, "who deleted bob-old-logs?").await;
    assert_eq!(response.status(), 503);
    let error: Value = response.json().await.unwrap();
    let message = error["error"].as_str().unwrap();
    assert!(message.contains("ResourceNotFoundException"), "{message}");
    let reload = broken
        .http
        .get(format!("{}/api/session", broken.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status(), 503);
    moto.stop().await;
}

#[tokio::test]
async fn another_owner_cannot_address_a_session() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let table = table(&moto).await;
    let store = DynamoStore::new(
        moto.client(),
        &table,
        SessionLimits::default(),
        LeaseSettings::default(),
    );
    let client = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let id = store.create("alice", client).await.unwrap();
    let (history, ticket) = store.begin_run("alice", &id, "q").await.unwrap();
    assert!(history.is_empty());
    assert!(!store.exists("mallory", &id).await.unwrap());
    assert_eq!(
        store.begin_run("mallory", &id, "x").await.unwrap_err(),
        SessionError::Gone
    );
    assert!(!store.stop("mallory", &id).await.unwrap());
    let view = store.view("mallory", &id).await.unwrap();
    assert!(!view.running && view.messages.is_empty());
    store.reset("mallory", &id).await.unwrap();
    assert!(!ticket.cancel.is_cancelled());
    assert!(store.view("alice", &id).await.unwrap().running);
    // A run that lost its lease (the chat was reset) changes nothing when it ends.
    store.reset("alice", &id).await.unwrap();
    assert!(ticket.cancel.is_cancelled());
    store
        .finish_run(
            "alice",
            &id,
            ticket.run,
            vec![
                agent::conversation::Message::user_text("q"),
                agent::conversation::Message::assistant_text("a"),
            ],
        )
        .await;
    assert!(!store.exists("alice", &id).await.unwrap());
    assert!(store.view("alice", &id).await.unwrap().messages.is_empty());
    moto.stop().await;
}

#[tokio::test]
async fn the_history_bound_keeps_the_newest_exchanges() {
    use agent::conversation::Message;
    let Some(moto) = Moto::start().await else {
        return;
    };
    let table = table(&moto).await;
    // Half of the session bound goes to the model history: 1,000 bytes here.
    let limits = SessionLimits {
        max_session_bytes: 2000,
        ..SessionLimits::default()
    };
    let store = DynamoStore::new(moto.client(), &table, limits, LeaseSettings::default());
    let id = store
        .create("", IpAddr::V4(Ipv4Addr::LOCALHOST))
        .await
        .unwrap();
    for i in 0..5 {
        let question = format!("question {i}");
        let (mut history, ticket) = store.begin_run("", &id, &question).await.unwrap();
        history.push(Message::user_text(question));
        history.push(Message::assistant_text("a".repeat(350)));
        store.finish_run("", &id, ticket.run, history).await;
    }
    let (history, _) = store.begin_run("", &id, "last").await.unwrap();
    let questions: Vec<String> = history
        .iter()
        .filter(|m| m.role == agent::conversation::Role::User)
        .map(Message::text)
        .collect();
    assert_eq!(questions, ["question 3", "question 4"]);
    // The page still shows every exchange (nothing was streamed: only the questions count).
    let view = store.view("", &id).await.unwrap();
    assert_eq!(view.messages.len(), 12);
    moto.stop().await;
}

#[tokio::test]
async fn evidence_citations_and_suggestions_are_stored_with_the_chat() {
    use agent::events::{AgentEvent, ToolStatus};
    use agent::evidence::{RefMap, check};
    use agent::suggestions::Suggestion;
    let Some(moto) = Moto::start().await else {
        return;
    };
    let table = table(&moto).await;
    let store = |_| {
        DynamoStore::new(
            moto.client(),
            &table,
            SessionLimits::default(),
            LeaseSettings::default(),
        )
    };
    let (here, there) = (store(1), store(2));
    let id = here
        .create("alice", IpAddr::V4(Ipv4Addr::LOCALHOST))
        .await
        .unwrap();
    let (_, ticket) = here.begin_run("alice", &id, "who?").await.unwrap();
    let refs = RefMap::from([("1a2b3c4d".to_owned(), "full-event-id".to_owned())]);
    let said = "alice did it [ev:1a2b3c4d], not bob [ev:deadbeef].";
    let suggestion = Suggestion {
        label: "alice ±1 h".into(),
        question: "What else did alice do?".into(),
    };
    for event in [
        AgentEvent::ToolStart {
            id: "t1".into(),
            name: "lookup_events".into(),
            input: json!({}),
        },
        AgentEvent::ToolEnd {
            id: "t1".into(),
            name: "lookup_events".into(),
            status: ToolStatus::Ok,
            duration_ms: 1,
            output: "{}".into(),
            refs: refs.clone(),
        },
        AgentEvent::Text { delta: said.into() },
        AgentEvent::Citations {
            refs: check(said, &refs),
        },
        AgentEvent::Suggestions {
            items: vec![suggestion.clone()],
        },
    ] {
        here.apply("alice", &id, ticket.run, &event).await;
    }
    here.finish_run(
        "alice",
        &id,
        ticket.run,
        vec![
            agent::conversation::Message::user_text("who?"),
            agent::conversation::Message::assistant_text(said),
        ],
    )
    .await;
    // Another task reads it back: the refs, the marks and the suggestions.
    let view = there.view("alice", &id).await.unwrap();
    assert_eq!(agent::transcript::known_refs(&view.messages), refs);
    let answer = serde_json::to_value(&view.messages[1]).unwrap();
    assert_eq!(
        answer["parts"][1]["citations"],
        json!([{"ref": "1a2b3c4d", "event_id": "full-event-id", "known": true},
               {"ref": "deadbeef", "event_id": null, "known": false}])
    );
    assert_eq!(
        answer["tools"][0]["refs"],
        json!({"1a2b3c4d": "full-event-id"})
    );
    assert_eq!(
        answer["suggestions"],
        json!([{"label": "alice ±1 h", "question": "What else did alice do?"}])
    );
    // Not another owner's.
    let theirs = there.view("mallory", &id).await.unwrap();
    assert!(agent::transcript::known_refs(&theirs.messages).is_empty());
    moto.stop().await;
}

#[tokio::test]
async fn a_citation_made_on_one_task_opens_on_another() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let table = table(&moto).await;
    let mcp = spawn_mcp().await;
    let a = Task::spawn(&moto, &table, &mcp.url, &[]).await;
    let b = Task::spawn(&moto, &table, &mcp.url, &[]).await;
    let (cookie, events) = a.ask(None, "who deleted bob-old-logs?").await;
    let cited: Vec<Value> = events
        .iter()
        .filter(|e| e.event == "citations")
        .flat_map(|e| e.data["refs"].as_array().cloned().unwrap_or_default())
        .collect();
    let known = cited
        .iter()
        .find(|c| c["known"] == true)
        .unwrap_or_else(|| panic!("no known citation: {cited:?}\n{}", text_of(&events)));
    let r = known["ref"].as_str().unwrap();
    let opened = b
        .http
        .get(format!("{}/api/events/{r}", b.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 200);
    let body: Value = opened.json().await.unwrap();
    assert_eq!(body["event"]["eventID"], known["event_id"]);
    // B's copy of the chat shows the same marks.
    let view = b.session(&cookie).await;
    let marks: Vec<Value> = view["messages"][1]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["citations"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(marks, cited);
    moto.stop().await;
}
