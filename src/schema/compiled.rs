//! Which documents run as compiled plans (`resolvers::compiled`), and
//! the answer a plan writes.
//!
//! A document is compiled the first time it is seen and its plan kept only
//! once async-graphql has run it without a request error: that run validated
//! it (fields, arguments, variable types, fragments, the depth and complexity
//! limits), and what validation decides depends on the document alone.
//! Variable values are checked on every run by the plan itself, as
//! async-graphql coerces them. Documents without a plan are remembered too, so
//! each text is compiled once.
use std::sync::{atomic::AtomicU64, Arc};

use async_graphql::{Request, Response, ServerError, Value};
use moka::sync::Cache;

use crate::{error::AppError, resolvers::compiled::Plan};

/// Documents longer than this are not compiled (the SPA's everyday documents
/// are far shorter).
const MAX_COMPILED_DOCUMENT_BYTES: usize = 16 * 1024;
/// Bound on the text of the documents remembered, in bytes.
const PLANS_TEXT_BYTES: u64 = 2 * 1024 * 1024;

/// What one document compiled to, for the operation it was run with.
struct Learned {
    operation_name: Option<String>,
    plan: Option<Arc<Plan>>,
}

pub struct Plans {
    learned: Cache<String, Arc<Learned>>,
    /// Operations a plan answered.
    pub answered: AtomicU64,
    /// Operations with a plan that async-graphql ran (an error to report).
    pub deferred: AtomicU64,
}

impl Default for Plans {
    fn default() -> Self {
        Plans {
            learned: Cache::builder()
                .max_capacity(PLANS_TEXT_BYTES)
                .weigher(|text: &String, _| u32::try_from(text.len()).unwrap_or(u32::MAX))
                .build(),
            answered: AtomicU64::new(0),
            deferred: AtomicU64::new(0),
        }
    }
}

/// A request's standing with the plans.
pub enum Lookup {
    /// Its document and operation have a plan.
    Plan(Arc<Plan>),
    /// Its document was compiled before (no plan, or for another operation).
    Known,
    /// First seen: compiled now, to be kept if the run validates it.
    New(Option<Plan>),
}

impl Plans {
    /// Looks the request's document up, compiling it when it is new. Only
    /// for a request whose document has been parsed (its source bounded).
    pub fn lookup(&self, request: &mut Request) -> Lookup {
        if let Some(learned) = self.learned.get(request.query.as_str()) {
            return match &learned.plan {
                Some(plan) if learned.operation_name == request.operation_name => {
                    Lookup::Plan(plan.clone())
                }
                _ => Lookup::Known,
            };
        }
        if request.query.len() > MAX_COMPILED_DOCUMENT_BYTES {
            return Lookup::Known;
        }
        let operation_name = request.operation_name.clone();
        let plan = request
            .parsed_query()
            .ok()
            .and_then(|document| Plan::compile(document, operation_name.as_deref()));
        Lookup::New(plan)
    }

    /// Keeps what `query` compiled to, once a run has validated it: the
    /// response has data or only field errors (a request error has no path).
    pub fn learn(
        &self,
        query: String,
        operation_name: Option<String>,
        plan: Option<Plan>,
        response: &Response,
    ) {
        let validated = response.errors.iter().all(|error| !error.path.is_empty());
        if validated {
            self.learned.insert(
                query,
                Arc::new(Learned {
                    operation_name,
                    plan: plan.map(Arc::new),
                }),
            );
        }
    }
}

/// One operation's answer: async-graphql's response, or a compiled plan's
/// `data` as JSON (a plan answers only when there is no error to report).
pub enum Answer {
    Executed(Response),
    Compiled(Vec<u8>),
}

impl Answer {
    /// The errors to count and audit.
    pub fn errors(&self) -> &[ServerError] {
        match self {
            Answer::Executed(response) => &response.errors,
            Answer::Compiled(_) => &[],
        }
    }

    /// The response body, as async-graphql's serializer writes a response.
    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        match self {
            Answer::Executed(response) => serde_json::to_vec(response),
            Answer::Compiled(data) => {
                let mut body = Vec::with_capacity(data.len() + 9);
                body.extend_from_slice(b"{\"data\":");
                body.extend_from_slice(data);
                body.push(b'}');
                Ok(body)
            }
        }
    }

    /// As an async-graphql response, for transports that frame responses
    /// themselves (the WebSocket).
    pub fn into_response(self) -> Response {
        match self {
            Answer::Executed(response) => response,
            Answer::Compiled(data) => match serde_json::from_slice::<Value>(&data) {
                Ok(data) => Response::new(data),
                Err(error) => Response::from_errors(vec![AppError::internal(anyhow::anyhow!(
                    "a compiled answer did not read back: {error}"
                ))
                .to_server_error()]),
            },
        }
    }
}
