//! The one place GraphQL errors get their `extensions.code` and request id.
//!
//! Resolvers return `AppError` through `?`; async-graphql keeps it as the error's
//! source, and `classify_errors` reads it back after execution: the client gets the stable code and
//! the public message, the log gets the full cause under the request id. Errors
//! the library raises itself (syntax, validation, limits, input coercion) carry
//! no source and are the client's to fix: `BAD_USER_INPUT`.
use std::sync::Arc;

use async_graphql::{Response, ServerError};

use crate::{error::AppError, request_id::RequestId};

/// Gives every error of a finished response its `extensions.code` (and the
/// request id), replacing internal messages with "internal error".
pub fn classify_errors(response: &mut Response, request_id: Option<&RequestId>) {
    for error in &mut response.errors {
        classify(error, request_id);
    }
}

fn classify(error: &mut ServerError, request_id: Option<&RequestId>) {
    let rid = request_id.map(RequestId::as_str).unwrap_or("-");
    // Loader errors arrive shared (`Arc<AppError>`): one failure, many waiting fields.
    let app_error = error.source.as_ref().and_then(|source| {
        source
            .downcast_ref::<AppError>()
            .or_else(|| source.downcast_ref::<Arc<AppError>>().map(Arc::as_ref))
    });
    let existing_code = error
        .extensions
        .as_ref()
        .and_then(|ext| ext.get("code"))
        .is_some();
    let extensions = error.extensions.get_or_insert_with(Default::default);
    match app_error {
        Some(app) => {
            if app.is_internal() {
                tracing::error!(request_id = rid, error.cause_chain = ?app, path = ?error.path, "resolver failed");
            }
            error.message = app.public_message();
            app.set_extensions(extensions);
        }
        None if existing_code => {}
        None if error.source.is_some() => {
            tracing::error!(request_id = rid, message = %error.message, path = ?error.path, "resolver failed with an untyped error");
            error.message = "internal error".into();
            extensions.set("code", "INTERNAL");
        }
        None => extensions.set("code", "BAD_USER_INPUT"),
    }
    if let Some(id) = request_id {
        extensions.set("requestId", id.as_str());
    }
    if let Some(trace_id) = crate::telemetry::current_trace_id() {
        extensions.set("traceId", trace_id);
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Request, Schema};

    use super::*;
    use async_graphql::Value;

    fn every_variant() -> Vec<AppError> {
        vec![
            AppError::Unauthenticated("no"),
            AppError::Forbidden("no".into()),
            AppError::TenantSuspended("acme".into()),
            AppError::TenantUnavailable {
                tenant: "acme".into(),
                reason: "down".into(),
            },
            AppError::PoolTimeout("acme".into()),
            AppError::RateLimited {
                retry_after: std::time::Duration::from_secs(2),
            },
            AppError::bad_input("x", "bad"),
            AppError::NotFound("invoice"),
            AppError::Conflict("dup".into()),
            AppError::NotConfigured("no mail relay"),
            AppError::internal(anyhow::anyhow!(
                "ORA-12541: TNS:no listener at db.secret.internal"
            )),
        ]
    }

    struct Failing;

    #[Object]
    impl Failing {
        async fn fail(&self, index: usize) -> async_graphql::Result<bool> {
            Err(every_variant().swap_remove(index))?
        }

        async fn untyped(&self) -> async_graphql::Result<bool> {
            Err(std::io::Error::other("disk /var/secret full"))?
        }
    }

    async fn run(query: &str) -> async_graphql::Response {
        let schema = Schema::build(Failing, EmptyMutation, EmptySubscription).finish();
        let id = RequestId::from_client("test-request-1").unwrap();
        let mut response = schema.execute(Request::new(query)).await;
        classify_errors(&mut response, Some(&id));
        response
    }

    #[tokio::test]
    async fn every_variant_reaches_the_client_with_its_code() {
        for (index, variant) in every_variant().iter().enumerate() {
            let response = run(&format!("{{ fail(index: {index}) }}")).await;
            let error = &response.errors[0];
            let ext = error.extensions.as_ref().unwrap();
            assert_eq!(
                ext.get("code"),
                Some(&Value::from(variant.code())),
                "{variant:?}"
            );
            assert_eq!(ext.get("requestId"), Some(&Value::from("test-request-1")));
            assert_eq!(error.message, variant.public_message());
            assert!(
                !error.message.contains("ORA-"),
                "internal text leaked: {}",
                error.message
            );
        }
    }

    #[tokio::test]
    async fn untyped_errors_are_internal_and_hidden() {
        let response = run("{ untyped }").await;
        let error = &response.errors[0];
        assert_eq!(error.message, "internal error");
        assert_eq!(
            error.extensions.as_ref().unwrap().get("code"),
            Some(&Value::from("INTERNAL"))
        );
    }

    #[tokio::test]
    async fn library_errors_are_bad_user_input() {
        for query in ["{ fail(index: \"x\") }", "{ nope }", "{ fail(index: 1"] {
            let response = run(query).await;
            let code = response.errors[0]
                .extensions
                .as_ref()
                .unwrap()
                .get("code")
                .cloned();
            assert_eq!(code, Some(Value::from("BAD_USER_INPUT")), "{query}");
        }
    }
}
