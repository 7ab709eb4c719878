//! The loop against a scripted model and in-memory tools: text, tool use, several tools at
//! once, limits, throttling, context overflow and cancel. Time is paused, so waits are instant.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::conversation::check_history;
use crate::testing::{Behaviour, MemoryTools, ScriptedModel, Step};

struct Run {
    end: RunEnd,
    events: Vec<AgentEvent>,
    history: Vec<Message>,
}

fn agent(model: Arc<ScriptedModel>, tools: Arc<MemoryTools>, limits: Limits) -> Agent {
    Agent {
        model,
        tools,
        limits,
        persona: Persona::Analyst,
    }
}

fn input(text: &str) -> RunInput {
    RunInput {
        text: text.into(),
        now: "2026-11-24T12:00:00Z".parse().unwrap(),
        timezone: TimeZone::UTC,
        context: CallContext::default(),
        known_refs: Default::default(),
    }
}

async fn run_with(agent: &Agent, history: Vec<Message>, cancel: CancellationToken) -> Run {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut history = history;
    let end = agent
        .run(&mut history, input("question"), &tx, &cancel)
        .await;
    drop(tx);
    let mut events = Vec::new();
    while let Some(event) = rx.recv().await {
        events.push(event);
    }
    check_history(&history).unwrap_or_else(|e| panic!("invalid history: {e}\n{history:#?}"));
    Run {
        end,
        events,
        history,
    }
}

async fn run(agent: &Agent) -> Run {
    run_with(agent, vec![], CancellationToken::new()).await
}

fn names(events: &[AgentEvent]) -> Vec<&'static str> {
    events.iter().map(AgentEvent::name).collect()
}

fn tools(list: &[(&str, Behaviour)]) -> Arc<MemoryTools> {
    Arc::new(MemoryTools::new(list))
}

#[tokio::test(start_paused = true)]
async fn text_answer_streams_and_ends() {
    let model = Arc::new(ScriptedModel::new(vec![Step::Reply {
        chunks: vec!["Hello ".into(), "alice".into()],
        tool_uses: vec![],
        delay: Duration::ZERO,
    }]));
    let run = run(&agent(model, tools(&[]), Limits::default())).await;
    assert_eq!(run.end, RunEnd::EndTurn);
    assert_eq!(names(&run.events), ["text", "text", "done"]);
    assert_eq!(run.history.len(), 2);
    assert_eq!(run.history[1].text(), "Hello alice");
    let AgentEvent::Done { usage, .. } = run.events.last().unwrap() else {
        panic!()
    };
    assert_eq!(usage.total_tokens, 110);
}

