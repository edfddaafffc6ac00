//! Trusted documents: operations published ahead of time, for the deployment
//! and optionally per tenant and per client app (`graphql-client-name`), sent
//! by id (`documentId: "sha256:<hex>"`, the GraphQL-over-HTTP persisted
//! documents appendix; or Apollo's `extensions.persistedQuery.sha256Hash`).
//!
//! A request's mode (the tenant's, else the deployment's) decides what runs:
//! `off` (ids refused), `allow`, `log-unknown` (free-form documents not in the
//! list counted and logged) or `require` (free-form documents refused before
//! anything reads them).
//!
//! Lists are read on use, one scope at a time, and kept in this process for
//! the context cache's lifetime; a publication replaces the scope's list here
//! at once and on the other instances through the cluster.
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Weak,
    },
    time::Duration,
};

use moka::sync::Cache;

use serde_json::{json, Value};

use crate::{
    cluster::Cluster,
    control::{
        entities::tenant::DocumentsMode,
        trusted_documents::{self, DEPLOYMENT_SCOPE},
        ControlPlane,
    },
    digest::sha256_hex,
    error::AppError,
};

const CHANNEL: &str = "trusted-documents";
/// The request extension a published document's id travels in (the server
/// puts a body's or URL's `documentId` there).
pub const DOCUMENT_ID: &str = "documentId";
/// Bounds on one manifest.
pub const MAX_MANIFEST_DOCUMENTS: usize = 10_000;
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// Longest client name looked at (`graphql-client-name`).
pub const MAX_CLIENT_NAME_CHARS: usize = 128;
/// Most document text one scope (the deployment, or a tenant) may publish,
/// all its client lists together: bounds what one admin can make every
/// instance hold.
pub const MAX_SCOPE_BYTES: usize = 8 * 1024 * 1024;
/// Bound on the lists kept in this process, in bytes of document text (least
/// recently used go first).
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct TrustedStats {
    pub hits: AtomicU64,
    pub not_in_list: AtomicU64,
    pub free_form_refused: AtomicU64,
    pub unknown_free_form: AtomicU64,
}

/// One scope's documents: client name ("" for every client) → id → body.
#[derive(Default)]
struct Scope {
    documents: HashMap<String, HashMap<String, Arc<str>>>,
    bytes: usize,
}

pub struct TrustedDocuments {
    /// The deployment's mode (a tenant may have its own).
    pub mode: DocumentsMode,
    /// Whether platform and tenant admins may still send free-form documents
    /// in `require` mode (GraphiQL).
    pub admins_free_form: bool,
    pub stats: TrustedStats,
    control: ControlPlane,
    cluster: Cluster,
    ttl: Duration,
    scopes: Cache<String, Arc<Scope>>,
}

impl TrustedDocuments {
    pub fn start(
        mode: DocumentsMode,
        admins_free_form: bool,
        control: ControlPlane,
        cluster: Cluster,
        ttl: Duration,
    ) -> Arc<Self> {
        let documents = Arc::new(TrustedDocuments {
            mode,
            admins_free_form,
            stats: TrustedStats::default(),
            control,
            cluster,
            ttl,
            scopes: Cache::builder()
                .max_capacity(CACHE_BYTES)
                .weigher(|_, scope: &Arc<Scope>| u32::try_from(scope.bytes).unwrap_or(u32::MAX))
                .time_to_live(ttl.max(Duration::from_millis(1)))
                .build(),
        });
        tokio::spawn(forget_published_elsewhere(
            Arc::downgrade(&documents),
            documents.cluster.listen(CHANNEL),
        ));
        documents
    }

    /// The body published under `id` for this tenant (its list, then the
    /// deployment's) and client (its own list, then the one for every client).
    pub async fn find(
        &self,
        tenant_id: Option<&str>,
        client: Option<&str>,
        id: &str,
    ) -> Result<Option<Arc<str>>, AppError> {
        let scopes = tenant_id.into_iter().chain([DEPLOYMENT_SCOPE]);
        for scope in scopes {
            let documents = self.scope(scope).await?;
            for client in client.into_iter().chain([""]) {
                if let Some(body) = documents.documents.get(client).and_then(|ids| ids.get(id)) {
                    return Ok(Some(body.clone()));
                }
            }
        }
        Ok(None)
    }

    async fn scope(&self, scope: &str) -> Result<Arc<Scope>, AppError> {
        if let Some(documents) = self.scopes.get(scope) {
            return Ok(documents);
        }
        let mut loaded = Scope::default();
        for row in trusted_documents::of_scope(&self.control.db, scope).await? {
            loaded.bytes = loaded.bytes.saturating_add(row.body.len());
            loaded
                .documents
                .entry(row.client_name)
                .or_default()
                .insert(row.document_id, row.body.into());
        }
        let loaded = Arc::new(loaded);
        if !self.ttl.is_zero() {
            self.scopes.insert(scope.to_string(), loaded.clone());
        }
        Ok(loaded)
    }

    /// After a scope's list was replaced: re-read here at once, and on the
    /// other instances through the cluster (without Redis: within the TTL).
    pub async fn published(&self, scope: &str) {
        self.scopes.invalidate(scope);
        self.cluster
            .broadcast(CHANNEL, json!({ "scope": scope }))
            .await;
    }
}

async fn forget_published_elsewhere(
    documents: Weak<TrustedDocuments>,
    mut from_others: tokio::sync::mpsc::Receiver<Value>,
) {
    while let Some(message) = from_others.recv().await {
        let Some(documents) = documents.upgrade() else {
            return;
        };
        if let Some(scope) = message["scope"].as_str() {
            documents.scopes.invalidate(scope);
        }
    }
}

