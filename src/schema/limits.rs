//! Limits on the shape of a document, checked before it runs: depth and
//! complexity are async-graphql's own; tokens, bracket nesting, fragment
//! expansion, aliases, root fields and directives per location are counted
//! here, so a document with 5,000 aliases of `__typename`, 10,000 directives on
//! one field, 2,000 nested list brackets or eight levels of eight spreads is
//! refused, not executed.
//!
//! Order matters. The source text is bounded first (tokens, nesting), because
//! the parser recurses once per bracket. The parsed document's fragment
//! expansion is measured next, in one pass over it, because every later walk
//! that follows spreads — the anonymous gate, the root-field count, the
//! selection-order plan, and async-graphql's own complexity and depth visitors —
//! visits a fragment once per spread: bounded here, each of them costs at most
//! the expansion limit.
//!
//! A refusal is BAD_USER_INPUT with a message naming the limit and its value.
use async_graphql::parser::types::{
    Directive, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::{Positioned, Request, Value as ConstValue};

use super::{
    expansion::{self, ExpansionError},
    lexer::SourceLimit,
};
use crate::{config, error::AppError};

/// Limits that keep one document from costing the server (and the tenant) too much.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    pub depth: usize,
    pub complexity: usize,
    pub aliases: usize,
    pub root_fields: usize,
    pub directives: usize,
    pub tokens: usize,
    /// Selections (fields, inline fragments, spreads) of the document with every
    /// fragment spread written out in place.
    pub expanded_selections: usize,
    pub batch: usize,
}

/// Brackets nest at most this deep in a document's source (selections are
/// bounded by the depth limit long before; values and list types are not).
pub const MAX_NESTING: usize = 64;
/// A fragment's spreads chain at most this deep (`...A` → `...B` → …).
pub const MAX_FRAGMENT_CHAIN: usize = 32;

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            depth: config::DEFAULT_QUERY_DEPTH_LIMIT,
            complexity: config::DEFAULT_QUERY_COMPLEXITY_LIMIT,
            aliases: config::DEFAULT_QUERY_ALIAS_LIMIT,
            root_fields: config::DEFAULT_QUERY_ROOT_FIELD_LIMIT,
            directives: config::DEFAULT_QUERY_DIRECTIVE_LIMIT,
            tokens: config::DEFAULT_QUERY_TOKEN_LIMIT,
            expanded_selections: config::DEFAULT_QUERY_EXPANDED_SELECTION_LIMIT,
            batch: config::DEFAULT_BATCH_LIMIT,
        }
    }
}

fn refuse(what: &str, limit: usize, setting: &str) -> AppError {
    AppError::BadInput {
        field: None,
        message: format!("the document exceeds the {what} limit of {limit} (setting {setting})"),
    }
}

/// Counted before parsing: the parser never sees a document over the token
/// limit or nested deeper than `MAX_NESTING`.
pub fn check_source(query: &str, limits: &QueryLimits) -> Result<(), AppError> {
    match super::lexer::exceeded_limit(query, limits.tokens, MAX_NESTING) {
        None => Ok(()),
        Some(SourceLimit::Tokens) => {
            Err(refuse("token", limits.tokens, "TENANTQL_QUERY_TOKEN_LIMIT"))
        }
        Some(SourceLimit::Nesting) => Err(AppError::BadInput {
            field: None,
            message: format!("the document nests brackets deeper than {MAX_NESTING}"),
        }),
        Some(SourceLimit::CommentInTypeCondition) => Err(AppError::BadInput {
            field: None,
            message: "a comment between `on` and a fragment's type name is not accepted".into(),
        }),
    }
}

pub fn check_batch(operations: usize, limits: &QueryLimits) -> Result<(), AppError> {
    if operations > limits.batch {
        return Err(AppError::BadInput {
            field: None,
            message: format!(
                "the batch has {operations} operations, over the limit of {} (setting TENANTQL_BATCH_LIMIT)",
                limits.batch
            ),
        });
    }
    Ok(())
}

/// Aliases over the whole document (fragments included, each counted once),
/// root fields per operation, directives per location.
pub fn check_document(document: &ExecutableDocument, limits: &QueryLimits) -> Result<(), AppError> {
    let mut aliases = 0usize;
    for (_, operation) in document.operations.iter() {
        let operation = &operation.node;
        check_directives(&operation.directives, limits)?;
        let roots = count_root_fields(document, &operation.selection_set.node, 0);
        if roots > limits.root_fields {
            return Err(refuse(
                &format!(
                    "root field (per {})",
                    match operation.ty {
                        OperationType::Query => "query",
                        OperationType::Mutation => "mutation",
                        OperationType::Subscription => "subscription",
                    }
                ),
                limits.root_fields,
                "TENANTQL_QUERY_ROOT_FIELD_LIMIT",
            ));
        }
        walk(&operation.selection_set.node, limits, &mut aliases)?;
    }
    for (_, fragment) in document.fragments.iter() {
        check_directives(&fragment.node.directives, limits)?;
        walk(&fragment.node.selection_set.node, limits, &mut aliases)?;
    }
    Ok(())
}

