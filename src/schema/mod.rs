//! Building the one GraphQL schema every tenant is served through, and running
//! requests on it.
//!
//! No HTTP here: the server hands `execute` a request, its verified caller and
//! where it came from. Schema-wide data holds only the shared `Services`; the
//! caller's `TenantContext`, request id, audit actor and tenant database handle
//! are per request.
//!
//! The schema has no async-graphql extensions on purpose: with any extension,
//! every field of every response pays for the extension chain and a registry
//! lookup (measured: a 100-invoice page resolves ~3,000 fields). What extensions
//! would do — the anonymous gate, document limits, error codes, metrics, the
//! audit row — happens once per request in `execute`.
mod anonymous;
mod compiled;
mod errors;
mod expansion;
#[doc(hidden)]
pub mod fuzz;
mod lexer;
mod limits;
mod observe;
mod ordering;
mod secrets;
mod source;

use std::{sync::atomic::Ordering, time::Instant};

use tracing::Instrument;

use async_graphql::{Request, Response, Schema, ServerError};
use futures_util::{
    stream::{self, BoxStream},
    StreamExt,
};

pub use compiled::Answer;
pub use errors::classify_errors;
pub use limits::{check_batch, check_source, QueryLimits};
pub use source::resolve_document;

use crate::{
    audit::{redact, Actor, AuditEntry, Outcome, Source},
    config::Introspection,
    digest::HmacKey,
    error::AppError,
    metrics::Operation,
    request_id::RequestMeta,
    resolvers::{erp::ErpScope, Mutation, Query, Subscription},
    state::Services,
    telemetry::TRACE_TARGET,
    tenancy::{TenantContext, TenantDb},
};

/// The schema, and the plans compiled from the documents it has run.
#[derive(Clone)]
pub struct AppSchema {
    graphql: Schema<Query, Mutation, Subscription>,
    plans: std::sync::Arc<compiled::Plans>,
}

/// How the schema treats documents: shape limits and who may introspect.
#[derive(Debug, Clone, Copy, Default)]
pub struct SchemaPolicy {
    pub limits: QueryLimits,
    pub introspection: Introspection,
}

pub fn build(services: Services, policy: SchemaPolicy) -> AppSchema {
    let mut builder = Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .limit_depth(policy.limits.depth)
    .limit_complexity(policy.limits.complexity)
    .data(services);
    if policy.introspection == Introspection::Off {
        builder = builder.disable_introspection();
    }
    AppSchema {
        graphql: builder.finish(),
        plans: Default::default(),
    }
}

impl AppSchema {
    /// Operations compiled plans answered, and those they left to
    /// async-graphql, so far.
    pub fn plan_counts(&self) -> (u64, u64) {
        (
            self.plans.answered.load(Ordering::Relaxed),
            self.plans.deferred.load(Ordering::Relaxed),
        )
    }
}

/// A request refused before it ran, as its response.
pub fn refused(error: &AppError, meta: &RequestMeta) -> Response {
    let mut response = Response::from_errors(vec![error.to_server_error()]);
    classify_errors(&mut response, Some(&meta.request_id));
    response
}

/// Runs one request for `caller` (None: anonymous): refuses documents over the
/// limits and anonymous calls to anything but the public fields before they
/// run, gives every error its code and the request id, records the request in
/// the metrics and queues its audit row. The edge has admitted it already
/// (`crate::admission`) and runs this on the caller's share of the CPU.
pub async fn execute(
    schema: &AppSchema,
    services: &Services,
    policy: &SchemaPolicy,
    request: Request,
    caller: Option<TenantContext>,
    meta: &RequestMeta,
) -> Answer {
    let mut request = request;
    if let Err(error) =
        resolve_document(services, policy, &mut request, caller.as_ref(), meta).await
    {
        return Answer::Executed(refused(&error, meta));
    }
    let (observation, admitted) =
        Observation::begin(services, policy, &mut request, caller.as_ref(), meta);
    let span = operation_span(&observation, &request, caller.as_ref());
    run(
        schema,
        services,
        request,
        caller,
        meta,
        observation,
        admitted,
    )
    .instrument(span)
    .await
}

/// The GraphQL operation's span, named by its type (the OpenTelemetry
/// conventions: the operation's name is an attribute, never in the span's
/// name), with its tenant and document hash — never variables.
fn operation_span(
    observation: &Observation,
    request: &Request,
    caller: Option<&TenantContext>,
) -> tracing::Span {
    let label = observation.operation.label();
    let tenant = caller.and_then(|c| c.tenant.as_ref());
    tracing::info_span!(
        target: TRACE_TARGET,
        "graphql",
        otel.name = label,
        graphql.operation.type = label,
        graphql.operation.name = request.operation_name.as_deref(),
        graphql.document.hash = observation.document_hash().as_deref(),
        graphql.document.id = source::published_id(request),
        tenant.id = tenant.map(|t| t.id.as_str()),
        tenant.slug = tenant.map(|t| t.slug.as_str()),
    )
}

