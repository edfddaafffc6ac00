//! What differs between the SQL of the backends: placeholders, row limits,
//! IN-list sizes and a few functions. Everything else is written once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Oracle,
    Postgres,
}

impl Dialect {
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

    /// The statement that serializes writers allocating ids in `table` (the ERP
    /// tables have plain NUMBER keys, no identity), or none where the
    /// transaction already does.
    pub fn lock_for_insert(self, table: &str) -> Option<String> {
        match self {
            Dialect::Sqlite => None,
            Dialect::Oracle | Dialect::Postgres => {
                Some(format!("LOCK TABLE {table} IN EXCLUSIVE MODE"))
            }
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
