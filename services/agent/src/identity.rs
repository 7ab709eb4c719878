//! Who is asking. Behind an Application Load Balancer with OIDC authentication, the ALB adds
//! `x-amzn-oidc-data` to every request it forwards: the user's claims as a JWT it signs with
//! ES256. [`AlbVerifier`] checks that token (the `signer` header names this ALB, the signature
//! verifies with the ALB's regional public key fetched by key id, the token has not expired),
//! then applies the allow-lists from the configuration (authorization beyond authentication:
//! e-mail domains, groups). [`guard`] runs it before every handler and hands the [`User`] on.
//!
//! The signature is verified with aws-lc-rs (ECDSA P-256 SHA-256, fixed-size signature; the
//! crate rustls already uses here), the key's PEM read with rustls-pki-types. The JWT framing is
//! parsed here: the ALB pads its base64url parts with `=`, which JWT libraries (jsonwebtoken
//! among them) reject, so a library would refuse exactly the tokens the ALB sends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use cloudtrail_contract::Caller;
use jiff::Timestamp;
use rustls_pki_types::SubjectPublicKeyInfoDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::allow::AllowList;

/// The header the ALB puts the signed claims in.
pub const OIDC_DATA_HEADER: &str = "x-amzn-oidc-data";

/// Clock skew tolerated on the token's `exp`.
const LEEWAY_SECS: i64 = 60;
/// Public keys kept (the ALB rotates its signing key rarely).
const MAX_KEYS: usize = 64;
/// How long a key id the endpoint did not know stays refused without asking again.
const UNKNOWN_KEY_MEMORY: Duration = Duration::from_secs(60);
/// Longest key document accepted from the key endpoint.
const MAX_KEY_BYTES: usize = 8 * 1024;

/// base64url, with or without `=` padding (the ALB pads; the JWT specification does not).
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The signed-in user, from verified claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The identity provider's subject identifier: what sessions are keyed by.
    pub sub: String,
    pub email: Option<String>,
    pub name: Option<String>,
}

impl User {
    /// How the user is named in messages and logs: the e-mail address, else the subject.
    pub fn display(&self) -> &str {
        self.email.as_deref().unwrap_or(&self.sub)
    }

    /// The user as sent with each tool call.
    pub fn caller(&self) -> Caller {
        Caller {
            sub: self.sub.clone(),
            email: self.email.clone(),
        }
    }
}

/// Why a request's identity was refused.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "sign-in required: the request carries no `{OIDC_DATA_HEADER}` header from the load balancer"
    )]
    Missing,
    #[error("the sign-in token is malformed: {0}")]
    Malformed(String),
    #[error("the sign-in token was not signed by this load balancer (its signer is {0:?})")]
    WrongSigner(String),
    #[error("the sign-in token's key {0:?} is not one the load balancer's key endpoint knows")]
    UnknownKey(String),
    #[error("the load balancer's key endpoint could not be read: {0}")]
    KeyUnavailable(String),
    #[error("the sign-in token's signature is not valid")]
    BadSignature,
    #[error("the sign-in token expired at {0}")]
    Expired(Timestamp),
    #[error(
        "{who} is signed in but may not use this agent: {why}; ask an administrator for access"
    )]
    NotAllowed { who: String, why: String },
}

/// The parts of the token's header checked here (the ALB also sends `typ`, `client`, `iss`,
/// `exp`).
#[derive(Debug, Deserialize)]
struct Header {
    alg: String,
    kid: String,
    signer: String,
}

/// Public keys by key id, and key ids recently found unknown.
#[derive(Debug, Default)]
struct Keys {
    known: HashMap<String, Arc<[u8]>>,
    unknown: HashMap<String, Instant>,
}

/// Verifies the ALB's `x-amzn-oidc-data` tokens for one load balancer.
#[derive(Debug)]
pub struct AlbVerifier {
    alb_arn: String,
    key_endpoint: String,
    allow: AllowList,
    http: reqwest::Client,
    keys: Mutex<Keys>,
    /// One key fetch at a time: concurrent requests with a new key id wait for the first.
    fetching: tokio::sync::Mutex<()>,
}

/// The ALB's public-key endpoint for the load balancer `alb_arn`
/// (`arn:<partition>:elasticloadbalancing:<region>:...`).
pub fn key_endpoint_for(alb_arn: &str) -> Option<String> {
    let mut fields = alb_arn.split(':');
    let (Some("arn"), Some(partition), Some("elasticloadbalancing"), Some(region)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return None;
    };
    let suffix = match partition {
        "aws" | "aws-us-gov" => "amazonaws.com",
        "aws-cn" => "amazonaws.com.cn",
        _ => return None,
    };
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    region_ok.then(|| format!("https://public-keys.auth.elb.{region}.{suffix}"))
}

