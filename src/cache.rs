//! A per-tenant cache of hot reads: whole answers of queries that select only
//! the dashboard and company or partner lookups.
//!
//! The key is the tenant, the tenant's *generation*, the caller's role, the
//! normalized document, the operation name, the variables and the day (the
//! dashboard's overdue amounts depend on it). Invalidating a tenant is O(1):
//! its generation goes up and no old key is ever asked for again; old entries
//! simply age out. Writes through the API, and `invalidateTenantCache`, bump it.
//!
//! In process, answers live in a bounded LRU-with-TTL cache (moka), and a miss
//! is computed once however many requests ask for it at the same time. With
//! Redis, answers are also stored there for the other instances, and
//! generations live in Redis (bumps are broadcast, so every instance switches
//! at once). While Redis is down the cache is bypassed — another instance may
//! have invalidated a tenant meanwhile — and a bump that could not reach Redis
//! is retried until it does.
use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, Weak,
    },
    time::Duration,
};

use async_graphql::{
    parser::types::{ExecutableDocument, OperationType, Selection},
    Request, Response,
};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::cluster::{Cluster, PREFIX};

/// Root fields whose answers may be cached.
const CACHEABLE_FIELDS: [&str; 6] = [
    "dashboard",
    "company",
    "companies",
    "partner",
    "partners",
    "__typename",
];
const CHANNEL: &str = "cache-generations";
/// How often bumps that could not reach Redis are retried.
const RETRY_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    /// How long an answer is reused; zero turns the cache off.
    pub ttl: Duration,
    pub max_entries: u64,
}

#[derive(Debug, Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    /// Cacheable requests answered without the cache (Redis down).
    pub bypassed: AtomicU64,
    pub invalidations: AtomicU64,
}

pub struct AnswerCache {
    settings: CacheSettings,
    local: moka::future::Cache<String, Arc<async_graphql::Value>>,
    /// tenant id → generation, as this instance knows it.
    generations: Mutex<HashMap<String, u64>>,
    /// Tenants whose bump has not reached Redis yet.
    pending_bumps: Mutex<HashSet<String>>,
    cluster: Cluster,
    pub stats: CacheStats,
}

impl AnswerCache {
    pub fn new(settings: CacheSettings, cluster: Cluster) -> Arc<Self> {
        let local = moka::future::Cache::builder()
            .max_capacity(settings.max_entries.max(1))
            .time_to_live(settings.ttl.max(Duration::from_millis(1)))
            .build();
        let cache = Arc::new(AnswerCache {
            settings,
            local,
            generations: Mutex::default(),
            pending_bumps: Mutex::default(),
            cluster,
            stats: CacheStats::default(),
        });
        if cache.cluster.is_shared() {
            tokio::spawn(keep_generations(
                Arc::downgrade(&cache),
                cache.cluster.listen(CHANNEL),
            ));
        }
        cache
    }

    pub fn enabled(&self) -> bool {
        !self.settings.ttl.is_zero()
    }

    /// The cache key of `request` for a caller of `tenant_id` with `role`, or
    /// None when it is not a cacheable read (or the cache cannot be trusted now).
    /// `document_hash` gives the normalized document's hash, asked for only
    /// when the request is cacheable.
    pub async fn key(
        &self,
        tenant_id: &str,
        role: &str,
        request: &mut Request,
        document_hash: impl FnOnce(&str) -> String,
    ) -> Option<String> {
        if !self.enabled() {
            return None;
        }
        let operation_name = request.operation_name.clone();
        let document = request.parsed_query().ok()?;
        if !cacheable(document, operation_name.as_deref()) {
            return None;
        }
        let Some(generation) = self.generation(tenant_id).await else {
            self.stats.bypassed.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let mut hash = Sha256::new();
        for part in [
            tenant_id,
            &generation.to_string(),
            role,
            &document_hash(&request.query),
            operation_name.as_deref().unwrap_or(""),
            &serde_json::to_string(&request.variables).unwrap_or_default(),
            &chrono::Utc::now().date_naive().to_string(),
        ] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        Some(format!("{:x}", hash.finalize()))
    }

    /// The answer under `key`: from this instance, then from Redis, else
    /// computed once (concurrent askers wait for that one computation). Only
    /// answers without errors are kept.
    pub async fn answer(
        &self,
        key: String,
        compute: impl std::future::Future<Output = Response>,
    ) -> Response {
        let computed = std::sync::atomic::AtomicBool::new(false);
        let result = self
            .local
            .try_get_with(key.clone(), async {
                let shared_key = format!("{PREFIX}answer:{key}");
                if self.cluster.is_shared() {
                    let stored: Option<Option<String>> = self
                        .cluster
                        .command(redis::cmd("GET").arg(&shared_key))
                        .await;
                    let data = stored
                        .flatten()
                        .and_then(|s| serde_json::from_str::<async_graphql::Value>(&s).ok());
                    if let Some(data) = data {
                        return Ok(Arc::new(data));
                    }
                }
                computed.store(true, Ordering::Relaxed);
                let response = compute.await;
                if response.is_err() {
                    return Err(response);
                }
                if self.cluster.is_shared() {
                    let ttl_ms = self.settings.ttl.as_millis().max(1) as u64;
                    let json = serde_json::to_string(&response.data).unwrap_or_default();
                    let _: Option<()> = self
                        .cluster
                        .command(
                            redis::cmd("SET")
                                .arg(&shared_key)
                                .arg(json)
                                .arg("PX")
                                .arg(ttl_ms),
                        )
                        .await;
                }
                Ok(Arc::new(response.data))
            })
            .await;
        let counter = if computed.load(Ordering::Relaxed) {
            &self.stats.misses
        } else {
            &self.stats.hits
        };
        counter.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(data) => Response::new((*data).clone()),
            Err(response) => match Arc::try_unwrap(response) {
                Ok(response) => response,
                Err(shared) => {
                    // Another request computed the same failing answer.
                    let mut response = Response::new(shared.data.clone());
                    response.errors = shared.errors.clone();
                    response
                }
            },
        }
    }