#[tokio::test(start_paused = true)]
async fn tool_use_then_answer_keeps_pairs() {
    let model = Arc::new(ScriptedModel::new(vec![
        Step::tools(&[("t1", "lookup", json!({"user": "alice"}))]),
        Step::text("alice created a bucket"),
    ]));
    let tools = tools(&[("lookup", Behaviour::Answer("{\"events\":[]}".into()))]);
    let run = run(&agent(model.clone(), tools.clone(), Limits::default())).await;
    assert_eq!(run.end, RunEnd::EndTurn);
    assert_eq!(
        names(&run.events),
        ["tool_start", "tool_end", "status", "text", "done"]
    );
    assert!(matches!(
        &run.events[2],
        AgentEvent::Status {
            kind: StatusKind::Thinking,
            ..
        }
    ));
    assert_eq!(run.history.len(), 4);
    // The second model call saw the tool result.
    let second = &model.requests.lock().unwrap()[1];
    assert!(matches!(
        &second[2].content[0],
        Block::ToolResult { id, text, is_error: false } if id == "t1" && text.contains("events")
    ));
    assert_eq!(tools.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn several_tools_run_concurrently_but_bounded_and_results_keep_order() {
    let slow = |s: &str| Behaviour::Slow(Duration::from_millis(100), s.into());
    let model = Arc::new(ScriptedModel::new(vec![
        Step::tools(&[
            ("a", "t1", json!({})),
            ("b", "t2", json!({})),
            ("c", "t3", json!({})),
            ("d", "t1", json!({})),
        ]),
        Step::text("done"),
    ]));
    let tools = tools(&[
        ("t1", slow("one")),
        ("t2", slow("two")),
        ("t3", slow("three")),
    ]);
    let limits = Limits {
        tool_concurrency: 2,
        ..Limits::default()
    };
    let started = tokio::time::Instant::now();
    let run = run(&agent(model, tools.clone(), limits)).await;
    assert_eq!(run.end, RunEnd::EndTurn);
    assert_eq!(tools.max_concurrent.load(Ordering::SeqCst), 2);
    // 4 calls of 100 ms, two at a time.
    assert_eq!(started.elapsed(), Duration::from_millis(200));
    let ids: Vec<_> = run.history[2]
        .content
        .iter()
        .map(|b| match b {
            Block::ToolResult { id, .. } => id.as_str(),
            _ => "",
        })
        .collect();
    assert_eq!(ids, ["a", "b", "c", "d"]);
}

#[tokio::test(start_paused = true)]
async fn tool_failures_timeouts_and_oversized_results_go_back_to_the_model() {
    let model = Arc::new(ScriptedModel::new(vec![
        Step::tools(&[
            ("a", "down", json!({})),
            ("b", "slow", json!({})),
            ("c", "big", json!({})),
            ("d", "missing", json!({})),
        ]),
        Step::text("partial answer"),
    ]));
    let tools = tools(&[
        ("down", Behaviour::Unavailable),
        (
            "slow",
            Behaviour::Slow(Duration::from_secs(60), "late".into()),
        ),
        ("big", Behaviour::Answer("x".repeat(10_000))),
    ]);
    let limits = Limits {
        tool_timeout: Duration::from_secs(5),
        max_tool_output_bytes: 1000,
        ..Limits::default()
    };
    let run = run(&agent(model, tools, limits)).await;
    assert_eq!(run.end, RunEnd::EndTurn);
    let results: Vec<(String, bool)> = run.history[2]
        .content
        .iter()
        .map(|b| match b {
            Block::ToolResult { text, is_error, .. } => (text.clone(), *is_error),
            _ => panic!(),
        })
        .collect();
    assert!(
        results[0].1 && results[0].0.contains("unavailable"),
        "{results:?}"
    );
    assert!(
        results[1].1 && results[1].0.contains("within 5 s"),
        "{results:?}"
    );
    assert!(
        !results[2].1
            && results[2]
                .0
                .contains("[truncated: 1000 of 10000 bytes shown]")
    );
    assert!(results[2].0.len() < 1100);
    assert!(results[3].1 && results[3].0.contains("unknown tool `missing`"));
    let errors = run
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                AgentEvent::ToolEnd {
                    status: ToolStatus::Error,
                    ..
                }
            )
        })
        .count();
    assert_eq!(errors, 3);
}