impl AlbVerifier {
    /// A verifier for tokens signed by `alb_arn`, fetching keys from `key_endpoint`
    /// (`<endpoint>/<kid>`).
    pub fn new(
        alb_arn: String,
        key_endpoint: String,
        allow: AllowList,
        http: reqwest::Client,
    ) -> Self {
        Self {
            alb_arn,
            key_endpoint: key_endpoint.trim_end_matches('/').to_owned(),
            allow,
            http,
            keys: Mutex::new(Keys::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The user named by `token`, if it is a valid token of this ALB for an allowed user.
    pub async fn verify(&self, token: &str, now: Timestamp) -> Result<User, IdentityError> {
        let malformed = |what: &str| IdentityError::Malformed(what.to_owned());
        let mut parts = token.trim().split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("not three dot-separated parts"));
        };
        let header: Header = serde_json::from_slice(&decode(header_b64)?)
            .map_err(|e| IdentityError::Malformed(format!("header: {e}")))?;
        if header.alg != "ES256" {
            return Err(IdentityError::Malformed(format!(
                "algorithm {:?}; the load balancer signs with ES256",
                header.alg
            )));
        }
        // Checked before any key is fetched: a token for another ALB costs no request.
        if header.signer != self.alb_arn {
            return Err(IdentityError::WrongSigner(header.signer));
        }
        let signature = decode(signature_b64)?;
        if signature.len() != 64 {
            return Err(malformed("an ES256 signature has 64 bytes"));
        }
        let key = self.key(&header.kid).await?;
        // The signed input is the two parts exactly as sent, padding included.
        let signed = &token.trim()[..header_b64.len() + 1 + payload_b64.len()];
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &*key)
            .verify(signed.as_bytes(), &signature)
            .map_err(|_| IdentityError::BadSignature)?;

        let claims: Map<String, Value> = serde_json::from_slice(&decode(payload_b64)?)
            .map_err(|e| IdentityError::Malformed(format!("claims: {e}")))?;
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or_else(|| malformed("no `exp` claim"))?;
        let expires = Timestamp::from_second(exp).map_err(|_| malformed("`exp` out of range"))?;
        if now.as_second() > exp.saturating_add(LEEWAY_SECS) {
            return Err(IdentityError::Expired(expires));
        }
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let user = User {
            sub: text("sub").ok_or_else(|| malformed("no `sub` claim"))?,
            email: text("email"),
            name: text("name"),
        };
        self.allow
            .check(&claims, user.email.as_deref())
            .map_err(|why| IdentityError::NotAllowed {
                who: user.display().to_owned(),
                why,
            })?;
        Ok(user)
    }

    /// The public key `kid`, from the cache or the key endpoint.
    async fn key(&self, kid: &str) -> Result<Arc<[u8]>, IdentityError> {
        let valid_kid = !kid.is_empty()
            && kid.len() <= 128
            && kid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_kid {
            return Err(IdentityError::Malformed(format!("key id {kid:?}")));
        }
        if let Some(key) = self.cached(kid)? {
            return Ok(key);
        }
        let _one_at_a_time = self.fetching.lock().await;
        if let Some(key) = self.cached(kid)? {
            return Ok(key);
        }
        let key = self.fetch(kid).await;
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        match key {
            Ok(key) => {
                if keys.known.len() >= MAX_KEYS {
                    keys.known.clear();
                }
                keys.known.insert(kid.to_owned(), key.clone());
                Ok(key)
            }
            Err(IdentityError::UnknownKey(kid)) => {
                keys.unknown
                    .retain(|_, at| at.elapsed() < UNKNOWN_KEY_MEMORY);
                if keys.unknown.len() < 4 * MAX_KEYS {
                    keys.unknown.insert(kid.clone(), Instant::now());
                }
                Err(IdentityError::UnknownKey(kid))
            }
            Err(other) => Err(other),
        }
    }

    fn cached(&self, kid: &str) -> Result<Option<Arc<[u8]>>, IdentityError> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(key) = keys.known.get(kid) {
            return Ok(Some(key.clone()));
        }
        match keys.unknown.get(kid) {
            Some(at) if at.elapsed() < UNKNOWN_KEY_MEMORY => {
                Err(IdentityError::UnknownKey(kid.to_owned()))
            }
            _ => Ok(None),
        }
    }

    async fn fetch(&self, kid: &str) -> Result<Arc<[u8]>, IdentityError> {
        let url = format!("{}/{kid}", self.key_endpoint);
        let unavailable = |e: &dyn std::fmt::Display| IdentityError::KeyUnavailable(e.to_string());
        let response = self
            .http
            .get(&url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::FORBIDDEN {
            return Err(IdentityError::UnknownKey(kid.to_owned()));
        }
        if !status.is_success() {
            return Err(unavailable(&format!("{url} answered {status}")));
        }
        let body = response.bytes().await.map_err(|e| unavailable(&e))?;
        if body.len() > MAX_KEY_BYTES {
            return Err(unavailable(&format!("{url} sent {} bytes", body.len())));
        }
        let der = SubjectPublicKeyInfoDer::from_pem_slice(&body)
            .map_err(|e| unavailable(&format!("{url} sent no PEM public key ({e})")))?;
        Ok(Arc::from(der.as_ref()))
    }
}

fn decode(part: &str) -> Result<Vec<u8>, IdentityError> {
    BASE64URL
        .decode(part)
        .map_err(|e| IdentityError::Malformed(format!("base64: {e}")))
}
