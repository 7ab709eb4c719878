//! The local server loop closes connections that send no request head in time, whether fresh or
//! idle after a keep-alive request, and keeps serving others.

use std::time::{Duration, Instant};

use std::sync::Arc;

use cloudtrail_mcp::cursor::CursorCodec;
use cloudtrail_mcp::source::builtin::SampleSource;
use cloudtrail_mcp::{CloudTrailServer, HostPolicy, ToolSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn silent_and_idle_connections_are_closed_after_the_header_timeout() {
    let source = Arc::new(SampleSource::new(jiff::Timestamp::now(), 42));
    let server = CloudTrailServer::new(source, CursorCodec::new("k"), ToolSettings::default());
    let router = cloudtrail_mcp::app(server, HostPolicy::loopback());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(cloudtrail_mcp::serve::serve(
        listener,
        router,
        Duration::from_millis(300),
        futures_pending(),
    ));
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = vec![0u8; 1024];
    let n = idle.read(&mut buffer).await.unwrap();
    assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 200"));
    for (name, socket) in [("silent", &mut silent), ("idle", &mut idle)] {
        let started = Instant::now();
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            while let Ok(n) = socket.read(&mut buffer).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "{name} connection still open after 5 s");
        assert!(started.elapsed() < Duration::from_secs(3), "{name}");
    }
    // The server still answers.
    let fresh = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
}

async fn futures_pending() {
    std::future::pending::<()>().await
}
