//! Tenant data stores: the SQL each query needs, rendered per dialect, and the
//! backends that run it (Oracle and PostgreSQL in production, embedded SQLite for
//! demo and tests).
//!
//! Query logic is written once against `Sql`; a `Dialect` renders placeholders,
//! row limits and IN-lists, and a `Connection` runs the statement and hands back
//! rows of `Value`s. Money travels as integer minor units (cents), so sums are exact
//! in every backend.
pub mod dialect;
pub mod error;
pub mod oracle;
pub mod pause;
pub mod postgres;
pub mod sql;
pub mod sqlite;
pub mod value;

pub use dialect::Dialect;
pub use error::{Refusal, StoreError};
pub use pause::{NoPauses, Pauses};
pub use sql::Sql;
pub use value::{Row, Value};

/// One open session to a tenant's database.
pub enum Connection {
    Sqlite(sqlite::SqliteSession),
    Oracle(oracle::OracleSession),
    Postgres(postgres::PostgresSession),
}

impl Connection {
    pub fn dialect(&self) -> Dialect {
        match self {
            Connection::Sqlite(_) => Dialect::Sqlite,
            Connection::Oracle(_) => Dialect::Oracle,
            Connection::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs one statement and returns its rows: one database round trip.
    /// `request_id` tags the session (Oracle `CLIENT_IDENTIFIER`) for the DBA.
    pub async fn query(&mut self, sql: &Sql, request_id: &str) -> Result<Vec<Row>, StoreError> {
        self.query_pausing(sql, request_id, &NoPauses).await
    }

    /// `query` for an operation that shares the CPU: an embedded store may
    /// pause a long statement between its steps when `pauses` says so.
    pub async fn query_pausing(
        &mut self,
        sql: &Sql,
        request_id: &str,
        pauses: &dyn Pauses,
    ) -> Result<Vec<Row>, StoreError> {
        match self {
            Connection::Sqlite(session) => session.query(sql, pauses).await,
            Connection::Oracle(session) => session.query(sql, request_id).await,
            Connection::Postgres(session) => session.query(sql).await,
        }
    }

    /// Starts a write transaction (Oracle sessions are always in one). SQLite's
    /// takes the write lock at once, so a read-then-write never fails halfway
    /// with "database is locked"; PostgreSQL's rows are locked by the statements.
    pub async fn begin(&mut self) -> Result<(), StoreError> {
        match self {
            Connection::Sqlite(session) => session
                .execute(&Sql::raw(Dialect::Sqlite, "BEGIN IMMEDIATE"))
                .await
                .map(drop),
            Connection::Oracle(_) => Ok(()),
            Connection::Postgres(session) => session
                .execute(&Sql::raw(Dialect::Postgres, "BEGIN"))
                .await
                .map(drop),
        }
    }

    /// Runs a statement that returns no rows, inside the current transaction.
    pub async fn execute(&mut self, sql: &Sql) -> Result<u64, StoreError> {
        match self {
            Connection::Sqlite(session) => session.execute(sql).await,
            Connection::Oracle(session) => session.execute(sql).await,
            Connection::Postgres(session) => session.execute(sql).await,
        }
    }

    /// Runs a statement whose failure the transaction survives: PostgreSQL
    /// aborts the whole transaction on any error, so there it runs under a
    /// savepoint that a failure rolls back to.
    pub async fn try_execute(&mut self, sql: &Sql) -> bool {
        if !matches!(self, Connection::Postgres(_)) {
            return self.execute(sql).await.is_ok();
        }
        let savepoint = |text| Sql::raw(Dialect::Postgres, text);
        if self
            .execute(&savepoint("SAVEPOINT tenantql_optional"))
            .await
            .is_err()
        {
            return false;
        }
        let done = self.execute(sql).await.is_ok();
        let end = if done {
            "RELEASE SAVEPOINT tenantql_optional"
        } else {
            "ROLLBACK TO SAVEPOINT tenantql_optional"
        };
        self.execute(&savepoint(end)).await.is_ok() && done
    }

    /// Calls a client function that returns the id of the row it wrote
    /// (rendered by `Sql::call_function`).
    pub async fn call_returning_id(&mut self, sql: &Sql) -> Result<i64, StoreError> {
        let rows = match self {
            Connection::Oracle(session) => return session.call_returning_id(sql).await,
            Connection::Sqlite(session) => session.query(sql, &NoPauses).await?,
            Connection::Postgres(session) => session.query(sql).await?,
        };
        rows.first()
            .ok_or_else(|| StoreError::Mapping("the function returned no row".into()))?
            .int(0)
    }

    pub async fn commit(&mut self) -> Result<(), StoreError> {
        match self {
            Connection::Sqlite(session) => session
                .execute(&Sql::raw(Dialect::Sqlite, "COMMIT"))
                .await
                .map(drop),
            Connection::Oracle(session) => session.commit().await,
            Connection::Postgres(session) => session.commit().await,
        }
    }

    /// Runs a script of several statements without bind values (schemas).
    pub async fn execute_script(&mut self, script: &str) -> Result<(), StoreError> {
        match self {
            Connection::Sqlite(session) => session.execute_script(script).await,
            Connection::Postgres(session) => session.execute_script(script).await,
            Connection::Oracle(_) => Err(StoreError::Query(
                "scripts run on Oracle through SQL*Plus, not tenantql".into(),
            )),
        }
    }

    /// Whether the session is still usable (checked when it returns to the pool).
    pub async fn is_healthy(&mut self) -> bool {
        match self {
            Connection::Sqlite(session) => session.is_healthy().await,
            Connection::Oracle(session) => session.is_healthy(),
            Connection::Postgres(session) => session.is_healthy(),
        }
    }
}
