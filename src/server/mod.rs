//! HTTP: the axum router and the application's lifecycle.
//!
//! `/graphql` (GET, POST), `/graphiql` (and its assets), `/health`, `/ready`,
//! `/.well-known/jwks.json`; `/metrics` on a listener of its own.
mod body;
mod caller;
mod cors;
#[doc(hidden)]
pub mod fuzz;
mod graphiql;
mod graphql;
mod listener;
mod media;
mod probes;
mod request_id;
mod ws;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;

use axum::{middleware, routing::get, Router};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;

use crate::{
    admission::{AdmissionSettings, FairShareSettings, Pace, Rate},
    audit::AuditSettings,
    auth::{api_keys::KeyLifetimes, password},
    cache::CacheSettings,
    config::{Config, PersistedDocuments, ServerConfig},
    control::entities::tenant::DocumentsMode,
    demo,
    live::LiveSettings,
    mail::MailSettings,
    origins::OriginList,
    schema::{self, AppSchema, QueryLimits, SchemaPolicy},
    sealing::KeySource,
    state::{ServiceSettings, Services},
    tenancy::{breaker::BreakerSettings, pools::PoolSettings, tunnel::TunnelTimings},
};

/// What every handler shares, behind one `Arc`: axum clones the state for
/// each request that extracts it, and a clone of the fields themselves was a
/// dozen reference counts up and down per request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub services: Services,
    pub schema: AppSchema,
    pub policy: SchemaPolicy,
    /// How large a request body may be, and how long it may take to arrive.
    pub body_limit: usize,
    pub body_timeout: Duration,
    pub ws: ws::WsSettings,
    pub cors: cors::CorsSettings,
    /// Whether a caller's `traceparent` continues its trace (else: a link).
    pub trust_traceparent: bool,
    /// Cancelled when the server starts stopping: WebSocket connections, which
    /// graceful shutdown does not wait for, close themselves with 1001.
    pub stopping: CancellationToken,
}

/// The services' settings, from the server's flat configuration.
fn service_settings(config: &ServerConfig) -> anyhow::Result<ServiceSettings> {
    let pools = PoolSettings::default();
    Ok(ServiceSettings {
        cache_ttl: Duration::from_secs(config.context_cache_secs),
        pools: PoolSettings {
            idle_ttl: Duration::from_secs(config.pool_idle_ttl_secs.max(1)),
            breaker: BreakerSettings {
                base_backoff: Duration::from_millis(config.pool_breaker_backoff_ms.max(1)),
                ..pools.breaker
            },
            tunnel: TunnelTimings {
                check_every: Duration::from_secs(config.tunnel_check_secs.max(1)),
                backoff_min: Duration::from_millis(config.tunnel_backoff_min_ms.max(1)),
                backoff_max: Duration::from_millis(
                    config
                        .tunnel_backoff_max_ms
                        .max(config.tunnel_backoff_min_ms.max(1)),
                ),
                ..pools.tunnel
            },
        },
        metrics_tenant_labels: config.metrics_tenant_labels,
        audit: AuditSettings {
            requests: config.audit_requests,
            queue_capacity: config.audit_queue_capacity,
            retention: (config.audit_retention_days > 0)
                .then(|| Duration::from_secs(u64::from(config.audit_retention_days) * 86_400)),
        },
        live: LiveSettings {
            event_buffer: config.subscription_event_buffer.max(1),
            dashboard_interval: Duration::from_millis(config.dashboard_interval_ms),
            max_subscriptions_per_tenant: config.max_subscriptions_per_tenant,
            change_poll: Duration::from_millis(config.change_poll_ms.max(10)),
        },
        redis_url: config.redis_url.clone(),
        mail: config.smtp_url.clone().map(|smtp_url| MailSettings {
            smtp_url,
            from: config.mail_from.clone().unwrap_or_default(),
            accept_url: config.invitation_url.clone(),
        }),
        admission: AdmissionSettings {
            fair: FairShareSettings {
                total: config.max_concurrent_operations,
                per_tenant: config.tenant_max_concurrent_operations,
                backlog: config.tenant_max_queued_operations,
            },
            tenant_rate: rate(config.tenant_rate_limit, config.tenant_rate_burst),
            user_rate: rate(config.user_rate_limit, config.user_rate_burst),
            sign_in_account: (config.sign_in_account_per_minute > 0)
                .then(|| Pace::per_minute(config.sign_in_account_per_minute)),
            sign_in_address: (config.sign_in_address_per_minute > 0)
                .then(|| Pace::per_minute(config.sign_in_address_per_minute)),
        },
        cache: CacheSettings {
            ttl: Duration::from_secs(config.cache_ttl_secs),
            max_entries: config.cache_max_entries,
        },
        origins: deployment_origins(config)?,
        api_key_lifetimes: api_key_lifetimes(config)?,
        documents_mode: match config.persisted_documents {
            PersistedDocuments::Off => DocumentsMode::Off,
            PersistedDocuments::Allow => DocumentsMode::Allow,
            PersistedDocuments::LogUnknown => DocumentsMode::LogUnknown,
            PersistedDocuments::Require => DocumentsMode::Require,
        },
        admins_free_form: config.persisted_documents_admin_free_form,
    })
}