/// Refuses fragment cycles, spread chains deeper than `MAX_FRAGMENT_CHAIN` and
/// documents whose expansion exceeds the limit — before any walk follows a spread.
pub fn check_expansion(
    document: &ExecutableDocument,
    limits: &QueryLimits,
) -> Result<(), AppError> {
    match expansion::measure(document, limits.expanded_selections, MAX_FRAGMENT_CHAIN) {
        Ok(_) => Ok(()),
        Err(ExpansionError::TooLarge) => Err(refuse(
            "expanded selection",
            limits.expanded_selections,
            "TENANTQL_QUERY_EXPANDED_SELECTION_LIMIT",
        )),
        Err(ExpansionError::Cycle(name)) => Err(AppError::BadInput {
            field: None,
            message: format!("fragment `{name}` spreads itself (directly or through others)"),
        }),
        Err(ExpansionError::ChainTooDeep) => Err(AppError::BadInput {
            field: None,
            message: format!("fragment spreads chain deeper than {MAX_FRAGMENT_CHAIN}"),
        }),
    }
}

/// Variables and extensions nest at most this deep (the JSON parser already
/// stops at 128; everything after it — validation, redaction, the audit row —
/// recurses on them).
pub const MAX_INPUT_NESTING: usize = 32;

/// Refuses variables or extensions nested deeper than `MAX_INPUT_NESTING`.
pub fn check_inputs(request: &Request) -> Result<(), AppError> {
    let values = request
        .variables
        .values()
        .chain(request.extensions.0.values());
    if values
        .into_iter()
        .any(|v| nests_deeper(v, MAX_INPUT_NESTING))
    {
        return Err(AppError::BadInput {
            field: None,
            message: format!(
                "variables and extensions nest at most {MAX_INPUT_NESTING} lists or objects deep"
            ),
        });
    }
    Ok(())
}

/// Whether `value` has lists or objects nested more than `max` deep; walks
/// with its own stack, so any depth is safe to ask about.
fn nests_deeper(value: &ConstValue, max: usize) -> bool {
    let mut stack = vec![(value, 0usize)];
    while let Some((value, depth)) = stack.pop() {
        let nested = matches!(value, ConstValue::List(_) | ConstValue::Object(_));
        if nested && depth >= max {
            return true;
        }
        match value {
            ConstValue::List(items) => stack.extend(items.iter().map(|v| (v, depth + 1))),
            ConstValue::Object(fields) => stack.extend(fields.values().map(|v| (v, depth + 1))),
            _ => {}
        }
    }
    false
}

fn check_directives(
    directives: &[Positioned<Directive>],
    limits: &QueryLimits,
) -> Result<(), AppError> {
    if directives.len() > limits.directives {
        return Err(refuse(
            "directives-per-location",
            limits.directives,
            "TENANTQL_QUERY_DIRECTIVE_LIMIT",
        ));
    }
    Ok(())
}

fn walk(set: &SelectionSet, limits: &QueryLimits, aliases: &mut usize) -> Result<(), AppError> {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                let field = &field.node;
                check_directives(&field.directives, limits)?;
                if field.alias.is_some() {
                    *aliases += 1;
                    if *aliases > limits.aliases {
                        return Err(refuse(
                            "alias",
                            limits.aliases,
                            "TENANTQL_QUERY_ALIAS_LIMIT",
                        ));
                    }
                }
                walk(&field.selection_set.node, limits, aliases)?;
            }
            Selection::InlineFragment(fragment) => {
                check_directives(&fragment.node.directives, limits)?;
                walk(&fragment.node.selection_set.node, limits, aliases)?;
            }
            Selection::FragmentSpread(spread) => {
                check_directives(&spread.node.directives, limits)?;
            }
        }
    }
    Ok(())
}

