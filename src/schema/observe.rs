//! Which kind of operation a request runs, for the metrics and the audit log —
//! read from the document's tokens (a full parse would cost more than the rest
//! of the bookkeeping).
use super::lexer::{Lexer, Token};
use crate::metrics::Operation;

/// The type and name of the operation `operation_name` selects (or of the first
/// one). Only top-level tokens count: selections, variable definitions and
/// fragment bodies are skipped.
pub fn operation_of<'q>(
    query: &'q str,
    operation_name: Option<&str>,
) -> (Operation, Option<&'q str>) {
    let mut depth = 0usize;
    let mut pending: Option<(Operation, Option<&'q str>)> = None;
    let mut in_fragment = false;
    let mut found: Option<(Operation, Option<&'q str>)> = None;
    for token in Lexer::new(query) {
        match token {
            Token::Punct("{") => {
                if depth == 0 && !std::mem::take(&mut in_fragment) {
                    let operation = pending.take().unwrap_or((Operation::Query, None));
                    if operation_name.is_none() && found.is_none() {
                        found = Some(operation);
                    }
                }
                depth += 1;
            }
            Token::Punct("}") => depth = depth.saturating_sub(1),
            // Variable definitions and default values nest like selections.
            Token::Punct("(" | "[") => depth += 1,
            Token::Punct(")" | "]") => depth = depth.saturating_sub(1),
            Token::Name(word) if depth == 0 => match word {
                "query" => pending = Some((Operation::Query, None)),
                "mutation" => pending = Some((Operation::Mutation, None)),
                "subscription" => pending = Some((Operation::Subscription, None)),
                "fragment" => {
                    pending = None;
                    in_fragment = true;
                }
                name => {
                    if let Some((kind, unnamed @ None)) = &mut pending {
                        *unnamed = Some(name);
                        if operation_name == Some(name) {
                            return (*kind, Some(name));
                        }
                    }
                }
            },
            _ => {}
        }
    }
    found.unwrap_or((Operation::Unknown, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operation_kind(query: &str, operation_name: Option<&str>) -> Operation {
        operation_of(query, operation_name).0
    }

    #[test]
    fn reads_the_operation_type() {
        assert_eq!(operation_kind("{ me { email } }", None), Operation::Query);
        assert_eq!(
            operation_kind("  # c\n mutation { login }", None),
            Operation::Mutation
        );
        assert_eq!(
            operation_kind("query A($x: [Int!]) { a } mutation B { b }", Some("B")),
            Operation::Mutation
        );
        assert_eq!(
            operation_kind("query A { a } mutation B { b }", Some("A")),
            Operation::Query
        );
        assert_eq!(
            operation_kind("fragment F on Query { a } subscription S { s }", None),
            Operation::Subscription
        );
        assert_eq!(
            operation_kind("query Q($s: String = \"mutation {\") { a }", None),
            Operation::Query
        );
        assert_eq!(operation_kind("not graphql", None), Operation::Unknown);
        assert_eq!(
            operation_of("query InvoicePage($a: Int) { a }", None),
            (Operation::Query, Some("InvoicePage"))
        );
        assert_eq!(
            operation_of("fragment F on Query { a } mutation M { b }", None),
            (Operation::Mutation, Some("M"))
        );
        assert_eq!(
            operation_kind("query A { a }", Some("Missing")),
            Operation::Unknown
        );
    }
}
