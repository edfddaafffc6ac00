//! Structured logs (human-readable by default, JSON lines with
//! `TENANTQL_LOG_FORMAT=json`) and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set,
//! OpenTelemetry traces exported over OTLP/HTTP (protobuf).
//!
//! Spans meant for traces only (the GraphQL operation, each tenant-database
//! statement, each Redis call) use the target `TRACE_TARGET`: the log layer
//! never sees them, and without an exporter no layer wants them (they are
//! disabled at their call site). The request span is both a log span and the
//! trace's server span.
use std::sync::OnceLock;

use clap::Args;
use opentelemetry::{
    propagation::TextMapPropagator,
    trace::{TraceContextExt, TracerProvider as _},
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    trace::{Sampler, SdkTracerProvider},
    Resource,
};
use tracing::Level;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{
    filter::{filter_fn, Targets},
    fmt,
    layer::SubscriberExt,
    util::SubscriberInitExt,
    EnvFilter, Layer,
};

use crate::config::LogFormat;

pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn";
/// The target of spans that only traces carry.
pub const TRACE_TARGET: &str = "tenantql_trace";
/// The module whose request span is the trace's root on this server.
const REQUEST_SPAN_TARGET: &str = "tenantql::server::request_id";

#[derive(Debug, Clone, Args)]
pub struct LogConfig {
    /// Log line format.
    #[arg(long, env = "TENANTQL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Log filter in `tracing` syntax, e.g. `info,tenantql=debug`.
    #[arg(long, env = "TENANTQL_LOG", default_value = DEFAULT_LOG_FILTER, global = true)]
    pub log: String,

    #[command(flatten)]
    pub traces: TraceConfig,
}

/// Where traces go, in the OpenTelemetry SDK's own variables.
#[derive(Debug, Clone, Default, Args)]
pub struct TraceConfig {
    /// OTLP/HTTP endpoint to export traces to (`http://collector:4318`; traces
    /// go to `<endpoint>/v1/traces`). Unset: no traces.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,

    /// The OTLP protocol; tenantql exports over HTTP with protobuf bodies.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_PROTOCOL", default_value = "http/protobuf",
          value_parser = clap::builder::PossibleValuesParser::new(["http/protobuf"]), global = true)]
    pub otel_protocol: String,

    /// The `service.name` of the traces.
    #[arg(
        long,
        env = "OTEL_SERVICE_NAME",
        default_value = "tenantql",
        global = true
    )]
    pub otel_service_name: String,

    /// Share of traces sampled where they start (0 to 1); a trusted caller's
    /// sampled parent is followed.
    #[arg(
        long,
        env = "OTEL_TRACES_SAMPLER_ARG",
        default_value_t = 1.0,
        global = true
    )]
    pub otel_sampling_ratio: f64,
}

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Installs the global subscriber once; later calls (tests) are ignored.
pub fn init(config: &LogConfig) {
    let filter =
        EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let logs = match config.log_format {
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Text => fmt::layer().with_writer(std::io::stderr).boxed(),
    }
    .with_filter(filter)
    .with_filter(filter_fn(|meta| meta.target() != TRACE_TARGET));
    let traces = config.traces.otlp_endpoint.as_deref().and_then(|endpoint| {
        let provider = provider(endpoint, &config.traces)?;
        let tracer = provider.tracer("tenantql");
        let _ = PROVIDER.set(provider);
        let spans = Targets::new()
            .with_target(TRACE_TARGET, Level::INFO)
            .with_target(REQUEST_SPAN_TARGET, Level::INFO);
        Some(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(spans),
        )
    });
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init();
}

fn provider(endpoint: &str, config: &TraceConfig) -> Option<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .build();
    let exporter = match exporter {
        Ok(exporter) => exporter,
        Err(err) => {
            eprintln!("tenantql: traces are off: OTEL_EXPORTER_OTLP_ENDPOINT {endpoint}: {err}");
            return None;
        }
    };
    let ratio = config.otel_sampling_ratio.clamp(0.0, 1.0);
    Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                ratio,
            ))))
            .with_resource(
                Resource::builder()
                    .with_service_name(config.otel_service_name.clone())
                    .build(),
            )
            .build(),
    )
}

/// The id of the trace the current span belongs to, when traces are exported
/// and it is sampled: errors carry it beside the request id.
pub fn current_trace_id() -> Option<String> {
    PROVIDER.get()?;
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    (span_context.is_valid() && span_context.is_sampled())
        .then(|| span_context.trace_id().to_string())
}

/// The current span as a W3C `traceparent`, when traces are exported and it
/// is valid: what an event carries to link its deliveries to its cause.
pub fn current_traceparent() -> Option<String> {
    PROVIDER.get()?;
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            span_context.trace_id(),
            span_context.span_id(),
            span_context.trace_flags().to_u8()
        )
    })
}

/// A span for one delivery of an event, linked to the write that caused it.
pub fn delivery_span(cause: Option<&str>) -> tracing::Span {
    let span = tracing::info_span!(target: TRACE_TARGET, "invoice event", otel.kind = "consumer");
    if let Some(cause) = cause.filter(|_| !span.is_disabled()) {
        let mut carrier = std::collections::HashMap::new();
        carrier.insert("traceparent".to_string(), cause.to_string());
        let context =
            opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&carrier);
        let remote = context.span().span_context().clone();
        if remote.is_valid() {
            span.add_link(remote);
        }
    }
    span
}

/// Sends the spans still queued (at shutdown).
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        let _ = provider.shutdown();
    }
}
