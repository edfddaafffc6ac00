//! GraphQL resolvers, one module per domain. Each one is thin: check the caller,
//! load through a service, shape the answer. The tenant always comes from the
//! request's `TenantContext`, never from an argument.
pub mod auth;
pub mod erp;

use async_graphql::{Context, MergedObject};

use crate::{error::AppError, state::Services, tenancy::TenantContext};

#[derive(MergedObject, Default)]
pub struct Query(auth::AuthQuery, erp::ErpQuery);

#[derive(MergedObject, Default)]
pub struct Mutation(auth::AuthMutation);

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
