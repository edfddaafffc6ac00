//! Building the one GraphQL schema every tenant is served through.
//!
//! No HTTP here: the server mounts what this builds. Schema-wide data holds only
//! the shared `Services`; the caller's `TenantContext` and request id are added
//! to each request by the server.
mod anonymous;
mod errors;

use async_graphql::{EmptySubscription, Schema};

use crate::{
    resolvers::{Mutation, Query},
    state::Services,
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
    schema_builder(limits).data(services).finish()
}

fn schema_builder(
    limits: QueryLimits,
) -> async_graphql::SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .extension(errors::ErrorCodes)
        .extension(anonymous::AnonymousGate)
        .limit_depth(limits.depth)
        .limit_complexity(limits.complexity)
}

/// The SDL checked in as `schema.graphql` (and printed by `tenantql schema`).
pub fn sdl() -> String {
    schema_builder(QueryLimits::default()).finish().sdl()
}
