//! `/graphql` over HTTP, following the GraphQL-over-HTTP spec: POST with a JSON
//! body, GET with query parameters (queries only), `application/json` or
//! `application/graphql-response+json` answers as the client accepts.
use std::any::Any;

use async_graphql::{
    parser::{parse_query, types::OperationType},
    BatchRequest, Variables,
};
use axum::{
    body::Body,
    extract::{ws::WebSocketUpgrade, FromRequestParts, Query, Request, State},
    handler::Handler,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::{
    body::BodyError,
    caller::Caller,
    cors,
    media::{error_response, json_response, ResponseMedia},
    ws, AppState,
};
use crate::{error::AppError, request_id::RequestMeta, schema, trusted::DOCUMENT_ID};

/// GET /graphql: a WebSocket upgrade (`graphql-transport-ws`), or a query in
/// the URL.
pub async fn get_or_upgrade(State(state): State<AppState>, request: Request) -> Response {
    let wants_websocket = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !wants_websocket {
        return Handler::call(get, request, state).await;
    }
    let (mut parts, _) = request.into_parts();
    let meta = match RequestMeta::from_request_parts(&mut parts, &state).await {
        Ok(meta) => meta,
        Err(never) => match never {},
    };
    if let Err(err) = cors::check_handshake_origin(&state, meta.cross_origin.as_deref()) {
        state.services.metrics.record_refused(err.code());
        return error_response(&err, Some(&meta.request_id), ResponseMedia::Json);
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    // Dashboards keep sockets open all day: tungstenite's default 128 KiB read
    // buffer per socket would be most of an idle subscription's memory. Reads
    // grow past 4 KiB when a message needs it; writes go out at once, and a
    // client that stops reading can hold at most 1 MiB here.
    let upgrade = upgrade
        .protocols([ws::PROTOCOL])
        .max_message_size(ws::MAX_MESSAGE_BYTES)
        .max_frame_size(ws::MAX_MESSAGE_BYTES)
        .read_buffer_size(ws::READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(ws::MAX_WRITE_BUFFER_BYTES);
    let protocol_ok = upgrade.selected_protocol().is_some();
    upgrade.on_upgrade(move |socket| ws::serve(socket, state, meta, protocol_ok))
}

/// POST /graphql, admitted as soon as the caller is known: before the body is
/// read, parsed or checked, so a tenant's flood waits in its own backlog and
/// computes on its own share of the CPU (`crate::admission`).
pub async fn post(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    caller: Caller,
    body: Body,
) -> Response {
    admitted(
        state,
        meta,
        headers,
        caller,
        |state, meta, headers, caller| post_admitted(state, meta, headers, caller, body),
    )
    .await
}

/// Admits the caller (a place, then the CPU share) and runs `work` on its
/// share, or answers with the refusal.
async fn admitted<F: std::future::Future<Output = Response>>(
    state: AppState,
    meta: RequestMeta,
    headers: HeaderMap,
    caller: Caller,
    work: impl FnOnce(AppState, RequestMeta, HeaderMap, Caller) -> F,
) -> Response {
    let services = &state.services;
    match services.admission.admit(caller.0.as_ref()).await {
        Ok(admitted) => admitted.run(work(state, meta, headers, caller)).await,
        Err(refusal) => {
            services.metrics.record_refused(refusal.code());
            let media = ResponseMedia::negotiate(&headers).unwrap_or(ResponseMedia::Json);
            respond(
                schema::Answer::Executed(schema::refused(&refusal, &meta)),
                media,
            )
        }
    }
}

async fn post_admitted(
    state: AppState,
    meta: RequestMeta,
    headers: HeaderMap,
    caller: Caller,
    body: Body,
) -> Response {
    let Some(media) = ResponseMedia::negotiate(&headers) else {
        return not_acceptable();
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let is_json = content_type
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "POST /graphql takes Content-Type: application/json",
        )
            .into_response();
    }
    let request_id = &meta.request_id;
    let bad = |message: String| {
        error_response(
            &AppError::BadInput {
                field: None,
                message,
            },
            Some(request_id),
            media,
        )
    };
    let body = match super::body::read(body, state.body_limit, state.body_timeout).await {
        Ok(body) => body,
        Err(error) => {
            let (status, message) = match error {
                BodyError::TooLarge => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "the body is larger than {} bytes (setting TENANTQL_BODY_LIMIT_BYTES)",
                        state.body_limit
                    ),
                ),
                BodyError::TimedOut => (
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the body did not arrive within {} s (setting TENANTQL_BODY_TIMEOUT_SECS)",
                        state.body_timeout.as_secs()
                    ),
                ),
                BodyError::Broken => (
                    StatusCode::BAD_REQUEST,
                    "the body could not be read".to_string(),
                ),
            };
            let mut response = bad(message);
            *response.status_mut() = status;
            if error != BodyError::TooLarge {
                // Whatever the client sends next is not a request: close.
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            return response;
        }
    };
    let mut batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(e) => return bad(format!("the body is not a GraphQL request: {e}")),
    };
    if let Err(e) = take_document_ids(&body, &mut batch) {
        return bad(format!("the body is not a GraphQL request: {e}"));
    }
    match batch {
        BatchRequest::Single(request) => execute(&state, request, caller, &meta, media).await,
        BatchRequest::Batch(requests) => {
            if requests.is_empty() {
                return bad("the batch is empty".into());
            }
            if let Err(err) = schema::check_batch(requests.len(), &state.policy.limits) {
                return error_response(&err, Some(request_id), media);
            }
            execute_batch(&state, requests, caller, &meta, media).await
        }
    }
}

