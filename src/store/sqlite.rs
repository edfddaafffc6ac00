//! The embedded SQLite backend (demo, development, tests), through sqlx.
//!
//! A tenant's store is one file. Sessions open it read-write without creating it:
//! a missing file is an unavailable tenant, not an empty one.
use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteRow},
    ConnectOptions, Row as _, SqliteConnection, TypeInfo, ValueRef,
};

use super::{Row, Sql, StoreError, Value};

pub struct SqliteSession {
    conn: SqliteConnection,
}

fn options(path: &str) -> Result<SqliteConnectOptions, StoreError> {
    let options = if path.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(path)
            .map_err(|e| StoreError::unavailable("the store's location is invalid", e))?
    } else {
        SqliteConnectOptions::new().filename(Path::new(path))
    };
    Ok(options
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(5))
        .statement_cache_capacity(256)
        // sqlx hands rows from its worker thread through a channel; a page (101
        // rows) must fit, or every page costs extra thread switches.
        .row_buffer_size(1024)
        .disable_statement_logging())
}

impl SqliteSession {
    pub async fn open(path: &str) -> Result<Self, StoreError> {
        let conn = options(path)?
            .connect()
            .await
            .map_err(|e| StoreError::unavailable("the tenant's store cannot be opened", e))?;
        Ok(SqliteSession { conn })
    }

    /// Opens (creating if needed) for writing: used by the demo seeder.
    pub async fn create(path: &str) -> Result<Self, StoreError> {
        if let Some(parent) = Path::new(path).parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::unavailable("the store's directory cannot be created", e)
            })?;
        }
        let conn = options(path)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .connect()
            .await
            .map_err(|e| StoreError::unavailable("the tenant's store cannot be created", e))?;
        Ok(SqliteSession { conn })
    }

    pub async fn query(&mut self, sql: &Sql) -> Result<Vec<Row>, StoreError> {
        let rows = bind_all(sql)
            .fetch_all(&mut self.conn)
            .await
            .map_err(map_error)?;
        rows.iter().map(convert_row).collect()
    }

    /// Runs a statement that returns no rows (seed data).
    pub async fn execute(&mut self, sql: &Sql) -> Result<u64, StoreError> {
        Ok(bind_all(sql)
            .execute(&mut self.conn)
            .await
            .map_err(map_error)?
            .rows_affected())
    }

    pub async fn execute_script(&mut self, script: &str) -> Result<(), StoreError> {
        sqlx::raw_sql(script)
            .execute(&mut self.conn)
            .await
            .map_err(map_error)?;
        Ok(())
    }

    /// A file session has no link to break; a failed statement reports itself.
    /// Skipping a ping here saves a hop to sqlx's worker thread on every borrow.
    pub async fn is_healthy(&mut self) -> bool {
        true
    }
}

type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

fn bind_all(sql: &Sql) -> SqliteQuery<'_> {
    sql.params()
        .iter()
        .fold(sqlx::query(sql.text()), |query, param| match param {
            Value::Null => query.bind(None::<i64>),
            Value::Int(v) => query.bind(*v),
            Value::Text(t) => query.bind(t.as_str()),
            Value::Date(d) => query.bind(d.to_string()),
        })
}

fn map_error(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Io(e) => StoreError::unavailable("the tenant's store cannot be read", e),
        sqlx::Error::PoolTimedOut => StoreError::Timeout {
            detail: err.to_string(),
        },
        other => StoreError::Query(other.to_string()),
    }
}

fn convert_row(row: &SqliteRow) -> Result<Row, StoreError> {
    let mut values = Vec::with_capacity(row.columns().len());
    for (i, _) in row.columns().iter().enumerate() {
        let raw = row
            .try_get_raw(i)
            .map_err(|e| StoreError::Mapping(e.to_string()))?;
        let value = if raw.is_null() {
            Value::Null
        } else {
            match raw.type_info().name() {
                "INTEGER" | "BOOLEAN" => Value::Int(
                    row.try_get::<i64, _>(i)
                        .map_err(|e| StoreError::Mapping(e.to_string()))?,
                ),
                "REAL" => {
                    let f: f64 = row
                        .try_get(i)
                        .map_err(|e| StoreError::Mapping(e.to_string()))?;
                    Value::Text(f.to_string())
                }
                _ => Value::Text(
                    row.try_get::<String, _>(i)
                        .map_err(|e| StoreError::Mapping(e.to_string()))?,
                ),
            }
        };
        values.push(value);
    }
    Ok(Row(values))
}
