//! The embedded SQLite backend (demo, development, tests), through rusqlite.
//!
//! A tenant's store is one file. Sessions open it read-write without creating it:
//! a missing file is an unavailable tenant, not an empty one.
//!
//! Reads run on the calling thread with cached prepared statements: a read of a
//! local file in WAL mode never waits for a lock and takes less time than a
//! hand-off to another thread would cost (sqlx's worker thread per connection
//! was 12% of the invoice page's CPU). Anything that can wait for the write
//! lock — transactions, writes, scripts, a read that found the file busy — runs
//! on tokio's blocking pool instead, so a waiting writer never stalls the
//! runtime's threads (the writer it waits for may be a task on them).
use std::{path::Path, time::Duration};

use rusqlite::{types::ValueRef, ErrorCode, OpenFlags};

use super::{Row, Sql, StoreError, Value};

/// How long a statement waits for another session's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept per session: every statement the API runs, with room.
const STATEMENT_CACHE: usize = 256;

pub struct SqliteSession {
    /// `None` only while a blocking call holds it, or after such a call was
    /// abandoned mid-way (the session is then unhealthy and dropped).
    conn: Option<rusqlite::Connection>,
}

/// The file a location names: a plain path, or an sqlx-style `sqlite:` URL.
fn file_of(location: &str) -> &str {
    let path = location
        .strip_prefix("sqlite://")
        .or_else(|| location.strip_prefix("sqlite:"))
        .unwrap_or(location);
    path.split_once('?').map_or(path, |(file, _)| file)
}

fn connect(location: &str, flags: OpenFlags) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open_with_flags(file_of(location), flags)
        .map_err(|e| StoreError::unavailable("the tenant's store cannot be opened", e))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Reads on the calling thread must never sleep in SQLite's busy handler;
    // the blocking path sets the real timeout for the duration of its call.
    conn.busy_timeout(Duration::ZERO).map_err(map_error)?;
    Ok(conn)
}

/// A session whose blocking call was dropped before it returned the connection.
fn abandoned() -> StoreError {
    StoreError::Query("the session was abandoned mid-call".into())
}

impl SqliteSession {
    pub async fn open(path: &str) -> Result<Self, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = connect(path, flags)?;
        Ok(SqliteSession { conn: Some(conn) })
    }

    /// Opens (creating if needed, in WAL mode) for writing: used by the demo seeder.
    pub async fn create(path: &str) -> Result<Self, StoreError> {
        let file = file_of(path);
        if let Some(parent) = Path::new(file).parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::unavailable("the store's directory cannot be created", e)
            })?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = connect(file, flags)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| StoreError::unavailable("the tenant's store cannot be created", e))?;
        Ok(SqliteSession { conn: Some(conn) })
    }

    fn conn(&mut self) -> Result<&mut rusqlite::Connection, StoreError> {
        self.conn.as_mut().ok_or_else(abandoned)
    }

    pub async fn query(&mut self, sql: &Sql) -> Result<Vec<Row>, StoreError> {
        match fetch(self.conn()?, sql) {
            Err(e) if is_busy(&e) => {
                let sql = sql.clone();
                self.blocking(move |conn| fetch(conn, &sql)).await
            }
            done => done.map_err(map_error),
        }
    }

    /// Runs a statement that returns no rows (writes, transaction control).
    pub async fn execute(&mut self, sql: &Sql) -> Result<u64, StoreError> {
        let sql = sql.clone();
        self.blocking(move |conn| {
            let mut statement = conn.prepare_cached(sql.text())?;
            bind_all(&mut statement, &sql)?;
            statement.raw_execute().map(|n| n as u64)
        })
        .await
    }

    pub async fn execute_script(&mut self, script: &str) -> Result<(), StoreError> {
        let script = script.to_string();
        self.blocking(move |conn| conn.execute_batch(&script)).await
    }

    /// A file session has no link to break; a failed statement reports itself.
    /// A session whose blocking call was abandoned is gone.
    pub async fn is_healthy(&mut self) -> bool {
        self.conn.is_some()
    }

    /// Runs `work` on the blocking pool with the real busy timeout. The
    /// connection travels with it and comes back; if this future is dropped
    /// first, the session stays empty and is discarded.
    async fn blocking<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.take().ok_or_else(abandoned)?;
        let (conn, result, reset) = tokio::task::spawn_blocking(move || {
            let result = conn
                .busy_timeout(BUSY_TIMEOUT)
                .and_then(|()| work(&mut conn));
            // Back to no waiting whatever the outcome: the next read runs inline.
            let reset = conn.busy_timeout(Duration::ZERO);
            (conn, result, reset)
        })
        .await
        .map_err(|e| StoreError::Query(format!("the store call did not finish: {e}")))?;
        match reset {
            // A session that could still sleep in its busy handler is not reused.
            Err(e) => Err(map_error(e)),
            Ok(()) => {
                self.conn = Some(conn);
                result.map_err(map_error)
            }
        }
    }
}

fn bind_all(statement: &mut rusqlite::Statement<'_>, sql: &Sql) -> rusqlite::Result<()> {
    for (i, param) in sql.params().iter().enumerate() {
        let index = i + 1;
        match param {
            Value::Null => statement.raw_bind_parameter(index, rusqlite::types::Null)?,
            Value::Int(v) => statement.raw_bind_parameter(index, v)?,
            Value::Text(t) => statement.raw_bind_parameter(index, t.as_str())?,
            Value::Date(d) => statement.raw_bind_parameter(index, d.to_string())?,
        }
    }
    Ok(())
}

