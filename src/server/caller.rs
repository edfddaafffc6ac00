//! Who is calling and from where: `Authorization: Bearer …` → verified
//! `TenantContext`, and the request's id, peer address and user agent.
//!
//! No header means an anonymous caller (who may only sign in; see
//! `schema::anonymous`). More than one `Authorization` header, or one whose token
//! does not verify, or whose user, tenant or membership no longer qualifies, ends
//! the request here, before GraphQL runs. A refusal of a token that did verify is
//! audited: it names a real user.
use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{header, request::Parts},
    response::Response,
};

use super::{
    cors::check_caller_origin,
    media::{error_response, ResponseMedia},
    AppState,
};
use crate::{
    audit::{Actor, AuditEntry, Outcome, Source},
    auth::{api_keys, Claims},
    error::AppError,
    request_id::{RequestId, RequestMeta},
    tenancy::{TenantContext, TokenRef},
};

pub struct Caller(pub Option<TenantContext>);

impl FromRequestParts<AppState> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(meta_of(parts))
    }
}

fn meta_of(parts: &Parts) -> RequestMeta {
    RequestMeta {
        request_id: parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::generate),
        client_addr: parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        cross_origin: super::cors::cross_origin(&parts.headers),
        client_name: ["graphql-client-name", "apollographql-client-name"]
            .iter()
            .find_map(|name| parts.headers.get(*name))
            .and_then(|v| v.to_str().ok())
            .and_then(crate::trusted::client_name),
        sign_in: Default::default(),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let mut headers = parts.headers.get_all(header::AUTHORIZATION).iter();
        let Some(header) = headers.next() else {
            return Ok(Caller(None));
        };
        let reject = |err: AppError| {
            state.services.metrics.record_refused(err.code());
            let media = ResponseMedia::negotiate(&parts.headers).unwrap_or(ResponseMedia::Json);
            error_response(&err, parts.extensions.get::<RequestId>(), media)
        };
        if headers.next().is_some() {
            // Which one would a proxy or a cache have looked at? Refuse to guess.
            return Err(reject(AppError::Unauthenticated(
                "send exactly one Authorization header",
            )));
        }
        let Some(token) = header.to_str().ok().and_then(bearer_token) else {
            return Err(reject(AppError::Unauthenticated(
                "the Authorization header must be `Bearer <token>`",
            )));
        };
        match authenticate(state, token, &meta_of(parts)).await {
            Ok(context) => Ok(Caller(Some(context))),
            Err(err) => Err(reject(err)),
        }
    }
}

/// The token of a `Bearer <token>` credential (scheme case-insensitive).
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A page on another origin must be the deployment's or the caller's tenant's.
fn origin_allowed(
    state: &AppState,
    meta: &RequestMeta,
    context: &TenantContext,
) -> Result<(), AppError> {
    let tenant_origins = context.tenant.as_ref().map(|t| &*t.allowed_origins);
    check_caller_origin(state, meta.cross_origin.as_deref(), tenant_origins)
}

/// Verifies a bearer token and resolves its caller as of now. A refusal of a
/// token that did verify is audited: it names a real user. Used for every HTTP
/// request and for every check of a WebSocket connection.
pub async fn authenticate(
    state: &AppState,
    token: &str,
    meta: &RequestMeta,
) -> Result<TenantContext, AppError> {
    let services = &state.services;
    if api_keys::is_api_key(token) {
        let key = services.api_keys.verify(token).await?;
        let context = services.contexts.resolve_key(&key).await?;
        origin_allowed(state, meta, &context)?;
        return Ok(context);
    }
    let claims = services.tokens.verify(token).await?;
    let resolved = services
        .contexts
        .resolve(&claims)
        .await
        .and_then(|context| origin_allowed(state, meta, &context).map(|()| context));
    match resolved {
        Ok(mut context) => {
            context.token = Some(TokenRef {
                jti: claims.jti.clone(),
                expires_at: claims.exp,
            });
            Ok(context)
        }
        Err(err) => {
            audit_refusal(state, meta, &claims, &err);
            Err(err)
        }
    }
}

/// The audit row of a verified token refused before GraphQL ran (user disabled,
/// membership revoked, tenant suspended or gone).
fn audit_refusal(state: &AppState, meta: &RequestMeta, claims: &Claims, err: &AppError) {
    let mut actor = Actor::of_request(meta, None);
    actor.user_id = Some(claims.sub.clone());
    let mut row = AuditEntry::new(&actor, Source::Http, "refused", Outcome::Refused);
    row.tenant_slug = claims.tenant.clone();
    row.error_code = Some(err.code().to_string());
    let row = row.with_details(serde_json::json!({ "reason": err.public_message() }));
    state.services.audit.record(row);
}
