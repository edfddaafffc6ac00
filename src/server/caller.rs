//! The caller extractor: `Authorization: Bearer …` → verified `TenantContext`.
//!
//! No header means an anonymous caller (who may only sign in; see
//! `schema::anonymous`). A header that does not verify, or whose user, tenant or
//! membership no longer qualifies, ends the request here, before GraphQL runs.
use axum::{extract::FromRequestParts, http::header, http::request::Parts, response::Response};

use super::{
    media::{error_response, ResponseMedia},
    AppState,
};
use crate::{error::AppError, request_id::RequestId, tenancy::TenantContext};

pub struct Caller(pub Option<TenantContext>);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(header) = parts.headers.get(header::AUTHORIZATION) else {
            return Ok(Caller(None));
        };
        let reject = |err: AppError| {
            state.services.metrics.record_refused(err.code());
            let media = ResponseMedia::negotiate(&parts.headers).unwrap_or(ResponseMedia::Json);
            error_response(&err, parts.extensions.get::<RequestId>(), media)
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| !token.is_empty());
        let Some(token) = token else {
            return Err(reject(AppError::Unauthenticated(
                "the Authorization header must be `Bearer <token>`",
            )));
        };
        let services = &state.services;
        let claims = match services.tokens.verify(token).await {
            Ok(claims) => claims,
            Err(err) => return Err(reject(err)),
        };
        match services.contexts.resolve(&claims).await {
            Ok(context) => Ok(Caller(Some(context))),
            Err(err) => Err(reject(err)),
        }
    }
}