    /// Makes every cached answer of the tenant unreachable, on every instance.
    pub async fn invalidate(&self, tenant_id: &str) {
        self.stats.invalidations.fetch_add(1, Ordering::Relaxed);
        if !self.cluster.is_shared() {
            *self
                .generations
                .lock()
                .expect("generations lock")
                .entry(tenant_id.to_string())
                .or_default() += 1;
            return;
        }
        if !self.bump_shared(tenant_id).await {
            // Until Redis takes it, this instance forgets what it knew (so it
            // bypasses the cache for the tenant) and retries the bump.
            self.generations
                .lock()
                .expect("generations lock")
                .remove(tenant_id);
            self.pending_bumps
                .lock()
                .expect("pending bumps lock")
                .insert(tenant_id.to_string());
        }
    }

    /// INCR in Redis and tell the other instances; false if Redis did not answer.
    async fn bump_shared(&self, tenant_id: &str) -> bool {
        let Some(generation) = self
            .cluster
            .command::<u64>(redis::cmd("INCR").arg(generation_key(tenant_id)))
            .await
        else {
            return false;
        };
        self.learn(tenant_id, generation);
        self.cluster
            .broadcast(
                CHANNEL,
                json!({ "tenant": tenant_id, "generation": generation }),
            )
            .await;
        true
    }

    fn learn(&self, tenant_id: &str, generation: u64) {
        let mut generations = self.generations.lock().expect("generations lock");
        let known = generations.entry(tenant_id.to_string()).or_default();
        *known = (*known).max(generation);
    }

    /// The tenant's generation; with Redis, read from it the first time (None:
    /// Redis cannot be asked, or a bump is still pending — bypass the cache).
    async fn generation(&self, tenant_id: &str) -> Option<u64> {
        if self.cluster.is_shared() && !self.cluster.stats().redis_up.load(Ordering::Relaxed) {
            return None;
        }
        if let Some(known) = self
            .generations
            .lock()
            .expect("generations lock")
            .get(tenant_id)
        {
            return Some(*known);
        }
        if !self.cluster.is_shared() {
            return Some(0);
        }
        if self
            .pending_bumps
            .lock()
            .expect("pending bumps lock")
            .contains(tenant_id)
        {
            return None;
        }
        let stored: Option<u64> = self
            .cluster
            .command::<Option<u64>>(redis::cmd("GET").arg(generation_key(tenant_id)))
            .await?
            .or(Some(0));
        let generation = stored?;
        self.learn(tenant_id, generation);
        Some(generation)
    }

    /// Retries the bumps that could not reach Redis.
    async fn retry_pending(&self) {
        let pending: Vec<String> = self
            .pending_bumps
            .lock()
            .expect("pending bumps lock")
            .iter()
            .cloned()
            .collect();
        for tenant_id in pending {
            if self.bump_shared(&tenant_id).await {
                self.pending_bumps
                    .lock()
                    .expect("pending bumps lock")
                    .remove(&tenant_id);
            }
        }
    }

    /// After a Redis outage: what this instance knew may be stale.
    fn forget_generations(&self) {
        self.generations.lock().expect("generations lock").clear();
    }
}

fn generation_key(tenant_id: &str) -> String {
    format!("{PREFIX}generation:{tenant_id}")
}

