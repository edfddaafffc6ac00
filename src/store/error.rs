//! Store failures, sorted by what they mean for the tenant. The `reason` of an
//! unavailable store is our own wording, safe to show; the driver's text (which
//! may name hosts, users or schemas) is kept in `detail` for the log only.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or will not take a session: counts against
    /// the tenant's circuit breaker.
    #[error("{reason}")]
    Unavailable {
        reason: &'static str,
        detail: String,
    },
    /// A call ran past its deadline.
    #[error("the database did not answer in time")]
    Timeout { detail: String },
    /// The statement failed (a bug or a schema mismatch, not the tenant's fault).
    #[error("query failed: {0}")]
    Query(String),
    /// A row did not have the shape the mapping code expects.
    #[error("unexpected row shape: {0}")]
    Mapping(String),
    /// The database lacks a relation, column or procedure the contract names, or
    /// refuses tenantql's account the use of it: the tenant's contract is broken.
    /// `object` is what the database named (for operators), `detail` the driver's text.
    #[error("the database lacks {object}")]
    Contract { object: String, detail: String },
    /// The client's own procedure refused the write, by the documented convention
    /// (`docs/TENANT_DATABASE.md`); `message` is the procedure's own text.
    #[error("{message}")]
    Refused { refusal: Refusal, message: String },
    /// A unique key refused the row (a concurrent writer took the same number).
    #[error("duplicate key: {0}")]
    Duplicate(String),
}

/// What a client's procedure meant by refusing a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The input breaks one of the client's rules: BAD_USER_INPUT.
    BadInput,
    /// The write conflicts with the data as it is now: CONFLICT.
    Conflict,
}

/// Longest procedure message passed on to a client.
const MAX_REFUSAL_MESSAGE: usize = 300;

impl Refusal {
    /// The procedure's message as a client may see it: its first line, without
    /// control characters, at most 300 characters.
    pub fn message(text: &str) -> String {
        let line = text.lines().next().unwrap_or("").trim();
        let clean: String = line
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_REFUSAL_MESSAGE)
            .collect();
        if clean.is_empty() {
            "the tenant's database refused the write".to_string()
        } else {
            clean
        }
    }
}

impl StoreError {
    pub fn unavailable(reason: &'static str, detail: impl std::fmt::Display) -> Self {
        StoreError::Unavailable {
            reason,
            detail: detail.to_string(),
        }
    }
}

/// What a database's "no such object" message names, as operators see it:
/// quotes dropped, at most 200 characters.
pub fn named_object(message: &str) -> String {
    let text = message.lines().next().unwrap_or("").replace('"', "");
    let text = text
        .trim()
        .trim_end_matches(" does not exist")
        .trim_end_matches(": invalid identifier");
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_messages_are_one_clean_line() {
        assert_eq!(
            Refusal::message("the invoice is closed\nORA-06512: at line 12"),
            "the invoice is closed"
        );
        assert_eq!(Refusal::message("\u{1b}[31mred\u{7}"), "[31mred");
        assert_eq!(
            Refusal::message("  "),
            "the tenant's database refused the write"
        );
        assert_eq!(Refusal::message(&"x".repeat(1000)).len(), 300);
    }

    #[test]
    fn named_objects() {
        assert_eq!(
            named_object("column \"vat_cents\" does not exist"),
            "column vat_cents"
        );
        assert_eq!(
            named_object("relation \"erp_contract.invoices\" does not exist"),
            "relation erp_contract.invoices"
        );
    }
}