/// `sha256:<hex>` of a body.
pub fn document_id(body: &str) -> String {
    format!("sha256:{}", sha256_hex(body))
}

/// A document id as a client sends it, canonical (`sha256:` + lower-case hex).
pub fn canonical_id(id: &str) -> Option<String> {
    let hex = id.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("sha256:{}", hex.to_ascii_lowercase()))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("the manifest is not JSON: {0}")]
    NotJson(String),
    #[error(
        "the manifest is neither Apollo's persisted query list nor an object of id → document"
    )]
    UnknownFormat,
    #[error("the manifest holds more than {MAX_MANIFEST_DOCUMENTS} documents")]
    TooMany,
    #[error("document `{0}` is longer than {MAX_DOCUMENT_BYTES} bytes")]
    TooLong(String),
    #[error("document `{0}`: its id is not the SHA-256 of its text")]
    WrongId(String),
}

/// The documents of a manifest as (id, body), every id checked against its
/// body. Reads Apollo's persisted query list (`{"format":
/// "apollo-persisted-query-manifest", "operations": [{"id", "body"}]}`) and the
/// plain map of id (with or without `sha256:`) to document that GraphQL Code
/// Generator and Relay write.
pub fn parse_manifest(text: &str) -> Result<Vec<(String, String)>, ManifestError> {
    let manifest: Value =
        serde_json::from_str(text).map_err(|e| ManifestError::NotJson(e.to_string()))?;
    let pairs: Vec<(String, String)> = match &manifest {
        Value::Object(fields)
            if fields.get("format").and_then(Value::as_str)
                == Some("apollo-persisted-query-manifest") =>
        {
            let operations = fields
                .get("operations")
                .and_then(Value::as_array)
                .ok_or(ManifestError::UnknownFormat)?;
            if operations.len() > MAX_MANIFEST_DOCUMENTS {
                return Err(ManifestError::TooMany);
            }
            operations
                .iter()
                .map(|op| match (op["id"].as_str(), op["body"].as_str()) {
                    (Some(id), Some(body)) => Ok((id.to_string(), body.to_string())),
                    _ => Err(ManifestError::UnknownFormat),
                })
                .collect::<Result<_, _>>()?
        }
        Value::Object(fields) => {
            if fields.len() > MAX_MANIFEST_DOCUMENTS {
                return Err(ManifestError::TooMany);
            }
            fields
                .iter()
                .map(|(id, body)| match body.as_str() {
                    Some(body) => Ok((id.clone(), body.to_string())),
                    None => Err(ManifestError::UnknownFormat),
                })
                .collect::<Result<_, _>>()?
        }
        _ => return Err(ManifestError::UnknownFormat),
    };
    pairs
        .into_iter()
        .map(|(id, body)| {
            let shown: String = id.chars().take(80).collect();
            if body.len() > MAX_DOCUMENT_BYTES {
                return Err(ManifestError::TooLong(shown));
            }
            let given = if id.starts_with("sha256:") {
                id
            } else {
                format!("sha256:{id}")
            };
            match canonical_id(&given) {
                Some(id) if id == document_id(&body) => Ok((id, body)),
                _ => Err(ManifestError::WrongId(shown)),
            }
        })
        .collect()
}

/// The client name a request names itself with, when it is a plain one.
pub fn client_name(value: &str) -> Option<Arc<str>> {
    let ok = !value.is_empty()
        && value.chars().count() <= MAX_CLIENT_NAME_CHARS
        && value.chars().all(|c| c.is_ascii_graphic() || c == ' ');
    ok.then(|| value.into())
}

/// Counts a request's outcome (for `/metrics`).
pub fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "query Me { me { email } }";

    #[test]
    fn both_manifest_formats_are_read_and_every_id_is_checked() {
        let id = document_id(ME);
        let apollo = json!({
            "format": "apollo-persisted-query-manifest", "version": 1,
            "operations": [{ "id": id.trim_start_matches("sha256:"), "body": ME, "name": "Me", "type": "query" }]
        });
        assert_eq!(
            parse_manifest(&apollo.to_string()).unwrap(),
            [(id.clone(), ME.to_string())]
        );
        let map = json!({ id.clone(): ME });
        assert_eq!(parse_manifest(&map.to_string()).unwrap()[0].0, id);
        let upper = json!({ id.to_ascii_uppercase().replace("SHA256", "sha256"): ME });
        assert_eq!(parse_manifest(&upper.to_string()).unwrap()[0].0, id);
        let wrong = json!({ document_id("{ x }"): ME });
        assert!(matches!(
            parse_manifest(&wrong.to_string()),
            Err(ManifestError::WrongId(_))
        ));
        assert!(matches!(
            parse_manifest("[1]"),
            Err(ManifestError::UnknownFormat)
        ));
        assert!(matches!(
            parse_manifest("{"),
            Err(ManifestError::NotJson(_))
        ));
        let long = "{ me }".to_string() + &" ".repeat(MAX_DOCUMENT_BYTES);
        let too_long = json!({ document_id(&long): long });
        assert!(matches!(
            parse_manifest(&too_long.to_string()),
            Err(ManifestError::TooLong(_))
        ));
    }

    #[test]
    fn ids_and_client_names_are_bounded() {
        assert_eq!(canonical_id(&document_id(ME)), Some(document_id(ME)));
        assert_eq!(canonical_id("sha256:abc"), None);
        assert_eq!(canonical_id(&document_id(ME)[7..]), None);
        assert!(client_name("web-app 1.2").is_some());
        assert!(client_name("").is_none());
        assert!(client_name("bad\nname").is_none());
        assert!(client_name(&"x".repeat(129)).is_none());
    }
}