/// `documentId` (a published document, GraphQL-over-HTTP's persisted
/// documents) is not a field async-graphql reads: it is read here, only from
/// bodies that mention it, and handed on in the request's extensions.
fn take_document_ids(body: &[u8], batch: &mut BatchRequest) -> serde_json::Result<()> {
    const FIELD: &[u8] = b"\"documentId\"";
    if !body.windows(FIELD.len()).any(|w| w == FIELD) {
        return Ok(());
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Ids {
        document_id: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        One(Ids),
        Many(Vec<Ids>),
    }
    let ids = match serde_json::from_slice::<Shape>(body)? {
        Shape::One(ids) => vec![ids],
        Shape::Many(ids) => ids,
    };
    let requests = match batch {
        BatchRequest::Single(request) => std::slice::from_mut(request),
        BatchRequest::Batch(requests) => requests.as_mut_slice(),
    };
    for (request, ids) in requests.iter_mut().zip(ids) {
        if let Some(id) = ids.document_id {
            request
                .extensions
                .insert(DOCUMENT_ID.to_string(), async_graphql::Value::String(id));
        }
    }
    Ok(())
}

/// Runs a batch's operations one after the other (each audited and counted on
/// its own) and answers with the array of their responses.
async fn execute_batch(
    state: &AppState,
    requests: Vec<async_graphql::Request>,
    caller: Caller,
    meta: &RequestMeta,
    media: ResponseMedia,
) -> Response {
    let mut responses = Vec::with_capacity(requests.len());
    for request in requests {
        responses.push(
            schema::execute(
                &state.schema,
                &state.services,
                &state.policy,
                request,
                caller.0.clone(),
                meta,
            )
            .await,
        );
    }
    let mut body = vec![b'['];
    for (at, answer) in responses.iter().enumerate() {
        if at > 0 {
            body.push(b',');
        }
        match answer.to_json() {
            Ok(json) => body.extend_from_slice(&json),
            Err(e) => return error_response(&AppError::internal(e), Some(&meta.request_id), media),
        }
    }
    body.push(b']');
    json_response(StatusCode::OK, media, body)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    /// JSON; a persisted query's hash comes here, without `query`.
    extensions: Option<String>,
    /// A published document's id (`sha256:<hex>`), without `query`.
    document_id: Option<String>,
}

/// GET /graphql with the query in the URL, admitted like POST.
pub async fn get(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    caller: Caller,
    params: Result<Query<GetParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    admitted(
        state,
        meta,
        headers,
        caller,
        |state, meta, headers, caller| get_admitted(state, meta, headers, caller, params),
    )
    .await
}

async fn get_admitted(
    state: AppState,
    meta: RequestMeta,
    headers: HeaderMap,
    caller: Caller,
    params: Result<Query<GetParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(media) = ResponseMedia::negotiate(&headers) else {
        return not_acceptable();
    };
    if let Err(err) = cors::check_preflighted(&headers) {
        state.services.metrics.record_refused(err.code());
        return error_response(&err, Some(&meta.request_id), media);
    }
    let bad = |message: String| {
        error_response(
            &AppError::BadInput {
                field: None,
                message,
            },
            Some(&meta.request_id),
            media,
        )
    };
    let Ok(Query(params)) = params else {
        return bad("the query string is not a GraphQL request".into());
    };
    let extensions = match params.extensions.as_deref().map(serde_json::from_str) {
        None => Default::default(),
        Some(Ok(extensions)) => extensions,
        Some(Err(e)) => return bad(format!("`extensions` is not a JSON object: {e}")),
    };
    let variables = match params
        .variables
        .as_deref()
        .map(serde_json::from_str::<Variables>)
    {
        None => Variables::default(),
        Some(Ok(variables)) => variables,
        Some(Err(e)) => return bad(format!("`variables` is not a JSON object: {e}")),
    };
    let mut request =
        async_graphql::Request::new(params.query.unwrap_or_default()).variables(variables);
    request.extensions = extensions;
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    if let Some(id) = params.document_id {
        request
            .extensions
            .insert(DOCUMENT_ID.to_string(), async_graphql::Value::String(id));
    }
    if let Err(error) = schema::resolve_document(
        &state.services,
        &state.policy,
        &mut request,
        caller.0.as_ref(),
        &meta,
    )
    .await
    {
        return respond(
            schema::Answer::Executed(schema::refused(&error, &meta)),
            media,
        );
    }
    if request.query.is_empty() {
        return bad("the `query` parameter is required".into());
    }
    // GET must never change anything: refuse mutations before running them.
    // A document over the source limits is not parsed here: `execute` refuses it.
    if is_mutation(&request, &state.policy.limits) {
        let mut response = (StatusCode::METHOD_NOT_ALLOWED, "mutations need POST").into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    execute(&state, request, caller, &meta, media).await
}

/// Whether the operation a GET would run is a mutation.
fn is_mutation(request: &async_graphql::Request, limits: &schema::QueryLimits) -> bool {
    if schema::check_source(&request.query, limits).is_err() {
        return false;
    }
    let Ok(document) = parse_query(&request.query) else {
        return false;
    };
    document.operations.iter().any(|(name, op)| {
        let selected = match (&request.operation_name, name) {
            (Some(wanted), Some(name)) => wanted.as_str() == name.as_str(),
            (None, _) => true,
            (Some(_), None) => false,
        };
        selected && op.node.ty == OperationType::Mutation
    })
}

async fn execute(
    state: &AppState,
    request: async_graphql::Request,
    caller: Caller,
    meta: &RequestMeta,
    media: ResponseMedia,
) -> Response {
    let response = schema::execute(
        &state.schema,
        &state.services,
        &state.policy,
        request,
        caller.0,
        meta,
    )
    .await;
    respond(response, media)
}

/// The HTTP answer of a GraphQL response: its status as the media type asks.
fn respond(answer: schema::Answer, media: ResponseMedia) -> Response {
    let response = match answer {
        schema::Answer::Executed(response) => response,
        compiled @ schema::Answer::Compiled(_) => {
            return match compiled.to_json() {
                Ok(body) => json_response(StatusCode::OK, media, body),
                Err(e) => error_response(&AppError::internal(e), None, media),
            }
        }
    };
    // A request error (nothing executed: syntax, validation, an anonymous call,
    // a rate limit) has errors without a path and no data.
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let code =
        |e: &async_graphql::ServerError| e.extensions.as_ref().and_then(|x| x.get("code")).cloned();
    let only_code = |wanted: &str| {
        request_error
            && response
                .errors
                .iter()
                .all(|e| code(e) == Some(async_graphql::Value::from(wanted)))
    };
    let (status, body) = if only_code("UNAUTHENTICATED") {
        (StatusCode::UNAUTHORIZED, errors_only(&response))
    } else if only_code("RATE_LIMITED") {
        (StatusCode::TOO_MANY_REQUESTS, errors_only(&response))
    } else if request_error && media == ResponseMedia::GraphqlResponse {
        (StatusCode::BAD_REQUEST, errors_only(&response))
    } else {
        (StatusCode::OK, serde_json::to_vec(&response))
    };
    let mut http = match body {
        Ok(body) => json_response(status, media, body),
        Err(e) => return error_response(&AppError::internal(e), None, media),
    };
    if status == StatusCode::TOO_MANY_REQUESTS {
        let retry_after = response
            .errors
            .iter()
            .filter_map(|e| e.extensions.as_ref()?.get("retryAfter").cloned())
            .next();
        if let Some(async_graphql::Value::Number(seconds)) = retry_after {
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                http.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
    }
    http
}

/// A request error's body: `errors` without a `data` entry, as the spec asks.
fn errors_only(response: &async_graphql::Response) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&serde_json::json!({ "errors": response.errors }))
}

fn not_acceptable() -> Response {
    (
        StatusCode::NOT_ACCEPTABLE,
        "accepts application/graphql-response+json or application/json",
    )
        .into_response()
}

/// A panic anywhere below becomes a plain INTERNAL error, never a dropped connection.
pub fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response {
    error_response(
        &AppError::internal(anyhow::anyhow!("a request handler panicked")),
        None,
        ResponseMedia::Json,
    )
}
