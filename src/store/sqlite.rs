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
//! invoices) still runs on the calling thread, but on a stack of its own
//! (`PausingRead`), so that it can stop between steps of the statement when the
//! fair share says so (`super::pause`) and go on at a later poll, on whichever
//! thread polls it. Run straight through, a request of a lighter tenant would
//! wait for the whole statement; run on a thread of its own, each read cost
//! about a dozen thread switches (an eighth of a dashboard's CPU when measured).
use std::{
    collections::HashSet,
    hash::{DefaultHasher, Hash, Hasher},
    path::Path,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use corosensei::{stack::DefaultStack, Coroutine, CoroutineResult, Yielder};
use rusqlite::{types::ValueRef, ErrorCode, OpenFlags};

use super::{Pauses, Row, Sql, StoreError, Value};

/// How long a statement waits for another session's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept per session: every statement the API runs, with room.
const STATEMENT_CACHE: usize = 256;
/// A read that takes this long straight through (twice in a row, `LongReads`)
/// runs as a `PausingRead`. A lighter tenant's request waits at most about this
/// long behind a read run straight through.
const LONG_READ: Duration = Duration::from_micros(500);
/// SQLite virtual-machine instructions between two checkpoints of a long read:
/// a few microseconds of work.
const CHECK_EVERY: std::ffi::c_int = 1000;
/// The stack a long read computes on: as large as a runtime worker's. Only the
/// pages it touches take memory.
const READ_STACK: usize = 2 << 20;
/// Stacks kept for the next long reads (each was mapped once, its pages already
/// faulted in): about as many as run at once on a busy server.
const SPARE_STACKS: usize = 16;

pub struct SqliteSession {
    /// `None` only while a blocking call holds it, or after such a call was
    /// abandoned mid-way (the session is then unhealthy and dropped).
    conn: Option<rusqlite::Connection>,
    /// Boxed: a session is one variant of `super::Connection`, kept small.
    long_reads: Box<LongReads>,
}

/// Which reads run as a `PausingRead`, by a hash of their text (a collision
/// only moves a read to the other path). A read goes there once it took
/// `LONG_READ` or more straight through twice in a row: a first run can be slow
/// for reasons of its own (preparing the statement, a cold page cache), and a
/// run that the kernel preempted takes longer than it computed. It comes back
/// once it computes less than half of that while pausing. Both sets are
/// bounded by `STATEMENT_CACHE`.
#[derive(Default)]
struct LongReads {
    /// Reads that took `LONG_READ` straight through once, the last time they ran.
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

    fn ran_pausing(&mut self, sql: &Sql, computed: Duration) {
        if computed < LONG_READ / 2 {
            self.long.remove(&text_key(sql));
        }
    }
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

/// How a paused read is resumed: on, or stopped (its future was dropped).
enum Resume {
    Go,
    Cancel,
}

/// A read's statement computing on a stack of its own. It owns the session's
/// connection while it runs and puts it back when it ends; dropped half-way, it
/// stops the statement (SQLite's interrupt) and puts it back then, whole.
struct PausingRead<'s> {
    slot: &'s mut Option<rusqlite::Connection>,
    coroutine: Option<ReadCoroutine>,
}

type ReadCoroutine = SendCoroutine<Coroutine<Resume, (), ReadEnd, DefaultStack>>;
type ReadEnd = (rusqlite::Connection, rusqlite::Result<Vec<Row>>);

/// A coroutine that may be resumed on another thread than the one it paused on.
struct SendCoroutine<C>(C);

// SAFETY: a coroutine may move between threads if nothing on its stack is tied
// to the thread it paused on. A read's stack holds, while paused: the connection
// (`Send`) and what rusqlite and SQLite borrowed from it for the statement,
// reached by nothing else, so they move with their owner; and the checkpoint
// handler's frame, which holds the address of this stack's own yielder. It
// pauses only in SQLite's progress handler, between two instructions of
// SQLite's virtual machine, where SQLite holds none of its mutexes (the
// connection has none: `SQLITE_OPEN_NO_MUTEX`), and no code on the stack holds
// a thread-local across the pause.
unsafe impl<C> Send for SendCoroutine<C> {}

/// The yielder of the read's own stack, for SQLite's progress handler.
struct Checkpoints(*const Yielder<Resume, ()>);

// SAFETY: the handler runs only on the read's stack, while the coroutine whose
// yielder this points to runs; it is removed before that coroutine returns.
unsafe impl Send for Checkpoints {}

impl Checkpoints {
    /// Pauses the read; whether to stop its statement when it is resumed.
    fn reached(&self) -> bool {
        // SAFETY: see the `Send` implementation: the yielder is alive.
        let resumed = unsafe { (*self.0).suspend(()) };
        matches!(resumed, Resume::Cancel)
    }
}

/// Stacks of finished reads, for the next ones.
static STACKS: Mutex<Vec<DefaultStack>> = Mutex::new(Vec::new());

fn stack() -> Result<DefaultStack, StoreError> {
    let spare = STACKS.lock().unwrap_or_else(PoisonError::into_inner).pop();
    match spare {
        Some(stack) => Ok(stack),
        None => DefaultStack::new(READ_STACK)
            .map_err(|e| StoreError::Query(format!("a long read's stack: {e}"))),
    }
}

impl<'s> PausingRead<'s> {
    fn start(
        slot: &'s mut Option<rusqlite::Connection>,
        conn: rusqlite::Connection,
        sql: Sql,
        stack: DefaultStack,
    ) -> Self {
        // Resumed with `Cancel` before it ever ran (its read was dropped), it
        // stops at its statement's first checkpoint like a paused one.
        let coroutine =
            Coroutine::with_stack(stack, move |yielder: &Yielder<Resume, ()>, _first| {
                let mut conn = conn;
                let checkpoints = Checkpoints(yielder);
                conn.progress_handler(CHECK_EVERY, Some(move || checkpoints.reached()));
                let fetched = fetch(&mut conn, &sql);
                conn.progress_handler(0, None::<fn() -> bool>);
                (conn, fetched)
            });
        PausingRead {
            slot,
            coroutine: Some(SendCoroutine(coroutine)),
        }
    }

    /// Computes until the next checkpoint (`None`) or the end (its rows).
    fn resume(&mut self, how: Resume) -> Option<rusqlite::Result<Vec<Row>>> {
        let coroutine = &mut self.coroutine.as_mut()?.0;
        match coroutine.resume(how) {
            CoroutineResult::Yield(()) => None,
            CoroutineResult::Return((conn, fetched)) => {
                *self.slot = Some(conn);
                if let Some(done) = self.coroutine.take() {
                    let mut spare = STACKS.lock().unwrap_or_else(PoisonError::into_inner);
                    if spare.len() < SPARE_STACKS {
                        spare.push(done.0.into_stack());
                    }
                }
                Some(fetched)
            }
        }
    }
}

impl Drop for PausingRead<'_> {
    fn drop(&mut self) {
        // A coroutine that panicked is done (its connection went with it): only
        // a paused one is resumed, to stop its statement.
        while self.coroutine.as_ref().is_some_and(|c| !c.0.done()) {
            self.resume(Resume::Cancel);
        }
    }
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

    /// Runs a read on the calling thread: straight through, or, if it was found
    /// long and runs in a shared operation, pausing when `pauses` says so.
    pub async fn query(&mut self, sql: &Sql, pauses: &dyn Pauses) -> Result<Vec<Row>, StoreError> {
        let fetched = if self.long_reads.holds(sql) && pauses.can_pause() {
            let (fetched, computed) = self.pausing_read(sql, pauses).await?;
            self.long_reads.ran_pausing(sql, computed);
            fetched
        } else {
            let started = Instant::now();
            let fetched = fetch(self.conn()?, sql);
            self.long_reads.ran_inline(sql, started.elapsed());
            fetched
        };
        match fetched {
            Err(e) if is_busy(&e) => {
                let sql = sql.clone();
                self.blocking(move |conn| fetch(conn, &sql)).await
            }
            done => done.map_err(map_error),
        }
    }

    /// A long read on a stack of its own: at each checkpoint it asks `pauses`,
    /// and pausing, this future returns `Pending` with the statement half-way.
    /// Also returns how long the read computed.
    async fn pausing_read(
        &mut self,
        sql: &Sql,
        pauses: &dyn Pauses,
    ) -> Result<(rusqlite::Result<Vec<Row>>, Duration), StoreError> {
        let stack = stack()?;
        let conn = self.conn.take().ok_or_else(abandoned)?;
        let mut read = PausingRead::start(&mut self.conn, conn, sql.clone(), stack);
        let mut computed = Duration::ZERO;
        let mut started = Instant::now();
        loop {
            match read.resume(Resume::Go) {
                Some(fetched) => return Ok((fetched, computed + started.elapsed())),
                None if pauses.should_pause() => {
                    computed += started.elapsed();
                    tokio::task::yield_now().await;
                    started = Instant::now();
                }
                None => {}
            }
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
    use crate::store::{Dialect, NoPauses};
    use std::future::Future;
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
        let rows = reader.query(&select, &NoPauses).await.unwrap();
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
        let rows_during_write = reader.query(&select, &NoPauses).await.unwrap();
        assert_eq!(rows_during_write.len(), 2, "WAL readers never wait");
        writer
            .execute(&Sql::raw(Dialect::Sqlite, "COMMIT"))
            .await
            .unwrap();

        let err = reader
            .query(&Sql::raw(Dialect::Sqlite, "SELECT nope FROM t"), &NoPauses)
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
    fn a_read_is_long_after_two_long_runs_in_a_row_and_short_again_when_it_computes_little() {
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
        reads.ran_pausing(&sql, LONG_READ);
        assert!(reads.holds(&sql), "still long while pausing");
        reads.ran_pausing(&sql, LONG_READ / 4);
        assert!(
            !reads.holds(&sql),
            "computed little while pausing: straight through again"
        );
    }

    /// Pauses every `every`-th checkpoint it is asked at, and counts.
    struct CountingPauses {
        every: usize,
        asked: AtomicUsize,
        paused: AtomicUsize,
    }

    impl CountingPauses {
        fn every(every: usize) -> Self {
            CountingPauses {
                every,
                asked: AtomicUsize::new(0),
                paused: AtomicUsize::new(0),
            }
        }
    }

    impl Pauses for CountingPauses {
        fn can_pause(&self) -> bool {
            true
        }
        fn should_pause(&self) -> bool {
            let asked = self.asked.fetch_add(1, Ordering::Relaxed) + 1;
            let pause = asked % self.every == 0;
            if pause {
                self.paused.fetch_add(1, Ordering::Relaxed);
            }
            pause
        }
    }

    /// Hundreds of thousands of VM steps: far longer than LONG_READ anywhere.
    fn long_read() -> (Sql, Vec<Row>) {
        let sql = Sql::raw(
            Dialect::Sqlite,
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) \
             SELECT count(*), sum(x) FROM c",
        );
        (
            sql,
            vec![Row(vec![Value::Int(300_000), Value::Int(45_000_150_000)])],
        )
    }

    /// A session that has learnt that `long_read()` is long.
    async fn session_knowing_the_long_read(name: &str) -> SqliteSession {
        let path = temp_store(name);
        drop(SqliteSession::create(&path).await.unwrap());
        let mut session = SqliteSession::open(&path).await.unwrap();
        let (long, expected) = long_read();
        let never = CountingPauses::every(usize::MAX);
        for _ in 0..2 {
            assert_eq!(session.query(&long, &never).await.unwrap(), expected);
        }
        assert_eq!(
            never.asked.load(Ordering::Relaxed),
            0,
            "straight through while learning"
        );
        session
    }

    #[tokio::test]
    async fn a_long_read_pauses_at_its_checkpoints_and_gives_the_same_rows() {
        let mut session = session_knowing_the_long_read("long-read").await;
        let (long, expected) = long_read();
        let pauses = CountingPauses::every(3);
        assert_eq!(session.query(&long, &pauses).await.unwrap(), expected);
        assert!(pauses.asked.load(Ordering::Relaxed) > 30);
        assert!(pauses.paused.load(Ordering::Relaxed) > 10);
        // Outside a shared operation the same read runs straight through, and
        // the session is whole afterwards.
        assert_eq!(session.query(&long, &NoPauses).await.unwrap(), expected);
        assert!(session.is_healthy().await);
    }

    /// Polls `future` until it first returns `Pending` (a pause).
    fn poll_to_a_pause<F: Future>(future: &mut std::pin::Pin<Box<F>>) {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(future.as_mut().poll(&mut cx).is_pending(), "paused");
    }

    #[tokio::test]
    async fn a_long_read_dropped_while_paused_stops_and_keeps_its_session() {
        let mut session = session_knowing_the_long_read("long-read-dropped").await;
        let (long, expected) = long_read();
        let pauses = CountingPauses::every(1);
        let mut read = Box::pin(session.query(&long, &pauses));
        poll_to_a_pause(&mut read);
        drop(read);
        assert!(session.is_healthy().await, "the connection came back");
        assert_eq!(session.query(&long, &NoPauses).await.unwrap(), expected);
    }

    #[tokio::test]
    async fn a_paused_read_goes_on_on_another_thread() {
        static PAUSES: std::sync::LazyLock<CountingPauses> =
            std::sync::LazyLock::new(|| CountingPauses::every(2));
        let mut session = session_knowing_the_long_read("long-read-moved").await;
        let (long, expected) = long_read();
        let mut read = Box::pin(async move {
            let rows = session.query(&long, &*PAUSES).await;
            (rows, session.is_healthy().await)
        });
        poll_to_a_pause(&mut read);
        let paused_here = std::thread::current().id();
        let (rows, healthy, there) = std::thread::spawn(move || {
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            let (rows, healthy) = loop {
                if let std::task::Poll::Ready(done) = read.as_mut().poll(&mut cx) {
                    break done;
                }
            };
            (rows, healthy, std::thread::current().id())
        })
        .join()
        .unwrap();
        assert_ne!(there, paused_here);
        assert_eq!(rows.unwrap(), expected);
        assert!(healthy);
        assert!(PAUSES.paused.load(Ordering::Relaxed) > 10);
    }
}
