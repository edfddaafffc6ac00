//! How big a document is with its fragment spreads written out in place.
//!
//! A spread costs nothing to send and everything to walk: eight fragments of
//! eight spreads each are 600 bytes and 16 million selections to a walk that
//! follows every spread (async-graphql's complexity and depth visitors do, and
//! so do the anonymous gate, the root-field count and the selection-order plan).
//! `measure` computes each fragment's expanded size once, bottom-up, so it costs
//! O(size of the document) whatever the document says; the caller refuses a
//! document over the limit before any of those walks runs.
use std::collections::HashMap;

use async_graphql::{
    parser::types::{ExecutableDocument, Selection, SelectionSet},
    Name,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpansionError {
    /// The expansion has more selections than the limit.
    TooLarge,
    /// A fragment spreads itself, directly or through others (named).
    Cycle(String),
    /// Spreads nest deeper than the chain limit.
    ChainTooDeep,
}

/// One selection set's own selections (fields, inline fragments and spreads,
/// at every depth but not through spreads), and the fragments it spreads with
/// how often.
#[derive(Default)]
struct Summary<'d> {
    own: usize,
    spreads: Vec<(&'d Name, usize)>,
}

impl<'d> Summary<'d> {
    fn of(set: &'d SelectionSet) -> Summary<'d> {
        let mut summary = Summary::default();
        summary.add(set);
        summary
    }

    /// Recurses as deep as selections nest, which the source's bracket
    /// nesting bound caps before the document is parsed.
    fn add(&mut self, set: &'d SelectionSet) {
        for item in &set.items {
            self.own += 1;
            match &item.node {
                Selection::Field(field) => self.add(&field.node.selection_set.node),
                Selection::InlineFragment(fragment) => self.add(&fragment.node.selection_set.node),
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    match self.spreads.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, times)) => *times += 1,
                        None => self.spreads.push((name, 1)),
                    }
                }
            }
        }
    }

    /// Own selections plus every spread fragment's expanded size, as often as
    /// it is spread (a fragment missing from `sizes` is undefined: validation
    /// reports it, and it expands to nothing).
    fn expanded(&self, sizes: &HashMap<&Name, Measure>) -> Measure {
        self.spreads.iter().fold(
            Measure {
                size: self.own,
                chain: 0,
            },
            |total, (name, times)| {
                let child = sizes.get(name).copied().unwrap_or_default();
                Measure {
                    size: total.size.saturating_add(child.size.saturating_mul(*times)),
                    chain: total.chain.max(child.chain + 1),
                }
            },
        )
    }
}

/// A selection set's expanded size, and the longest chain of spreads in it.
#[derive(Debug, Clone, Copy, Default)]
struct Measure {
    size: usize,
    chain: usize,
}

enum Visit {
    InProgress,
    Done,
}

/// The number of selections a walk visits that goes over every fragment
/// definition and every operation, following each spread where it occurs.
/// Refuses cycles, spread chains longer than `max_chain` and expansions over
/// `limit` — the same answer whatever order the fragments are stored in.
pub fn measure(
    document: &ExecutableDocument,
    limit: usize,
    max_chain: usize,
) -> Result<usize, ExpansionError> {
    let summaries: HashMap<&Name, Summary<'_>> = document
        .fragments
        .iter()
        .map(|(name, fragment)| (name, Summary::of(&fragment.node.selection_set.node)))
        .collect();
    let mut measures: HashMap<&Name, Measure> = HashMap::with_capacity(summaries.len());
    let mut visits: HashMap<&Name, Visit> = HashMap::with_capacity(summaries.len());
    // Post-order over the spread graph with an explicit stack: each fragment is
    // measured once, after the fragments it spreads.
    for root in summaries.keys() {
        if visits.contains_key(root) {
            continue;
        }
        visits.insert(root, Visit::InProgress);
        let mut stack: Vec<(&Name, usize)> = vec![(root, 0)];
        while let Some((name, next_edge)) = stack.last_mut() {
            let summary = &summaries[name];
            if let Some((child, _)) = summary.spreads.get(*next_edge) {
                *next_edge += 1;
                match visits.get(child) {
                    Some(Visit::Done) => {}
                    Some(Visit::InProgress) => {
                        return Err(ExpansionError::Cycle(child.to_string()))
                    }
                    None if summaries.contains_key(child) => {
                        visits.insert(child, Visit::InProgress);
                        stack.push((child, 0));
                    }
                    None => {}
                }
                continue;
            }
            let name = *name;
            measures.insert(name, summary.expanded(&measures));
            visits.insert(name, Visit::Done);
            stack.pop();
        }
    }
    let operations: Vec<Measure> = document
        .operations
        .iter()
        .map(|(_, operation)| Summary::of(&operation.node.selection_set.node).expanded(&measures))
        .collect();
    let all = measures.values().chain(&operations);
    if all.clone().any(|m| m.chain > max_chain) {
        return Err(ExpansionError::ChainTooDeep);
    }
    let total = all.fold(0usize, |total, m| total.saturating_add(m.size));
    if total > limit {
        return Err(ExpansionError::TooLarge);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;
    use crate::schema::fuzz::fragment_bomb as fan_out;

    fn measured(query: &str) -> Result<usize, ExpansionError> {
        measure(&parse_query(query).unwrap(), 10_000, 32)
    }

    #[test]
    fn counts_every_selection_once_per_spread() {
        // Operation: `me`, `email`, the spread, and F's two fields.
        assert_eq!(
            measured("{ me { email ...F } } fragment F on User { id tenant { slug } }"),
            Ok(3 + 3 + 3)
        );
        // F spread twice in the operation.
        assert_eq!(
            measured("{ ...F ...F } fragment F on Query { __typename }"),
            Ok(1 + 2 + 2)
        );
        assert_eq!(measured("{ ... on Query { __typename } }"), Ok(2));
    }

    #[test]
    fn exponential_documents_are_refused_without_expanding_them() {
        assert_eq!(
            measured(&fan_out(9, 8)),
            Err(ExpansionError::TooLarge),
            "8 levels of 8 spreads"
        );
        assert_eq!(
            measure(&parse_query(fan_out(39, 2)).unwrap(), 10_000, 64),
            Err(ExpansionError::TooLarge),
            "the doubling chain to depth 39"
        );
        // The chain is measured, not walked: the same answer whichever
        // fragment the walk starts from.
        assert_eq!(measured(&fan_out(39, 2)), Err(ExpansionError::ChainTooDeep));
        assert_eq!(measured(&fan_out(33, 1)), Err(ExpansionError::ChainTooDeep));
        assert!(measured(&fan_out(32, 1)).is_ok());
        // Sizes saturate instead of overflowing.
        assert_eq!(
            measure(&parse_query(fan_out(60, 8)).unwrap(), usize::MAX - 1, 64),
            Err(ExpansionError::TooLarge)
        );
    }

    #[test]
    fn cycles_and_missing_fragments() {
        let two = measured("{ ...A } fragment A on Query { ...B } fragment B on Query { x ...A }");
        assert!(matches!(two, Err(ExpansionError::Cycle(_))), "{two:?}");
        assert_eq!(
            measured("{ ...F } fragment F on Query { ...F }"),
            Err(ExpansionError::Cycle("F".into()))
        );
        assert_eq!(measured("{ ...Missing a }"), Ok(2));
    }
}
