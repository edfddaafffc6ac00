//! GraphQL resolvers, one module per domain. Each one is thin: check the caller
//! (a guard on the field), load through a service, shape the answer. The tenant
//! always comes from the request's `TenantContext`, never from an argument.
pub mod admin;
pub mod auth;
pub mod compiled;
pub mod erp;
pub mod guards;
mod in_order;

pub use in_order::InOrder;

use async_graphql::{
    connection::{Connection, Edge},
    Context, MergedObject, MergedSubscription, OutputType,
};

use crate::{
    audit::Actor, error::AppError, request_id::RequestMeta, state::Services, tenancy::TenantContext,
};

#[derive(MergedObject, Default)]
pub struct Query(
    auth::AuthQuery,
    erp::ErpQuery,
    admin::PlatformQuery,
    admin::TenantDatabaseQuery,
    admin::TenantAdminQuery,
    admin::ApiKeyQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    auth::AuthMutation,
    erp::ErpMutation,
    admin::PlatformMutation,
    admin::TenantDatabaseMutation,
    admin::TenantAdminMutation,
    admin::ApiKeyMutation,
    admin::DocumentsMutation,
);

#[derive(MergedSubscription, Default)]
pub struct Subscription(erp::ErpSubscription);

/// The verified caller, or UNAUTHENTICATED for an anonymous request.
pub(crate) fn caller<'a>(ctx: &Context<'a>) -> Result<&'a TenantContext, AppError> {
    ctx.data_opt::<TenantContext>()
        .ok_or(AppError::Unauthenticated(
            "sign in first: this operation needs a bearer token",
        ))
}

pub(crate) fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

/// Who is acting and from where, for the audit rows of changes.
pub(crate) fn actor(ctx: &Context<'_>) -> Actor {
    ctx.data_opt::<RequestMeta>()
        .map(|meta| Actor::of_request(meta, ctx.data_opt::<TenantContext>()))
        .unwrap_or_default()
}

/// A Relay connection from one fetched page (fetched with one extra row).
pub(crate) fn connection<T, N: OutputType>(
    rows: Vec<T>,
    has_next: bool,
    cursor: impl Fn(&T) -> String,
    node: impl Fn(T) -> N,
) -> Connection<String, N> {
    let mut page = Connection::new(false, has_next);
    page.edges = rows
        .into_iter()
        .map(|row| Edge::new(cursor(&row), node(row)))
        .collect();
    page
}
