//! One answer, from start to `done`: runs the agent on its own task, records each event in the
//! session (as long as the run is still the session's current one) and relays it to the SSE
//! stream. Text that reaches the browser is made display-safe on the way: bidi overrides and
//! invisible characters from tool data (or a model echoing it) are shown as visible escapes,
//! so a principal or resource name cannot be spoofed on screen.

use std::borrow::Cow;
use std::sync::Arc;

use axum::response::sse::Event;
use cloudtrail_contract::Caller;
use futures::{FutureExt, Stream};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::agent::RunInput;
use crate::conversation::{Message, Usage};
use crate::events::{AgentEvent, ErrorKind, RunEnd};
use crate::session::RunTicket;
use crate::state::AppState;

/// Whether `c` changes how surrounding text is displayed without being visible itself: bidi
/// embeddings, overrides and isolates, zero-width characters, and other format controls.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' // zero width space/non-joiner/joiner, LRM, RLM
        | '\u{202A}'..='\u{202E}' // LRE, RLE, PDF, LRO, RLO
        | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
        | '\u{2066}'..='\u{2069}' // LRI, RLI, FSI, PDI
        | '\u{061C}' // Arabic letter mark
        | '\u{FEFF}' // zero width no-break space
        | '\u{180E}' // Mongolian vowel separator
    )
}

/// `text` with every invisible control written as a visible `⟨U+XXXX⟩`.
pub fn display_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_invisible) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_invisible(c) {
            out.push_str(&format!("⟨U+{:04X}⟩", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The event as the browser may show it.
fn for_display(event: AgentEvent) -> AgentEvent {
    let fix = |s: String| match display_safe(&s) {
        Cow::Borrowed(_) => s,
        Cow::Owned(fixed) => fixed,
    };
    match event {
        AgentEvent::Text { delta } => AgentEvent::Text { delta: fix(delta) },
        AgentEvent::ToolEnd {
            id,
            name,
            status,
            duration_ms,
            output,
            refs,
        } => AgentEvent::ToolEnd {
            id,
            name,
            status,
            duration_ms,
            output: fix(output),
            refs,
        },
        AgentEvent::Suggestions { items } => AgentEvent::Suggestions {
            items: items
                .into_iter()
                .map(|s| crate::suggestions::Suggestion {
                    label: fix(s.label),
                    question: fix(s.question),
                })
                .collect(),
        },
        AgentEvent::Error { kind, message } => AgentEvent::Error {
            kind,
            message: fix(message),
        },
        other => other,
    }
}

/// Runs the agent for session `id` of `owner`, relaying events to the session transcript and the SSE
/// stream. `done` goes out only after the session is free again, so a client may send its next
/// message as soon as it sees `done`. The run goes on if the browser disconnects (a reload then
/// shows it).
pub async fn run(
    state: Arc<AppState>,
    owner: String,
    id: String,
    mut history: Vec<Message>,
    input: RunInput,
    ticket: RunTicket,
    sse: mpsc::UnboundedSender<AgentEvent>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let caller = input.context.caller.clone();
    let mut tools_called: Vec<String> = Vec::new();
    let agent_run = async {
        let outcome =
            std::panic::AssertUnwindSafe(state.agent.run(&mut history, input, &tx, &ticket.cancel))
                .catch_unwind()
                .await;
        drop(tx);
        outcome.is_ok()
    };
    let relay = async {
        let mut done = None;
        while let Some(event) = rx.recv().await {
            let event = for_display(event);
            state.sessions.apply(&owner, &id, ticket.run, &event).await;
            if let AgentEvent::ToolStart { name, .. } = &event {
                tools_called.push(name.clone());
            }
            if matches!(event, AgentEvent::Done { .. }) {
                done = Some(event);
            } else {
                let _ = sse.send(event);
            }
        }
        done
    };
    let (completed, done) = tokio::join!(agent_run, relay);
    if !completed {
        tracing::error!("the agent run panicked");
        history.clear();
        let error = AgentEvent::Error {
            kind: ErrorKind::Internal,
            message: "internal error: the answer was lost; the chat continues".into(),
        };
        state.sessions.apply(&owner, &id, ticket.run, &error).await;
        let _ = sse.send(error);
    }
    state
        .sessions
        .finish_run(&owner, &id, ticket.run, history)
        .await;
    let done = done.unwrap_or(AgentEvent::Done {
        stop_reason: RunEnd::Error,
        usage: Usage::default(),
    });
    if let AgentEvent::Done { stop_reason, usage } = &done {
        audit(caller.as_ref(), &id, &tools_called, *stop_reason, usage);
    }
    let _ = sse.send(done);
}

/// One audit line per question: who asked, in which chat, which tools ran, what it cost. The
/// chat is named by a digest of its id: the id is the cookie's secret and must not reach logs.
fn audit(
    caller: Option<&Caller>,
    session: &str,
    tools: &[String],
    stop_reason: RunEnd,
    usage: &Usage,
) {
    tracing::info!(
        target: "audit",
        user = caller.map_or("", |c| c.sub.as_str()),
        email = caller.and_then(|c| c.email.as_deref()).unwrap_or(""),
        chat = %chat_digest(session),
        tools = ?tools,
        stop_reason = ?stop_reason,
        input_tokens = usage.input_tokens,
        output_tokens = usage.output_tokens,
        "question answered"
    );
}

/// A short, stable name for a chat in logs: the first 16 hex digits of its id's SHA-256.
pub fn chat_digest(session: &str) -> String {
    Sha256::digest(session.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The SSE stream of a run's events.
pub fn event_stream(
    rx: mpsc::UnboundedReceiver<AgentEvent>,
) -> impl Stream<Item = Result<Event, std::convert::Infallible>> {
    futures::stream::unfold(rx, |mut rx| async move {
        let event = rx.recv().await?;
        let sse = Event::default()
            .event(event.name())
            .json_data(event.data())
            .unwrap_or_else(|_| Event::default().event("error"));
        Some((Ok(sse), rx))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_and_invisible_characters_become_visible() {
        // "alice" + RLO + "txt.exe" would display as "aliceexe.txt".
        let spoof = "alice\u{202E}txt.exe\u{200B}";
        assert_eq!(display_safe(spoof), "alice⟨U+202E⟩txt.exe⟨U+200B⟩");
        assert!(matches!(display_safe("plain 日本語"), Cow::Borrowed(_)));
        let event = for_display(AgentEvent::ToolEnd {
            id: "t".into(),
            name: "lookup_events".into(),
            status: crate::events::ToolStatus::Ok,
            duration_ms: 1,
            output: "{\"user\":\"bob\u{2066}\"}".into(),
            refs: Default::default(),
        });
        let AgentEvent::ToolEnd { output, .. } = event else {
            unreachable!()
        };
        assert_eq!(output, "{\"user\":\"bob⟨U+2066⟩\"}");
    }
}
