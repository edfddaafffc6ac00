//! HTTP: the axum router and the application's lifecycle.
//!
//! `/graphql` (GET, POST), `/graphiql`, `/health`, `/ready`, `/metrics`,
//! `/.well-known/jwks.json`.
mod caller;
mod graphql;
mod media;
mod probes;
mod request_id;

use std::{net::SocketAddr, time::Duration};

use axum::{extract::DefaultBodyLimit, middleware, routing::get, Router};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;

use crate::{
    auth::password,
    config::Config,
    demo,
    schema::{self, AppSchema, QueryLimits},
    state::Services,
    tenancy::sealing::KeySource,
};

#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub schema: AppSchema,
}

pub fn router(state: AppState, body_limit: usize) -> Router {
    Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphiql", get(probes::graphiql))
        .route("/health", get(probes::health))
        .route("/ready", get(probes::ready))
        .route("/.well-known/jwks.json", get(probes::jwks))
        .route("/metrics", get(probes::metrics))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::custom(graphql::panic_response))
        .layer(middleware::from_fn(request_id::assign))
        .with_state(state)
}

/// A built server: listener bound, control plane open, ready to run.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    config: Config,
}

impl Application {
    /// Opens the control plane (migrating it), creates the platform key on first
    /// start, seeds the demo when asked, and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let cache_ttl = Duration::from_secs(config.server.context_cache_secs);
        let (services, key_source) = Services::start(
            &config.control,
            &config.tokens,
            cache_ttl,
            config.server.pool_settings(),
            config.server.metrics_tenant_labels,
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
        let schema = schema::build(
            services.clone(),
            QueryLimits {
                depth: config.server.query_depth_limit,
                complexity: config.server.query_complexity_limit,
            },
        );
        let listener = TcpListener::bind(config.server.listen).await?;
        Ok(Application {
            listener,
            state: AppState { services, schema },
            config,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
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
    /// for the grace period before dropping what is left.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let grace = Duration::from_secs(self.config.server.shutdown_grace_secs);
        let app = router(self.state.clone(), self.config.server.body_limit_bytes);
        tracing::info!(addr = %self.local_addr(), "tenantql listening");
        let stop = shutdown.clone();
        let server = axum::serve(self.listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await });
        tokio::select! {
            result = server => result?,
            _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(grace_secs = grace.as_secs(), "shutdown grace period over; dropping open connections");
            }
        }
        self.state.services.control.db.clone().close().await.ok();
        tracing::info!("tenantql stopped");
        Ok(())
    }
}
