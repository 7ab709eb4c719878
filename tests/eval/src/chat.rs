//! A client of the agent's HTTP/SSE API (docs/interfaces.md): asks one question in a new chat and
//! reads the whole event stream into a [`Transcript`] of what the page would have seen.

use std::time::Duration;

use serde_json::{Value, json};

use crate::EvalError;

/// One tool call as the stream reported it (`tool_start` + `tool_end`).
#[derive(Debug, Clone, Default)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub input: Value,
    pub status: String,
    /// The tool's answer as the stream carries it (size-capped).
    pub output: String,
}

/// One cited reference from a `citations` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Citation {
    pub reference: String,
    /// The full event id the agent resolved the ref to (`None` when unknown).
    pub event_id: Option<String>,
    pub known: bool,
}

/// Everything one question's stream said.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    /// The answer text (every `text` delta).
    pub text: String,
    pub tools: Vec<ToolCall>,
    /// Every `citations` event's refs, in order.
    pub citations: Vec<Citation>,
    /// Whether any `citations` event came (the agent emits one per answer with citations).
    pub saw_citations_event: bool,
    /// `error` events' kinds.
    pub errors: Vec<String>,
    pub stop_reason: String,
    /// The session cookie of the chat (to read `/api/session` afterwards).
    pub cookie: String,
}

/// A client of one agent.
#[derive(Debug, Clone)]
pub struct Client {
    pub base: String,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base: &str) -> Self {
        Client {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(300))
                .build()
                .unwrap_or_default(),
        }
    }

    /// Waits until `/healthz` answers.
    pub async fn wait_ready(&self, what: &str) -> Result<(), EvalError> {
        for _ in 0..600 {
            if let Ok(r) = self.http.get(format!("{}/healthz", self.base)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(EvalError::NotReady(what.to_owned()))
    }

    /// Asks `message` in a new chat (no cookie) and reads the whole stream.
    pub async fn ask(&self, message: &str, timezone: &str) -> Result<Transcript, EvalError> {
        let response = self
            .http
            .post(format!("{}/api/chat", self.base))
            .json(&json!({"message": message, "timezone": timezone}))
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(EvalError::Chat(format!("{status}: {body}")));
        }
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap_or("")
            .to_owned();
        let body = response.text().await?;
        let mut transcript = read_stream(&body);
        transcript.cookie = cookie;
        Ok(transcript)
    }

    /// `GET /api/session` of a chat.
    pub async fn session(&self, cookie: &str) -> Result<Value, EvalError> {
        Ok(self
            .http
            .get(format!("{}/api/session", self.base))
            .header("cookie", cookie)
            .send()
            .await?
            .json()
            .await?)
    }
}

/// `(event, data)` pairs of a complete `text/event-stream` body.
pub fn parse_sse(body: &str) -> Vec<(String, Value)> {
    body.replace("\r\n", "\n")
        .split("\n\n")
        .filter_map(|block| {
            let mut event = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            Some((event?, serde_json::from_str(&data).unwrap_or(Value::Null)))
        })
        .collect()
}

/// A stream's events as a [`Transcript`].
pub fn read_stream(body: &str) -> Transcript {
    let mut t = Transcript::default();
    let str_of = |v: &Value, k: &str| v[k].as_str().unwrap_or("").to_owned();
    for (event, data) in parse_sse(body) {
        match event.as_str() {
            "text" => t.text.push_str(data["delta"].as_str().unwrap_or("")),
            "tool_start" => t.tools.push(ToolCall {
                id: str_of(&data, "id"),
                name: str_of(&data, "name"),
                input: data["input"].clone(),
                ..ToolCall::default()
            }),
            "tool_end" => {
                let id = str_of(&data, "id");
                if let Some(call) = t.tools.iter_mut().find(|c| c.id == id) {
                    call.status = str_of(&data, "status");
                    call.output = match &data["output"] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                }
            }
            "citations" => {
                t.saw_citations_event = true;
                for r in data["refs"].as_array().into_iter().flatten() {
                    t.citations.push(Citation {
                        reference: str_of(r, "ref"),
                        event_id: r["event_id"].as_str().map(str::to_owned),
                        known: r["known"].as_bool().unwrap_or(false),
                    });
                }
            }
            "error" => t.errors.push(str_of(&data, "kind")),
            "done" => t.stop_reason = str_of(&data, "stop_reason"),
            _ => {}
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_becomes_a_transcript() {
        let body = "event: text\ndata: {\"delta\":\"Looking \"}\n\n\
            event: tool_start\ndata: {\"id\":\"t1\",\"name\":\"lookup_events\",\"input\":{\"a\":1}}\n\n\
            event: tool_end\ndata: {\"id\":\"t1\",\"name\":\"lookup_events\",\"status\":\"ok\",\"output\":\"{}\"}\n\n\
            event: text\ndata: {\"delta\":\"done [ev:1a2b3c4d]\"}\n\n\
            event: citations\ndata: {\"refs\":[{\"ref\":\"1a2b3c4d\",\"event_id\":\"x\",\"known\":true}]}\n\n\
            event: done\ndata: {\"stop_reason\":\"end_turn\"}\n\n";
        let t = read_stream(body);
        assert_eq!(t.text, "Looking done [ev:1a2b3c4d]");
        assert_eq!(t.tools.len(), 1);
        assert_eq!(
            (t.tools[0].status.as_str(), t.tools[0].output.as_str()),
            ("ok", "{}")
        );
        assert_eq!(
            t.citations,
            [Citation {
                reference: "1a2b3c4d".into(),
                event_id: Some("x".into()),
                known: true
            }]
        );
        assert_eq!(t.stop_reason, "end_turn");
    }
}
