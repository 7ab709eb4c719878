//! A local DynamoDB for the store's tests: the server mode of the `moto` PyPI package
//! (`scripts/setup-tools` installs the pinned version), started on a free loopback port and
//! stopped with the test, and the real SDK client pointed at it.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running moto server.
pub struct Moto {
    pub endpoint: String,
    child: Child,
}

impl Moto {
    /// Starts `moto_server` (or `$MOTO_SERVER`) on 127.0.0.1 and a free port; `None`, with the
    /// reason printed, when moto is not installed (run `scripts/setup-tools`).
    pub async fn start() -> Option<Moto> {
        let program = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let spawned = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) => {
                eprintln!(
                    "SKIPPED: the DynamoDB store tests need moto's server ({program}: {error}); \
                     run scripts/setup-tools"
                );
                return None;
            }
        };
        // Werkzeug prints "Running on http://127.0.0.1:PORT" on stderr.
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let endpoint = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(at) = line.find("http://127.0.0.1:") {
                    return Some(line[at..].trim().to_owned());
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        let Some(endpoint) = endpoint else {
            let _ = child.kill().await;
            panic!("{program} did not say where it listens");
        };
        // Keep draining its log so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Some(Moto { endpoint, child })
    }

    /// The real SDK client, pointed at this server.
    pub fn client(&self) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_credential_types::Credentials::new(
                "AKIDLOCAL",
                "secret",
                None,
                None,
                "test",
            ))
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
