//! Building the one GraphQL schema every tenant is served through, and running
//! requests on it.
//!
//! No HTTP here: the server hands `execute` a request and its verified caller.
//! Schema-wide data holds only the shared `Services`; the caller's
//! `TenantContext`, request id and tenant database handle are per request.
//!
//! The schema has no async-graphql extensions on purpose: with any extension,
//! every field of every response pays for the extension chain and a registry
//! lookup (measured: a 100-invoice page resolves ~3,000 fields). What extensions
//! would do — the anonymous gate, error codes, metrics — happens once per request
//! in `execute`.
mod anonymous;
mod errors;
mod observe;

use std::time::Instant;

use async_graphql::{EmptySubscription, Request, Response, Schema};

pub use errors::classify_errors;

use crate::{
    request_id::RequestId,
    resolvers::{erp::ErpScope, Mutation, Query},
    state::Services,
    tenancy::{TenantContext, TenantDb},
};

pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// Limits that keep one query from costing the server (and the tenant) too much.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    pub depth: usize,
    pub complexity: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            depth: crate::config::DEFAULT_QUERY_DEPTH_LIMIT,
            complexity: crate::config::DEFAULT_QUERY_COMPLEXITY_LIMIT,
        }
    }
}

pub fn build(services: Services, limits: QueryLimits) -> AppSchema {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .limit_depth(limits.depth)
        .limit_complexity(limits.complexity)
        .data(services)
        .finish()
}

/// Runs one request for `caller` (None: anonymous): refuses anonymous calls to
/// anything but `login` before they run, gives every error its code and the
/// request id, and records the request in the metrics.
pub async fn execute(
    schema: &AppSchema,
    services: &Services,
    request: Request,
    caller: Option<TenantContext>,
    request_id: RequestId,
) -> Response {
    let started = Instant::now();
    let operation = observe::operation_kind(&request.query, request.operation_name.as_deref());
    let tenant = caller
        .as_ref()
        .and_then(|c| c.tenant.as_ref())
        .map(|t| t.slug.clone());
    let mut response = match caller {
        None => match anonymous::refuse_unless_public(&request) {
            Err(refusal) => Response::from_errors(vec![refusal]),
            Ok(()) => schema.execute(request.data(request_id.clone())).await,
        },
        Some(caller) => {
            let request = with_request_data(request, caller, services, request_id.clone());
            schema.execute(request).await
        }
    };
    classify_errors(&mut response, Some(&request_id));
    let codes =
        response
            .errors
            .iter()
            .filter_map(|e| match e.extensions.as_ref()?.get("code")? {
                async_graphql::Value::String(code) => Some(code.as_str()),
                _ => None,
            });
    services
        .metrics
        .record_request(tenant.as_deref(), operation, started.elapsed(), codes);
    response
}

/// Attaches what one request may use: its id, its verified caller, and (for a
/// tenant caller) a handle on that tenant's database with fresh DataLoaders.
/// Nothing tenant-scoped is ever schema-wide data.
fn with_request_data(
    request: Request,
    caller: TenantContext,
    services: &Services,
    request_id: RequestId,
) -> Request {
    let mut request = request.data(request_id.clone());
    if let Some(tenant) = caller.tenant.clone() {
        let db = TenantDb::new(tenant, services.pools.clone(), request_id);
        request = request.data(ErpScope::new(db));
    }
    request.data(caller)
}

/// The SDL checked in as `schema.graphql` (and printed by `tenantql schema`).
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .finish()
        .sdl()
}
