//! Gives every request an id (the caller's `x-request-id` if it is plain, else a
//! new one), a tracing span carrying it — the trace's server span when traces
//! are exported — one summary log line, and echoes the id back.
use std::time::Instant;

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderValue},
    middleware::Next,
    response::Response,
};
use opentelemetry::{propagation::TextMapPropagator, trace::TraceContextExt};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::AppState;
use crate::request_id::RequestId;

pub const HEADER: &str = "x-request-id";

pub async fn assign(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(RequestId::from_client)
        .unwrap_or_else(RequestId::generate);
    request.extensions_mut().insert(id.clone());
    let method = request.method().clone();
    let span = tracing::info_span!(
        "request",
        otel.name = %method,
        otel.kind = "server",
        http.request.method = %method,
        url.path = %request.uri().path(),
        http.response.status_code = tracing::field::Empty,
        request_id = %id,
    );
    follow_caller_trace(&span, request.headers(), state.trust_traceparent);
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(HEADER, value);
    }
    span.record("http.response.status_code", response.status().as_u16());
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            latency_us = started.elapsed().as_micros() as u64,
            "request finished"
        )
    });
    response
}

/// A caller's W3C `traceparent`: continued when the operator trusts callers,
/// else kept as a link (an untrusted caller cannot choose the trace or force
/// sampling).
fn follow_caller_trace(span: &tracing::Span, headers: &HeaderMap, trusted: bool) {
    if !headers.contains_key("traceparent") || span.is_disabled() {
        return;
    }
    let caller = TraceContextPropagator::new().extract(&Headers(headers));
    let remote = caller.span().span_context().clone();
    if !remote.is_valid() {
        return;
    }
    if trusted {
        let _ = span.set_parent(caller);
    } else {
        span.add_link(remote);
    }
}

struct Headers<'a>(&'a HeaderMap);

impl opentelemetry::propagation::Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}
