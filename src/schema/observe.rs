//! Records every GraphQL request in the metrics: tenant, operation type, latency
//! and the codes of its errors (as the client sees them).
use std::{
    any::TypeId,
    sync::{Arc, Mutex},
    time::Instant,
};

use async_graphql::{
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest,
        NextRequest,
    },
    parser::types::{ExecutableDocument, OperationType},
    Request, Response, ServerResult, Variables,
};

use crate::{
    metrics::{Metrics, Operation},
    tenancy::TenantContext,
};

pub struct Observe(pub Arc<Metrics>);

impl ExtensionFactory for Observe {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ObserveRequest {
            metrics: self.0.clone(),
            state: Mutex::new(Observed::default()),
        })
    }
}

#[derive(Default)]
struct Observed {
    tenant: Option<String>,
    operation_name: Option<String>,
    operation: Option<Operation>,
}

struct ObserveRequest {
    metrics: Arc<Metrics>,
    state: Mutex<Observed>,
}

fn operation_of(document: &ExecutableDocument, name: Option<&str>) -> Operation {
    let selected = document
        .operations
        .iter()
        .find(|(op_name, _)| match (name, op_name) {
            (Some(wanted), Some(n)) => wanted == n.as_str(),
            (None, _) => true,
            (Some(_), None) => false,
        });
    match selected.map(|(_, op)| op.node.ty) {
        Some(OperationType::Query) => Operation::Query,
        Some(OperationType::Mutation) => Operation::Mutation,
        Some(OperationType::Subscription) => Operation::Subscription,
        None => Operation::Unknown,
    }
}

#[async_trait::async_trait]
impl Extension for ObserveRequest {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
        let (tenant, operation) = {
            let state = self.state.lock().expect("observe lock");
            (
                state.tenant.clone(),
                state.operation.unwrap_or(Operation::Unknown),
            )
        };
        let codes =
            response
                .errors
                .iter()
                .filter_map(|e| match e.extensions.as_ref()?.get("code")? {
                    async_graphql::Value::String(code) => Some(code.as_str()),
                    _ => None,
                });
        self.metrics
            .record_request(tenant.as_deref(), operation, started.elapsed(), codes);
        response
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        {
            let mut state = self.state.lock().expect("observe lock");
            state.operation_name = request.operation_name.clone();
            state.tenant = request
                .data
                .get(&TypeId::of::<TenantContext>())
                .and_then(|d| d.downcast_ref::<TenantContext>())
                .and_then(|c| c.tenant.as_ref())
                .map(|t| t.slug.clone());
        }
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let mut state = self.state.lock().expect("observe lock");
        state.operation = Some(operation_of(&document, state.operation_name.as_deref()));
        Ok(document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    #[test]
    fn picks_the_named_operation() {
        let doc = parse_query("query A { a } mutation B { b }").unwrap();
        assert_eq!(operation_of(&doc, Some("B")), Operation::Mutation);
        assert_eq!(operation_of(&doc, Some("A")), Operation::Query);
        assert_eq!(
            operation_of(&parse_query("{ a }").unwrap(), None),
            Operation::Query
        );
    }
}
