//! The ALB sign-in gate end to end: tokens shaped exactly as the ALB sends them (ES256, `=`
//! padding, `signer` and `kid` in the header), signed with a locally generated P-256 key whose
//! PEM a loopback stand-in of the regional key endpoint serves, in front of the real API.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agent::allow::AllowList;
use agent::identity::AlbVerifier;
use agent::signin::SignIn;
use agent::testing::{Behaviour, MemoryTools, ScriptedModel, Step};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde_json::{Value, json};

use crate::helpers::*;

const ALB_ARN: &str = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:loadbalancer/app/chat/50dc6c495c0c9188";
const KID: &str = "5d6e8f0a-1b2c-4d3e-9f80-a1b2c3d4e5f6";

/// A load balancer's signing key (also used by the evidence tests' two users) and the key endpoint serving its public half.
pub struct Alb {
    key: EcdsaKeyPair,
    endpoint: String,
    fetches: Arc<AtomicUsize>,
}

impl Alb {
    pub async fn start() -> Self {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let der = key.public_key().as_der().unwrap();
        let body = STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        );
        let fetches = Arc::new(AtomicUsize::new(0));
        let counter = fetches.clone();
        // As the regional endpoint: GET /<kid> answers the PEM, other ids 404.
        let router = axum::Router::new().route(
            "/{kid}",
            axum::routing::get(
                move |axum::extract::Path(kid): axum::extract::Path<String>| {
                    let pem = pem.clone();
                    counter.fetch_add(1, Ordering::SeqCst);
                    async move {
                        if kid == KID {
                            (axum::http::StatusCode::OK, pem)
                        } else {
                            (axum::http::StatusCode::NOT_FOUND, String::new())
                        }
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            key,
            endpoint,
            fetches,
        }
    }

    /// A token as the ALB makes it: base64url parts *with* `=` padding.
    fn token_signed_by(&self, key: &EcdsaKeyPair, header: Value, claims: Value) -> String {
        let header = URL_SAFE.encode(header.to_string());
        let payload = URL_SAFE.encode(claims.to_string());
        let input = format!("{header}.{payload}");
        let signature = key.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE.encode(signature.as_ref()))
    }

    pub fn token(&self, claims: Value) -> String {
        self.token_signed_by(&self.key, header(ALB_ARN, KID), claims)
    }

    pub fn sign_in(&self, allow: AllowList) -> SignIn {
        SignIn {
            verifier: Some(AlbVerifier::new(
                ALB_ARN.into(),
                self.endpoint.clone(),
                allow,
                reqwest::Client::new(),
            )),
            required: true,
        }
    }
}

fn header(signer: &str, kid: &str) -> Value {
    json!({"typ": "JWT", "kid": kid, "alg": "ES256", "iss": "https://idp.example.com",
        "client": "client-id", "signer": signer, "exp": in_secs(120)})
}

fn in_secs(secs: i64) -> i64 {
    jiff::Timestamp::now().as_second() + secs
}

pub fn claims(sub: &str, email: &str) -> Value {
    json!({"sub": sub, "email": email, "email_verified": "true", "exp": in_secs(120),
        "iss": "https://idp.example.com"})
}

async fn agent_behind(alb: &Alb, tools: Arc<MemoryTools>) -> AgentApp {
    let steps = vec![
        Step::tools(&[("t1", "probe", json!({}))]),
        Step::text("done"),
    ];
    spawn_agent(AgentOptions {
        model: Arc::new(ScriptedModel::new(steps)),
        sign_in: alb.sign_in(AllowList::new(&["example.com".into()], &[], "groups")),
        ..AgentOptions::offline(tools, 0)
    })
    .await
}

async fn get(agent: &AgentApp, path: &str, token: Option<&str>, accept: &str) -> reqwest::Response {
    let mut request = agent
        .http
        .get(format!("{}{path}", agent.base))
        .header("accept", accept);
    if let Some(token) = token {
        request = request.header("x-amzn-oidc-data", token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_valid_alb_token_lets_the_user_in_and_reaches_the_tools() {
    let alb = Alb::start().await;
    let tools = Arc::new(MemoryTools::new(&[(
        "probe",
        Behaviour::Answer("{}".into()),
    )]));
    let agent = agent_behind(&alb, tools.clone()).await;
    let token = alb.token(claims("u-alice", "alice@example.com"));
    assert!(token.contains('='), "the ALB pads its parts: {token}");

    let page = get(&agent, "/", Some(&token), "text/html").await;
    assert_eq!(page.status(), 200);
    let response = agent
        .http
        .post(format!("{}/api/chat", agent.base))
        .header("x-amzn-oidc-data", &token)
        .json(&json!({"message": "what did bob do?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let events = parse_sse(&response.text().await.unwrap());
    assert_eq!(names(&events).last(), Some(&"done"));

    // The caller went with the tool call; the key was fetched once for both requests.
    let contexts = tools.contexts.lock().unwrap().clone();
    let caller = contexts[0].caller.clone().expect("a caller");
    assert_eq!(caller.sub, "u-alice");
    assert_eq!(caller.email.as_deref(), Some("alice@example.com"));
    assert_eq!(alb.fetches.load(Ordering::SeqCst), 1);
    // The health check needs no sign-in (the target group sends none).
    assert_eq!(get(&agent, "/healthz", None, "*/*").await.status(), 200);
}

#[tokio::test]
async fn forged_foreign_expired_missing_and_unlisted_tokens_are_refused() {
    let alb = Alb::start().await;
    let tools = Arc::new(MemoryTools::new(&[(
        "probe",
        Behaviour::Answer("{}".into()),
    )]));
    let agent = agent_behind(&alb, tools.clone()).await;
    let other_key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let alice = claims("u-alice", "alice@example.com");
    let mut expired = alice.clone();
    expired["exp"] = json!(in_secs(-600));
    let foreign = ALB_ARN.replace("chat/50dc", "other/50dc");

    let refused = [
        ("missing", None, 401, "sign-in required"),
        (
            "forged signature",
            Some(alb.token_signed_by(&other_key, header(ALB_ARN, KID), alice.clone())),
            401,
            "signature is not valid",
        ),
        (
            "another load balancer",
            Some(alb.token_signed_by(&alb.key, header(&foreign, KID), alice.clone())),
            401,
            "not signed by this load balancer",
        ),
        (
            "unknown key id",
            Some(alb.token_signed_by(&alb.key, header(ALB_ARN, "not-a-key"), alice.clone())),
            401,
            "not one the load balancer's key endpoint knows",
        ),
        ("expired", Some(alb.token(expired)), 401, "expired"),
        (
            "outside the allow-list",
            Some(alb.token(claims("u-mallory", "mallory@evil.test"))),
            403,
            "only e-mail addresses at example.com",
        ),
        ("garbage", Some("a.b".to_owned()), 401, "malformed"),
    ];
    for (case, token, status, message) in refused {
        let api = get(&agent, "/api/session", token.as_deref(), "application/json").await;
        assert_eq!(api.status(), status, "{case}");
        let body: Value = api.json().await.unwrap();
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(message), "{case}: {error}");

        // The page gets a readable refusal, not JSON.
        let page = get(&agent, "/", token.as_deref(), "text/html").await;
        assert_eq!(page.status(), status, "{case}");
        assert!(page.text().await.unwrap().contains("<h1>"), "{case}");
    }
    // A token that is not signed by this ALB never makes the agent fetch a key.
    assert_eq!(
        alb.fetches.load(Ordering::SeqCst),
        2,
        "the real kid and the unknown one"
    );
    assert!(tools.contexts.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_chat_cookie_replayed_by_another_user_is_not_their_chat() {
    let alb = Alb::start().await;
    let tools = Arc::new(MemoryTools::new(&[]));
    let agent = spawn_agent(AgentOptions {
        model: Arc::new(ScriptedModel::new(vec![
            Step::text("alice's answer"),
            Step::text("bob's answer"),
        ])),
        sign_in: alb.sign_in(AllowList::new(&["example.com".into()], &[], "groups")),
        ..AgentOptions::offline(tools, 0)
    })
    .await;
    let alice = alb.token(claims("u-alice", "alice@example.com"));
    let bob = alb.token(claims("u-bob", "bob@example.com"));
    let send = |token: &str, cookie: Option<&str>, path: &str, body: Option<Value>| {
        let mut request = match &body {
            Some(body) => agent.http.post(format!("{}{path}", agent.base)).json(body),
            None => agent.http.get(format!("{}{path}", agent.base)),
        }
        .header("x-amzn-oidc-data", token);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send()
    };
    let asked = send(&alice, None, "/api/chat", Some(json!({"message": "hi"})))
        .await
        .unwrap();
    let cookie = cookie_of(&asked).expect("a session cookie");
    assert_eq!(
        names(&parse_sse(&asked.text().await.unwrap())).last(),
        Some(&"done")
    );
    let view = |token: String| {
        let cookie = cookie.clone();
        let send = &send;
        async move {
            let response = send(&token, Some(&cookie), "/api/session", None)
                .await
                .unwrap();
            response.json::<Value>().await.unwrap()["messages"]
                .as_array()
                .map_or(0, Vec::len)
        }
    };
    assert_eq!(view(alice.clone()).await, 2, "alice sees her chat");
    assert_eq!(view(bob.clone()).await, 0, "bob does not, with her cookie");

    // Bob's stop, reset and question with her cookie do not touch her chat.
    let stop = send(&bob, Some(&cookie), "/api/chat/stop", Some(json!({})))
        .await
        .unwrap();
    assert_eq!(stop.json::<Value>().await.unwrap()["stopped"], false);
    send(&bob, Some(&cookie), "/api/session/reset", Some(json!({})))
        .await
        .unwrap();
    let his = send(
        &bob,
        Some(&cookie),
        "/api/chat",
        Some(json!({"message": "hi"})),
    )
    .await
    .unwrap();
    let his_cookie = cookie_of(&his).expect("bob gets a chat of his own");
    assert_ne!(his_cookie, cookie);
    his.text().await.unwrap();
    assert_eq!(view(alice).await, 2, "alice's chat is intact");
}