#[tokio::test(start_paused = true)]
async fn model_call_limit_ends_with_named_limit() {
    let steps = (0..5)
        .map(|i| Step::tools(&[(&format!("t{i}"), "lookup", json!({}))]))
        .collect();
    let model = Arc::new(ScriptedModel::new(steps));
    let tools = tools(&[("lookup", Behaviour::Answer("ok".into()))]);
    let limits = Limits {
        max_model_calls: 3,
        ..Limits::default()
    };
    let run = run(&agent(model.clone(), tools, limits)).await;
    assert_eq!(run.end, RunEnd::Limit);
    assert_eq!(model.calls(), 3);
    assert!(run.events.iter().any(|e| matches!(e,
        AgentEvent::Error { kind: ErrorKind::Limit, message } if message.contains("model turns (3)"))));
    assert!(matches!(
        run.events.last(),
        Some(AgentEvent::Done {
            stop_reason: RunEnd::Limit,
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn token_limit_stops_before_running_more_tools() {
    let model = Arc::new(ScriptedModel::new(vec![Step::tools(&[(
        "t",
        "lookup",
        json!({}),
    )])]));
    let tools = tools(&[("lookup", Behaviour::Answer("ok".into()))]);
    let limits = Limits {
        max_total_tokens: 50,
        ..Limits::default()
    };
    let run = run(&agent(model, tools.clone(), limits)).await;
    assert_eq!(run.end, RunEnd::Limit);
    assert_eq!(tools.calls.load(Ordering::SeqCst), 0);
    assert!(run.events.iter().any(|e| matches!(e,
        AgentEvent::Error { message, .. } if message.contains("total tokens (110)"))));
}

#[tokio::test(start_paused = true)]
async fn wall_time_limit_cuts_a_hanging_model() {
    let model = Arc::new(ScriptedModel::new(vec![Step::Hang {
        chunks: vec!["thinking...".into()],
    }]));
    let limits = Limits {
        max_wall_time: Duration::from_secs(10),
        ..Limits::default()
    };
    let run = run(&agent(model, tools(&[]), limits)).await;
    assert_eq!(run.end, RunEnd::Limit);
    assert!(run.events.iter().any(|e| matches!(e,
        AgentEvent::Error { message, .. } if message.contains("wall time (10 s)"))));
    assert!(run.history[1].text().starts_with("thinking..."));
}

#[tokio::test(start_paused = true)]
async fn throttling_is_retried_with_backoff_and_reported() {
    let throttled = || {
        Step::Fail(ModelError::Throttled {
            message: "Too many requests".into(),
            retry_after: None,
        })
    };
    let model = Arc::new(ScriptedModel::new(vec![
        throttled(),
        throttled(),
        Step::text("ok"),
    ]));
    let started = tokio::time::Instant::now();
    let run = run(&agent(model.clone(), tools(&[]), Limits::default())).await;
    assert_eq!(run.end, RunEnd::EndTurn);
    assert_eq!(model.calls(), 3);
    let retries: Vec<_> = run
        .events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Status {
                kind: StatusKind::Throttled,
                message,
                retry_in_secs,
            } => Some((message.clone(), *retry_in_secs)),
            _ => None,
        })
        .collect();
    assert_eq!(
        retries,
        [
            ("throttled, retrying in 2 s".to_string(), Some(2)),
            ("throttled, retrying in 4 s".to_string(), Some(4))
        ]
    );
    assert_eq!(started.elapsed(), Duration::from_secs(6));
}

#[tokio::test(start_paused = true)]
async fn throttling_gives_up_after_the_retry_budget() {
    let steps = (0..3)
        .map(|_| {
            Step::Fail(ModelError::Throttled {
                message: "slow down".into(),
                retry_after: Some(Duration::from_secs(1)),
            })
        })
        .collect();
    let model = Arc::new(ScriptedModel::new(steps));
    let limits = Limits {
        max_throttle_retries: 2,
        ..Limits::default()
    };
    let run = run(&agent(model, tools(&[]), limits)).await;
    assert_eq!(run.end, RunEnd::Error);
    assert!(run.events.iter().any(|e| matches!(e,
        AgentEvent::Error { kind: ErrorKind::Throttled, message } if message.contains("slow down"))));
    // The unanswered question is closed so the next message keeps roles alternating.
    assert_eq!(run.history.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn context_overflow_trims_oldest_tool_results_then_retries() {
    let result = |id: &str| Block::ToolResult {
        id: id.into(),
        text: "big result".into(),
        is_error: false,
    };
    let use_ = |id: &str| Block::ToolUse {
        id: id.into(),
        name: "lookup".into(),
        input: json!({}),
    };
    let earlier = vec![
        Message::user_text("earlier"),
        Message {
            role: Role::Assistant,
            content: vec![use_("x"), use_("y")],
        },
        Message {
            role: Role::User,
            content: vec![result("x"), result("y")],
        },
        Message::assistant_text("earlier answer"),
    ];
    let model = Arc::new(ScriptedModel::new(vec![
        Step::Fail(ModelError::ContextOverflow("Input is too long".into())),
        Step::text("fits now"),
    ]));
    let run = run_with(
        &agent(model.clone(), tools(&[]), Limits::default()),
        earlier,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(run.end, RunEnd::EndTurn);
    assert!(run.events.iter().any(|e| matches!(e,
        AgentEvent::Status { kind: StatusKind::Trimmed, message, .. } if message.contains("removed the 1 oldest"))));
    let retried = &model.requests.lock().unwrap()[1];
    assert!(
        matches!(&retried[2].content[0], Block::ToolResult { text, .. } if text == TRIMMED_RESULT)
    );
    assert!(
        matches!(&retried[2].content[1], Block::ToolResult { text, .. } if text == "big result")
    );
}

#[tokio::test(start_paused = true)]
async fn cancel_during_stream_keeps_partial_text_and_valid_history() {
    let model = Arc::new(ScriptedModel::new(vec![Step::Hang {
        chunks: vec!["Looking".into()],
    }]));
    let cancel = CancellationToken::new();
    let stopper = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        stopper.cancel();
    });
    let run = run_with(&agent(model, tools(&[]), Limits::default()), vec![], cancel).await;
    assert_eq!(run.end, RunEnd::Stopped);
    assert_eq!(run.history[1].text(), "Looking [stopped by the user]");
    assert!(matches!(
        run.events.last(),
        Some(AgentEvent::Done {
            stop_reason: RunEnd::Stopped,
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn cancel_during_tools_answers_every_tool_use() {
    let model = Arc::new(ScriptedModel::new(vec![
        Step::tools(&[("fast", "quick", json!({})), ("slow", "sleepy", json!({}))]),
        Step::text("next question works"),
    ]));
    let tools = tools(&[
        ("quick", Behaviour::Answer("quick result".into())),
        (
            "sleepy",
            Behaviour::Slow(Duration::from_secs(20), "late".into()),
        ),
    ]);
    let agent = agent(model, tools, Limits::default());
    let cancel = CancellationToken::new();
    let stopper = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        stopper.cancel();
    });
    let run = run_with(&agent, vec![], cancel).await;
    assert_eq!(run.end, RunEnd::Stopped);
    let results = &run.history[2].content;
    assert!(
        matches!(&results[0], Block::ToolResult { text, is_error: false, .. } if text == "quick result")
    );
    assert!(
        matches!(&results[1], Block::ToolResult { text, is_error: true, .. } if text.contains("cancelled"))
    );
    assert_eq!(run.history[3].text(), "[stopped by the user]");
    assert!(run.events.iter().any(|e| matches!(e,
        AgentEvent::ToolEnd { id, status: ToolStatus::Cancelled, .. } if id == "slow")));
    // The conversation continues after a stop.
    let next = run_with(&agent, run.history, CancellationToken::new()).await;
    assert_eq!(next.end, RunEnd::EndTurn);
    assert_eq!(next.history.last().unwrap().text(), "next question works");
}

#[tokio::test(start_paused = true)]
async fn unavailable_servers_are_reported_but_the_run_goes_on() {
    struct Broken;
    #[async_trait::async_trait]
    impl ToolProvider for Broken {
        async fn list_tools(&self) -> crate::tools::ToolListing {
            crate::tools::ToolListing {
                tools: vec![],
                unavailable: vec![crate::tools::ToolError::Unavailable {
                    server: "cloudtrail".into(),
                    message: "connection refused".into(),
                }],
            }
        }
        async fn call_tool(
            &self,
            name: &str,
            _: Value,
            _: &CallContext,
        ) -> Result<crate::tools::ToolOutput, crate::tools::ToolError> {
            Err(crate::tools::ToolError::UnknownTool(name.into()))
        }
    }
    let agent = Agent {
        model: Arc::new(ScriptedModel::new(vec![Step::text("no tools today")])),
        tools: Arc::new(Broken),
        limits: Limits::default(),
        persona: Persona::Analyst,
    };
    let run = run(&agent).await;
    assert_eq!(run.end, RunEnd::EndTurn);
    assert!(matches!(&run.events[0],
        AgentEvent::Error { kind: ErrorKind::McpUnavailable, message } if message.contains("cloudtrail")));
}

fn evidence_tools() -> Arc<MemoryTools> {
    let page = json!({"window": {"start": "2026-11-23T00:00:00Z", "end": "2026-11-24T00:00:00Z"},
        "filter": null, "failed_events": 1,
        "write_actions": [{"ref": "1a2b3c4d", "event_time": "2026-11-23T09:00:00Z",
            "event_name": "DeleteBucket", "event_source": "s3.amazonaws.com",
            "principal": "alice", "error_code": null, "resources": ["logs"]}]});
    tools(&[
        (
            "summarize_activity",
            Behaviour::Evidence(
                page.to_string(),
                RefMap::from([("1a2b3c4d".into(), "full-event-id-1".into())]),
            ),
        ),
        ("get_event", Behaviour::Answer("{\"event\": {}}".into())),
    ])
}

#[tokio::test(start_paused = true)]
async fn citations_are_checked_against_the_refs_tools_returned() {
    let model = Arc::new(ScriptedModel::new(vec![
        Step::tools(&[("t1", "summarize_activity", json!({}))]),
        Step::text("alice deleted logs [ev:1a2b3c4d]; bob did too [ev:deadbeef]."),
    ]));
    let run = run(&agent(model, evidence_tools(), Limits::default())).await;
    assert_eq!(run.end, RunEnd::EndTurn);
    assert_eq!(
        names(&run.events),
        [
            "tool_start",
            "tool_end",
            "status",
            "text",
            "citations",
            "suggestions",
            "done"
        ]
    );
    let refs = run
        .events
        .iter()
        .find_map(|e| match e {
            AgentEvent::ToolEnd { refs, .. } => Some(refs.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        refs.get("1a2b3c4d").map(String::as_str),
        Some("full-event-id-1")
    );
    let AgentEvent::Citations { refs } = &run.events[4] else {
        panic!("{:?}", run.events[4])
    };
    let marks: Vec<(&str, Option<&str>, bool)> = refs
        .iter()
        .map(|c| (c.event_ref.as_str(), c.event_id.as_deref(), c.known))
        .collect();
    assert_eq!(
        marks,
        [
            ("1a2b3c4d", Some("full-event-id-1"), true),
            ("deadbeef", None, false)
        ]
    );
    let AgentEvent::Suggestions { items } = &run.events[5] else {
        panic!()
    };
    assert!(items[0].question.contains("alice"), "{items:?}");
}

#[tokio::test(start_paused = true)]
async fn a_known_ref_given_to_get_event_is_sent_as_the_full_id() {
    let model = Arc::new(ScriptedModel::new(vec![
        Step::tools(&[("t1", "get_event", json!({"event_id": "1a2b3c4d"}))]),
        Step::tools(&[("t2", "get_event", json!({"event_id": "0badc0de"}))]),
        Step::text("It was alice [ev:1a2b3c4d]."),
    ]));
    let tools = evidence_tools();
    let agent = agent(model.clone(), tools.clone(), Limits::default());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut history = Vec::new();
    // The ref was returned earlier in the chat (another run).
    let mut input = input("show me that event");
    input.known_refs = RefMap::from([("1a2b3c4d".into(), "full-event-id-1".into())]);
    agent
        .run(&mut history, input, &tx, &CancellationToken::new())
        .await;
    drop(tx);
    let inputs = tools.inputs.lock().unwrap().clone();
    assert_eq!(inputs[0].1, json!({"event_id": "full-event-id-1"}));
    assert_eq!(
        inputs[1].1,
        json!({"event_id": "0badc0de"}),
        "unknown refs pass as given"
    );
    // The model's own words stay in its history.
    assert_eq!(
        history[1].tool_uses().next().unwrap().2["event_id"],
        "1a2b3c4d"
    );
    let mut known = None;
    while let Some(event) = rx.recv().await {
        if let AgentEvent::Citations { refs } = event {
            known = Some(refs[0].known);
        }
    }
    assert_eq!(known, Some(true), "a ref from an earlier run is known");
}