/// Fields at the root of an operation, looking through fragments (bounded: a
/// fragment cycle is rejected later by validation).
fn count_root_fields(document: &ExecutableDocument, set: &SelectionSet, depth: usize) -> usize {
    if depth > 8 {
        return 0;
    }
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(fragment) => {
                count_root_fields(document, &fragment.node.selection_set.node, depth + 1)
            }
            Selection::FragmentSpread(spread) => document
                .fragments
                .get(&spread.node.fragment_name.node)
                .map_or(0, |f| {
                    count_root_fields(document, &f.node.selection_set.node, depth + 1)
                }),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn check(query: &str) -> Result<(), String> {
        let limits = QueryLimits::default();
        check_source(query, &limits).map_err(|e| e.public_message())?;
        let document = parse_query(query).map_err(|e| e.to_string())?;
        check_expansion(&document, &limits).map_err(|e| e.public_message())?;
        check_document(&document, &limits).map_err(|e| e.public_message())
    }

    #[test]
    fn ordinary_documents_pass() {
        check("query Q($id: ID!) { a: company(id: $id) { id } b: company(id: $id) @skip(if: false) { id } }").unwrap();
        check("{ me { email } ...F } fragment F on Query { myTenants { role } }").unwrap();
    }

    #[test]
    fn each_limit_is_named_with_its_value() {
        let aliases: String = (0..5000).map(|i| format!("a{i}: __typename ")).collect();
        let err = check(&format!("{{ {aliases} }}")).unwrap_err();
        assert!(err.contains("token limit of 5000"), "{err}");

        let aliases: String = (0..51).map(|i| format!("a{i}: email ")).collect();
        let err = check(&format!("{{ me {{ {aliases} }} }}")).unwrap_err();
        assert!(err.contains("alias limit of 50"), "{err}");

        let roots: String = (0..21).map(|_| "__typename ").collect();
        let err = check(&format!("{{ {roots} }}")).unwrap_err();
        assert!(err.contains("root field (per query) limit of 20"), "{err}");

        let directives: String = (0..5).map(|_| "@skip(if: false) ").collect();
        let err = check(&format!("{{ me {directives} {{ email }} }}")).unwrap_err();
        assert!(err.contains("directives-per-location limit of 4"), "{err}");

        let err = check_batch(11, &QueryLimits::default())
            .unwrap_err()
            .public_message();
        assert!(err.contains("limit of 10"), "{err}");
    }

    #[test]
    fn nested_inputs_are_refused_before_anything_walks_them() {
        let nested = |depth: usize| {
            let json = "[".repeat(depth) + &"]".repeat(depth);
            let variables: serde_json::Value =
                serde_json::from_str(&format!("{{\"v\": {json}}}")).unwrap();
            Request::new("query($v: [Int]) { me { email } }")
                .variables(async_graphql::Variables::from_json(variables))
        };
        assert!(check_inputs(&nested(MAX_INPUT_NESTING)).is_ok());
        let err = check_inputs(&nested(MAX_INPUT_NESTING + 1)).unwrap_err();
        assert_eq!(err.code(), "BAD_USER_INPUT");
        let mut request = Request::new("{ me { email } }");
        let deep: serde_json::Value =
            serde_json::from_str(&("{\"a\":".repeat(40) + "1" + &"}".repeat(40))).unwrap();
        request
            .extensions
            .0
            .insert("x".into(), ConstValue::from_json(deep).unwrap());
        assert!(check_inputs(&request).is_err());
    }

    #[test]
    fn value_nesting_is_refused_before_the_parser_sees_it() {
        // The stack overflow of the review: 1,800 levels of list brackets.
        let query = format!(
            "{{ me @skip(if: {}true{}) {{ email }} }}",
            "[".repeat(1800),
            "]".repeat(1800)
        );
        let err = check(&query).unwrap_err();
        assert!(err.contains("nests brackets deeper than 64"), "{err}");
        let list_type = format!(
            "query($v: {}Int{}) {{ me {{ email }} }}",
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(check(&list_type).unwrap_err().contains("nests"));
    }

    #[test]
    fn fragment_bombs_are_refused_before_any_walk() {
        for query in [
            super::super::fuzz::fragment_bomb(9, 8),
            super::super::fuzz::fragment_bomb(39, 2),
        ] {
            let err = check(&query).unwrap_err();
            assert!(
                err.contains("expanded selection limit of 10000") || err.contains("chain deeper"),
                "{err}"
            );
        }
        let err = check("{ ...F } fragment F on Query { ...F }").unwrap_err();
        assert!(err.contains("spreads itself"), "{err}");
    }

    #[test]
    fn fragments_count_towards_root_fields_and_aliases() {
        let roots: String = (0..21).map(|i| format!("f{i}: __typename ")).collect();
        let err = check(&format!("{{ ...F }} fragment F on Query {{ {roots} }}")).unwrap_err();
        assert!(err.contains("root field"), "{err}");
    }
}
