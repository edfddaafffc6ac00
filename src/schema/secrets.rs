//! Which variables of a document carry secrets, judged by where they go: a
//! variable passed to an argument or input field whose name sounds secret
//! (`password`, `token`, `key`, `secret`) is one, whatever the variable is called.
use std::collections::HashSet;

use async_graphql::{
    parser::types::{Directive, ExecutableDocument, Field, Selection, SelectionSet},
    Positioned,
};
use async_graphql_value::Value;

use crate::audit::redact::is_secret_name;

pub fn variables_bound_to_secrets(document: &ExecutableDocument) -> HashSet<String> {
    let mut found = HashSet::new();
    for (_, operation) in document.operations.iter() {
        directives(&operation.node.directives, &mut found);
        selection_set(&operation.node.selection_set.node, &mut found);
    }
    for (_, fragment) in document.fragments.iter() {
        directives(&fragment.node.directives, &mut found);
        selection_set(&fragment.node.selection_set.node, &mut found);
    }
    found
}

fn selection_set(set: &SelectionSet, found: &mut HashSet<String>) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => self::field(&field.node, found),
            Selection::InlineFragment(fragment) => {
                directives(&fragment.node.directives, found);
                selection_set(&fragment.node.selection_set.node, found);
            }
            Selection::FragmentSpread(spread) => directives(&spread.node.directives, found),
        }
    }
}

fn field(field: &Field, found: &mut HashSet<String>) {
    for (name, value) in &field.arguments {
        value_of(is_secret_name(&name.node), &value.node, found);
    }
    directives(&field.directives, found);
    selection_set(&field.selection_set.node, found);
}

fn directives(list: &[Positioned<Directive>], found: &mut HashSet<String>) {
    for directive in list {
        for (name, value) in &directive.node.arguments {
            value_of(is_secret_name(&name.node), &value.node, found);
        }
    }
}

fn value_of(secret: bool, value: &Value, found: &mut HashSet<String>) {
    match value {
        Value::Variable(name) if secret => {
            found.insert(name.to_string());
        }
        Value::List(items) => items.iter().for_each(|v| value_of(secret, v, found)),
        Value::Object(fields) => {
            for (name, v) in fields {
                value_of(secret || is_secret_name(name), v, found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn secret(query: &str) -> Vec<String> {
        let mut names: Vec<String> = variables_bound_to_secrets(&parse_query(query).unwrap())
            .into_iter()
            .collect();
        names.sort();
        names
    }

    #[test]
    fn follows_variables_into_secret_arguments() {
        assert_eq!(
            secret(
                "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
            ),
            ["p"]
        );
        assert_eq!(
            secret("mutation($x: String, $n: String) { createTenant(input: { dbPassword: $x, name: $n }) { slug } }"),
            ["x"]
        );
        assert_eq!(
            secret("mutation($t: String!) { a { b(list: [{ apiKey: $t }]) } } fragment F on Q { c(token: $u) }"),
            ["t", "u"]
        );
        assert!(secret("query($id: ID!) { company(id: $id) { name } }").is_empty());
    }
}
