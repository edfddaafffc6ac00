//! What differs between the SQL of the backends: placeholders, row limits,
//! IN-list sizes and a few functions. Everything else is written once.
use super::Sql;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Oracle,
    Postgres,
}

impl Dialect {
    /// The OpenTelemetry `db.system.name` of the backend.
    pub fn system_name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Oracle => "oracle.db",
            Dialect::Postgres => "postgresql",
        }
    }

    /// The placeholder for the `index`-th bind value (1-based).
    pub fn placeholder(self, index: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{index}"),
            Dialect::Oracle => format!(":{index}"),
            Dialect::Postgres => format!("${index}"),
        }
    }

    /// Most expressions one IN-list may hold (Oracle: ORA-01795 above 1000).
    pub fn max_in_list(self) -> usize {
        match self {
            Dialect::Sqlite => 5000,
            Dialect::Oracle => 1000,
            // The protocol allows 65,535 bind values per statement.
            Dialect::Postgres => 5000,
        }
    }

    /// Row-limiting clause, placed after ORDER BY.
    pub fn limit(self, rows: usize) -> String {
        match self {
            Dialect::Sqlite | Dialect::Postgres => format!("LIMIT {rows}"),
            Dialect::Oracle => format!("FETCH FIRST {rows} ROWS ONLY"),
        }
    }

    /// The cheapest statement that proves a session works (connection tests).
    pub fn ping_statement(self) -> &'static str {
        match self {
            Dialect::Sqlite | Dialect::Postgres => "SELECT 1",
            Dialect::Oracle => "SELECT 1 FROM DUAL",
        }
    }

    /// Locks the rows a write transaction reads before changing them. SQLite
    /// needs none: `BEGIN IMMEDIATE` already holds the database's write lock.
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Oracle | Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// The statement that allocates the next id of a contract table in `tables`
    /// write mode: from `sequence` where the backend has sequences, so no lock
    /// is taken; SQLite's `MAX + 1` of `table` is safe only because `BEGIN
    /// IMMEDIATE` already holds the database's write lock.
    pub fn next_id(self, table: &str, sequence: &str) -> String {
        match self {
            Dialect::Sqlite => format!("SELECT COALESCE(MAX(id), 0) + 1 FROM {table}"),
            Dialect::Postgres => format!("SELECT nextval('{sequence}')"),
            Dialect::Oracle => format!("SELECT {sequence}.NEXTVAL FROM DUAL"),
        }
    }

    /// The statement that makes concurrent writers of one numbering series
    /// (its key the only bind value) take turns until their transactions end,
    /// without locking any row the client's own application reads or writes.
    /// PostgreSQL: a transaction-level advisory lock in tenantql's own class
    /// (needs no privilege). Oracle's equivalent (`DBMS_LOCK`) needs a grant a
    /// client's DBA seldom gives, and SQLite's `BEGIN IMMEDIATE` already
    /// serializes writers: both number optimistically, guarded by the unique key.
    pub fn series_lock(self, key: &str) -> Option<Sql> {
        match self {
            Dialect::Postgres => {
                let mut lock = Sql::new(self);
                lock.push("SELECT 1 FROM pg_advisory_xact_lock(")
                    .push(SERIES_LOCK_CLASS)
                    .push(", hashtext(")
                    .bind(key)
                    .push("))");
                Some(lock)
            }
            Dialect::Oracle | Dialect::Sqlite => None,
        }
    }

    /// `YYYY-MM` of a date column.
    pub fn month_of(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("substr({column}, 1, 7)"),
            Dialect::Oracle | Dialect::Postgres => format!("TO_CHAR({column}, 'YYYY-MM')"),
        }
    }
}

/// The first key of tenantql's advisory locks ("tenq"), so they cannot meet a
/// client application's locks in the single-key space.
const SERIES_LOCK_CLASS: &str = "1952804465"; // 0x74656e71

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Value;

    #[test]
    fn only_postgres_locks_a_numbering_series() {
        let lock = Dialect::Postgres
            .series_lock("erp.invoices:S1-2026-")
            .unwrap();
        assert_eq!(
            lock.text(),
            "SELECT 1 FROM pg_advisory_xact_lock(1952804465, hashtext($1))"
        );
        assert_eq!(lock.params(), [Value::from("erp.invoices:S1-2026-")]);
        assert!(Dialect::Oracle.series_lock("invoices:S1-2026-").is_none());
        assert!(Dialect::Sqlite.series_lock("invoices:S1-2026-").is_none());
    }

    #[test]
    fn ids_come_from_sequences_where_there_are_sequences() {
        assert_eq!(
            Dialect::Oracle.next_id("payments", "payments_id_seq"),
            "SELECT payments_id_seq.NEXTVAL FROM DUAL"
        );
        assert_eq!(
            Dialect::Postgres.next_id("erp.payments", "erp.payments_id_seq"),
            "SELECT nextval('erp.payments_id_seq')"
        );
        assert_eq!(
            Dialect::Sqlite.next_id("payments", "payments_id_seq"),
            "SELECT COALESCE(MAX(id), 0) + 1 FROM payments"
        );
    }
}
