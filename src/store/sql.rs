//! A statement under construction: SQL text plus its bind values, always bound,
//! never spliced into the text.
use std::sync::Arc;

use super::{Dialect, Value};

#[derive(Debug, Clone)]
pub struct Sql {
    dialect: Dialect,
    /// The schema the tenant's contract relations live in (None: the session's own).
    schema: Option<Arc<str>>,
    text: String,
    params: Vec<Value>,
}

impl Sql {
    pub fn new(dialect: Dialect) -> Self {
        Sql {
            dialect,
            schema: None,
            text: String::with_capacity(256),
            params: Vec::new(),
        }
    }

    /// A statement over contract relations that live in `schema` (a plain
    /// identifier, validated when the tenant was stored).
    pub fn in_schema(dialect: Dialect, schema: Option<Arc<str>>) -> Self {
        Sql {
            schema,
            ..Sql::new(dialect)
        }
    }

    /// Appends the name of a contract relation or procedure, qualified by the
    /// tenant's contract schema when it has one.
    pub fn rel(&mut self, name: &str) -> &mut Self {
        if let Some(schema) = &self.schema {
            self.text.push_str(schema);
            self.text.push('.');
        }
        self.text.push_str(name);
        self
    }

    /// A statement of no bind values in the same dialect and contract schema.
    pub fn sibling(&self) -> Sql {
        Sql::in_schema(self.dialect, self.schema.clone())
    }

    /// A statement with no bind values.
    pub fn raw(dialect: Dialect, text: &str) -> Self {
        let mut sql = Sql::new(dialect);
        sql.push(text);
        sql
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The statement's shape for traces — its verb and first relation
    /// (`SELECT invoices`), never a value: bound values are never in the text.
    pub fn summary(&self) -> String {
        let mut words = self.text.split_whitespace().take(256);
        let verb = words.next().unwrap_or("").to_ascii_uppercase();
        let before_relation = match verb.as_str() {
            "SELECT" | "WITH" | "DELETE" => "FROM",
            "INSERT" => "INTO",
            "UPDATE" => "UPDATE",
            _ => return verb,
        };
        let mut words = std::iter::once(verb.as_str()).chain(words);
        let relation = words
            .by_ref()
            .position(|w| w.eq_ignore_ascii_case(before_relation))
            .and_then(|_| words.next())
            .map(|w| {
                let w = w.rsplit('.').next().unwrap_or(w);
                w.trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .to_string()
            });
        match relation {
            Some(relation) if !relation.is_empty() => format!("{verb} {relation}"),
            _ => verb,
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn params(&self) -> &[Value] {
        &self.params
    }

    /// Appends SQL text (trusted: written in this crate, never from input).
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.params.push(value.into());
        let placeholder = self.dialect.placeholder(self.params.len());
        self.text.push_str(&placeholder);
        self
    }

    /// `column IN (…)`, split into OR-ed lists of at most the dialect's maximum;
    /// an empty set renders a condition that is false.
    pub fn in_list<V: Into<Value>>(
        &mut self,
        column: &str,
        values: impl IntoIterator<Item = V>,
    ) -> &mut Self {
        let values: Vec<Value> = values.into_iter().map(Into::into).collect();
        if values.is_empty() {
            return self.push("1 = 0");
        }
        let chunks: Vec<&[Value]> = values.chunks(self.dialect.max_in_list()).collect();
        if chunks.len() > 1 {
            self.push("(");
        }
        for (i, chunk) in chunks.iter().enumerate() {
            if i > 0 {
                self.push(" OR ");
            }
            self.push(column).push(" IN (");
            for (j, value) in chunk.iter().enumerate() {
                if j > 0 {
                    self.push(", ");
                }
                self.bind(value.clone());
            }
            self.push(")");
        }
        if chunks.len() > 1 {
            self.push(")");
        }
        self
    }

    /// One statement inserting many rows: a VALUES list for SQLite and PostgreSQL, `INSERT ALL`
    /// for Oracle (which has no multi-row VALUES before 23ai).
    pub fn insert_rows(
        dialect: Dialect,
        table: &str,
        columns: &[&str],
        rows: &[Vec<Value>],
    ) -> Sql {
        Sql::new(dialect).inserting(table, columns, rows)
    }

    /// `insert_rows` into a contract relation of this statement's schema
    /// (the statement so far is replaced).
    pub fn inserting(mut self, table: &str, columns: &[&str], rows: &[Vec<Value>]) -> Sql {
        self.text.clear();
        self.params.clear();
        let dialect = self.dialect;
        let mut sql = self;
        let column_list = columns.join(", ");
        let values = |sql: &mut Sql, row: &[Value]| {
            sql.push("(");
            for (i, value) in row.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind(value.clone());
            }
            sql.push(")");
        };
        match dialect {
            Dialect::Sqlite | Dialect::Postgres => {
                sql.push("INSERT INTO ")
                    .rel(table)
                    .push(" (")
                    .push(&column_list)
                    .push(") VALUES ");
                for (i, row) in rows.iter().enumerate() {
                    if i > 0 {
                        sql.push(", ");
                    }
                    values(&mut sql, row);
                }
            }
            Dialect::Oracle => {
                sql.push("INSERT ALL");
                for row in rows {
                    sql.push(" INTO ")
                        .rel(table)
                        .push(" (")
                        .push(&column_list)
                        .push(") VALUES ");
                    values(&mut sql, row);
                }
                sql.push(" SELECT 1 FROM DUAL");
            }
        }
        sql
    }

    /// A call of the client's function `name` (in the contract schema) that
    /// returns the id of the row it wrote: `SELECT f($1, …)` on PostgreSQL, a
    /// PL/SQL block whose first bind (`:out_id`) receives the result on Oracle
    /// (a function doing DML cannot be called from a query there).
    pub fn call_function(&mut self, name: &str, args: Vec<Value>) -> &mut Self {
        match self.dialect {
            Dialect::Oracle => self.push("BEGIN :out_id := "),
            Dialect::Sqlite | Dialect::Postgres => self.push("SELECT "),
        };
        self.rel(name).push("(");
        for (i, arg) in args.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(arg);
        }
        match self.dialect {
            Dialect::Oracle => self.push("); END;"),
            Dialect::Sqlite | Dialect::Postgres => self.push(")"),
        }
    }

