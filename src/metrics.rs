//! Prometheus metrics, rendered by hand in the text exposition format.
//!
//! Series are labelled by tenant, but a deployment with 10,000 tenants must not
//! export 10,000 label values per metric: at each scrape the `tenant_labels`
//! busiest tenants (by requests so far) get their own label and the rest are
//! summed under `tenant="other"`. A tenant moving in or out of the top set makes
//! `other` jump; `rate()` treats that as a counter reset.
use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write,
    sync::{atomic::Ordering, Mutex},
    time::Duration,
};

use crate::{
    admission::Admission,
    audit::AuditStats,
    cache::CacheStats,
    cluster::ClusterStats,
    live::LiveStats,
    persisted::PersistedStats,
    tenancy::{pools::PoolStats, tunnel::TunnelState},
    trusted::TrustedStats,
};

/// Series without labels, in the order given: (name, type, help, value).
fn render_unlabelled(series: &[(&str, &str, &str, u64)]) -> String {
    let mut out = String::new();
    for (name, kind, help, value) in series {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
    out
}

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Label for requests without a tenant (anonymous, platform tokens).
pub const NO_TENANT: &str = "none";
const OTHER: &str = "other";
const CODES: [&str; 16] = [
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "ORIGIN_NOT_ALLOWED",
    "PREFLIGHT_REQUIRED",
    "PERSISTED_QUERY_ID_REQUIRED",
    "TENANT_SUSPENDED",
    "TENANT_UNAVAILABLE",
    "POOL_TIMEOUT",
    "RATE_LIMITED",
    "LIMIT_EXCEEDED",
    "SLOW_CONSUMER",
    "BAD_USER_INPUT",
    "NOT_FOUND",
    "CONFLICT",
    "INTERNAL",
    "OTHER",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Query,
    Mutation,
    Subscription,
    /// The document did not parse, or the request never reached GraphQL.
    Unknown,
}

impl Operation {
    const ALL: [Operation; 4] = [
        Operation::Query,
        Operation::Mutation,
        Operation::Subscription,
        Operation::Unknown,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Operation::Query => "query",
            Operation::Mutation => "mutation",
            Operation::Subscription => "subscription",
            Operation::Unknown => "unknown",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bucket, bound) in self.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
    }
}

#[derive(Debug, Default, Clone)]
struct TenantSeries {
    requests: [u64; 4],
    latency: [Histogram; 4],
    errors: [u64; CODES.len()],
}

impl TenantSeries {
    fn total_requests(&self) -> u64 {
        self.requests.iter().sum()
    }

    fn merge(&mut self, other: &TenantSeries) {
        for i in 0..4 {
            self.requests[i] += other.requests[i];
            self.latency[i].merge(&other.latency[i]);
        }
        for (a, b) in self.errors.iter_mut().zip(other.errors) {
            *a += b;
        }
    }
}

/// Pool figures summed over the tenants folded into one label.
#[derive(Debug, Default)]
struct PoolTotals {
    round_trips: u64,
    max_size: u64,
    size: u64,
    idle: u64,
    in_use: u64,
    waiters: u64,
    timeouts: u64,
    pools_created: u64,
    tunnels: u64,
    tunnels_up: u64,
    tunnel_reconnects: u64,
}

impl PoolTotals {
    fn add(&mut self, s: &PoolStats) {
        self.round_trips += s.round_trips;
        self.max_size += s.max_size as u64;
        self.size += s.size as u64;
        self.idle += s.idle as u64;
        self.in_use += s.in_use as u64;
        self.waiters += s.waiters as u64;
        self.timeouts += s.timeouts;
        self.pools_created += s.pools_created;
        if let Some(tunnel) = &s.tunnel {
            self.tunnels += 1;
            self.tunnels_up += u64::from(tunnel.state == TunnelState::Up);
            self.tunnel_reconnects += tunnel.reconnects;
        }
    }
}

/// Name, type, help text and value of one pool series.
type PoolSeries = (
    &'static str,
    &'static str,
    &'static str,
    fn(&PoolTotals) -> u64,
);

/// Each series with its HELP and TYPE, one sample per tenant row.
fn write_pool_series<'a>(
    out: &mut String,
    series: &[PoolSeries],
    rows: impl Iterator<Item = (&'a String, &'a PoolTotals)> + Clone,
) {
    for (name, kind, help, value) in series {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (tenant, stats) in rows.clone() {
            let _ = writeln!(out, "{name}{{tenant=\"{tenant}\"}} {}", value(stats));
        }
    }
}

