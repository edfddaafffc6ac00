//! Audit rows as admins read them, newest first, in pages.
use async_graphql::{connection::Connection, InputObject, SimpleObject, ID};
use chrono::{DateTime, Utc};

use crate::{
    audit::{self, AuditFilter},
    control::{entities::audit_log, users},
    error::AppError,
    paging,
    state::Services,
};

/// One audited event. Variables are shown with secrets replaced; documents only
/// as their hash.
#[derive(SimpleObject)]
pub struct AuditLogEntry {
    pub id: ID,
    pub at: DateTime<Utc>,
    pub request_id: Option<String>,
    pub tenant_slug: Option<String>,
    pub actor_user_id: Option<ID>,
    pub actor_email: Option<String>,
    /// `graphql`, `http` (refused before GraphQL ran) or `cli`.
    pub source: String,
    /// `query`, `mutation`, `refused`, or an admin change such as `tenant.suspend`.
    pub action: String,
    pub target: Option<String>,
    pub operation_type: Option<String>,
    pub operation_name: Option<String>,
    /// HMAC-SHA-256 of the normalized document, keyed by a key derived from the
    /// master key (the same on every instance; a guess cannot be checked without it).
    pub document_hash: Option<String>,
    /// JSON, secrets redacted.
    pub variables: Option<String>,
    /// `ok`, `error` or `refused`.
    pub outcome: String,
    pub error_code: Option<String>,
    pub duration_ms: Option<f64>,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
    /// JSON with what changed (never a secret).
    pub details: Option<String>,
}

impl From<audit_log::Model> for AuditLogEntry {
    fn from(row: audit_log::Model) -> Self {
        AuditLogEntry {
            id: ID(row.id.to_string()),
            at: row.at,
            request_id: row.request_id,
            tenant_slug: row.tenant_slug,
            actor_user_id: row.actor_user_id.map(ID),
            actor_email: row.actor_email,
            source: row.source,
            action: row.action,
            target: row.target,
            operation_type: row.operation_type,
            operation_name: row.operation_name,
            document_hash: row.document_hash,
            variables: row.variables,
            outcome: row.outcome,
            error_code: row.error_code,
            duration_ms: row.duration_us.map(|us| us as f64 / 1000.0),
            client_address: row.client_addr,
            user_agent: row.user_agent,
            details: row.details,
        }
    }
}

/// Which rows to list; every condition given must hold.
#[derive(InputObject, Default)]
pub struct AuditLogFilter {
    /// The actor's email or user id.
    pub actor: Option<String>,
    pub action: Option<String>,
    pub operation_name: Option<String>,
    /// `ok`, `error` or `refused`.
    pub outcome: Option<String>,
    /// From this time on (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Before this time (exclusive).
    pub to: Option<DateTime<Utc>>,
}

impl AuditLogFilter {
    /// The store filter, scoped to `tenant_id` when given.
    pub fn scoped(self, tenant_id: Option<String>, tenant_slug: Option<String>) -> AuditFilter {
        AuditFilter {
            tenant_id,
            tenant_slug,
            actor: self.actor,
            action: self.action,
            operation_name: self.operation_name,
            outcome: self.outcome,
            from: self.from,
            to: self.to,
        }
    }
}

/// Who reads the log: a platform admin sees every actor; a tenant admin sees
/// platform operators' changes to their tenant as "platform operator", without
/// the operator's e-mail, id, address or user agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Platform,
    TenantAdmin,
}

/// What a tenant admin sees of an operator.
pub const PLATFORM_OPERATOR: &str = "platform operator";

/// One page of audit rows for `filter`, as `reader` may see them.
pub async fn page(
    services: &Services,
    filter: AuditFilter,
    first: Option<i32>,
    after: Option<String>,
    reader: Reader,
) -> Result<Connection<String, AuditLogEntry>, AppError> {
    let first = paging::page_size(first)?;
    let after = after
        .map(|cursor| {
            paging::decode(&cursor, 1)?[0]
                .parse::<i64>()
                .map_err(|_| AppError::bad_input("after", "not a cursor from this list"))
        })
        .transpose()?;
    let mut page = audit::page(&services.control.db, &filter, first, after).await?;
    if reader == Reader::TenantAdmin {
        let operators = users::platform_admin_ids(&services.control.db).await?;
        for row in &mut page.rows {
            let by_operator = row.source == "cli"
                || (row.operation_type.is_none()
                    && row
                        .actor_user_id
                        .as_ref()
                        .is_some_and(|id| operators.contains(id)));
            if by_operator {
                row.actor_email = Some(PLATFORM_OPERATOR.into());
                row.actor_user_id = None;
                row.client_addr = None;
                row.user_agent = None;
            }
        }
    }
    Ok(super::super::connection(
        page.rows,
        page.has_next,
        |row| paging::encode(&[&row.id.to_string()]),
        AuditLogEntry::from,
    ))
}