    /// The row-limiting clause of the dialect.
    pub fn limit(&mut self, rows: usize) -> &mut Self {
        let clause = self.dialect.limit(rows);
        self.push(" ").push(&clause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_per_dialect() {
        let mut sqlite = Sql::new(Dialect::Sqlite);
        sqlite
            .push("SELECT id FROM invoices WHERE company_id = ")
            .bind(3)
            .push(" AND kind = ")
            .bind("sale");
        assert_eq!(
            sqlite.text(),
            "SELECT id FROM invoices WHERE company_id = ?1 AND kind = ?2"
        );
        let mut oracle = Sql::new(Dialect::Oracle);
        oracle
            .push("SELECT id FROM invoices WHERE company_id = ")
            .bind(3)
            .push(" AND kind = ")
            .bind("sale");
        assert_eq!(
            oracle.text(),
            "SELECT id FROM invoices WHERE company_id = :1 AND kind = :2"
        );
        assert_eq!(
            oracle.params(),
            &[Value::Int(3), Value::Text("sale".into())]
        );
    }

    #[test]
    fn oracle_in_lists_are_chunked_at_1000() {
        let mut sql = Sql::new(Dialect::Oracle);
        sql.push("SELECT id FROM partners WHERE ")
            .in_list("id", 1..=2500i64);
        let text = sql.text();
        assert_eq!(text.matches(" IN (").count(), 3);
        assert!(text.starts_with("SELECT id FROM partners WHERE (id IN (:1, :2"));
        assert!(text.contains(":1000) OR id IN (:1001, "));
        assert!(text.ends_with(":2500))"));
        assert_eq!(sql.params().len(), 2500);
        for chunk in text.split(" OR ") {
            assert!(chunk.matches(':').count() <= 1000);
        }
    }

    #[test]
    fn small_and_empty_in_lists() {
        let mut sql = Sql::new(Dialect::Oracle);
        sql.in_list("id", [5i64, 6]);
        assert_eq!(sql.text(), "id IN (:1, :2)");
        let mut empty = Sql::new(Dialect::Sqlite);
        empty.in_list("id", Vec::<i64>::new());
        assert_eq!(empty.text(), "1 = 0");
    }

    #[test]
    fn multi_row_inserts() {
        let rows = vec![
            vec![Value::Int(1), Value::from("a")],
            vec![Value::Int(2), Value::Null],
        ];
        let sqlite = Sql::insert_rows(Dialect::Sqlite, "t", &["id", "name"], &rows);
        assert_eq!(
            sqlite.text(),
            "INSERT INTO t (id, name) VALUES (?1, ?2), (?3, ?4)"
        );
        let oracle = Sql::insert_rows(Dialect::Oracle, "t", &["id", "name"], &rows);
        assert_eq!(
            oracle.text(),
            "INSERT ALL INTO t (id, name) VALUES (:1, :2) INTO t (id, name) VALUES (:3, :4) SELECT 1 FROM DUAL"
        );
        assert_eq!(oracle.params().len(), 4);
    }

    #[test]
    fn contract_relations_are_qualified_by_the_tenants_schema() {
        let mut oracle = Sql::in_schema(Dialect::Oracle, Some("ERP_CONTRACT".into()));
        oracle
            .push("SELECT id FROM ")
            .rel("invoices")
            .push(" WHERE id = ")
            .bind(1);
        assert_eq!(
            oracle.text(),
            "SELECT id FROM ERP_CONTRACT.invoices WHERE id = :1"
        );
        let insert = oracle
            .sibling()
            .inserting("payments", &["id"], &[vec![Value::Int(1)]]);
        assert_eq!(
            insert.text(),
            "INSERT ALL INTO ERP_CONTRACT.payments (id) VALUES (:1) SELECT 1 FROM DUAL"
        );
        let mut own = Sql::in_schema(Dialect::Postgres, None);
        own.push("SELECT id FROM ").rel("invoices");
        assert_eq!(own.text(), "SELECT id FROM invoices");
    }

    #[test]
    fn procedure_calls_per_dialect() {
        let args = || vec![Value::Int(7), Value::Int(1250), Value::from("card")];
        let mut oracle = Sql::in_schema(Dialect::Oracle, Some("ERP_CONTRACT".into()));
        oracle.call_function("tenantql_record_payment", args());
        assert_eq!(
            oracle.text(),
            "BEGIN :out_id := ERP_CONTRACT.tenantql_record_payment(:1, :2, :3); END;"
        );
        assert_eq!(oracle.params().len(), 3);
        let mut postgres = Sql::in_schema(Dialect::Postgres, Some("erp_contract".into()));
        postgres.call_function("tenantql_record_payment", args());
        assert_eq!(
            postgres.text(),
            "SELECT erp_contract.tenantql_record_payment($1, $2, $3)"
        );
    }

    #[test]
    fn row_limits_and_months() {
        let mut oracle = Sql::new(Dialect::Oracle);
        oracle
            .push("SELECT id FROM invoices ORDER BY issue_date DESC, id DESC")
            .limit(101);
        assert_eq!(
            oracle.text(),
            "SELECT id FROM invoices ORDER BY issue_date DESC, id DESC FETCH FIRST 101 ROWS ONLY"
        );
        let mut sqlite = Sql::new(Dialect::Sqlite);
        sqlite.push("SELECT id FROM invoices").limit(5);
        assert_eq!(sqlite.text(), "SELECT id FROM invoices LIMIT 5");
        assert_eq!(
            Dialect::Oracle.month_of("issue_date"),
            "TO_CHAR(issue_date, 'YYYY-MM')"
        );
        assert_eq!(
            Dialect::Sqlite.month_of("issue_date"),
            "substr(issue_date, 1, 7)"
        );
    }
}
