//! Which kind of operation a request runs, for the metrics — read lexically from
//! the document (a full parse would cost more than the rest of the bookkeeping).
use crate::metrics::Operation;

/// The type of the operation `operation_name` selects (or of the only one).
/// Strings, block strings and comments are skipped; only top-level tokens count.
pub fn operation_kind(query: &str, operation_name: Option<&str>) -> Operation {
    let bytes = query.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    let mut pending: Option<Operation> = None;
    let mut in_fragment = false;
    let mut found: Option<Operation> = None;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                if query[i..].starts_with("\"\"\"") {
                    i += 3;
                    while i < bytes.len() && !query[i..].starts_with("\"\"\"") {
                        i += 1;
                    }
                    i += 2;
                } else {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' {
                        if bytes[i] == b'\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                }
            }
            b'{' => {
                if depth == 0 && !std::mem::take(&mut in_fragment) {
                    let kind = pending.take().unwrap_or(Operation::Query);
                    if operation_name.is_none() && found.is_none() {
                        found = Some(kind);
                    }
                }
                depth += 1;
            }
            b'}' => depth = depth.saturating_sub(1),
            b'(' | b'[' if depth == 0 => {
                // Variable definitions: skip to the matching close.
                let close = if b == b'(' { b')' } else { b']' };
                while i < bytes.len() && bytes[i] != close {
                    i += 1;
                }
            }
            _ if depth == 0 && (b.is_ascii_alphabetic() || b == b'_') => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let word = &query[start..i];
                match word {
                    "query" => pending = Some(Operation::Query),
                    "mutation" => pending = Some(Operation::Mutation),
                    "subscription" => pending = Some(Operation::Subscription),
                    "fragment" => {
                        pending = None;
                        in_fragment = true;
                    }
                    name => {
                        if let (Some(kind), Some(wanted)) = (pending, operation_name) {
                            if name == wanted {
                                return kind;
                            }
                        }
                    }
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    found.unwrap_or(Operation::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            operation_kind("query A { a }", Some("Missing")),
            Operation::Unknown
        );
    }
}
