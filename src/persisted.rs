//! Automatic persisted queries (APQ), as Apollo Client's persisted-queries link
//! speaks them: a request names its document by `extensions.persistedQuery
//! {version: 1, sha256Hash}`; without the text, the text registered for that
//! hash is used, or the answer is `PersistedQueryNotFound` and the client sends
//! the text with the hash once, which registers it.
//!
//! A document is a pure function of its hash, so one store serves every tenant
//! (it holds no answer and nothing about who sent the text): in this process
//! (bounded by bytes, least recently used go first), and in Redis when
//! configured, so a text registered on one instance is found on the others.
use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use crate::{cluster::Cluster, digest::sha256_hex, error::AppError};
use async_graphql::{Request, Value};
use moka::sync::Cache;

/// The request extension that carries the hash.
pub const EXTENSION: &str = "persistedQuery";
/// Bound on the registered texts kept in this process, in bytes.
const LOCAL_TEXT_BYTES: u64 = 8 * 1024 * 1024;
/// Longest text registered; a longer one runs, and is sent in full each time.
pub const MAX_REGISTERED_BYTES: usize = 32 * 1024;
/// How long Redis keeps a registered text after its last registration.
const SHARED_TTL_SECS: u64 = 24 * 3600;

#[derive(Debug, Default)]
pub struct PersistedStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub registered: AtomicU64,
}

pub struct PersistedQueries {
    texts: Cache<String, Arc<str>>,
    cluster: Cluster,
    pub stats: PersistedStats,
}

/// What a request's `persistedQuery` extension asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// No extension: a plain request.
    None,
    /// The text came with its (checked) hash: register it once it is known
    /// to be a bounded document.
    Register(String),
    /// The text was found by its hash and put in the request.
    Found,
}

impl PersistedQueries {
    pub fn new(cluster: Cluster) -> Self {
        PersistedQueries {
            texts: Cache::builder()
                .max_capacity(LOCAL_TEXT_BYTES)
                .weigher(|_: &String, text: &Arc<str>| {
                    u32::try_from(text.len()).unwrap_or(u32::MAX)
                })
                .build(),
            cluster,
            stats: PersistedStats::default(),
        }
    }

    /// Resolves the request's `persistedQuery` extension. Without a text, the
    /// registered text for the hash becomes the request's query; with one,
    /// the hash must be the text's SHA-256. The extension is removed once
    /// handled, so a request is resolved at most once.
    pub async fn resolve(&self, request: &mut Request) -> Result<Lookup, AppError> {
        let Some(extension) = request.extensions.remove(EXTENSION) else {
            return Ok(Lookup::None);
        };
        let hash = requested_hash(&extension)?;
        if !request.query.is_empty() {
            if sha256_hex(&request.query) != hash {
                return Err(AppError::bad_input(
                    "extensions.persistedQuery.sha256Hash",
                    "the hash is not the SHA-256 of the query",
                ));
            }
            return Ok(Lookup::Register(hash));
        }
        match self.find(&hash).await {
            Some(text) => {
                self.stats.hits.fetch_add(1, Ordering::Relaxed);
                request.query = text.to_string();
                Ok(Lookup::Found)
            }
            None => {
                self.stats.misses.fetch_add(1, Ordering::Relaxed);
                Err(AppError::PersistedQueryNotFound)
            }
        }
    }

    async fn find(&self, hash: &str) -> Option<Arc<str>> {
        if let Some(text) = self.texts.get(hash) {
            return Some(text);
        }
        let shared: Option<String> = self
            .cluster
            .command::<Option<String>>(redis::cmd("GET").arg(shared_key(hash)))
            .await
            .flatten();
        // Only a text that still has this hash is believed (a shared Redis is
        // not trusted to have kept the pairing).
        let text: Arc<str> = shared.filter(|text| sha256_hex(text) == hash)?.into();
        self.texts.insert(hash.to_string(), text.clone());
        Some(text)
    }

