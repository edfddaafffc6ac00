//! Settings, parsed once in `main` (flags and `TENANTQL_*` variables, see `--help`)
//! and passed down through application state. Nothing below reads the environment.
//!
//! This module depends on nothing else in the crate: the server turns these flat
//! settings into each module's own settings type when it builds the services.
use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};
use secrecy::SecretString;

pub const DEFAULT_DATA_DIR: &str = "./.tenantql";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";
pub const DEFAULT_TOKEN_ISSUER: &str = "tenantql";
pub const DEFAULT_TOKEN_AUDIENCE: &str = "tenantql";
pub const DEFAULT_TOKEN_TTL_SECS: u64 = 3600;
pub const DEFAULT_CONTEXT_CACHE_SECS: u64 = 5;
/// Upper bound on the tenant-context cache: a suspension or revoked membership must
/// take effect within this many seconds, whatever an operator configures.
pub const MAX_CONTEXT_CACHE_SECS: u64 = 30;
pub const DEFAULT_BODY_LIMIT_BYTES: usize = 1024 * 1024;
pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 10;
pub const DEFAULT_BODY_TIMEOUT_SECS: u64 = 30;
pub const DEFAULT_QUERY_DEPTH_LIMIT: usize = 16;
pub const DEFAULT_QUERY_COMPLEXITY_LIMIT: usize = 5000;
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 15;
pub const DEFAULT_POOL_IDLE_TTL_SECS: u64 = 3600;
pub const DEFAULT_POOL_BREAKER_BACKOFF_MS: u64 = 1000;
pub const DEFAULT_TUNNEL_CHECK_SECS: u64 = 60;
pub const DEFAULT_TUNNEL_BACKOFF_MIN_MS: u64 = 5_000;
pub const DEFAULT_TUNNEL_BACKOFF_MAX_MS: u64 = 60_000;
pub const DEFAULT_DEMO_INVOICES: usize = 20_000;
pub const DEFAULT_METRICS_TENANT_LABELS: usize = 50;
pub const DEFAULT_QUERY_ALIAS_LIMIT: usize = 50;
pub const DEFAULT_QUERY_ROOT_FIELD_LIMIT: usize = 20;
pub const DEFAULT_QUERY_DIRECTIVE_LIMIT: usize = 4;
pub const DEFAULT_QUERY_TOKEN_LIMIT: usize = 5000;
pub const DEFAULT_QUERY_EXPANDED_SELECTION_LIMIT: usize = 10_000;
pub const DEFAULT_SIGN_IN_ACCOUNT_PER_MINUTE: u32 = 10;
pub const DEFAULT_SIGN_IN_ADDRESS_PER_MINUTE: u32 = 60;
pub const DEFAULT_BATCH_LIMIT: usize = 10;
pub const DEFAULT_AUDIT_QUEUE_CAPACITY: usize = 100_000;
pub const DEFAULT_SUBSCRIPTION_EVENT_BUFFER: usize = 256;
pub const DEFAULT_CHANGE_POLL_MS: u64 = 1000;
pub const DEFAULT_CACHE_TTL_SECS: u64 = 10;
pub const DEFAULT_CACHE_MAX_ENTRIES: u64 = 10_000;
/// 0: as many as the CPUs this process may run on.
pub const DEFAULT_MAX_CONCURRENT_OPERATIONS: usize = 0;
pub const DEFAULT_TENANT_MAX_CONCURRENT_OPERATIONS: usize = 8;
pub const DEFAULT_TENANT_MAX_QUEUED_OPERATIONS: usize = 512;
pub const DEFAULT_DASHBOARD_INTERVAL_MS: u64 = 1000;
pub const DEFAULT_MAX_SUBSCRIPTIONS_PER_TENANT: usize = 10_000;
pub const DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION: usize = 100;
pub const DEFAULT_WS_INIT_TIMEOUT_SECS: u64 = 10;
pub const DEFAULT_WS_PING_SECS: u64 = 15;
pub const DEFAULT_CORS_MAX_AGE_SECS: u64 = 600;
pub const DEFAULT_API_KEY_DAYS: u32 = 90;
pub const DEFAULT_API_KEY_MAX_DAYS: u32 = 365;

