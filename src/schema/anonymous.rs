//! Requests without a token may only sign in.
//!
//! Checked on the parsed document before anything runs, for every operation in
//! it, following fragments: an anonymous caller learns nothing but
//! UNAUTHENTICATED, not even the schema.
use async_graphql::{
    parser::{
        parse_query,
        types::{ExecutableDocument, Selection, SelectionSet},
    },
    Request, ServerError,
};

use crate::error::AppError;

/// Root fields an anonymous request may select.
const PUBLIC_FIELDS: &[&str] = &["login", "__typename"];
/// Fragments nest at most this deep before the document is refused (cycles are
/// rejected later by validation).
const MAX_FRAGMENT_DEPTH: usize = 16;

/// For a request without a token: refuses it unless every operation in it selects
/// only `login`. A document that does not parse is let through: execution
/// answers with the syntax error and runs nothing.
pub fn refuse_unless_public(request: &Request) -> Result<(), ServerError> {
    match parse_query(&request.query) {
        Ok(document) if !only_public_fields(&document) => Err(AppError::Unauthenticated(
            "sign in first: without a bearer token only `login` may be called",
        )
        .to_server_error()),
        _ => Ok(()),
    }
}

fn only_public_fields(document: &ExecutableDocument) -> bool {
    document
        .operations
        .iter()
        .all(|(_, op)| selection_is_public(document, &op.node.selection_set.node, 0))
}

fn selection_is_public(document: &ExecutableDocument, set: &SelectionSet, depth: usize) -> bool {
    if depth > MAX_FRAGMENT_DEPTH {
        return false;
    }
    set.items.iter().all(|item| match &item.node {
        Selection::Field(field) => PUBLIC_FIELDS.contains(&field.node.name.node.as_str()),
        Selection::InlineFragment(fragment) => {
            selection_is_public(document, &fragment.node.selection_set.node, depth + 1)
        }
        Selection::FragmentSpread(spread) => document
            .fragments
            .get(&spread.node.fragment_name.node)
            .is_some_and(|f| selection_is_public(document, &f.node.selection_set.node, depth + 1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    fn public(query: &str) -> bool {
        only_public_fields(&parse_query(query).unwrap())
    }

    #[test]
    fn login_alone_is_public() {
        assert!(public(
            "mutation { login(email: \"a\", password: \"b\") { token } }"
        ));
        assert!(public("mutation { __typename ...L } fragment L on Mutation { login(email: \"a\", password: \"b\") { token } }"));
        assert!(public(
            "mutation { ... on Mutation { login(email: \"a\", password: \"b\") { token } } }"
        ));
    }

    #[test]
    fn anything_else_is_not() {
        assert!(!public("{ me { email } }"));
        assert!(!public("{ __schema { types { name } } }"));
        assert!(!public("mutation { login(email: \"a\", password: \"b\") { token } selectTenant(tenant: \"x\") { token } }"));
        assert!(!public("mutation A { login(email: \"a\", password: \"b\") { token } } query B { me { email } }"));
        assert!(!public(
            "mutation { ...F } fragment F on Mutation { selectTenant(tenant: \"x\") { token } }"
        ));
        assert!(!public("mutation { ...Missing }"));
        assert!(!public("query { ...F } fragment F on Query { ...F }"));
    }
}
