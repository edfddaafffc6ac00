//! Store failures, sorted by what they mean for the tenant. The `reason` of an
//! unavailable store is our own wording, safe to show; the driver's text (which
//! may name hosts, users or schemas) is kept in `detail` for the log only.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or will not take a session: counts against
    /// the tenant's circuit breaker.
    #[error("{reason}")]
    Unavailable {
        reason: &'static str,
        detail: String,
    },
    /// A call ran past its deadline.
    #[error("the database did not answer in time")]
    Timeout { detail: String },
    /// The statement failed (a bug or a schema mismatch, not the tenant's fault).
    #[error("query failed: {0}")]
    Query(String),
    /// A row did not have the shape the mapping code expects.
    #[error("unexpected row shape: {0}")]
    Mapping(String),
}

impl StoreError {
    pub fn unavailable(reason: &'static str, detail: impl std::fmt::Display) -> Self {
        StoreError::Unavailable {
            reason,
            detail: detail.to_string(),
        }
    }
}
