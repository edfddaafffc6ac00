//! The audit log: who did what, for which tenant, from where, and how it ended.
//!
//! Two ways in:
//! - request rows (every GraphQL operation, every refused request that carried a
//!   verifiable identity) go through `AuditSink`, a bounded asynchronous batched
//!   writer that never blocks a request;
//! - admin changes (GraphQL admin mutations and the CLI) write their row with
//!   `record_change` in the same transaction as the change, so a change without
//!   its row cannot exist.
//!
//! Rows never hold a secret: variables pass through `redact` first, documents are
//! stored as a hash only.
pub mod redact;
mod store;
mod writer;

use chrono::Utc;

use crate::{control::entities::audit_log, request_id::RequestMeta, tenancy::TenantContext};

pub use store::{commit_with, page, prune, record_change, AuditFilter, AuditPage};
pub use writer::{AuditSettings, AuditSink, AuditStats};

/// Where an audited event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A GraphQL operation.
    Graphql,
    /// An HTTP request refused before GraphQL ran.
    Http,
    /// The `tenantql` command line.
    Cli,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Graphql => "graphql",
            Source::Http => "http",
            Source::Cli => "cli",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Error,
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Refused => "refused",
        }
    }
}

/// Who acts and from where: carried by a request (or the CLI) down to the use
/// cases that write a change row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    /// `cli` for the command line, else `graphql`.
    pub cli: bool,
}

impl Actor {
    /// The actor of a request by `caller` (None: anonymous). Built only where a
    /// row is written, not for every request.
    pub fn of_request(meta: &RequestMeta, caller: Option<&TenantContext>) -> Self {
        Actor {
            user_id: caller.map(|c| c.user_id.clone()),
            email: caller.map(|c| c.email.clone()),
            request_id: Some(meta.request_id.to_string()),
            client_addr: meta.client_addr.map(|a| a.ip().to_string()),
            user_agent: meta
                .user_agent
                .as_deref()
                .map(|ua| truncate(ua, MAX_USER_AGENT)),
            cli: false,
        }
    }

    /// An operator at the command line (or a process acting for one), recorded as
    /// `cli:<who>`.
    pub fn cli(who: &str) -> Self {
        Actor {
            email: Some(format!("cli:{who}")),
            cli: true,
            ..Actor::default()
        }
    }

    fn source(&self) -> Source {
        if self.cli {
            Source::Cli
        } else {
            Source::Graphql
        }
    }
}

/// One row to write (its `id` is left to the database). Built by the request path
/// or a use case; never holds a secret.
pub type AuditEntry = audit_log::Model;

impl AuditEntry {
    /// A row for `actor`, stamped now, with everything else empty.
    pub fn new(actor: &Actor, source: Source, action: impl Into<String>, outcome: Outcome) -> Self {
        AuditEntry {
            id: 0,
            at: Utc::now(),
            request_id: actor.request_id.clone(),
            tenant_id: None,
            tenant_slug: None,
            actor_user_id: actor.user_id.clone(),
            actor_email: actor.email.clone(),
            source: source.as_str().into(),
            action: action.into(),
            target: None,
            operation_type: None,
            operation_name: None,
            document_hash: None,
            variables: None,
            outcome: outcome.as_str().into(),
            error_code: None,
            duration_us: None,
            client_addr: actor.client_addr.clone(),
            user_agent: actor.user_agent.clone(),
            details: None,
        }
    }

    /// A successful admin change by `actor` to `target` within `tenant`.
    pub fn change(
        actor: &Actor,
        action: &str,
        tenant: Option<(&str, &str)>,
        target: impl Into<String>,
    ) -> Self {
        let mut entry = AuditEntry::new(actor, actor.source(), action, Outcome::Ok);
        entry.tenant_id = tenant.map(|(id, _)| id.to_string());
        entry.tenant_slug = tenant.map(|(_, slug)| slug.to_string());
        entry.target = Some(target.into());
        entry
    }

    /// The row with only who, what, when and the outcome — what is kept when
    /// the whole row cannot be written; `details` says so.
    pub fn minimal(&self) -> Self {
        AuditEntry {
            target: None,
            operation_name: None,
            variables: None,
            user_agent: None,
            client_addr: None,
            details: Some(r#"{"minimal":true}"#.into()),
            ..self.clone()
        }
    }

    /// What changed, as JSON (never a secret).
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details.to_string());
        self
    }
}

/// Longest user agent kept (the column is 255 characters).
pub const MAX_USER_AGENT: usize = 255;

/// Cuts `text` to at most `max` bytes on a character boundary.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}
