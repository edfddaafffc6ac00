//! Limits on the shape of a document, checked before it runs: depth and
//! complexity are async-graphql's own; tokens, aliases, root fields and
//! directives per location are counted here, so a document with 5,000 aliases of
//! `__typename` or 10,000 directives on one field is refused, not executed.
//!
//! A refusal is BAD_USER_INPUT with a message naming the limit and its value.
use async_graphql::parser::types::{
    Directive, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::Positioned;

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
    pub batch: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            depth: config::DEFAULT_QUERY_DEPTH_LIMIT,
            complexity: config::DEFAULT_QUERY_COMPLEXITY_LIMIT,
            aliases: config::DEFAULT_QUERY_ALIAS_LIMIT,
            root_fields: config::DEFAULT_QUERY_ROOT_FIELD_LIMIT,
            directives: config::DEFAULT_QUERY_DIRECTIVE_LIMIT,
            tokens: config::DEFAULT_QUERY_TOKEN_LIMIT,
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

/// Counted before parsing: the parser never sees a document over the token limit.
pub fn check_tokens(query: &str, limits: &QueryLimits) -> Result<(), AppError> {
    if super::lexer::exceeds_tokens(query, limits.tokens) {
        return Err(refuse("token", limits.tokens, "TENANTQL_QUERY_TOKEN_LIMIT"));
    }
    Ok(())
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
        check_tokens(query, &limits).map_err(|e| e.public_message())?;
        let document = parse_query(query).map_err(|e| e.to_string())?;
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
    fn fragments_count_towards_root_fields_and_aliases() {
        let roots: String = (0..21).map(|i| format!("f{i}: __typename ")).collect();
        let err = check(&format!("{{ ...F }} fragment F on Query {{ {roots} }}")).unwrap_err();
        assert!(err.contains("root field"), "{err}");
    }
}