/// A configured rate, or none for 0.
fn rate(per_second: u32, burst: Option<u32>) -> Option<Rate> {
    (per_second > 0).then(|| Rate {
        per_second,
        burst: burst.unwrap_or(per_second).max(1),
    })
}

fn ws_settings(config: &ServerConfig) -> ws::WsSettings {
    ws::WsSettings {
        init_timeout: Duration::from_secs(config.ws_init_timeout_secs.max(1)),
        ping_interval: Duration::from_secs(config.ws_ping_secs.max(1)),
        max_subscriptions_per_connection: config.max_subscriptions_per_connection,
    }
}

fn cors_settings(config: &ServerConfig) -> anyhow::Result<cors::CorsSettings> {
    let extra_headers = config
        .cors_allow_headers
        .iter()
        .filter(|name| !name.trim().is_empty())
        .map(|name| cors::header_name(name))
        .collect::<Result<_, _>>()
        .map_err(anyhow::Error::msg)?;
    Ok(cors::CorsSettings {
        allow_credentials: config.cors_allow_credentials,
        max_age: Duration::from_secs(config.cors_max_age_secs),
        extra_headers,
    })
}

fn api_key_lifetimes(config: &ServerConfig) -> anyhow::Result<KeyLifetimes> {
    let (default_days, max_days) = (config.api_key_default_days, config.api_key_max_days);
    if max_days == 0 || default_days == 0 || default_days > max_days {
        anyhow::bail!(
            "TENANTQL_API_KEY_DEFAULT_DAYS ({default_days}) must be 1 to TENANTQL_API_KEY_MAX_DAYS ({max_days})"
        );
    }
    Ok(KeyLifetimes {
        default_days,
        max_days,
    })
}

/// The deployment's allowed origins; `*` only without credentials.
fn deployment_origins(config: &ServerConfig) -> anyhow::Result<OriginList> {
    OriginList::parse_deployment(
        config.cors_allowed_origins.iter().map(String::as_str),
        !config.cors_allow_credentials,
    )
    .context("TENANTQL_CORS_ALLOWED_ORIGINS")
}

fn schema_policy(config: &ServerConfig) -> SchemaPolicy {
    SchemaPolicy {
        limits: QueryLimits {
            depth: config.query_depth_limit,
            complexity: config.query_complexity_limit,
            aliases: config.query_alias_limit,
            root_fields: config.query_root_field_limit,
            directives: config.query_directive_limit,
            tokens: config.query_token_limit,
            expanded_selections: config.query_expanded_selection_limit,
            batch: config.batch_limit.max(1),
        },
        introspection: config.introspection,
    }
}