/// Where the control plane lives and how its secrets are sealed: needed by every
/// command that touches tenants, users or keys.
#[derive(Debug, Clone, Args)]
pub struct ControlPlaneConfig {
    /// Directory for the SQLite control plane, demo tenant stores and the generated
    /// development master key.
    #[arg(long, env = "TENANTQL_DATA_DIR", default_value = DEFAULT_DATA_DIR, global = true)]
    pub data_dir: PathBuf,

    /// Control-plane database URL (`postgres://…` or `sqlite://…`).
    /// Default: the SQLite file `<data dir>/control.db`.
    #[arg(long, env = "TENANTQL_CONTROL_DB_URL", global = true)]
    pub control_db_url: Option<String>,

    /// Master key sealing tenant secrets and signing keys: 32 bytes, base64.
    /// Without it a development key is generated into `<data dir>/master.key` (with a
    /// warning); set it in production and keep it out of the data dir.
    #[arg(
        long,
        env = "TENANTQL_MASTER_KEY",
        hide_env_values = true,
        global = true
    )]
    pub master_key: Option<SecretString>,

    /// Master keys that were replaced, comma-separated base64: secrets sealed with
    /// them still open, so the key can be rotated without downtime.
    #[arg(
        long,
        env = "TENANTQL_PREVIOUS_MASTER_KEYS",
        hide_env_values = true,
        global = true
    )]
    pub previous_master_keys: Option<SecretString>,
}

impl ControlPlaneConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ControlPlaneConfig {
            data_dir: data_dir.into(),
            control_db_url: None,
            master_key: None,
            previous_master_keys: None,
        }
    }

    pub fn control_db_url(&self) -> String {
        match &self.control_db_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("control.db").display()
            ),
        }
    }
}

/// How tokens are minted and checked; shared by `serve` and `token`.
#[derive(Debug, Clone, Args)]
pub struct TokenConfig {
    /// `iss` claim written into and required of every token.
    #[arg(long, env = "TENANTQL_TOKEN_ISSUER", default_value = DEFAULT_TOKEN_ISSUER, global = true)]
    pub token_issuer: String,

    /// `aud` claim written into and required of every token.
    #[arg(long, env = "TENANTQL_TOKEN_AUDIENCE", default_value = DEFAULT_TOKEN_AUDIENCE, global = true)]
    pub token_audience: String,

    /// Lifetime of tokens issued by `login` and `selectTenant`, in seconds.
    #[arg(long, env = "TENANTQL_TOKEN_TTL_SECS", default_value_t = DEFAULT_TOKEN_TTL_SECS, global = true)]
    pub token_ttl_secs: u64,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            token_issuer: DEFAULT_TOKEN_ISSUER.into(),
            token_audience: DEFAULT_TOKEN_AUDIENCE.into(),
            token_ttl_secs: DEFAULT_TOKEN_TTL_SECS,
        }
    }
}

impl TokenConfig {
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.token_ttl_secs)
    }
}

/// The deployment's trusted-documents mode (see `trusted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PersistedDocuments {
    Off,
    Allow,
    LogUnknown,
    Require,
}

/// Who may run introspection (`__schema`, `__type`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Introspection {
    /// Any caller with a valid token (GraphiQL after pasting a token).
    #[default]
    SignedIn,
    /// Also callers without a token.
    Public,
    /// Nobody.
    Off,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Everything `serve` needs beyond the control plane and tokens.
#[derive(Debug, Clone, Args)]
pub struct ServerConfig {
    /// Address to listen on. Port 0 picks a free port (tests do this).
    #[arg(long, env = "TENANTQL_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Address of the Prometheus `/metrics` listener, apart from the public one
    /// (metrics name tenants and their traffic): loopback by default, for a scraper
    /// on the same host or network namespace. Port 0 picks a free port.
    #[arg(long, env = "TENANTQL_METRICS_LISTEN", default_value = DEFAULT_METRICS_LISTEN)]
    pub metrics_listen: SocketAddr,