/// An admitted (or refused) operation, run, classified, counted and audited.
async fn run(
    schema: &AppSchema,
    services: &Services,
    mut request: Request,
    caller: Option<TenantContext>,
    meta: &RequestMeta,
    observation: Observation,
    admitted: Result<(), AppError>,
) -> Answer {
    if let Err(refusal) = admitted {
        let mut response = Response::from_errors(vec![refusal.to_server_error()]);
        classify_errors(&mut response, Some(&meta.request_id));
        observation.finish(services, &response.errors);
        return Answer::Executed(response);
    }
    let cache_key = match caller
        .as_ref()
        .and_then(|c| Some((c.tenant.as_ref()?, c.role)))
    {
        Some((tenant, role)) => {
            // The audit row, when there is one, has hashed the document already.
            let audited_hash = observation.document_hash();
            let hash = |query: &str| {
                audited_hash
                    .unwrap_or_else(|| lexer::normalized_hash(query, &services.documents.hash_key))
            };
            services
                .cache
                .key(&tenant.id, role.as_str(), &mut request, hash)
                .await
        }
        None => None,
    };
    // A cached answer is shared as async-graphql's response: plans answer
    // what the answer cache does not keep.
    let lookup = match cache_key {
        None if caller.is_some() => Some(schema.plans.lookup(&mut request)),
        _ => None,
    };
    if let (Some(compiled::Lookup::Plan(plan)), Some(caller)) = (&lookup, &caller) {
        let scope = plan
            .reads_tenant_data()
            .then(|| erp_scope(caller, services, meta))
            .flatten();
        if let Some(data) = plan.run(caller, scope.as_ref(), &request.variables).await {
            schema.plans.answered.fetch_add(1, Ordering::Relaxed);
            observation.finish(services, &[]);
            return Answer::Compiled(data);
        }
        schema.plans.deferred.fetch_add(1, Ordering::Relaxed);
    }
    let order = ordering::Plan::of(&mut request);
    let learning = match lookup {
        Some(compiled::Lookup::New(plan)) => {
            Some((request.query.clone(), request.operation_name.clone(), plan))
        }
        _ => None,
    };
    let request = with_request_data(request, caller, services, meta);
    // Boxed where it is made: async-graphql's execution future is many
    // kilobytes, and inline it would be copied again by every future
    // that holds it up to axum's (a profile showed 7% of `{ me }` in memmove).
    let run = Box::pin(async move {
        let mut response = schema.graphql.execute(request).await;
        if let Some(order) = &order {
            order.restore(&mut response.data);
        }
        response
    });
    let mut response = match cache_key {
        Some(key) => services.cache.answer(key, run).await,
        None => run.await,
    };
    if let Some((query, operation_name, plan)) = learning {
        schema.plans.learn(query, operation_name, plan, &response);
    }
    classify_errors(&mut response, Some(&meta.request_id));
    observation.finish(services, &response.errors);
    Answer::Executed(response)
}

