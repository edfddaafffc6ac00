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
//!
//! A read found long (`LongReads`: a dashboard's aggregate over a year of
//! invoices) runs on the blocking pool, in its operation's turn (`super::turn`):
//! it computes only while the fair share lets it, and stops between steps of the
//! statement when a tenant well behind it waits. Inline, a request of that
//! tenant would wait for the whole statement.
use std::{
    collections::HashSet,
    hash::{DefaultHasher, Hash, Hasher},
    path::Path,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use rusqlite::{types::ValueRef, ErrorCode, OpenFlags};

use super::{ComputeTurn, ComputeTurns, Row, Sql, StoreError, Value};

/// How long a statement waits for another session's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept per session: every statement the API runs, with room.
const STATEMENT_CACHE: usize = 256;
/// A read that takes this long inline (twice in a row, `LongReads`) runs in its
/// operation's turn. A lighter tenant's request waits at most about this long
/// behind an inline read; a read handed to the blocking pool costs a few tens of
/// microseconds more.
const LONG_READ: Duration = Duration::from_micros(500);
/// SQLite virtual-machine instructions between two checkpoints of a long read:
/// a few microseconds of work.
const CHECK_EVERY: std::ffi::c_int = 1000;

pub struct SqliteSession {
    /// `None` only while a blocking call holds it, or after such a call was
    /// abandoned mid-way (the session is then unhealthy and dropped).
    conn: Option<rusqlite::Connection>,
    /// Boxed: a session is one variant of `super::Connection`, kept small.
    long_reads: Box<LongReads>,
}

/// Which reads run in their operation's turn, by a hash of their text (a
/// collision only moves a read to the other path). A read goes there once it
/// took `LONG_READ` or more inline twice in a row: a first run can be slow for
/// reasons of its own (preparing the statement, a cold page cache), and a run
/// that the kernel preempted takes longer than it computed. It comes back
/// inline once it computes less than half of that in its turn. Both sets are
/// bounded by `STATEMENT_CACHE`.
#[derive(Default)]
struct LongReads {
    /// Reads that took `LONG_READ` inline once, the last time they ran.
    once: HashSet<u64>,
    long: HashSet<u64>,
}

impl LongReads {
    fn holds(&self, sql: &Sql) -> bool {
        !self.long.is_empty() && self.long.contains(&text_key(sql))
    }

    fn ran_inline(&mut self, sql: &Sql, took: Duration) {
        if took < LONG_READ {
            if !self.once.is_empty() {
                self.once.remove(&text_key(sql));
            }
            return;
        }
        let key = text_key(sql);
        if self.once.remove(&key) {
            if self.long.len() < STATEMENT_CACHE {
                self.long.insert(key);
            }
        } else if self.once.len() < STATEMENT_CACHE {
            self.once.insert(key);
        }
    }

    fn ran_in_turn(&mut self, sql: &Sql, computed: Duration) {
        if computed < LONG_READ / 2 {
            self.long.remove(&text_key(sql));
        }
    }
}

/// The turn, shared by the thread's code and SQLite's progress handler (one
/// thread: the lock is never contended).
fn lock(turn: &Mutex<Box<dyn ComputeTurn>>) -> MutexGuard<'_, Box<dyn ComputeTurn>> {
    turn.lock().unwrap_or_else(PoisonError::into_inner)
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
        Ok(SqliteSession::with(conn))
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
        Ok(SqliteSession::with(conn))
    }

    fn with(conn: rusqlite::Connection) -> Self {
        SqliteSession {
            conn: Some(conn),
            long_reads: Box::default(),
        }
    }

    fn conn(&mut self) -> Result<&mut rusqlite::Connection, StoreError> {
        self.conn.as_mut().ok_or_else(abandoned)
    }

    /// Runs a read inline, or, if it was found long and runs in a shared
    /// operation, on the blocking pool in that operation's turn.
    pub async fn query(
        &mut self,
        sql: &Sql,
        turns: &dyn ComputeTurns,
    ) -> Result<Vec<Row>, StoreError> {
        if self.long_reads.holds(sql) {
            if let Some(turn) = turns.turn() {
                return self.long_read(sql, turn).await;
            }
        }
        let started = Instant::now();
        let fetched = fetch(self.conn()?, sql);
        self.long_reads.ran_inline(sql, started.elapsed());
        match fetched {
            Err(e) if is_busy(&e) => {
                let sql = sql.clone();
                self.blocking(move |conn| fetch(conn, &sql)).await
            }
            done => done.map_err(map_error),
        }
    }

    /// A long read on the blocking pool: it computes in `turn`, with a
    /// checkpoint every `CHECK_EVERY` instructions. If it finds the file busy,
    /// it gives the turn back before it waits for the lock.
    async fn long_read(
        &mut self,
        sql: &Sql,
        turn: Box<dyn ComputeTurn>,
    ) -> Result<Vec<Row>, StoreError> {
        let owned = sql.clone();
        let (rows, computed) = self
            .off_thread(Duration::ZERO, move |conn| {
                let turn = Arc::new(Mutex::new(turn));
                let in_handler = turn.clone();
                lock(&turn).begin();
                conn.progress_handler(
                    CHECK_EVERY,
                    Some(move || {
                        lock(&in_handler).checkpoint();
                        false
                    }),
                );
                let fetched = fetch(conn, &owned);
                conn.progress_handler(0, None::<fn() -> bool>);
                let computed = lock(&turn).end();
                match fetched {
                    Err(e) if is_busy(&e) => {
                        conn.busy_timeout(BUSY_TIMEOUT)?;
                        fetch(conn, &owned).map(|rows| (rows, computed))
                    }
                    done => done.map(|rows| (rows, computed)),
                }
            })
            .await?;
        self.long_reads.ran_in_turn(sql, computed);
        Ok(rows)
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

    /// Runs `work` on the blocking pool with the real busy timeout.
    async fn blocking<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.off_thread(BUSY_TIMEOUT, work).await
    }

    /// Runs `work` on the blocking pool, waiting up to `busy_timeout` for
    /// another session's lock. The connection travels with it and comes back;
    /// if this future is dropped first, the session stays empty and is discarded.
    async fn off_thread<T: Send + 'static>(
        &mut self,
        busy_timeout: Duration,
        work: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.take().ok_or_else(abandoned)?;
        let (conn, result, reset) = tokio::task::spawn_blocking(move || {
            let result = conn
                .busy_timeout(busy_timeout)
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

fn text_key(sql: &Sql) -> u64 {
    let mut hasher = DefaultHasher::new();
    sql.text().hash(&mut hasher);
    hasher.finish()
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
    use crate::store::{Dialect, NoTurns};
    use std::sync::atomic::{AtomicUsize, Ordering};

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
        let rows = reader.query(&select, &NoTurns).await.unwrap();
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
        let rows_during_write = reader.query(&select, &NoTurns).await.unwrap();
        assert_eq!(rows_during_write.len(), 2, "WAL readers never wait");
        writer
            .execute(&Sql::raw(Dialect::Sqlite, "COMMIT"))
            .await
            .unwrap();

        let err = reader
            .query(&Sql::raw(Dialect::Sqlite, "SELECT nope FROM t"), &NoTurns)
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

    #[test]
    fn a_read_is_long_after_two_long_runs_in_a_row_and_short_again_when_its_turn_is() {
        let sql = Sql::raw(Dialect::Sqlite, "SELECT 1");
        let other = Sql::raw(Dialect::Sqlite, "SELECT 2");
        let long = LONG_READ * 2;
        let mut reads = LongReads::default();
        reads.ran_inline(&sql, long);
        assert!(
            !reads.holds(&sql),
            "one slow run (a cold first one) is not enough"
        );
        reads.ran_inline(&sql, LONG_READ / 10);
        reads.ran_inline(&sql, long);
        assert!(
            !reads.holds(&sql),
            "a fast run in between starts the count again"
        );
        reads.ran_inline(&sql, long);
        assert!(reads.holds(&sql) && !reads.holds(&other));
        reads.ran_in_turn(&sql, LONG_READ);
        assert!(reads.holds(&sql), "still long in its turn");
        reads.ran_in_turn(&sql, LONG_READ / 4);
        assert!(
            !reads.holds(&sql),
            "computed little in its turn: inline again"
        );
    }

    /// A turn that counts what the store does with it.
    #[derive(Default)]
    struct Counted {
        begun: AtomicUsize,
        checkpoints: AtomicUsize,
        ended: AtomicUsize,
    }

    struct CountingTurns(Arc<Counted>);

    struct CountingTurn(Arc<Counted>);

    impl ComputeTurns for CountingTurns {
        fn turn(&self) -> Option<Box<dyn ComputeTurn>> {
            Some(Box::new(CountingTurn(self.0.clone())))
        }
    }

    impl ComputeTurn for CountingTurn {
        fn begin(&mut self) {
            self.0.begun.fetch_add(1, Ordering::Relaxed);
        }
        fn checkpoint(&mut self) {
            self.0.checkpoints.fetch_add(1, Ordering::Relaxed);
        }
        fn end(&mut self) -> Duration {
            self.0.ended.fetch_add(1, Ordering::Relaxed);
            LONG_READ
        }
    }

    #[tokio::test]
    async fn a_long_read_runs_in_its_turn_with_checkpoints_and_the_same_rows() {
        let path = temp_store("long-read");
        drop(SqliteSession::create(&path).await.unwrap());
        let mut session = SqliteSession::open(&path).await.unwrap();
        // Hundreds of thousands of VM steps: far longer than LONG_READ anywhere.
        let long = Sql::raw(
            Dialect::Sqlite,
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) \
             SELECT count(*), sum(x) FROM c",
        );
        let counted = Arc::new(Counted::default());
        let turns = CountingTurns(counted.clone());
        let expected = vec![Row(vec![Value::Int(300_000), Value::Int(45_000_150_000)])];
        for _ in 0..2 {
            assert_eq!(session.query(&long, &turns).await.unwrap(), expected);
        }
        assert_eq!(
            counted.begun.load(Ordering::Relaxed),
            0,
            "inline while learning"
        );
        assert_eq!(session.query(&long, &turns).await.unwrap(), expected);
        assert_eq!(counted.begun.load(Ordering::Relaxed), 1);
        assert_eq!(counted.ended.load(Ordering::Relaxed), 1);
        assert!(counted.checkpoints.load(Ordering::Relaxed) > 10);
        // Outside a shared operation the same read runs inline, and the session
        // is whole afterwards.
        assert_eq!(session.query(&long, &NoTurns).await.unwrap(), expected);
        assert_eq!(counted.begun.load(Ordering::Relaxed), 1);
        assert!(session.is_healthy().await);
    }
}