    /// Seconds a verified token, tenant context (tenant active, user enabled and a
    /// member) and signing key are reused before being checked again: the longest a
    /// suspension, disabled user, revoked membership or another process's key
    /// rotation can lag. 0 disables the caches; at most 30.
    #[arg(long, env = "TENANTQL_CONTEXT_CACHE_SECS", default_value_t = DEFAULT_CONTEXT_CACHE_SECS,
          value_parser = clap::value_parser!(u64).range(0..=MAX_CONTEXT_CACHE_SECS))]
    pub context_cache_secs: u64,

    /// Largest accepted request body, in bytes. A larger one is answered 413 once
    /// the rest (up to 16 MiB) has been read and discarded, so the client reads it.
    #[arg(long, env = "TENANTQL_BODY_LIMIT_BYTES", default_value_t = DEFAULT_BODY_LIMIT_BYTES)]
    pub body_limit_bytes: usize,

    /// Seconds a client may take to send a request's headers, and to keep a
    /// connection idle between requests, before it is disconnected.
    #[arg(long, env = "TENANTQL_HEADER_TIMEOUT_SECS", default_value_t = DEFAULT_HEADER_TIMEOUT_SECS)]
    pub header_timeout_secs: u64,

    /// Seconds a client may take to send a request's body (408 past it).
    #[arg(long, env = "TENANTQL_BODY_TIMEOUT_SECS", default_value_t = DEFAULT_BODY_TIMEOUT_SECS)]
    pub body_timeout_secs: u64,

    /// Deepest selection nesting a query may have.
    #[arg(long, env = "TENANTQL_QUERY_DEPTH_LIMIT", default_value_t = DEFAULT_QUERY_DEPTH_LIMIT)]
    pub query_depth_limit: usize,

    /// Highest complexity (roughly: fields selected, lists multiplied) a query may have.
    #[arg(long, env = "TENANTQL_QUERY_COMPLEXITY_LIMIT", default_value_t = DEFAULT_QUERY_COMPLEXITY_LIMIT)]
    pub query_complexity_limit: usize,

    /// Most aliases one document may use (every field renamed with `alias:`).
    #[arg(long, env = "TENANTQL_QUERY_ALIAS_LIMIT", default_value_t = DEFAULT_QUERY_ALIAS_LIMIT)]
    pub query_alias_limit: usize,

    /// Most fields one operation may select at its root.
    #[arg(long, env = "TENANTQL_QUERY_ROOT_FIELD_LIMIT", default_value_t = DEFAULT_QUERY_ROOT_FIELD_LIMIT)]
    pub query_root_field_limit: usize,

    /// Most directives on one field, fragment or operation.
    #[arg(long, env = "TENANTQL_QUERY_DIRECTIVE_LIMIT", default_value_t = DEFAULT_QUERY_DIRECTIVE_LIMIT)]
    pub query_directive_limit: usize,

    /// Most lexical tokens one document may have; counted before it is parsed.
    #[arg(long, env = "TENANTQL_QUERY_TOKEN_LIMIT", default_value_t = DEFAULT_QUERY_TOKEN_LIMIT)]
    pub query_token_limit: usize,

    /// Most selections one document may have with every fragment spread written
    /// out in place (`...F` used eight times counts F's selections eight times);
    /// fragment cycles are refused too. Checked before anything follows a spread.
    #[arg(long, env = "TENANTQL_QUERY_EXPANDED_SELECTION_LIMIT", default_value_t = DEFAULT_QUERY_EXPANDED_SELECTION_LIMIT)]
    pub query_expanded_selection_limit: usize,

    /// Most operations in one batched POST (a JSON array of requests).
    #[arg(long, env = "TENANTQL_BATCH_LIMIT", default_value_t = DEFAULT_BATCH_LIMIT)]
    pub batch_limit: usize,

    /// Who may run introspection queries.
    #[arg(long, env = "TENANTQL_INTROSPECTION", value_enum, default_value_t = Introspection::SignedIn)]
    pub introspection: Introspection,

    /// Write an audit row for every GraphQL operation and refused request (admin
    /// changes are always audited, in the same transaction as the change).
    #[arg(long, env = "TENANTQL_AUDIT_REQUESTS", default_value_t = true, action = clap::ArgAction::Set)]
    pub audit_requests: bool,

    /// Request rows that may wait for the audit writer; beyond it rows are dropped
    /// and counted in /metrics (requests never wait for the audit log).
    #[arg(long, env = "TENANTQL_AUDIT_QUEUE_CAPACITY", default_value_t = DEFAULT_AUDIT_QUEUE_CAPACITY)]
    pub audit_queue_capacity: usize,

    /// Delete audit rows older than this many days, checked hourly; 0 keeps them
    /// (prune by hand with `tenantql audit prune`).
    #[arg(long, env = "TENANTQL_AUDIT_RETENTION_DAYS", default_value_t = 0)]
    pub audit_retention_days: u32,

    /// Redis shared by all instances (`redis://[:password@]host:port/db`): events
    /// between instances and rate-limit counters. Unset: everything in process.
    #[arg(long, env = "TENANTQL_REDIS_URL")]
    pub redis_url: Option<String>,

    /// SMTP relay for invitations (`smtp://host:port`, `smtp://host?tls=required`
    /// for STARTTLS, `smtps://host`; `user:password@` for authentication). Unset:
    /// tenant admins cannot invite members (a platform operator can add users).
    #[arg(long, env = "TENANTQL_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<SecretString>,

    /// Sender of invitation mail, e.g. `tenantql <no-reply@example.com>`; required
    /// with TENANTQL_SMTP_URL.
    #[arg(long, env = "TENANTQL_MAIL_FROM")]
    pub mail_from: Option<String>,

    /// The page where invitees accept, with `{token}` where the invitation's token
    /// goes (e.g. `https://app.example.com/accept?token={token}`). Unset: the mail
    /// shows the `acceptInvitation` mutation to run in GraphiQL.
    #[arg(long, env = "TENANTQL_INVITATION_URL")]
    pub invitation_url: Option<String>,

    /// Web origins whose pages may call tenantql from a browser, comma-separated:
    /// exact (`https://app.example.com`, `http://localhost:5173`) or subdomain
    /// patterns (`https://*.example.com`); `*` for any, only without credentials.
    /// Every tenant's own origins (`tenant update --allowed-origins`) are added
    /// for that tenant's callers. Pages served by tenantql itself always may.
    #[arg(long, env = "TENANTQL_CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,

    /// Answer `Access-Control-Allow-Credentials: true` (cookies or HTTP auth sent
    /// by the browser; tenantql needs neither: tokens go in `Authorization`).
    #[arg(long, env = "TENANTQL_CORS_ALLOW_CREDENTIALS", default_value_t = false, action = clap::ArgAction::Set)]
    pub cors_allow_credentials: bool,

    /// How long a browser may reuse a preflight's answer (Chromium caps it at 7200).
    #[arg(long, env = "TENANTQL_CORS_MAX_AGE_SECS", default_value_t = DEFAULT_CORS_MAX_AGE_SECS)]
    pub cors_max_age_secs: u64,

    /// Request headers allowed cross-origin beyond tenantql's own (`authorization`,
    /// `content-type`, `accept`, the Apollo and GraphQL client headers, trace
    /// context), comma-separated.
    #[arg(long, env = "TENANTQL_CORS_ALLOW_HEADERS", value_delimiter = ',')]
    pub cors_allow_headers: Vec<String>,

    /// Whether documents not published ahead of time run (a tenant may have its
    /// own mode): `off` (requests by documentId refused), `allow`, `log-unknown`
    /// (counted and logged), `require` (refused before parsing).
    #[arg(long, env = "TENANTQL_PERSISTED_DOCUMENTS", value_enum, default_value_t = PersistedDocuments::Allow)]
    pub persisted_documents: PersistedDocuments,

    /// Under `require`, platform and tenant admins may still send free-form
    /// documents (GraphiQL); API keys and members never.
    #[arg(long, env = "TENANTQL_PERSISTED_DOCUMENTS_ADMIN_FREE_FORM", default_value_t = true, action = clap::ArgAction::Set)]
    pub persisted_documents_admin_free_form: bool,

    /// Let a caller's `traceparent` header continue its trace (and its sampling
    /// decision). Off: a caller's trace is recorded as a link of tenantql's own
    /// trace, so an untrusted client cannot force sampling or join traces.
    #[arg(long, env = "TENANTQL_TRUST_TRACEPARENT", default_value_t = false, action = clap::ArgAction::Set)]
    pub trust_traceparent: bool,

    /// Days an API key lives when its creator does not say.
    #[arg(long, env = "TENANTQL_API_KEY_DEFAULT_DAYS", default_value_t = DEFAULT_API_KEY_DAYS)]
    pub api_key_default_days: u32,

    /// Most days an API key may live (every key expires).
    #[arg(long, env = "TENANTQL_API_KEY_MAX_DAYS", default_value_t = DEFAULT_API_KEY_MAX_DAYS)]
    pub api_key_max_days: u32,

    /// Seconds a cached answer of a hot read (dashboard, company and partner
    /// lookups) is reused; the tenant's writes invalidate it at once. 0: no cache.
    #[arg(long, env = "TENANTQL_CACHE_TTL_SECS", default_value_t = DEFAULT_CACHE_TTL_SECS)]
    pub cache_ttl_secs: u64,

    /// Answers the cache keeps in this process at most (least recently used go first).
    #[arg(long, env = "TENANTQL_CACHE_MAX_ENTRIES", default_value_t = DEFAULT_CACHE_MAX_ENTRIES)]
    pub cache_max_entries: u64,

    /// Operations computing at once on this instance, all tenants together
    /// (waiting on a database or a client does not count); when more are
    /// ready, the tenant that has used the least CPU goes first. 0: the number
    /// of CPUs this process may use. (The async runtime runs one worker thread
    /// more than the CPUs, so new requests are read while these compute;
    /// TOKIO_WORKER_THREADS sets that count instead.)
    #[arg(long, env = "TENANTQL_MAX_CONCURRENT_OPERATIONS", default_value_t = DEFAULT_MAX_CONCURRENT_OPERATIONS)]
    pub max_concurrent_operations: usize,

    /// Operations of one tenant under way at once on this instance, waits on
    /// its database included (a tenant's row may set its own); more wait in
    /// arrival order.
    #[arg(long, env = "TENANTQL_TENANT_MAX_CONCURRENT_OPERATIONS", default_value_t = DEFAULT_TENANT_MAX_CONCURRENT_OPERATIONS)]
    pub tenant_max_concurrent_operations: usize,

    /// Operations of one tenant that may wait for one of its places; past
    /// that, its requests are refused with RATE_LIMITED and a retryAfter.
    #[arg(long, env = "TENANTQL_TENANT_MAX_QUEUED_OPERATIONS", default_value_t = DEFAULT_TENANT_MAX_QUEUED_OPERATIONS)]
    pub tenant_max_queued_operations: usize,

    /// Operations per second one tenant may start, across all instances when
    /// Redis is configured (a tenant's row may set its own); 0: no limit.
    #[arg(long, env = "TENANTQL_TENANT_RATE_LIMIT", default_value_t = 0)]
    pub tenant_rate_limit: u32,

    /// Operations a tenant may start at once before its rate applies (default:
    /// the rate).
    #[arg(long, env = "TENANTQL_TENANT_RATE_BURST")]
    pub tenant_rate_burst: Option<u32>,

    /// Operations per second one user of a tenant may start; 0: no limit.
    #[arg(long, env = "TENANTQL_USER_RATE_LIMIT", default_value_t = 0)]
    pub user_rate_limit: u32,

    /// Operations a user may start at once before the rate applies (default: the rate).
    #[arg(long, env = "TENANTQL_USER_RATE_BURST")]
    pub user_rate_burst: Option<u32>,

    /// Sign-in attempts (`login`, `acceptInvitation`, `setPassword`) per minute for
    /// one account, all of them at once if they come together; across instances with
    /// Redis. 0: no limit.
    #[arg(long, env = "TENANTQL_SIGN_IN_ACCOUNT_PER_MINUTE", default_value_t = DEFAULT_SIGN_IN_ACCOUNT_PER_MINUTE)]
    pub sign_in_account_per_minute: u32,

    /// Sign-in attempts per minute from one client address (any account); 0: no limit.
    #[arg(long, env = "TENANTQL_SIGN_IN_ADDRESS_PER_MINUTE", default_value_t = DEFAULT_SIGN_IN_ADDRESS_PER_MINUTE)]
    pub sign_in_address_per_minute: u32,

    /// Invoice events a subscriber may fall behind before it is dropped
    /// (SLOW_CONSUMER); memory per tenant with subscribers is bounded by it.
    #[arg(long, env = "TENANTQL_SUBSCRIPTION_EVENT_BUFFER", default_value_t = DEFAULT_SUBSCRIPTION_EVENT_BUFFER)]
    pub subscription_event_buffer: usize,

    /// How often the change log of a tenant with subscribers is polled for rows
    /// changed outside tenantql (one instance per tenant polls, with Redis).
    #[arg(long, env = "TENANTQL_CHANGE_POLL_MS", default_value_t = DEFAULT_CHANGE_POLL_MS)]
    pub change_poll_ms: u64,

    /// Shortest time between two recomputations of one live dashboard
    /// (`dashboardUpdated`), however many events arrive.
    #[arg(long, env = "TENANTQL_DASHBOARD_INTERVAL_MS", default_value_t = DEFAULT_DASHBOARD_INTERVAL_MS)]
    pub dashboard_interval_ms: u64,

    /// Subscriptions one tenant may hold open on this instance.
    #[arg(long, env = "TENANTQL_MAX_SUBSCRIPTIONS_PER_TENANT", default_value_t = DEFAULT_MAX_SUBSCRIPTIONS_PER_TENANT)]
    pub max_subscriptions_per_tenant: usize,

    /// Subscriptions one WebSocket connection may hold open.
    #[arg(long, env = "TENANTQL_MAX_SUBSCRIPTIONS_PER_CONNECTION", default_value_t = DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION)]
    pub max_subscriptions_per_connection: usize,

    /// Seconds a WebSocket client has to send `connection_init` (then 4408).
    #[arg(long, env = "TENANTQL_WS_INIT_TIMEOUT_SECS", default_value_t = DEFAULT_WS_INIT_TIMEOUT_SECS)]
    pub ws_init_timeout_secs: u64,

    /// Seconds between the server's `ping`s on a WebSocket; a client silent for
    /// two of them is disconnected.
    #[arg(long, env = "TENANTQL_WS_PING_SECS", default_value_t = DEFAULT_WS_PING_SECS)]
    pub ws_ping_secs: u64,

    /// Seconds in-flight requests get to finish after SIGTERM or Ctrl-C.
    #[arg(long, env = "TENANTQL_SHUTDOWN_GRACE_SECS", default_value_t = DEFAULT_SHUTDOWN_GRACE_SECS)]
    pub shutdown_grace_secs: u64,

    /// Seconds a tenant's connection pool may sit unused before it is closed.
    #[arg(long, env = "TENANTQL_POOL_IDLE_TTL_SECS", default_value_t = DEFAULT_POOL_IDLE_TTL_SECS)]
    pub pool_idle_ttl_secs: u64,

    /// Create the demo tenants and users on an empty control plane, and fill the
    /// demo tenants' stores with generated ERP data (see README).
    #[arg(long, env = "TENANTQL_DEMO")]
    pub demo: bool,

    /// Milliseconds a tenant's circuit breaker stays open after its database
    /// failed 3 times in a row, before one request probes it; doubles per failed
    /// probe up to 30 s.
    #[arg(long, env = "TENANTQL_POOL_BREAKER_BACKOFF_MS", default_value_t = DEFAULT_POOL_BREAKER_BACKOFF_MS)]
    pub pool_breaker_backoff_ms: u64,

    /// Seconds between checks of each SSH tunnel to a tenant's bastion (a
    /// closed connection is noticed at once).
    #[arg(long, env = "TENANTQL_TUNNEL_CHECK_SECS", default_value_t = DEFAULT_TUNNEL_CHECK_SECS)]
    pub tunnel_check_secs: u64,

    /// Milliseconds before a lost SSH tunnel's first reconnection attempt;
    /// doubles per failed attempt (±20% jitter).
    #[arg(long, env = "TENANTQL_TUNNEL_BACKOFF_MIN_MS", default_value_t = DEFAULT_TUNNEL_BACKOFF_MIN_MS)]
    pub tunnel_backoff_min_ms: u64,

    /// Longest wait, in milliseconds, between SSH tunnel reconnection attempts.
    #[arg(long, env = "TENANTQL_TUNNEL_BACKOFF_MAX_MS", default_value_t = DEFAULT_TUNNEL_BACKOFF_MAX_MS)]
    pub tunnel_backoff_max_ms: u64,

    /// Tenants that get their own label in /metrics (the busiest); the rest are
    /// summed under `tenant="other"`.
    #[arg(long, env = "TENANTQL_METRICS_TENANT_LABELS", default_value_t = DEFAULT_METRICS_TENANT_LABELS)]
    pub metrics_tenant_labels: usize,

    /// Invoices generated per demo tenant by `--demo`.
    #[arg(long, env = "TENANTQL_DEMO_INVOICES", default_value_t = DEFAULT_DEMO_INVOICES)]
    pub demo_invoices: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: DEFAULT_LISTEN
                .parse()
                .expect("default listen address parses"),
            metrics_listen: DEFAULT_METRICS_LISTEN
                .parse()
                .expect("default metrics address parses"),
            context_cache_secs: DEFAULT_CONTEXT_CACHE_SECS,
            body_limit_bytes: DEFAULT_BODY_LIMIT_BYTES,
            header_timeout_secs: DEFAULT_HEADER_TIMEOUT_SECS,
            body_timeout_secs: DEFAULT_BODY_TIMEOUT_SECS,
            query_depth_limit: DEFAULT_QUERY_DEPTH_LIMIT,
            query_complexity_limit: DEFAULT_QUERY_COMPLEXITY_LIMIT,
            shutdown_grace_secs: DEFAULT_SHUTDOWN_GRACE_SECS,
            pool_idle_ttl_secs: DEFAULT_POOL_IDLE_TTL_SECS,
            pool_breaker_backoff_ms: DEFAULT_POOL_BREAKER_BACKOFF_MS,
            tunnel_check_secs: DEFAULT_TUNNEL_CHECK_SECS,
            tunnel_backoff_min_ms: DEFAULT_TUNNEL_BACKOFF_MIN_MS,
            tunnel_backoff_max_ms: DEFAULT_TUNNEL_BACKOFF_MAX_MS,
            demo: false,
            demo_invoices: DEFAULT_DEMO_INVOICES,
            metrics_tenant_labels: DEFAULT_METRICS_TENANT_LABELS,
            query_alias_limit: DEFAULT_QUERY_ALIAS_LIMIT,
            query_root_field_limit: DEFAULT_QUERY_ROOT_FIELD_LIMIT,
            query_directive_limit: DEFAULT_QUERY_DIRECTIVE_LIMIT,
            query_token_limit: DEFAULT_QUERY_TOKEN_LIMIT,
            query_expanded_selection_limit: DEFAULT_QUERY_EXPANDED_SELECTION_LIMIT,
            batch_limit: DEFAULT_BATCH_LIMIT,
            introspection: Introspection::SignedIn,
            audit_requests: true,
            audit_queue_capacity: DEFAULT_AUDIT_QUEUE_CAPACITY,
            audit_retention_days: 0,
            redis_url: None,
            smtp_url: None,
            mail_from: None,
            invitation_url: None,
            cors_allowed_origins: Vec::new(),
            cors_allow_credentials: false,
            cors_max_age_secs: DEFAULT_CORS_MAX_AGE_SECS,
            cors_allow_headers: Vec::new(),
            api_key_default_days: DEFAULT_API_KEY_DAYS,
            trust_traceparent: false,
            persisted_documents: PersistedDocuments::Allow,
            persisted_documents_admin_free_form: true,
            api_key_max_days: DEFAULT_API_KEY_MAX_DAYS,
            cache_ttl_secs: DEFAULT_CACHE_TTL_SECS,
            cache_max_entries: DEFAULT_CACHE_MAX_ENTRIES,
            max_concurrent_operations: DEFAULT_MAX_CONCURRENT_OPERATIONS,
            tenant_max_concurrent_operations: DEFAULT_TENANT_MAX_CONCURRENT_OPERATIONS,
            tenant_max_queued_operations: DEFAULT_TENANT_MAX_QUEUED_OPERATIONS,
            tenant_rate_limit: 0,
            tenant_rate_burst: None,
            user_rate_limit: 0,
            user_rate_burst: None,
            sign_in_account_per_minute: DEFAULT_SIGN_IN_ACCOUNT_PER_MINUTE,
            sign_in_address_per_minute: DEFAULT_SIGN_IN_ADDRESS_PER_MINUTE,
            subscription_event_buffer: DEFAULT_SUBSCRIPTION_EVENT_BUFFER,
            change_poll_ms: DEFAULT_CHANGE_POLL_MS,
            dashboard_interval_ms: DEFAULT_DASHBOARD_INTERVAL_MS,
            max_subscriptions_per_tenant: DEFAULT_MAX_SUBSCRIPTIONS_PER_TENANT,
            max_subscriptions_per_connection: DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
            ws_init_timeout_secs: DEFAULT_WS_INIT_TIMEOUT_SECS,
            ws_ping_secs: DEFAULT_WS_PING_SECS,
        }
    }
}

/// The whole configuration of a running server.
#[derive(Debug, Clone)]
pub struct Config {
    pub control: ControlPlaneConfig,
    pub tokens: TokenConfig,
    pub server: ServerConfig,
}

impl Config {
    /// Embedded defaults with the given data directory.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            control: ControlPlaneConfig::new(data_dir),
            tokens: TokenConfig::default(),
            server: ServerConfig::default(),
        }
    }
}
