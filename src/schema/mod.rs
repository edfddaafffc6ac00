//! Building the one GraphQL schema every tenant is served through.
//!
//! No HTTP here: the server mounts what this builds. Schema-wide data holds only
//! the shared `Services`; the caller's `TenantContext` and request id are added
//! to each request by the server.
mod anonymous;
mod errors;
mod observe;

use async_graphql::{EmptySubscription, Request, Schema};

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
    // Registered first so that it wraps the others and sees the classified errors.
    let observe = observe::Observe(services.metrics.clone());
    schema_builder(
        Schema::build(Query::default(), Mutation::default(), EmptySubscription).extension(observe),
        limits,
    )
    .data(services)
    .finish()
}

type Builder = async_graphql::SchemaBuilder<Query, Mutation, EmptySubscription>;

fn schema_builder(builder: Builder, limits: QueryLimits) -> Builder {
    builder
        .extension(errors::ErrorCodes)
        .extension(anonymous::AnonymousGate)
        .limit_depth(limits.depth)
        .limit_complexity(limits.complexity)
}

/// Attaches what one request may use: its id, its verified caller, and (for a
/// tenant caller) a handle on that tenant's database with fresh DataLoaders.
/// Nothing tenant-scoped is ever schema-wide data.
pub fn with_request_data(
    request: Request,
    caller: Option<TenantContext>,
    services: &Services,
    request_id: RequestId,
) -> Request {
    let mut request = request.data(request_id.clone());
    if let Some(caller) = caller {
        if let Some(tenant) = caller.tenant.clone() {
            let db = TenantDb::new(tenant, services.pools.clone(), request_id);
            request = request.data(ErpScope::new(db));
        }
        request = request.data(caller);
    }
    request
}

/// The SDL checked in as `schema.graphql` (and printed by `tenantql schema`).
pub fn sdl() -> String {
    schema_builder(
        Schema::build(Query::default(), Mutation::default(), EmptySubscription),
        QueryLimits::default(),
    )
    .finish()
    .sdl()
}