/// Runs one operation of a WebSocket connection (a subscription, or a query or
/// mutation sent over it) for its verified caller, with the same checks,
/// error codes, metrics and audit row as `execute`. A query or mutation is
/// admitted as over HTTP (a place, then its checks and execution on the
/// tenant's CPU share); a subscription is admitted by the rate limits once,
/// when it starts, and holds no place: its events are computed once per event,
/// not per subscriber. A subscription is counted and audited once, when its
/// first answer (or its refusal) is ready.
pub fn execute_stream(
    schema: &AppSchema,
    services: &Services,
    policy: &SchemaPolicy,
    request: Request,
    caller: TenantContext,
    meta: &RequestMeta,
) -> BoxStream<'static, Response> {
    let subscription = observe::operation_of(&request.query, request.operation_name.as_deref()).0
        == Operation::Subscription;
    let (schema, services, policy, meta) =
        (schema.clone(), services.clone(), *policy, meta.clone());
    if !subscription {
        // As over HTTP: a place, then the checks and the run on the tenant's share.
        return stream::once(async move {
            match services.admission.admit(Some(&caller)).await {
                Ok(admitted) => {
                    let run = execute(&schema, &services, &policy, request, Some(caller), &meta);
                    admitted.run(run).await.into_response()
                }
                Err(refusal) => {
                    services.metrics.record_refused(refusal.code());
                    refused(&refusal, &meta)
                }
            }
        })
        .boxed();
    }
    let mut request = request;
    let (observation, admitted) =
        Observation::begin(&services, &policy, &mut request, Some(&caller), &meta);
    let order = admitted
        .is_ok()
        .then(|| ordering::Plan::of(&mut request))
        .flatten();
    let admission = services.admission.clone();
    let request = with_request_data(request, Some(caller.clone()), &services, &meta);
    let refusal = |refusal: AppError| {
        stream::once(async move { Response::from_errors(vec![refusal.to_server_error()]) }).boxed()
    };
    let responses = stream::once(async move {
        match admitted {
            Err(refused) => refusal(refused),
            Ok(()) => match admission.check_rate(&caller).await {
                Err(refused) => refusal(refused),
                Ok(()) => schema.graphql.execute_stream(request).boxed(),
            },
        }
    })
    .flatten();
    let request_id = meta.request_id.clone();
    let mut observation = Some(observation);
    responses
        .map(move |mut response| {
            if let Some(order) = &order {
                order.restore(&mut response.data);
            }
            classify_errors(&mut response, Some(&request_id));
            if let Some(observation) = observation.take() {
                observation.finish(&services, &response.errors);
            }
            response
        })
        .boxed()
}

/// What is measured and audited about one operation, from admission to its
/// (first) response.
struct Observation {
    started: Instant,
    operation: Operation,
    tenant: Option<String>,
    audit_row: Option<AuditEntry>,
    /// An anonymous request refused at the gate proves no identity: not audited.
    refused_anonymously: bool,
}

impl Observation {
    /// Starts observing `request` and runs the admission checks on it.
    fn begin(
        services: &Services,
        policy: &SchemaPolicy,
        request: &mut Request,
        caller: Option<&TenantContext>,
        meta: &RequestMeta,
    ) -> (Observation, Result<(), AppError>) {
        let started = Instant::now();
        let (operation, document_operation_name) =
            observe::operation_of(&request.query, request.operation_name.as_deref());
        let mut audit_row = services.audit.enabled().then(|| {
            request_row(
                &Actor::of_request(meta, caller),
                request,
                caller,
                operation,
                document_operation_name,
                &services.documents.hash_key,
            )
        });
        // Nothing parses the document or walks the inputs before they are
        // bounded, and it is parsed once here (kept in the request): a document
        // that does not parse is let through, execution answers with the syntax
        // error and runs nothing, and it declares no variable to keep.
        let bounded = limits::check_source(&request.query, &policy.limits)
            .and_then(|()| limits::check_inputs(request));
        let parsed = bounded.is_ok() && services.documents.parse(request).is_ok();
        let admitted = bounded
            .and_then(|()| match parsed {
                true => admit(request, caller.is_some(), policy),
                false => Ok(()),
            })
            .and_then(|()| refuse_writes_of_reader_keys(caller, operation));
        if parsed {
            drop_undeclared_variables(request);
        }
        if let Some(row) = &mut audit_row {
            row.variables = parsed.then(|| audited_variables(request)).flatten();
        }
        let observation = Observation {
            started,
            operation,
            tenant: caller
                .and_then(|c| c.tenant.as_ref())
                .map(|t| t.slug.clone()),
            audit_row,
            refused_anonymously: matches!(admitted, Err(AppError::Unauthenticated(_))),
        };
        (observation, admitted)
    }

    /// The normalized document's hash, if the audit row computed it.
    fn document_hash(&self) -> Option<String> {
        self.audit_row.as_ref()?.document_hash.clone()
    }

    /// Records the metrics and queues the audit row of the finished operation.
    fn finish(self, services: &Services, errors: &[ServerError]) {
        let mut codes = errors
            .iter()
            .filter_map(|e| match e.extensions.as_ref()?.get("code")? {
                async_graphql::Value::String(code) => Some(code.as_str()),
                _ => None,
            });
        let first_code = codes.clone().next().map(str::to_string);
        services.metrics.record_request(
            self.tenant.as_deref(),
            self.operation,
            self.started.elapsed(),
            &mut codes,
        );
        if let Some(mut row) = self.audit_row.filter(|_| !self.refused_anonymously) {
            if !errors.is_empty() {
                row.outcome = Outcome::Error.as_str().into();
                row.error_code = first_code;
            }
            row.duration_us = Some(self.started.elapsed().as_micros() as i64);
            services.audit.record(row);
        }
    }
}

