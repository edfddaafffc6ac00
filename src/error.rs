//! The one error type of tenantql, and its one mapping to what a client sees.
//!
//! Variants are named for what the client should do next. Everything inside the
//! crate returns `AppError` (or converts into it with `?`); the GraphQL edge
//! (`schema::errors`) and the HTTP edge (`server`) turn it into `extensions.code`
//! and a status code in exactly one place each. Internal causes are logged there
//! under the request id and never sent to the client.
use async_graphql::{ErrorExtensions, Value};
use axum::http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No token where one is needed, or a token that does not verify.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// A browser page on an origin neither the deployment nor the caller's
    /// tenant lists sent the caller's token.
    #[error("pages on {0} may not call tenantql with this token: the origin is not one of its tenant's or the deployment's")]
    OriginNotAllowed(String),
    /// A request any web page could send without a CORS preflight (a GET, a
    /// form or text/plain body) without a header that forces one.
    #[error("this request could come from any web page: send the header `apollo-require-preflight: true` (or `x-apollo-operation-name`), or POST it as application/json")]
    PreflightRequired,
    /// An automatic persisted query whose text this server does not know yet:
    /// the client sends it again with the text (the message is the one
    /// Apollo Client looks for).
    #[error("PersistedQueryNotFound")]
    PersistedQueryNotFound,
    /// Only published documents run here (`require` mode): send a `documentId`.
    #[error("only published documents run for this caller: send a documentId (or the persistedQuery hash) of a published operation")]
    PersistedDocumentRequired,
    /// A `documentId` that no list for this tenant and client holds.
    #[error("this document id is not in the published documents for this tenant and client")]
    PersistedDocumentNotInList,
    /// The caller's tenant is suspended by the operator.
    #[error("tenant `{0}` is suspended")]
    TenantSuspended(String),
    /// The tenant's database cannot be reached right now (other tenants are unaffected).
    #[error("tenant `{tenant}` is unavailable: {reason}")]
    TenantUnavailable { tenant: String, reason: String },
    /// The tenant's pool had no free connection within its acquire timeout.
    #[error("tenant `{0}`'s database does not provide what tenantql reads or calls; its operator can see what is missing with `tenantql tenant check {0}`")]
    TenantContractBroken(String),
    #[error("tenant `{0}` is read-only: its database takes no writes through tenantql")]
    TenantReadOnly(String),
    #[error("tenant `{0}` is busy: no database connection became free in time")]
    PoolTimeout(String),
    /// A rate limit of the tenant or user is used up for now.
    #[error("too many requests; retry in {} ms", retry_after.as_millis().max(1))]
    RateLimited { retry_after: std::time::Duration },
    /// A configured ceiling (subscriptions per tenant or connection) is reached.
    #[error("{0}")]
    LimitExceeded(String),
    /// A subscriber fell too far behind its events and was dropped.
    #[error("this subscription fell more than {0} events behind and was ended; subscribe again")]
    SlowConsumer(usize),
    /// The input is wrong; `field` names the argument when there is one.
    #[error("{message}")]
    BadInput {
        field: Option<&'static str>,
        message: String,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The server is not set up for this (say, no mail relay for invitations).
    #[error("{0}")]
    NotConfigured(&'static str),
    /// The request collides with existing state (a duplicate slug or email).
    #[error("{0}")]
    Conflict(String),
    /// Anything the client cannot act on. The cause goes to the log only.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn bad_input(field: &'static str, message: impl Into<String>) -> Self {
        AppError::BadInput {
            field: Some(field),
            message: message.into(),
        }
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(cause.into())
    }

    /// The stable `extensions.code` clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::OriginNotAllowed(_) => "ORIGIN_NOT_ALLOWED",
            AppError::PreflightRequired => "PREFLIGHT_REQUIRED",
            AppError::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            AppError::PersistedDocumentRequired => "PERSISTED_QUERY_ID_REQUIRED",
            AppError::PersistedDocumentNotInList => "PERSISTED_QUERY_NOT_IN_LIST",
            AppError::TenantSuspended(_) => "TENANT_SUSPENDED",
            AppError::TenantUnavailable { .. } => "TENANT_UNAVAILABLE",
            AppError::PoolTimeout(_) => "POOL_TIMEOUT",
            AppError::TenantContractBroken(_) => "TENANT_CONTRACT_BROKEN",
            AppError::TenantReadOnly(_) => "TENANT_READ_ONLY",
            AppError::RateLimited { .. } => "RATE_LIMITED",
            AppError::LimitExceeded(_) => "LIMIT_EXCEEDED",
            AppError::SlowConsumer(_) => "SLOW_CONSUMER",
            AppError::BadInput { .. } => "BAD_USER_INPUT",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::NotConfigured(_) => "NOT_CONFIGURED",
            AppError::Conflict(_) => "CONFLICT",
            AppError::Internal(_) => "INTERNAL",
        }
    }

    /// The HTTP status used when the error ends a request before GraphQL runs.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_)
            | AppError::TenantSuspended(_)
            | AppError::OriginNotAllowed(_) => StatusCode::FORBIDDEN,
            AppError::PreflightRequired
            | AppError::PersistedQueryNotFound
            | AppError::PersistedDocumentRequired
            | AppError::PersistedDocumentNotInList => StatusCode::BAD_REQUEST,
            AppError::TenantUnavailable { .. }
            | AppError::PoolTimeout(_)
            | AppError::TenantContractBroken(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::TenantReadOnly(_) => StatusCode::FORBIDDEN,
            AppError::RateLimited { .. } | AppError::LimitExceeded(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            AppError::SlowConsumer(_) => StatusCode::CONFLICT,
            AppError::BadInput { .. } => StatusCode::BAD_REQUEST,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::NotConfigured(_) => StatusCode::NOT_IMPLEMENTED,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the client may read. Internal causes never leave the process.
    pub fn public_message(&self) -> String {
        self.to_string()
    }

    /// The error as one GraphQL `errors` entry (no location: it is about the request).
    pub fn to_server_error(&self) -> async_graphql::ServerError {
        let mut error = async_graphql::ServerError::new(self.public_message(), None);
        error.extensions = self.extend().extensions;
        error
    }

    /// The error for a log line: the cause chain of an internal error (never a
    /// backtrace: resolving one loads the binary's debug info into memory).
    pub fn detail(&self) -> String {
        match self {
            AppError::Internal(cause) => format!("{cause:#}"),
            other => other.to_string(),
        }
    }

    /// Whether the server log should carry the full cause chain at error level.
    pub fn is_internal(&self) -> bool {
        matches!(self, AppError::Internal(_))
    }
}

impl AppError {
    /// The error's `extensions`: its code, and what the client needs to act
    /// (the field at fault, the seconds to wait). The one place they are made.
    pub fn set_extensions(&self, ext: &mut async_graphql::ErrorExtensionValues) {
        ext.set("code", self.code());
        match self {
            AppError::BadInput {
                field: Some(field), ..
            } => ext.set("field", Value::from(*field)),
            AppError::RateLimited { retry_after } => {
                ext.set("retryAfter", Value::from(retry_after_secs(*retry_after)))
            }
            _ => {}
        }
    }
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        async_graphql::Error::new(self.public_message())
            .extend_with(|_, ext| self.set_extensions(ext))
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(err: sea_orm::DbErr) -> Self {
        AppError::Internal(err.into())
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// Whole seconds to wait, rounded up (the unit of HTTP's `Retry-After`).
pub fn retry_after_secs(wait: std::time::Duration) -> u64 {
    wait.as_millis().div_ceil(1000).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = AppError::internal(anyhow::anyhow!("ORA-01017: invalid username/password"));
        assert_eq!(err.public_message(), "internal error");
        assert_eq!(err.code(), "INTERNAL");
        let gql = err.extend();
        assert_eq!(gql.message, "internal error");
    }

    #[test]
    fn bad_input_names_its_field() {
        let gql = AppError::bad_input("tenant", "unknown tenant").extend();
        let ext = gql.extensions.unwrap();
        assert_eq!(ext.get("code"), Some(&Value::from("BAD_USER_INPUT")));
        assert_eq!(ext.get("field"), Some(&Value::from("tenant")));
    }
}
