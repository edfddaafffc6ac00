//! GraphQL-over-HTTP media types and the error responses the HTTP edge writes.
use axum::{
    body::Body,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::Response,
};

use crate::{error::AppError, request_id::RequestId};

pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
pub const JSON: &str = "application/json";

/// How a response body is labelled, chosen from the request's `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMedia {
    /// `application/graphql-response+json`: status codes follow the GraphQL-over-HTTP
    /// spec (4xx for requests that could not be executed).
    GraphqlResponse,
    /// Legacy `application/json`: 200 for anything that reached GraphQL.
    Json,
}

impl ResponseMedia {
    /// `None` when the client accepts neither JSON type (answer 406).
    pub fn negotiate(headers: &HeaderMap) -> Option<Self> {
        let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
            return Some(ResponseMedia::Json);
        };
        let (mut graphql_q, mut json_q) = (0.0f32, 0.0f32);
        for entry in accept.split(',') {
            let mut parts = entry.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                GRAPHQL_RESPONSE_JSON => graphql_q = graphql_q.max(q),
                JSON | "application/*" | "*/*" => json_q = json_q.max(q),
                _ => {}
            }
        }
        if graphql_q > 0.0 && graphql_q >= json_q {
            Some(ResponseMedia::GraphqlResponse)
        } else if json_q > 0.0 {
            Some(ResponseMedia::Json)
        } else {
            None
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ResponseMedia::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            ResponseMedia::Json => "application/json; charset=utf-8",
        }
    }
}

pub fn json_response(status: StatusCode, media: ResponseMedia, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media.content_type()),
    );
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"tenantql\""),
        );
    }
    response
}

/// A request refused before GraphQL ran: `{"errors": [...]}` with the error's status.
pub fn error_response(
    err: &AppError,
    request_id: Option<&RequestId>,
    media: ResponseMedia,
) -> Response {
    if err.is_internal() {
        tracing::error!(error.cause_chain = ?err, "request failed");
    } else {
        tracing::info!(code = err.code(), reason = %err, "request refused");
    }
    // The same shaping as errors from GraphQL: code, field, request id.
    let mut shaped = async_graphql::Response::from_errors(vec![err.to_server_error()]);
    crate::schema::classify_errors(&mut shaped, request_id);
    let body = serde_json::json!({ "errors": shaped.errors });
    let mut response = json_response(err.status(), media, body.to_string().into_bytes());
    if matches!(err, AppError::Unauthenticated(_)) {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"tenantql\", error=\"invalid_token\""),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiate(accept: Option<&str>) -> Option<ResponseMedia> {
        let mut headers = HeaderMap::new();
        if let Some(a) = accept {
            headers.insert(header::ACCEPT, HeaderValue::from_str(a).unwrap());
        }
        ResponseMedia::negotiate(&headers)
    }

    #[test]
    fn accept_negotiation() {
        use ResponseMedia::*;
        assert_eq!(negotiate(None), Some(Json));
        assert_eq!(negotiate(Some("application/json")), Some(Json));
        assert_eq!(negotiate(Some("*/*")), Some(Json));
        assert_eq!(
            negotiate(Some(GRAPHQL_RESPONSE_JSON)),
            Some(GraphqlResponse)
        );
        assert_eq!(
            negotiate(Some(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Some(GraphqlResponse)
        );
        assert_eq!(
            negotiate(Some(
                "application/graphql-response+json;q=0.5, application/json"
            )),
            Some(Json)
        );
        assert_eq!(
            negotiate(Some("application/graphql-response+json;q=0")),
            None
        );
        assert_eq!(negotiate(Some("text/html")), None);
    }
}
