//! Requests without a token may only sign in, redeem a password-set token or
//! accept an invitation.
//!
//! Checked on the parsed document before anything runs, for every operation in
//! it, following fragments: an anonymous caller learns nothing but
//! UNAUTHENTICATED, not even the schema.
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

use crate::error::AppError;

/// Root fields an anonymous request may select.
const PUBLIC_FIELDS: &[&str] = &["login", "setPassword", "acceptInvitation", "__typename"];
/// Introspection's root fields, open to anonymous callers only when configured.
const INTROSPECTION_FIELDS: &[&str] = &["__schema", "__type"];
/// Fragments nest at most this deep before the document is refused (cycles are
/// rejected later by validation).
const MAX_FRAGMENT_DEPTH: usize = 16;

/// For a request without a token: refuses it unless every operation in it selects
/// only public fields (and introspection, when `introspection` is public).
pub fn refuse_unless_public(
    document: &ExecutableDocument,
    introspection: bool,
) -> Result<(), AppError> {
    if only_public_fields(document, introspection) {
        Ok(())
    } else {
        Err(AppError::Unauthenticated(
            "sign in first: without a bearer token only `login`, `setPassword` and `acceptInvitation` may be called",
        ))
    }
}

/// Where introspection is off: refuses documents that ask for it (rather than
/// answering `null`, which looks like a bug to a client).
pub fn refuse_introspection(document: &ExecutableDocument) -> Result<(), AppError> {
    if every_root_field(document, &|name| !INTROSPECTION_FIELDS.contains(&name)) {
        Ok(())
    } else {
        Err(AppError::bad_input(
            "query",
            "introspection is disabled on this server (setting TENANTQL_INTROSPECTION)",
        ))
    }
}

fn only_public_fields(document: &ExecutableDocument, introspection: bool) -> bool {
    every_root_field(document, &|name| {
        PUBLIC_FIELDS.contains(&name) || (introspection && INTROSPECTION_FIELDS.contains(&name))
    })
}

/// Whether every root field of every operation satisfies `allowed`.
fn every_root_field(document: &ExecutableDocument, allowed: &dyn Fn(&str) -> bool) -> bool {
    document
        .operations
        .iter()
        .all(|(_, op)| selection_allowed(document, &op.node.selection_set.node, 0, allowed))
}

fn selection_allowed(
    document: &ExecutableDocument,
    set: &SelectionSet,
    depth: usize,
    allowed: &dyn Fn(&str) -> bool,
) -> bool {
    if depth > MAX_FRAGMENT_DEPTH {
        return false;
    }
    set.items.iter().all(|item| match &item.node {
        Selection::Field(field) => allowed(field.node.name.node.as_str()),
        Selection::InlineFragment(fragment) => selection_allowed(
            document,
            &fragment.node.selection_set.node,
            depth + 1,
            allowed,
        ),
        Selection::FragmentSpread(spread) => document
            .fragments
            .get(&spread.node.fragment_name.node)
            .is_some_and(|f| {
                selection_allowed(document, &f.node.selection_set.node, depth + 1, allowed)
            }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    fn public(query: &str) -> bool {
        only_public_fields(&parse_query(query).unwrap(), false)
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
        assert!(only_public_fields(
            &parse_query("{ __schema { types { name } } }").unwrap(),
            true
        ));
        assert!(!public("query { ...F } fragment F on Query { ...F }"));
    }
}