    /// Keeps `text` under its checked `hash`, here and in Redis.
    pub async fn register(&self, hash: String, text: &str) {
        if text.len() > MAX_REGISTERED_BYTES || self.texts.contains_key(&hash) {
            return;
        }
        self.stats.registered.fetch_add(1, Ordering::Relaxed);
        self.texts.insert(hash.clone(), text.into());
        self.cluster
            .command::<()>(
                redis::cmd("SET")
                    .arg(shared_key(&hash))
                    .arg(text)
                    .arg("EX")
                    .arg(SHARED_TTL_SECS),
            )
            .await;
    }
}

/// The hash of a request that names its document by APQ hash alone.
pub fn hash_only(request: &Request) -> Option<String> {
    if !request.query.is_empty() {
        return None;
    }
    requested_hash(request.extensions.get(EXTENSION)?).ok()
}

fn shared_key(hash: &str) -> String {
    format!("{}apq:{hash}", crate::cluster::PREFIX)
}

/// `{version: 1, sha256Hash: "<64 hex>"}` → the hash in lower case.
fn requested_hash(extension: &Value) -> Result<String, AppError> {
    let bad = |message: &str| AppError::bad_input("extensions.persistedQuery", message);
    let Value::Object(fields) = extension else {
        return Err(bad("persistedQuery is an object {version: 1, sha256Hash}"));
    };
    match fields.get("version") {
        Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
        _ => return Err(bad("only persistedQuery version 1 is supported")),
    }
    match fields.get("sha256Hash") {
        Some(Value::String(hash))
            if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Ok(hash.to_ascii_lowercase())
        }
        _ => Err(bad("sha256Hash is the query's SHA-256 in 64 hex digits")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_extension(query: &str, extension: serde_json::Value) -> Request {
        let mut request = Request::new(query);
        request
            .extensions
            .insert(EXTENSION.to_string(), Value::from_json(extension).unwrap());
        request
    }

    const ME: &str = "{ me { email } }";

    #[tokio::test]
    async fn a_hash_is_registered_with_its_text_and_found_without_it() {
        let store = PersistedQueries::new(Cluster::local());
        let hash = sha256_hex(ME);
        let ext = serde_json::json!({ "version": 1, "sha256Hash": hash });
        let mut unknown = with_extension("", ext.clone());
        assert!(matches!(
            store.resolve(&mut unknown).await,
            Err(AppError::PersistedQueryNotFound)
        ));
        let mut full = with_extension(ME, ext.clone());
        let lookup = store.resolve(&mut full).await.unwrap();
        assert_eq!(lookup, Lookup::Register(hash.clone()));
        assert!(full.extensions.get(EXTENSION).is_none(), "resolved once");
        store.register(hash.clone(), ME).await;
        let mut hashed = with_extension("", ext);
        assert_eq!(store.resolve(&mut hashed).await.unwrap(), Lookup::Found);
        assert_eq!(hashed.query, ME);
        assert_eq!(store.stats.hits.load(Ordering::Relaxed), 1);
        assert_eq!(store.stats.misses.load(Ordering::Relaxed), 1);
        assert_eq!(store.stats.registered.load(Ordering::Relaxed), 1);
        let mut plain = Request::new(ME);
        assert_eq!(store.resolve(&mut plain).await.unwrap(), Lookup::None);
    }

    #[tokio::test]
    async fn a_wrong_hash_or_an_odd_extension_is_refused() {
        let store = PersistedQueries::new(Cluster::local());
        for extension in [
            serde_json::json!({ "version": 1, "sha256Hash": sha256_hex("{ other }") }),
            serde_json::json!({ "version": 2, "sha256Hash": sha256_hex(ME) }),
            serde_json::json!({ "version": 1, "sha256Hash": "abc" }),
            serde_json::json!({ "version": 1 }),
            serde_json::json!("hash"),
        ] {
            let mut request = with_extension(ME, extension.clone());
            let error = store.resolve(&mut request).await.unwrap_err();
            assert_eq!(error.code(), "BAD_USER_INPUT", "{extension}");
        }
        let upper = sha256_hex(ME).to_ascii_uppercase();
        let mut request =
            with_extension(ME, serde_json::json!({ "version": 1, "sha256Hash": upper }));
        assert!(matches!(
            store.resolve(&mut request).await,
            Ok(Lookup::Register(_))
        ));
    }
}
