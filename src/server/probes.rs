//! Liveness, readiness, the public keys and the metrics.
use std::time::Duration;

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

use crate::tenancy::{pools::PoolStats, tunnel::TunnelState};

use super::{
    media::{error_response, ResponseMedia},
    AppState,
};

const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: the process answers.
pub async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the control plane answers within two seconds. A Redis that is
/// down leaves the instance ready but `degraded` (it serves without it).
pub async fn ready(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(READY_TIMEOUT, state.services.control.ping()).await {
        Ok(Ok(())) => {
            let cluster = &state.services.cluster;
            let mut body = if !cluster.is_shared() {
                json!({ "status": "ready", "redis": "not configured" })
            } else if cluster.ping().await || cluster.ping().await {
                json!({ "status": "ready", "redis": "up" })
            } else {
                json!({ "status": "ready", "redis": "down", "degraded": true })
            };
            body["tunnels"] = tunnel_counts(&state.services.pools.all_stats());
            Json(body).into_response()
        }
        outcome => {
            let reason = match outcome {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".to_string(),
            };
            tracing::warn!(%reason, "not ready: control plane unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": "control plane unreachable" })),
            )
                .into_response()
        }
    }
}

/// SSH tunnels of open pools by state. Counts only: `/ready` is often open to
/// load balancers, and tenant names are not theirs to see (pool stats and
/// `/metrics` name the tenants).
fn tunnel_counts(pools: &[PoolStats]) -> serde_json::Value {
    let in_state = |state: TunnelState| {
        pools
            .iter()
            .filter(|p| p.tunnel.as_ref().is_some_and(|t| t.state == state))
            .count()
    };
    json!({
        "up": in_state(TunnelState::Up),
        "connecting": in_state(TunnelState::Connecting),
        "down": in_state(TunnelState::Down),
    })
}

/// The public keys that verify tenantql tokens (RFC 7517).
pub async fn jwks(State(state): State<AppState>) -> Response {
    match state.services.tokens.keyring().jwks().await {
        Ok(set) => ([(header::CACHE_CONTROL, "public, max-age=30")], Json(set)).into_response(),
        Err(e) => error_response(&e, None, ResponseMedia::Json),
    }
}

/// Prometheus metrics (text format 0.0.4). Tenant slugs appear as labels: expose
/// this path to the scraper only.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let services = &state.services;
    let mut body = services.metrics.render(&services.pools.all_stats());
    body.push_str(&services.metrics.render_audit(services.audit.stats()));
    body.push_str(&services.metrics.render_admission(&services.admission));
    body.push_str(&services.metrics.render_cache(&services.cache.stats));
    body.push_str(&services.metrics.render_persisted(&services.persisted.stats));
    let (answered, deferred) = state.schema.plan_counts();
    body.push_str(&services.metrics.render_plans(answered, deferred));
    body.push_str(&services.metrics.render_trusted(&services.trusted.stats));
    if services.cluster.is_shared() {
        body.push_str(&services.metrics.render_cluster(services.cluster.stats()));
    }
    let live = &services.live;
    body.push_str(&services.metrics.render_live(
        &live.stats,
        live.dashboards.running(),
        live.events.watched_tenants(),
        live.watchers_running(),
    ));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
