//! Who may talk to the service, checked before any handler runs:
//! - the `Host` must be one the service is reached by (loopback names locally; the ALB's DNS name
//!   and the chat's domain when deployed): a page on another site whose DNS name was rebound to
//!   this address (DNS rebinding) gets 403, not a cookie and CloudTrail data;
//! - a state-changing request (POST) from a browser must come from one of those hosts (`Origin`);
//! - the health check (`/healthz`) answers any Host: the target group sends the task's IP.
//!
//! It also says which client address a request comes from ([`client_ip`]), for per-client limits.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// One allowed host name: exact, or `*.suffix` for any subdomain. Compared case-insensitively,
/// without the port.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    Suffix(String),
}

impl HostPattern {
    fn parse(pattern: &str) -> Self {
        let pattern = pattern.trim().to_ascii_lowercase();
        match pattern.strip_prefix("*.") {
            Some(suffix) => HostPattern::Suffix(format!(".{suffix}")),
            None => HostPattern::Exact(pattern),
        }
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(name) => host == name,
            HostPattern::Suffix(suffix) => {
                host.ends_with(suffix.as_str()) && host.len() > suffix.len()
            }
        }
    }
}

/// The names a local agent is reached by.
const LOOPBACK: &[&str] = &["localhost", "127.0.0.1", "[::1]"];

/// Which hosts and origins are served, and whether the client address comes from the ALB.
#[derive(Debug, Clone)]
pub struct AccessPolicy {
    hosts: Vec<HostPattern>,
    /// Behind a load balancer that appends the client's address to `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
}

impl Default for AccessPolicy {
    fn default() -> Self {
        Self::new(&[], false)
    }
}

impl AccessPolicy {
    /// Loopback names plus `extra` (`chat.example.com`, `*.example.com`).
    pub fn new(extra: &[String], trust_forwarded_for: bool) -> Self {
        let hosts = LOOPBACK
            .iter()
            .map(|h| HostPattern::parse(h))
            .chain(
                extra
                    .iter()
                    .filter(|h| !h.trim().is_empty())
                    .map(|h| HostPattern::parse(h)),
            )
            .collect();
        Self {
            hosts,
            trust_forwarded_for,
        }
    }

    /// Whether `authority` (`name`, `name:port`, `[v6]:port`) names an allowed host.
    pub fn allows_host(&self, authority: &str) -> bool {
        let host = host_without_port(authority).to_ascii_lowercase();
        !host.is_empty() && self.hosts.iter().any(|p| p.matches(&host))
    }

    /// Whether a browser `Origin` (`scheme://host[:port]`) is one of ours.
    pub fn allows_origin(&self, origin: &str) -> bool {
        let Some((scheme, authority)) = origin.split_once("://") else {
            return false;
        };
        matches!(scheme, "http" | "https")
            && !authority.contains('/')
            && self.allows_host(authority)
    }
}

fn host_without_port(authority: &str) -> &str {
    let authority = authority.trim();
    if authority.starts_with('[') {
        // `[::1]:8080` -> `[::1]`
        return authority
            .split_once(']')
            .map_or(authority, |(h, _)| &authority[..=h.len()]);
    }
    authority.split(':').next().unwrap_or("")
}

fn forbidden(message: String) -> Response {
    (StatusCode::FORBIDDEN, axum::Json(json!({"error": message}))).into_response()
}

/// The request's host: the `Host` header, or the URI's authority (HTTP/2, absolute-form).
fn request_host(request: &Request) -> Option<String> {
    request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
}

/// The middleware applying [`AccessPolicy`].
pub async fn guard(
    State(policy): State<Arc<AccessPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path() == "/healthz" {
        return next.run(request).await;
    }
    let host = request_host(&request).unwrap_or_default();
    if !policy.allows_host(&host) {
        tracing::warn!(host = %host.chars().take(100).collect::<String>(), "refused: host not served");
        return forbidden(format!(
            "host {:?} is not served here (set --allowed-host / AGENT_ALLOWED_HOSTS)",
            host.chars().take(100).collect::<String>()
        ));
    }
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe && let Some(origin) = request.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !policy.allows_origin(origin) {
            tracing::warn!(origin = %origin.chars().take(100).collect::<String>(), "refused: cross-origin request");
            return forbidden("cross-origin requests are not accepted".into());
        }
    }
    next.run(request).await
}

/// The TCP peer of a request, when it came through [`crate::server`] (in-process tests: none).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub Option<SocketAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| *addr),
        ))
    }
}

/// The client's address: the last `X-Forwarded-For` entry when the service sits behind the ALB
/// (the ALB appends the address it saw; earlier entries are the client's own claims), else the
/// TCP peer. Unknown (in-process tests without a socket): unspecified.
pub fn client_ip(policy: &AccessPolicy, headers: &HeaderMap, peer: Peer) -> IpAddr {
    if policy.trust_forwarded_for
        && let Some(last) = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .next_back()
        && let Ok(ip) = last.parse()
    {
        return ip;
    }
    peer.0.map_or(IpAddr::from([0, 0, 0, 0]), |addr| addr.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_always_served_and_other_hosts_only_when_configured() {
        let local = AccessPolicy::default();
        for ok in [
            "127.0.0.1:8080",
            "localhost",
            "LOCALHOST:3000",
            "[::1]:8080",
        ] {
            assert!(local.allows_host(ok), "{ok}");
        }
        for refused in [
            "attacker.example",
            "127.0.0.1.attacker.example",
            "",
            "10.0.1.23:8080",
        ] {
            assert!(!local.allows_host(refused), "{refused}");
        }
        let deployed = AccessPolicy::new(
            &[
                "AwsOps-Alb-123.ap-northeast-1.elb.amazonaws.com".into(),
                "*.example.com".into(),
            ],
            true,
        );
        assert!(deployed.allows_host("awsops-alb-123.ap-northeast-1.elb.amazonaws.com"));
        assert!(deployed.allows_host("chat.example.com:443"));
        assert!(!deployed.allows_host("example.com"));
        assert!(!deployed.allows_host("evil-example.com"));
    }

    #[test]
    fn origins_must_name_an_allowed_host() {
        let policy = AccessPolicy::new(&["chat.example.com".into()], false);
        assert!(policy.allows_origin("https://chat.example.com"));
        assert!(policy.allows_origin("http://127.0.0.1:8080"));
        assert!(!policy.allows_origin("https://attacker.example"));
        assert!(!policy.allows_origin("null"));
        assert!(!policy.allows_origin("https://chat.example.com/path"));
        assert!(!policy.allows_origin("file://chat.example.com"));
    }

    #[test]
    fn the_client_is_the_albs_last_forwarded_entry_only_when_trusted() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.2.3.4, 203.0.113.9".parse().unwrap());
        let peer = Peer(Some(SocketAddr::from(([10, 0, 0, 5], 40000))));
        let behind_alb = AccessPolicy::new(&[], true);
        assert_eq!(
            client_ip(&behind_alb, &headers, peer).to_string(),
            "203.0.113.9"
        );
        let direct = AccessPolicy::default();
        assert_eq!(client_ip(&direct, &headers, peer).to_string(), "10.0.0.5");
    }
}
