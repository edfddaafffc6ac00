//! GraphiQL for operators, entirely from the binary: the page and every file it
//! loads are compiled in from `assets/graphiql/` (Oracle shops often run without
//! internet, and a CDN is one more party that could change the page).
//!
//! The page is sent with a Content-Security-Policy that allows only this origin
//! (plus `data:` fonts and images, which GraphiQL's stylesheet embeds); assets
//! are addressed by a content hash and cached for a year.
use std::sync::OnceLock;

use axum::{
    extract::Path,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use sha2::{Digest, Sha256};
use tower_http::compression::CompressionLayer;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'";

/// Name, content type and bytes of every asset the page may load.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "graphiql.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql.min.css"),
    ),
    (
        "react.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
    ),
    (
        "tenantql-graphiql.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/tenantql-graphiql.js"),
    ),
    (
        "tenantql-graphiql.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/graphiql/tenantql-graphiql.css"),
    ),
];

const PAGE_TEMPLATE: &str = include_str!("../../assets/graphiql/index.html");

/// The page with each `{{file}}` replaced by the file's content-addressed URL.
fn page_html() -> &'static str {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(|| {
        let mut html = PAGE_TEMPLATE.to_string();
        for (name, _, bytes) in ASSETS {
            let digest = Sha256::digest(bytes);
            let version: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
            html = html.replace(
                &format!("{{{{{name}}}}}"),
                &format!("/graphiql/assets/{name}?v={version}"),
            );
        }
        html
    })
}

/// `/graphiql` and its assets, gzip-compressed for clients that accept it
/// (graphiql.min.js is 3.5 MB raw; operators may sit behind a slow VPN). Only
/// these routes are compressed: `/graphql` answers stay as they are.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/graphiql", get(page))
        .route("/graphiql/assets/{file}", get(asset))
        .layer(CompressionLayer::new())
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            // The page names the current asset versions: always revalidate it.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        page_html(),
    )
        .into_response()
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                // Addressed by content hash (`?v=`): a new build is a new URL.
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such GraphiQL asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled_and_every_asset_used() {
        let html = page_html();
        assert!(!html.contains("{{"), "unfilled placeholder in {html}");
        for (name, _, _) in ASSETS {
            assert!(
                html.contains(&format!("/graphiql/assets/{name}?v=")),
                "{name} is not referenced"
            );
        }
    }
}