/// The audit row of a GraphQL request, before it runs (outcome and duration are
/// filled in afterwards, variables once the document is parsed).
fn request_row(
    actor: &Actor,
    request: &Request,
    caller: Option<&TenantContext>,
    operation: Operation,
    document_operation_name: Option<&str>,
    hash_key: &HmacKey,
) -> AuditEntry {
    let mut row = AuditEntry::new(actor, Source::Graphql, operation.label(), Outcome::Ok);
    row.operation_type = Some(operation.label().to_string());
    row.operation_name = request
        .operation_name
        .clone()
        .or_else(|| document_operation_name.map(str::to_string));
    row.document_hash = Some(lexer::normalized_hash(&request.query, hash_key));
    if let Some(tenant) = caller.and_then(|c| c.tenant.as_ref()) {
        row.tenant_id = Some(tenant.id.clone());
        row.tenant_slug = Some(tenant.slug.clone());
    }
    row
}

/// The request's variables as the audit log keeps them: every value under a
/// secret-sounding name replaced, and so is every variable the document passes
/// to a secret-sounding argument (`login(password: $p)` hides `$p`).
fn audited_variables(request: &mut Request) -> Option<String> {
    let mut variables = serde_json::to_value(&request.variables).unwrap_or_default();
    if let Ok(document) = request.parsed_query() {
        let secret = secrets::variables_bound_to_secrets(document);
        if let serde_json::Value::Object(map) = &mut variables {
            for (name, value) in map.iter_mut() {
                if secret.contains(name.as_str()) {
                    *value = serde_json::Value::String(redact::REDACTED.into());
                }
            }
        }
    }
    redact::redact(&mut variables);
    match &variables {
        serde_json::Value::Object(map) if map.is_empty() => None,
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Variables the document does not declare are dropped: nothing reads them,
/// and they would only take room (in the audit log above all). Called once
/// the document has parsed.
fn drop_undeclared_variables(request: &mut Request) {
    if request.variables.is_empty() {
        return;
    }
    let Ok(document) = request.parsed_query() else {
        return;
    };
    let declared: std::collections::HashSet<String> = document
        .operations
        .iter()
        .flat_map(|(_, op)| op.node.variable_definitions.iter())
        .map(|definition| definition.node.name.node.to_string())
        .collect();
    request
        .variables
        .retain(|name, _| declared.contains(name.as_str()));
}

/// The checks a parsed document passes before it may run, once its source and
/// inputs are bounded.
fn admit(request: &mut Request, signed_in: bool, policy: &SchemaPolicy) -> Result<(), AppError> {
    let Ok(document) = request.parsed_query() else {
        return Ok(());
    };
    // First: every check below follows fragment spreads.
    limits::check_expansion(document, &policy.limits)?;
    if !signed_in {
        anonymous::refuse_unless_public(document, policy.introspection == Introspection::Public)?;
    }
    if policy.introspection == Introspection::Off {
        anonymous::refuse_introspection(document)?;
    }
    limits::check_document(document, &policy.limits)
}

/// A `reader` API key runs queries and subscriptions only.
fn refuse_writes_of_reader_keys(
    caller: Option<&TenantContext>,
    operation: Operation,
) -> Result<(), AppError> {
    let read_only = caller
        .and_then(|c| c.api_key.as_ref())
        .is_some_and(|key| key.read_only);
    if read_only && operation == Operation::Mutation {
        return Err(AppError::Forbidden(
            "this API key is a reader's: it may not run mutations".into(),
        ));
    }
    Ok(())
}

/// Attaches what one request may use: where it came from (admin changes build
/// their audit actor from it), its verified caller, and (for a tenant caller) a
/// handle on that tenant's database with fresh DataLoaders. Nothing
/// tenant-scoped is ever schema-wide data.
fn with_request_data(
    request: Request,
    caller: Option<TenantContext>,
    services: &Services,
    meta: &RequestMeta,
) -> Request {
    let mut request = request.data(meta.clone());
    let Some(caller) = caller else {
        return request;
    };
    if let Some(scope) = erp_scope(&caller, services, meta) {
        request = request.data(scope);
    }
    request.data(caller)
}

/// A tenant caller's handle on its tenant's database, for this request only.
fn erp_scope(caller: &TenantContext, services: &Services, meta: &RequestMeta) -> Option<ErpScope> {
    let tenant = caller.tenant.clone()?;
    let db = TenantDb::new(tenant, services.pools.clone(), meta.request_id.clone());
    Some(ErpScope::new(db))
}

/// The SDL checked in as `schema.graphql` (and printed by `tenantql schema`).
pub fn sdl() -> String {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .finish()
    .sdl()
}