/// The public router. Bodies are bounded where they are read (`body`), by
/// `Shared::body_limit`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/graphql", get(graphql::get_or_upgrade).post(graphql::post))
        .merge(graphiql::routes())
        .route("/health", get(probes::health))
        .route("/ready", get(probes::ready))
        .route("/.well-known/jwks.json", get(probes::jwks))
        .layer(CatchPanicLayer::custom(graphql::panic_response))
        .layer(cors::layer(&state, &state.cors))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            request_id::assign,
        ))
        .with_state(state)
}

/// The metrics listener's router: `/metrics` only, never on the public listener
/// (it names every tenant and its traffic).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(probes::metrics))
        .with_state(state)
}

/// A built server: listeners bound, control plane open, ready to run.
pub struct Application {
    listener: TcpListener,
    metrics_listener: TcpListener,
    state: AppState,
    config: Config,
}

impl Application {
    /// Opens the control plane (migrating it), creates the platform key on first
    /// start, seeds the demo when asked, and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let (services, key_source) = Services::start(
            &config.control,
            &config.tokens,
            service_settings(&config.server)?,
        )
        .await?;
        match key_source {
            KeySource::Configured => {}
            KeySource::DevFileExisting | KeySource::DevFileGenerated => tracing::warn!(
                path = %config.control.data_dir.join("master.key").display(),
                "using the development master key from the data dir; set TENANTQL_MASTER_KEY in production"
            ),
        }
        services.tokens.keyring().ensure_platform_key().await?;
        if config.server.demo {
            demo::bootstrap(
                &services,
                &config.control.data_dir,
                config.server.demo_invoices,
            )
            .await?;
        }
        // The timing-parity hash is built now, not on the first login.
        tokio::task::spawn_blocking(password::warm_up).await?;
        let policy = schema_policy(&config.server);
        let schema = schema::build(services.clone(), policy);
        let bind = |addr: SocketAddr, setting: &'static str| async move {
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (setting {setting})"))
        };
        let listener = bind(config.server.listen, "TENANTQL_LISTEN").await?;
        let metrics_listener =
            bind(config.server.metrics_listen, "TENANTQL_METRICS_LISTEN").await?;
        Ok(Application {
            listener,
            metrics_listener,
            state: AppState(Arc::new(Shared {
                services,
                schema,
                policy,
                body_limit: config.server.body_limit_bytes,
                body_timeout: Duration::from_secs(config.server.body_timeout_secs.max(1)),
                ws: ws_settings(&config.server),
                cors: cors_settings(&config.server)?,
                trust_traceparent: config.server.trust_traceparent,
                stopping: CancellationToken::new(),
            })),
            config,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Where `/metrics` is served.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn services(&self) -> &Services {
        &self.state.services
    }

    /// Serves until `shutdown` is cancelled, then lets in-flight requests finish
    /// for the grace period before dropping what is left, and writes every queued
    /// audit row before returning.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let grace = Duration::from_secs(self.config.server.shutdown_grace_secs);
        let timeouts = listener::Timeouts {
            header: Duration::from_secs(self.config.server.header_timeout_secs.max(1)),
        };
        let app = router(self.state.clone());
        tracing::info!(addr = %self.local_addr(), metrics = %self.metrics_addr(), "tenantql listening");
        let metrics = listener::serve(
            self.metrics_listener,
            metrics_router(self.state.clone()),
            timeouts,
            shutdown.clone(),
            grace,
        );
        let stopping = self.state.stopping.clone();
        let signal = shutdown.clone();
        // Owned here and awaited below: WebSocket connections hear of the stop.
        let announce = tokio::spawn(async move {
            signal.cancelled().await;
            stopping.cancel();
        });
        let public = listener::serve(self.listener, app, timeouts, shutdown.clone(), grace);
        tokio::join!(public, metrics);
        announce.await.ok();
        self.state.services.cluster.stop();
        self.state.services.audit.shutdown().await;
        self.state.services.control.db.clone().close().await.ok();
        tracing::info!("tenantql stopped");
        Ok(())
    }
}
