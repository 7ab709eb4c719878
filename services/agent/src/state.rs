//! The service's shared state, built once by `startup` and handed to every handler.

use std::sync::Arc;

use crate::access::AccessPolicy;
use crate::agent::Agent;
use crate::metrics::Prices;
use crate::model::ModelInfo;
use crate::session::SessionStore;
use crate::signin::SignIn;

/// Shared state of the service.
pub struct AppState {
    pub agent: Agent,
    /// Where the chats live (memory or DynamoDB).
    pub sessions: Arc<dyn SessionStore>,
    pub model: ModelInfo,
    /// Adds `Secure` to the cookie (HTTPS deployments).
    pub secure_cookie: bool,
    /// Allowed hosts and origins, and where the client address comes from.
    pub access: Arc<AccessPolicy>,
    /// Who is asking (the ALB's sign-in token) and whether they may.
    pub sign_in: Arc<SignIn>,
    /// Per-model prices for the cost estimate of each answer.
    pub prices: Prices,
    /// Write a CloudWatch Embedded Metric Format line per answer on stdout.
    pub emf: bool,
}