fn fetch(conn: &mut rusqlite::Connection, sql: &Sql) -> rusqlite::Result<Vec<Row>> {
    let mut statement = conn.prepare_cached(sql.text())?;
    bind_all(&mut statement, sql)?;
    let columns = statement.column_count();
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(columns);
        for i in 0..columns {
            values.push(match row.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(v) => Value::Int(v),
                ValueRef::Real(f) => Value::Text(f.to_string()),
                ValueRef::Text(bytes) | ValueRef::Blob(bytes) => Value::Text(
                    std::str::from_utf8(bytes)
                        .map_err(rusqlite::Error::Utf8Error)?
                        .to_string(),
                ),
            });
        }
        out.push(Row(values));
    }
    Ok(out)
}

fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

fn map_error(err: rusqlite::Error) -> StoreError {
    match err.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Timeout {
            detail: err.to_string(),
        },
        Some(
            ErrorCode::CannotOpen
            | ErrorCode::NotADatabase
            | ErrorCode::DatabaseCorrupt
            | ErrorCode::SystemIoFailure
            | ErrorCode::PermissionDenied,
        ) => StoreError::unavailable("the tenant's store cannot be read", err),
        Some(ErrorCode::ConstraintViolation) if matches!(&err, rusqlite::Error::SqliteFailure(e, _) if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => {
            StoreError::Duplicate(err.to_string())
        }
        _ => match err {
            rusqlite::Error::SqliteFailure(_, Some(ref message))
                if message.starts_with("no such table: ")
                    || message.starts_with("no such column: ") =>
            {
                StoreError::Contract {
                    object: super::error::named_object(message),
                    detail: message.clone(),
                }
            }
            rusqlite::Error::Utf8Error(_)
            | rusqlite::Error::InvalidColumnIndex(_)
            | rusqlite::Error::InvalidColumnType(..) => StoreError::Mapping(err.to_string()),
            other => StoreError::Query(other.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Dialect;

    fn temp_store(name: &str) -> String {
        let dir =
            std::env::temp_dir().join(format!("tenantql-sqlite-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("store.db").to_string_lossy().into_owned()
    }

    #[test]
    fn locations_name_their_file() {
        assert_eq!(file_of("/data/t1.db"), "/data/t1.db");
        assert_eq!(file_of("sqlite:///data/t1.db?mode=rw"), "/data/t1.db");
        assert_eq!(file_of("sqlite:t1.db"), "t1.db");
    }

    #[tokio::test]
    async fn a_missing_file_is_unavailable_not_empty() {
        let path = temp_store("missing");
        let err = SqliteSession::open(&path).await.err().expect("must fail");
        assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
        assert!(!Path::new(&path).exists());
    }

    #[tokio::test]
    async fn values_round_trip_and_reads_do_not_wait_for_a_writer() {
        let path = temp_store("round-trip");
        let mut writer = SqliteSession::create(&path).await.unwrap();
        writer
            .execute_script("CREATE TABLE t (id INTEGER, name TEXT, day TEXT, ratio REAL)")
            .await
            .unwrap();
        let mut insert = Sql::new(Dialect::Sqlite);
        insert
            .push("INSERT INTO t VALUES (")
            .bind(7)
            .push(", ")
            .bind("é")
            .push(", ")
            .bind(chrono::NaiveDate::from_ymd_opt(2026, 2, 3).unwrap())
            .push(", 0.5), (8, NULL, NULL, NULL)");
        assert_eq!(writer.execute(&insert).await.unwrap(), 2);

        let mut reader = SqliteSession::open(&path).await.unwrap();
        let select = Sql::raw(
            Dialect::Sqlite,
            "SELECT id, name, day, ratio FROM t ORDER BY id",
        );
        let rows = reader.query(&select).await.unwrap();
        assert_eq!(
            rows,
            vec![
                Row(vec![
                    Value::Int(7),
                    Value::Text("é".into()),
                    Value::Text("2026-02-03".into()),
                    Value::Text("0.5".into())
                ]),
                Row(vec![Value::Int(8), Value::Null, Value::Null, Value::Null]),
            ]
        );

        // A writer holding the lock does not hold up a reader (WAL).
        writer
            .execute(&Sql::raw(Dialect::Sqlite, "BEGIN IMMEDIATE"))
            .await
            .unwrap();
        let rows_during_write = reader.query(&select).await.unwrap();
        assert_eq!(rows_during_write.len(), 2, "WAL readers never wait");
        writer
            .execute(&Sql::raw(Dialect::Sqlite, "COMMIT"))
            .await
            .unwrap();

        let err = reader
            .query(&Sql::raw(Dialect::Sqlite, "SELECT nope FROM t"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Contract { object, .. } if object == "no such column: nope"),
            "{err:?}"
        );
        assert!(reader.is_healthy().await);

        // A failed write still puts the session back with no busy wait: a read
        // while another session holds the write lock of a rollback-journal
        // store then fails over to the blocking path instead of sleeping here.
        let err = writer
            .execute(&Sql::raw(Dialect::Sqlite, "INSERT INTO missing VALUES (1)"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Contract { .. }), "{err:?}");
        assert!(writer.is_healthy().await);
        let busy_ms: i64 = writer
            .conn()
            .unwrap()
            .query_row("PRAGMA busy_timeout", [], |row| row.get(0))
            .unwrap();
        assert_eq!(busy_ms, 0);
    }
}
