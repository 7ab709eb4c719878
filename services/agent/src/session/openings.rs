//! The per-client limit on new chats: each client address may open so many a minute (429 with
//! `Retry-After` beyond it). Counted per task.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::SessionError;

#[derive(Debug, Default)]
struct Window {
    start: Option<Instant>,
    by_client: HashMap<IpAddr, u32>,
}

/// New sessions per client address in the current minute.
#[derive(Debug)]
pub struct Openings {
    per_minute: u32,
    window: Mutex<Window>,
}

impl Openings {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            window: Mutex::new(Window::default()),
        }
    }

    /// Counts one new chat of `client`, or refuses it with the seconds to wait.
    pub fn count(&self, client: IpAddr) -> Result<(), SessionError> {
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let minute = Duration::from_secs(60);
        match window.start {
            Some(start) if now.duration_since(start) < minute => {}
            _ => {
                window.start = Some(now);
                window.by_client.clear();
            }
        }
        let start = window.start.unwrap_or(now);
        let count = window.by_client.entry(client).or_default();
        if *count >= self.per_minute {
            let wait = minute.saturating_sub(now.duration_since(start)).as_secs() + 1;
            return Err(SessionError::TooManyNew(wait));
        }
        *count += 1;
        Ok(())
    }
}