pub struct Metrics {
    tenant_labels: usize,
    series: Mutex<HashMap<String, TenantSeries>>,
}

impl Metrics {
    pub fn new(tenant_labels: usize) -> Self {
        Metrics {
            tenant_labels,
            series: Mutex::new(HashMap::new()),
        }
    }

    /// One GraphQL request: its tenant (slug), operation type, duration and error codes.
    pub fn record_request<'a>(
        &self,
        tenant: Option<&str>,
        operation: Operation,
        elapsed: Duration,
        error_codes: impl IntoIterator<Item = &'a str>,
    ) {
        let mut series = self.series.lock().expect("metrics lock");
        let entry = series
            .entry(tenant.unwrap_or(NO_TENANT).to_string())
            .or_default();
        entry.requests[operation.index()] += 1;
        entry.latency[operation.index()].observe(elapsed.as_secs_f64());
        for code in error_codes {
            let index = CODES
                .iter()
                .position(|c| *c == code)
                .unwrap_or(CODES.len() - 1);
            entry.errors[index] += 1;
        }
    }

    /// A request refused before GraphQL ran (a token that does not verify, or
    /// whose user, membership or tenant no longer qualifies): counted as an error
    /// with no tenant, since a refused token names none we trust.
    pub fn record_refused(&self, code: &str) {
        let mut series = self.series.lock().expect("metrics lock");
        let entry = series.entry(NO_TENANT.to_string()).or_default();
        let index = CODES
            .iter()
            .position(|c| *c == code)
            .unwrap_or(CODES.len() - 1);
        entry.errors[index] += 1;
    }

    /// The busiest tenants, which keep their own label.
    fn top_tenants(&self, series: &HashMap<String, TenantSeries>) -> Vec<String> {
        let mut by_requests: Vec<(&String, u64)> = series
            .iter()
            .map(|(k, v)| (k, v.total_requests()))
            .collect();
        by_requests.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        by_requests
            .into_iter()
            .take(self.tenant_labels)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The exposition text, with the pool manager's per-tenant stats.
    pub fn render(&self, pools: &[PoolStats]) -> String {
        let series = self.series.lock().expect("metrics lock").clone();
        let top = self.top_tenants(&series);
        let label = |slug: &str| -> String {
            if slug == NO_TENANT || top.iter().any(|t| t == slug) {
                slug.to_string()
            } else {
                OTHER.to_string()
            }
        };
        let mut folded: BTreeMap<String, TenantSeries> = BTreeMap::new();
        for (slug, s) in &series {
            folded.entry(label(slug)).or_default().merge(s);
        }

        let mut out = String::with_capacity(4096);
        out.push_str("# HELP tenantql_graphql_requests_total GraphQL requests by operation type and tenant.\n");
        out.push_str("# TYPE tenantql_graphql_requests_total counter\n");
        for (tenant, s) in &folded {
            for op in Operation::ALL {
                let n = s.requests[op.index()];
                if n > 0 {
                    let _ = writeln!(out, "tenantql_graphql_requests_total{{operation=\"{}\",tenant=\"{tenant}\"}} {n}", op.label());
                }
            }
        }
        out.push_str("# HELP tenantql_graphql_request_duration_seconds GraphQL request latency by operation type and tenant.\n");
        out.push_str("# TYPE tenantql_graphql_request_duration_seconds histogram\n");
        for (tenant, s) in &folded {
            for op in Operation::ALL {
                let h = &s.latency[op.index()];
                if h.count == 0 {
                    continue;
                }
                let labels = format!("operation=\"{}\",tenant=\"{tenant}\"", op.label());
                for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                    let _ = writeln!(out, "tenantql_graphql_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}");
                }
                let _ = writeln!(
                    out,
                    "tenantql_graphql_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "tenantql_graphql_request_duration_seconds_sum{{{labels}}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "tenantql_graphql_request_duration_seconds_count{{{labels}}} {}",
                    h.count
                );
            }
        }
        out.push_str(
            "# HELP tenantql_graphql_errors_total GraphQL errors by extensions.code and tenant.\n",
        );
        out.push_str("# TYPE tenantql_graphql_errors_total counter\n");
        for (tenant, s) in &folded {
            for (code, n) in CODES.iter().zip(s.errors) {
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "tenantql_graphql_errors_total{{code=\"{code}\",tenant=\"{tenant}\"}} {n}"
                    );
                }
            }
        }

        let mut pool_rows: BTreeMap<String, PoolTotals> = BTreeMap::new();
        for stats in pools {
            pool_rows
                .entry(label(&stats.tenant_slug))
                .or_default()
                .add(stats);
        }
        let gauges: [PoolSeries; 8] = [
            (
                "tenantql_db_round_trips_total",
                "counter",
                "Statements sent to tenant databases.",
                |s| s.round_trips,
            ),
            ("tenantql_pool_max_size", "gauge", "Pool size limit.", |s| {
                s.max_size
            }),
            (
                "tenantql_pool_connections",
                "gauge",
                "Open sessions in the pool.",
                |s| s.size,
            ),
            (
                "tenantql_pool_idle",
                "gauge",
                "Idle sessions in the pool.",
                |s| s.idle,
            ),
            (
                "tenantql_pool_in_use",
                "gauge",
                "Sessions lent to requests.",
                |s| s.in_use,
            ),
            (
                "tenantql_pool_waiters",
                "gauge",
                "Requests waiting for a session.",
                |s| s.waiters,
            ),
            (
                "tenantql_pool_timeouts_total",
                "counter",
                "Requests that got POOL_TIMEOUT.",
                |s| s.timeouts,
            ),
            (
                "tenantql_pools_created_total",
                "counter",
                "Pools created (first use, replacement).",
                |s| s.pools_created,
            ),
        ];
        write_pool_series(&mut out, &gauges, pool_rows.iter());
        // How many tenants hold a pool now: what the idle reaper keeps down.
        let _ = write!(
            out,
            "# HELP tenantql_pools_open Tenants with an open pool.\n# TYPE tenantql_pools_open gauge\ntenantql_pools_open {}\n",
            pools.iter().filter(|s| s.open).count()
        );
        let tunnels: [PoolSeries; 3] = [
            (
                "tenantql_tunnels",
                "gauge",
                "SSH tunnels of open pools (tenants behind a bastion).",
                |s| s.tunnels,
            ),
            (
                "tenantql_tunnels_up",
                "gauge",
                "SSH tunnels forwarding sessions now.",
                |s| s.tunnels_up,
            ),
            (
                "tenantql_tunnel_reconnects_total",
                "counter",
                "SSH tunnel reconnections after a loss (open pools).",
                |s| s.tunnel_reconnects,
            ),
        ];
        // Only tenants behind a bastion get tunnel series.
        let behind_a_bastion = pool_rows.iter().filter(|(_, s)| s.tunnels > 0);
        write_pool_series(&mut out, &tunnels, behind_a_bastion);
        out
    }

    /// The audit writer's counters: a dropped row is an audit gap worth an alert.
    pub fn render_audit(&self, audit: &AuditStats) -> String {
        render_unlabelled(&[
            (
                "tenantql_audit_rows_written_total",
                "counter",
                "Request audit rows written to the control plane.",
                audit.written.load(Ordering::Relaxed),
            ),
            (
                "tenantql_audit_rows_minimized_total",
                "counter",
                "Request audit rows written in minimal form after the whole row failed.",
                audit.minimized.load(Ordering::Relaxed),
            ),
            (
                "tenantql_audit_rows_dropped_total",
                "counter",
                "Request audit rows dropped (queue full, or writing failed after retries).",
                audit.dropped.load(Ordering::Relaxed),
            ),
            (
                "tenantql_audit_queue_depth",
                "gauge",
                "Request audit rows waiting for the writer.",
                audit.queued(),
            ),
        ])
    }

    /// The cache of hot reads.
    pub fn render_cache(&self, cache: &CacheStats) -> String {
        render_unlabelled(&[
            (
                "tenantql_cache_hits_total",
                "counter",
                "Hot reads answered from the cache (this instance's or Redis).",
                cache.hits.load(Ordering::Relaxed),
            ),
            (
                "tenantql_cache_misses_total",
                "counter",
                "Hot reads computed and then cached.",
                cache.misses.load(Ordering::Relaxed),
            ),
            (
                "tenantql_cache_bypassed_total",
                "counter",
                "Cacheable reads answered without the cache (Redis unavailable).",
                cache.bypassed.load(Ordering::Relaxed),
            ),
            (
                "tenantql_cache_invalidations_total",
                "counter",
                "Tenant cache invalidations (writes, admin requests).",
                cache.invalidations.load(Ordering::Relaxed),
            ),
        ])
    }

    /// Compiled plans: operations answered straight from rows, and those a
    /// plan left to async-graphql (an error to report).
    pub fn render_plans(&self, answered: u64, deferred: u64) -> String {
        render_unlabelled(&[
            (
                "tenantql_compiled_answers_total",
                "counter",
                "Operations answered by a compiled plan.",
                answered,
            ),
            (
                "tenantql_compiled_deferred_total",
                "counter",
                "Operations with a compiled plan that async-graphql ran instead.",
                deferred,
            ),
        ])
    }

    /// Automatic persisted queries.
    pub fn render_persisted(&self, persisted: &PersistedStats) -> String {
        render_unlabelled(&[
            (
                "tenantql_persisted_query_hits_total",
                "counter",
                "Requests whose document was found by its hash (APQ).",
                persisted.hits.load(Ordering::Relaxed),
            ),
            (
                "tenantql_persisted_query_misses_total",
                "counter",
                "Requests by hash whose document was not known (PERSISTED_QUERY_NOT_FOUND).",
                persisted.misses.load(Ordering::Relaxed),
            ),
            (
                "tenantql_persisted_queries_registered_total",
                "counter",
                "Documents registered under their hash on this instance.",
                persisted.registered.load(Ordering::Relaxed),
            ),
        ])
    }

    /// Trusted documents.
    pub fn render_trusted(&self, trusted: &TrustedStats) -> String {
        render_unlabelled(&[
            (
                "tenantql_trusted_document_hits_total",
                "counter",
                "Requests that ran a published document by its id.",
                trusted.hits.load(Ordering::Relaxed),
            ),
            (
                "tenantql_trusted_document_not_in_list_total",
                "counter",
                "Requests by an id no published list holds (PERSISTED_QUERY_NOT_IN_LIST).",
                trusted.not_in_list.load(Ordering::Relaxed),
            ),
            (
                "tenantql_trusted_document_free_form_refused_total",
                "counter",
                "Free-form documents refused under require (PERSISTED_QUERY_ID_REQUIRED).",
                trusted.free_form_refused.load(Ordering::Relaxed),
            ),
            (
                "tenantql_trusted_document_unknown_total",
                "counter",
                "Free-form documents not in the published list that ran under log-unknown.",
                trusted.unknown_free_form.load(Ordering::Relaxed),
            ),
        ])
    }

    /// Rate limits, tenants' places and the CPU share.
    pub fn render_admission(&self, admission: &Admission) -> String {
        let (running, waiting) = admission.places.totals();
        let (computing, ready) = admission.cpu.load();
        let stats = &admission.rates.stats;
        render_unlabelled(&[
            (
                "tenantql_rate_limited_total",
                "counter",
                "Operations refused with RATE_LIMITED by a rate limit.",
                stats.limited.load(Ordering::Relaxed),
            ),
            (
                "tenantql_rate_limit_failed_open_total",
                "counter",
                "Rate-limit checks let through because Redis could not answer.",
                stats.failed_open.load(Ordering::Relaxed),
            ),
            (
                "tenantql_operations_admitted_total",
                "counter",
                "Operations of tenant callers that asked for a place (HTTP and WebSocket).",
                admission.places.requested(),
            ),
            (
                "tenantql_operations_backlog_full_total",
                "counter",
                "Operations refused with RATE_LIMITED because their tenant's backlog was full.",
                admission.places.refused(),
            ),
            (
                "tenantql_operations_running",
                "gauge",
                "Operations of tenant callers under way (holding a place).",
                running as u64,
            ),
            (
                "tenantql_operations_waiting",
                "gauge",
                "Operations waiting for a place in their tenant's backlog.",
                waiting as u64,
            ),
            (
                "tenantql_cpu_tokens_in_use",
                "gauge",
                "Operations computing now (CPU run tokens held).",
                computing as u64,
            ),
            (
                "tenantql_cpu_waiting",
                "gauge",
                "Operations ready to compute, waiting for a CPU run token.",
                ready as u64,
            ),
        ])
    }

    /// The shared Redis as this instance sees it.
    pub fn render_cluster(&self, cluster: &ClusterStats) -> String {
        render_unlabelled(&[
            (
                "tenantql_redis_up",
                "gauge",
                "1 when the last Redis command or subscription succeeded, 0 while degraded.",
                u64::from(cluster.redis_up.load(Ordering::Relaxed)),
            ),
            (
                "tenantql_redis_errors_total",
                "counter",
                "Redis commands that failed or timed out (the instance carried on without them).",
                cluster.redis_errors.load(Ordering::Relaxed),
            ),
            (
                "tenantql_cluster_messages_published_total",
                "counter",
                "Messages sent to the other instances.",
                cluster.messages_published.load(Ordering::Relaxed),
            ),
            (
                "tenantql_cluster_messages_received_total",
                "counter",
                "Messages received from the other instances.",
                cluster.messages_received.load(Ordering::Relaxed),
            ),
        ])
    }

    /// Subscriptions, events and live dashboards in this process.
    pub fn render_live(
        &self,
        live: &LiveStats,
        feeds: usize,
        watched_tenants: usize,
        watchers: usize,
    ) -> String {
        render_unlabelled(&[
            (
                "tenantql_subscriptions_open",
                "gauge",
                "Subscriptions open on this instance.",
                live.subscriptions_open.load(Ordering::Relaxed),
            ),
            (
                "tenantql_events_published_total",
                "counter",
                "Invoice events published by this instance's writes.",
                live.events_published.load(Ordering::Relaxed),
            ),
            (
                "tenantql_subscriptions_dropped_slow_total",
                "counter",
                "Subscriptions ended because their consumer fell behind.",
                live.slow_consumers.load(Ordering::Relaxed),
            ),
            (
                "tenantql_events_not_shared_total",
                "counter",
                "Events not sent to the other instances because the outbound queue was full.",
                live.events_not_shared.load(Ordering::Relaxed),
            ),
            (
                "tenantql_dashboard_recomputes_total",
                "counter",
                "Dashboard snapshots computed for live feeds.",
                live.dashboard_recomputes.load(Ordering::Relaxed),
            ),
            (
                "tenantql_dashboard_feeds",
                "gauge",
                "Live dashboard feeds running (one per tenant, company and year watched).",
                feeds as u64,
            ),
            (
                "tenantql_change_watchers",
                "gauge",
                "Tenants whose change log this instance polls (their subscribers are here).",
                watchers as u64,
            ),
            (
                "tenantql_event_channels",
                "gauge",
                "Tenants with at least one event subscriber on this instance.",
                watched_tenants as u64,
            ),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_labels_are_bounded() {
        let metrics = Metrics::new(2);
        for (tenant, n) in [("big", 5), ("mid", 3), ("small", 1), ("tiny", 1)] {
            for _ in 0..n {
                metrics.record_request(
                    Some(tenant),
                    Operation::Query,
                    Duration::from_millis(3),
                    [],
                );
            }
        }
        metrics.record_request(
            Some("tiny"),
            Operation::Mutation,
            Duration::from_millis(3),
            ["NOT_FOUND"],
        );
        let text = metrics.render(&[]);
        assert!(
            text.contains("tenantql_graphql_requests_total{operation=\"query\",tenant=\"big\"} 5")
        );
        assert!(
            text.contains("tenantql_graphql_requests_total{operation=\"query\",tenant=\"mid\"} 3")
        );
        assert!(text
            .contains("tenantql_graphql_requests_total{operation=\"query\",tenant=\"other\"} 2"));
        assert!(
            text.contains("tenantql_graphql_errors_total{code=\"NOT_FOUND\",tenant=\"other\"} 1")
        );
        assert!(!text.contains("tenant=\"small\""));
        assert!(!text.contains("tenant=\"tiny\""));
    }

    #[test]
    fn ten_thousand_tenants_stay_within_the_label_budget() {
        let metrics = Metrics::new(crate::config::DEFAULT_METRICS_TENANT_LABELS);
        for i in 0..10_000 {
            metrics.record_request(
                Some(&format!("t{i}")),
                Operation::Query,
                Duration::from_millis(1),
                [],
            );
        }
        let text = metrics.render(&[]);
        let tenants: std::collections::HashSet<&str> = text
            .lines()
            .filter_map(|l| l.split("tenant=\"").nth(1))
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert!(
            tenants.len() <= crate::config::DEFAULT_METRICS_TENANT_LABELS + 1,
            "{} label values",
            tenants.len()
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let metrics = Metrics::new(5);
        metrics.record_request(Some("a"), Operation::Query, Duration::from_micros(500), []);
        metrics.record_request(Some("a"), Operation::Query, Duration::from_millis(20), []);
        let text = metrics.render(&[]);
        assert!(text.contains("_bucket{operation=\"query\",tenant=\"a\",le=\"0.001\"} 1"));
        assert!(text.contains("_bucket{operation=\"query\",tenant=\"a\",le=\"0.025\"} 2"));
        assert!(text.contains("_bucket{operation=\"query\",tenant=\"a\",le=\"+Inf\"} 2"));
        assert!(text.contains("_count{operation=\"query\",tenant=\"a\"} 2"));
    }
}