/// Whether the operation to run is a query selecting only cacheable root
/// fields (no fragments at the root, where other fields could hide).
pub fn cacheable(document: &ExecutableDocument, operation_name: Option<&str>) -> bool {
    let operation = match operation_name {
        Some(name) => document
            .operations
            .iter()
            .find(|(n, _)| n.is_some_and(|n| n.as_str() == name))
            .map(|(_, op)| op),
        None => document.operations.iter().next().map(|(_, op)| op),
    };
    let Some(operation) = operation else {
        return false;
    };
    let operation = &operation.node;
    operation.ty == OperationType::Query
        && operation
            .selection_set
            .node
            .items
            .iter()
            .all(|item| match &item.node {
                Selection::Field(field) => {
                    CACHEABLE_FIELDS.contains(&field.node.name.node.as_str())
                }
                Selection::FragmentSpread(_) | Selection::InlineFragment(_) => false,
            })
}

async fn keep_generations(
    cache: Weak<AnswerCache>,
    mut from_others: tokio::sync::mpsc::Receiver<serde_json::Value>,
) {
    let mut retry = tokio::time::interval(RETRY_EVERY);
    let mut redis_was_up = true;
    loop {
        tokio::select! {
            message = from_others.recv() => {
                let Some(message) = message else { return };
                let Some(cache) = cache.upgrade() else { return };
                if let (Some(tenant), Some(generation)) =
                    (message["tenant"].as_str(), message["generation"].as_u64())
                {
                    cache.learn(tenant, generation);
                }
            }
            _ = retry.tick() => {
                let Some(cache) = cache.upgrade() else { return };
                let up = cache.cluster.stats().redis_up.load(Ordering::Relaxed);
                if up && !redis_was_up {
                    cache.forget_generations();
                }
                redis_was_up = up;
                cache.retry_pending().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn is_cacheable(query: &str, name: Option<&str>) -> bool {
        cacheable(&parse_query(query).unwrap(), name)
    }

    #[test]
    fn only_queries_of_hot_reads_are_cached() {
        assert!(is_cacheable(
            "{ dashboard(companyId: \"x\", year: 2026) { revenue } }",
            None
        ));
        assert!(is_cacheable(
            "query A { companies { id } p: partner(id: \"x\") { name } }",
            None
        ));
        assert!(!is_cacheable(
            "{ invoices(companyId: \"x\") { edges { cursor } } }",
            None
        ));
        assert!(!is_cacheable("{ companies { id } me { email } }", None));
        assert!(!is_cacheable(
            "{ ...F } fragment F on Query { companies { id } }",
            None
        ));
        assert!(!is_cacheable("mutation { logout }", None));
        assert!(is_cacheable(
            "mutation M { logout } query Q { companies { id } }",
            Some("Q")
        ));
        assert!(!is_cacheable(
            "mutation M { logout } query Q { companies { id } }",
            Some("M")
        ));
    }

    #[tokio::test]
    async fn a_miss_is_computed_once_and_an_invalidation_changes_the_key() {
        let cache = AnswerCache::new(
            CacheSettings {
                ttl: Duration::from_secs(60),
                max_entries: 100,
            },
            Cluster::local(),
        );
        let mut request = Request::new("{ companies { id } }");
        let key = cache
            .key("t1", "MEMBER", &mut request, str::to_string)
            .await
            .unwrap();
        let computations = AtomicU64::new(0);
        let compute = || async {
            computations.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Response::new(async_graphql::Value::from("answer"))
        };
        let (a, b) = tokio::join!(
            cache.answer(key.clone(), compute()),
            cache.answer(key.clone(), compute())
        );
        assert_eq!(a.data, b.data);
        assert_eq!(computations.load(Ordering::Relaxed), 1);
        cache.answer(key.clone(), compute()).await;
        assert_eq!(computations.load(Ordering::Relaxed), 1);

        cache.invalidate("t1").await;
        let after = cache
            .key("t1", "MEMBER", &mut request, str::to_string)
            .await
            .unwrap();
        assert_ne!(after, key);
        let other_tenant = cache
            .key("t2", "MEMBER", &mut request, str::to_string)
            .await
            .unwrap();
        assert_ne!(other_tenant, key);
        let other_role = cache
            .key("t1", "ADMIN", &mut request, str::to_string)
            .await
            .unwrap();
        assert_ne!(other_role, after);
    }

    #[tokio::test]
    async fn answers_with_errors_are_not_kept() {
        let cache = AnswerCache::new(
            CacheSettings {
                ttl: Duration::from_secs(60),
                max_entries: 100,
            },
            Cluster::local(),
        );
        let failing =
            || async { Response::from_errors(vec![async_graphql::ServerError::new("down", None)]) };
        assert!(cache.answer("k".into(), failing()).await.is_err());
        let ok = cache
            .answer("k".into(), async {
                Response::new(async_graphql::Value::from(1))
            })
            .await;
        assert!(ok.is_ok());
    }
}
