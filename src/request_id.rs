//! The id that ties a client-visible error to the server's log lines, and the
//! rest of what identifies a request's origin (for the audit log).
use std::{fmt, net::SocketAddr, sync::Arc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(Arc<str>);

impl RequestId {
    pub fn generate() -> Self {
        RequestId(uuid::Uuid::new_v4().simple().to_string().into())
    }

    /// Accepts a caller-supplied id only if it is short and plain, so it cannot
    /// forge log lines or bloat them.
    pub fn from_client(value: &str) -> Option<Self> {
        let ok = (8..=64).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        ok.then(|| RequestId(value.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a request came from: its id, the peer's address, its user agent.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: RequestId,
    pub client_addr: Option<SocketAddr>,
    pub user_agent: Option<String>,
    /// The page's `Origin` when a browser on another origin than tenantql's
    /// own sent this; None for same-origin pages and non-browser clients.
    pub cross_origin: Option<Arc<str>>,
    /// The client app it names itself (`graphql-client-name`, or Apollo's
    /// `apollographql-client-name`), when a plain name: picks its trusted documents.
    pub client_name: Option<Arc<str>>,
    /// Shared by the operations of one HTTP request (a batch) or one WebSocket
    /// operation: at most one of them checks a password.
    pub sign_in: SignInOnce,
}

/// Whether a request has used its one sign-in (`login`, `acceptInvitation`,
/// `setPassword`): twenty `login` fields in a document, or in a batch, would
/// otherwise be twenty argon2 checks for one request.
#[derive(Debug, Clone, Default)]
pub struct SignInOnce(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl SignInOnce {
    /// True the first time only.
    pub fn take(&self) -> bool {
        !self.0.swap(true, std::sync::atomic::Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_must_be_plain() {
        assert!(RequestId::from_client("abc-123_x.y").is_some());
        assert!(RequestId::from_client("short").is_none());
        assert!(RequestId::from_client("has space in it").is_none());
        assert!(RequestId::from_client("line\nbreak-injected").is_none());
        assert!(RequestId::from_client(&"x".repeat(65)).is_none());
    }
}
