//! Browsers on other origins.
//!
//! - **CORS** (tower-http): a preflight carries no token, so it is answered for
//!   every origin the deployment or any active tenant lists
//!   (`OriginRegistry::allows_preflight`).
//! - **The caller's origin**: once a token is verified, a page on another
//!   origin must be the deployment's or *its own tenant's*
//!   (`check_caller_origin`); a page of tenant A cannot use a token of tenant B
//!   even though the preflight let it through. WebSocket handshakes, which CORS
//!   does not cover, are held to the preflight's rule (`check_handshake_origin`)
//!   and then to the same check at `connection_init`.
//! - **CSRF**: a browser sends GET, form and `text/plain` requests cross-site
//!   without asking; such a request must carry a header that forces a preflight
//!   (`check_preflighted`, Apollo Server's convention). A JSON POST always needs
//!   one, and tenantql reads no cookies, so nothing else is sent on a user's
//!   behalf.
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderName, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::{error::AppError, origins::MAX_ORIGIN_BYTES, server::AppState};

/// Request headers a page may send cross-origin, besides the configured ones.
const ALLOWED_HEADERS: [&str; 14] = [
    "authorization",
    "content-type",
    "accept",
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "apollographql-client-name",
    "apollographql-client-version",
    "graphql-client-name",
    "graphql-client-version",
    "x-request-id",
    "traceparent",
    "tracestate",
    "baggage",
    "cache-control",
];
/// Response headers a page may read.
const EXPOSED_HEADERS: [&str; 2] = ["x-request-id", "retry-after"];
/// The headers that make a browser send a preflight (any non-empty value).
const PREFLIGHT_HEADERS: [&str; 2] = ["apollo-require-preflight", "x-apollo-operation-name"];
/// The content types a browser sends cross-site without a preflight.
const SIMPLE_CONTENT_TYPES: [&str; 3] = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
];

#[derive(Debug, Clone)]
pub struct CorsSettings {
    pub allow_credentials: bool,
    pub max_age: Duration,
    pub extra_headers: Vec<HeaderName>,
}

/// The CORS layer of the public router.
pub fn layer(state: &AppState, settings: &CorsSettings) -> CorsLayer {
    let origins = state.services.origins.clone();
    let headers: Vec<HeaderName> = ALLOWED_HEADERS
        .iter()
        .map(|name| HeaderName::from_static(name))
        .chain(settings.extra_headers.iter().cloned())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            origin
                .to_str()
                .is_ok_and(|origin| origins.allows_preflight(origin))
        }))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(headers)
        .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
        .allow_credentials(settings.allow_credentials)
        .max_age(settings.max_age)
}

/// The `Origin` of a request from a page on another origin than tenantql's
/// own (compared with `Host`); None for same-origin and non-browser requests.
pub fn cross_origin(headers: &HeaderMap) -> Option<std::sync::Arc<str>> {
    let origin = headers.get(header::ORIGIN)?;
    let origin = origin.to_str().unwrap_or("invalid");
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    (!crate::origins::is_same_origin(origin, host)).then(|| origin.into())
}

/// Once the caller is known: a page on another origin must be one the
/// deployment lists or the caller's own tenant does.
pub fn check_caller_origin(
    state: &AppState,
    origin: Option<&str>,
    tenant_origins: Option<&crate::origins::OriginList>,
) -> Result<(), AppError> {
    let Some(origin) = origin else {
        return Ok(());
    };
    let registry = &state.services.origins;
    if registry.deployment().allows(origin) || tenant_origins.is_some_and(|t| t.allows(origin)) {
        return Ok(());
    }
    Err(AppError::OriginNotAllowed(printable(origin)))
}

/// A WebSocket handshake from a page on another origin: only from an origin a
/// preflight would be answered for (CORS does not apply to WebSockets).
pub fn check_handshake_origin(state: &AppState, origin: Option<&str>) -> Result<(), AppError> {
    match origin {
        Some(origin) if !state.services.origins.allows_preflight(origin) => {
            Err(AppError::OriginNotAllowed(printable(origin)))
        }
        _ => Ok(()),
    }
}

/// A request a browser could have sent cross-site without a preflight is
/// refused unless it carries a header that forces one.
pub fn check_preflighted(headers: &HeaderMap) -> Result<(), AppError> {
    let non_empty = |name: &str| headers.get(name).is_some_and(|v| !v.is_empty());
    if PREFLIGHT_HEADERS.iter().any(|name| non_empty(name)) {
        return Ok(());
    }
    let simple = match headers.get(header::CONTENT_TYPE) {
        None => true,
        Some(value) => {
            let essence = value
                .to_str()
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            SIMPLE_CONTENT_TYPES.contains(&essence.as_str())
        }
    };
    if simple {
        Err(AppError::PreflightRequired)
    } else {
        Ok(())
    }
}

/// An origin as it may appear in an error message: bounded, printable.
fn printable(origin: &str) -> String {
    origin
        .chars()
        .take(MAX_ORIGIN_BYTES.min(120))
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

/// A configured extra header name, or why it is not one.
pub fn header_name(name: &str) -> Result<HeaderName, String> {
    HeaderName::try_from(name.trim().to_ascii_lowercase())
        .map_err(|_| format!("`{name}` is not an HTTP header name (TENANTQL_CORS_ALLOW_HEADERS)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn requests_a_browser_sends_without_asking_need_a_preflight_header() {
        let refused = |pairs: &[(&'static str, &'static str)]| {
            matches!(
                check_preflighted(&headers(pairs)),
                Err(AppError::PreflightRequired)
            )
        };
        assert!(refused(&[]));
        assert!(refused(&[("content-type", "text/plain")]));
        assert!(refused(&[("content-type", "Text/Plain; charset=utf-8")]));
        assert!(refused(&[(
            "content-type",
            "application/x-www-form-urlencoded"
        )]));
        assert!(refused(&[(
            "content-type",
            "multipart/form-data; boundary=x"
        )]));
        assert!(refused(&[("apollo-require-preflight", "")]));
        assert!(!refused(&[("apollo-require-preflight", "true")]));
        assert!(!refused(&[("x-apollo-operation-name", "Me")]));
        assert!(!refused(&[("content-type", "application/json")]));
    }

    #[test]
    fn same_origin_pages_and_non_browsers_are_not_cross_origin() {
        assert_eq!(cross_origin(&headers(&[])), None);
        assert_eq!(
            cross_origin(&headers(&[
                ("origin", "http://127.0.0.1:8080"),
                ("host", "127.0.0.1:8080")
            ])),
            None
        );
        assert_eq!(
            cross_origin(&headers(&[
                ("origin", "http://127.0.0.1:5173"),
                ("host", "127.0.0.1:8080")
            ]))
            .as_deref(),
            Some("http://127.0.0.1:5173")
        );
        assert_eq!(
            cross_origin(&headers(&[("origin", "null"), ("host", "127.0.0.1:8080")])).as_deref(),
            Some("null")
        );
    }

    #[test]
    fn an_origin_in_a_message_is_bounded_and_printable() {
        assert_eq!(printable("https://a b\u{7}"), "https://a?b?");
        assert_eq!(printable(&"x".repeat(500)).len(), 120);
    }
}
