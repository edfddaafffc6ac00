//! The fields one object's selection asks for, as GraphQL executes them
//! (CollectFields, then merging by response key): fragments spread in place,
//! the first occurrence of a response key fixing its position, and every
//! occurrence's sub-selection kept for the merged field.
//!
//! Anything this does not reproduce exactly gives `None`, and the operation is
//! left to async-graphql: a directive anywhere (`@skip`/`@include` and any
//! other), a fragment on another type.
use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};

/// Fragments inside fragments deeper than this are not compiled (validation
/// has rejected cycles; this bounds the walk on its own).
const MAX_FRAGMENT_DEPTH: usize = 16;

/// One response key of a selection set.
pub struct Selected<'d> {
    pub key: &'d str,
    /// Its first occurrence: its name and arguments (validation has made every
    /// occurrence of a key the same field with the same arguments).
    pub field: &'d Field,
    /// The sub-selections of every occurrence, in document order.
    pub sets: Vec<&'d SelectionSet>,
}

impl Selected<'_> {
    pub fn name(&self) -> &str {
        self.field.name.node.as_str()
    }
}

/// The merged fields of `sets` (the occurrences of one field, or the
/// operation's selection) on an object of type `type_name`. `budget` counts
/// the selections visited over the whole compilation, so a document whose
/// fragments multiply is refused after that many.
pub fn collect<'d>(
    document: &'d ExecutableDocument,
    type_name: &str,
    sets: &[&'d SelectionSet],
    budget: &mut usize,
) -> Option<Vec<Selected<'d>>> {
    let mut merged = Merged::default();
    for set in sets {
        walk(document, type_name, set, 0, budget, &mut merged)?;
    }
    Some(merged.fields)
}

/// The fields so far, with where each response key is.
#[derive(Default)]
struct Merged<'d> {
    fields: Vec<Selected<'d>>,
    positions: HashMap<&'d str, usize>,
}

fn walk<'d>(
    document: &'d ExecutableDocument,
    type_name: &str,
    set: &'d SelectionSet,
    depth: usize,
    budget: &mut usize,
    out: &mut Merged<'d>,
) -> Option<()> {
    if depth > MAX_FRAGMENT_DEPTH {
        return None;
    }
    for selection in &set.items {
        *budget = budget.checked_sub(1)?;
        // A fragment applies here only on this very type, without directives.
        let fragment = match &selection.node {
            Selection::Field(field) => {
                let field = &field.node;
                if !field.directives.is_empty() {
                    return None;
                }
                let key = field.response_key().node.as_str();
                match out.positions.get(key) {
                    Some(&at) => out.fields[at].sets.push(&field.selection_set.node),
                    None => {
                        out.positions.insert(key, out.fields.len());
                        out.fields.push(Selected {
                            key,
                            field,
                            sets: vec![&field.selection_set.node],
                        });
                    }
                }
                continue;
            }
            Selection::FragmentSpread(spread) => {
                let fragment = &document
                    .fragments
                    .get(&spread.node.fragment_name.node)?
                    .node;
                let applies = spread.node.directives.is_empty()
                    && fragment.directives.is_empty()
                    && fragment.type_condition.node.on.node == type_name;
                applies.then_some(&fragment.selection_set.node)
            }
            Selection::InlineFragment(fragment) => {
                let fragment = &fragment.node;
                let applies = fragment.directives.is_empty()
                    && fragment
                        .type_condition
                        .as_ref()
                        .is_none_or(|condition| condition.node.on.node == type_name);
                applies.then_some(&fragment.selection_set.node)
            }
        };
        walk(document, type_name, fragment?, depth + 1, budget, out)?;
    }
    Some(())
}
