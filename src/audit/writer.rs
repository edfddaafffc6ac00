//! The request-row writer: a bounded queue in front of one task that writes rows
//! in batches.
//!
//! A request only `try_send`s its row: when the queue is full the row is dropped
//! and counted (`tenantql_audit_rows_dropped_total`), the request never waits.
//! A batch that fails to write is retried with backoff before it counts as
//! dropped. `shutdown` closes the queue, writes everything still in it and waits
//! for the task: call it after the server has stopped taking requests.
use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use sea_orm::{DatabaseConnection, TransactionTrait};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use super::{store, AuditEntry};

/// Rows per transaction.
const BATCH_ROWS: usize = 500;
const RETRY_BACKOFF: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(500),
    Duration::from_secs(2),
];
/// How long the writer lets a batch fill once its first row arrived: one
/// transaction per ~100 ms instead of one per request. While it
/// waits it does not poll the queue, so requests do not wake it row by row
/// (measured: writing per arrival cost 15 % of the saturated invoice page).
const LINGER: Duration = Duration::from_millis(100);
/// How often the periodic prune runs when a retention is set.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy)]
pub struct AuditSettings {
    /// Whether request rows are written at all (admin changes always are).
    pub requests: bool,
    pub queue_capacity: usize,
    /// Rows older than this are pruned every hour; `None` keeps everything.
    pub retention: Option<Duration>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            requests: true,
            queue_capacity: crate::config::DEFAULT_AUDIT_QUEUE_CAPACITY,
            retention: None,
        }
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct AuditStats {
    pub accepted: AtomicU64,
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    /// Rows that could not be written whole and were written in minimal form.
    pub minimized: AtomicU64,
}

impl AuditStats {
    pub fn queued(&self) -> u64 {
        let done = self.written.load(Ordering::Relaxed) + self.dropped.load(Ordering::Relaxed);
        self.accepted.load(Ordering::Relaxed).saturating_sub(done)
    }
}

pub struct AuditSink {
    sender: Option<mpsc::Sender<AuditEntry>>,
    stats: Arc<AuditStats>,
    stop: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl AuditSink {
    /// Starts the writer over the control-plane database; `sqlite_file` is that
    /// database's file when it is one, which request rows are then written to
    /// over a connection of the writer's own.
    pub fn start(
        db: DatabaseConnection,
        sqlite_file: Option<PathBuf>,
        settings: AuditSettings,
    ) -> Arc<Self> {
        let stats = Arc::new(AuditStats::default());
        let stop = CancellationToken::new();
        let (sender, receiver) = mpsc::channel(settings.queue_capacity.max(1));
        let rows = match sqlite_file {
            Some(file) => RowWriter::File(FileWriter { file, conn: None }),
            None => RowWriter::Orm(db.clone()),
        };
        let task = tokio::spawn(run(
            db,
            rows,
            receiver,
            stats.clone(),
            stop.clone(),
            settings.retention,
        ));
        Arc::new(AuditSink {
            sender: settings.requests.then_some(sender),
            stats,
            stop,
            task: Mutex::new(Some(task)),
        })
    }

    /// Queues a request row without waiting; a full queue drops it (counted).
    pub fn record(&self, entry: AuditEntry) {
        let Some(sender) = &self.sender else { return };
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        if sender.try_send(entry).is_err() {
            let dropped = self.stats.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // One warning per thousand drops is enough to notice.
            if dropped % 1000 == 1 {
                tracing::warn!(dropped, "audit queue full or closed: request rows dropped");
            }
        }
    }

    pub fn enabled(&self) -> bool {
        self.sender.is_some()
    }

    pub fn stats(&self) -> &AuditStats {
        &self.stats
    }

    /// Writes every queued row and stops the writer. Rows recorded afterwards
    /// are dropped (and counted).
    pub async fn shutdown(&self) {
        self.stop.cancel();
        let task = self.task.lock().expect("audit task lock").take();
        if let Some(task) = task {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "audit writer ended abnormally");
            }
        }
    }
}

impl Drop for AuditSink {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn run(
    db: DatabaseConnection,
    mut rows: RowWriter,
    mut receiver: mpsc::Receiver<AuditEntry>,
    stats: Arc<AuditStats>,
    stop: CancellationToken,
    retention: Option<Duration>,
) {
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    let mut prune_at = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        tokio::select! {
            biased;
            received = receiver.recv_many(&mut batch, BATCH_ROWS) => {
                if received == 0 {
                    break;
                }
                fill(&mut receiver, &mut batch).await;
                batch = write(&mut rows, batch, &stats).await;
            }
            _ = stop.cancelled() => {
                receiver.close();
                while receiver.recv_many(&mut batch, BATCH_ROWS).await > 0 {
                    batch = write(&mut rows, batch, &stats).await;
                }
                break;
            }
            _ = tokio::time::sleep_until(prune_at), if retention.is_some() => {
                prune_at += PRUNE_EVERY;
                if let Some(retention) = retention {
                    prune_older_than(&db, retention).await;
                }
            }
        }
    }
    tracing::debug!(
        written = stats.written.load(Ordering::Relaxed),
        dropped = stats.dropped.load(Ordering::Relaxed),
        "audit writer stopped"
    );
}

/// Completes a batch whose first rows just arrived: unless the queue already holds
/// a full batch (the writer is behind, so no waiting), sleeps out the linger time,
/// then takes what is queued, up to a full batch, without waiting further.
async fn fill(receiver: &mut mpsc::Receiver<AuditEntry>, batch: &mut Vec<AuditEntry>) {
    if receiver.len() + batch.len() < BATCH_ROWS {
        tokio::time::sleep(LINGER).await;
    }
    while batch.len() < BATCH_ROWS {
        match receiver.try_recv() {
            Ok(entry) => batch.push(entry),
            Err(_) => return,
        }
    }
}

/// Where request rows are written.
enum RowWriter {
    /// Through the ORM's pool (a PostgreSQL control plane).
    Orm(DatabaseConnection),
    /// Through rusqlite, when the control plane is a SQLite file: sqlx's worker
    /// thread and its per-value conversions cost more than SQLite's own work
    /// (measured with `perf` under `{ me }` load).
    File(FileWriter),
}

/// The writer's own connection to the control plane's file, opened on first use
/// and again after a failed or abandoned call.
struct FileWriter {
    file: PathBuf,
    conn: Option<rusqlite::Connection>,
}

/// How long a write waits for another connection's lock (the ORM's pool and the
/// CLI write the same file).
const FILE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error(transparent)]
    Orm(#[from] sea_orm::DbErr),
    #[error(transparent)]
    File(#[from] rusqlite::Error),
    #[error("the audit file write did not finish: {0}")]
    Abandoned(#[from] tokio::task::JoinError),
}

impl RowWriter {
    /// Writes `rows` in one transaction and hands them
    /// back for a retry when that fails.
    async fn insert(&mut self, rows: Vec<AuditEntry>) -> (Vec<AuditEntry>, Result<(), WriteError>) {
        match self {
            RowWriter::Orm(db) => {
                let result = insert_orm(db, &rows).await;
                (rows, result)
            }
            RowWriter::File(writer) => writer.insert(rows).await,
        }
    }
}

async fn insert_orm(db: &DatabaseConnection, rows: &[AuditEntry]) -> Result<(), WriteError> {
    let txn = db.begin().await?;
    store::insert_rows(&txn, rows).await?;
    Ok(txn.commit().await?)
}

impl FileWriter {
    /// Runs the write on the blocking pool (SQLite may wait there for the file's
    /// lock); the connection travels with it and comes back unless it failed.
    async fn insert(&mut self, rows: Vec<AuditEntry>) -> (Vec<AuditEntry>, Result<(), WriteError>) {
        let file = self.file.clone();
        let conn = self.conn.take();
        let rows = Arc::new(rows);
        let shared = rows.clone();
        let done = tokio::task::spawn_blocking(move || {
            let mut conn = match conn {
                Some(conn) => conn,
                None => open_file(&file)?,
            };
            // Immediate: the write lock is taken (or waited for) at BEGIN.
            let txn = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            store::insert_rows_file(&txn, &shared)?;
            txn.commit()?;
            Ok::<_, rusqlite::Error>(conn)
        })
        .await;
        let rows = Arc::try_unwrap(rows).unwrap_or_else(|rows| rows.as_ref().clone());
        match done {
            Ok(Ok(conn)) => {
                self.conn = Some(conn);
                (rows, Ok(()))
            }
            Ok(Err(e)) => (rows, Err(e.into())),
            Err(e) => (rows, Err(e.into())),
        }
    }
}

fn open_file(file: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open_with_flags(
        file,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(FILE_BUSY_TIMEOUT)?;
    // In WAL mode, NORMAL syncs at checkpoints, not at every commit: a commit
    // survives the process dying, and a power cut may lose the last ones — as
    // it loses the rows still queued in memory. Admin changes' rows are written
    // on the ORM's connections, with the change, and keep the default.
    let journal: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
    if journal.eq_ignore_ascii_case("wal") {
        conn.pragma_update(None, "synchronous", "NORMAL")?;
    }
    Ok(conn)
}

/// Writes a batch in one transaction. When that fails, one row must not take
/// the others with it: the rows are written one by one, a row that still fails
/// is written in its minimal form (who, what, when, outcome; counted), and only
/// rows that fail even so — the database is away — are retried with backoff,
/// then dropped and counted.
///
/// Hands back an empty buffer for the next batch: the same one after a
/// successful write, so the queue is not drained into a fresh, growing vector
/// every time (measured: its growth and page faults were 1.4% of `{ me }`).
async fn write(
    rows: &mut RowWriter,
    batch: Vec<AuditEntry>,
    stats: &AuditStats,
) -> Vec<AuditEntry> {
    let mut pending = batch;
    let mut attempt = 0;
    loop {
        let count = pending.len() as u64;
        let (mut batch, result) = rows.insert(pending).await;
        let error = match result {
            Ok(()) => {
                stats.written.fetch_add(count, Ordering::Relaxed);
                batch.clear();
                return batch;
            }
            Err(e) => e,
        };
        tracing::warn!(error = %error, rows = count, attempt, "writing audit rows failed; writing them one by one");
        pending = write_one_by_one(rows, batch, stats).await;
        if pending.is_empty() {
            return Vec::with_capacity(BATCH_ROWS);
        }
        if attempt == RETRY_BACKOFF.len() {
            let count = pending.len() as u64;
            tracing::error!(rows = count, "writing audit rows failed; rows dropped");
            stats.dropped.fetch_add(count, Ordering::Relaxed);
            pending.clear();
            return pending;
        }
        tokio::time::sleep(RETRY_BACKOFF[attempt]).await;
        attempt += 1;
    }
}

/// Writes each row on its own; returns the rows still to write. A row that
/// fails in minimal form too means the database is away, not the row: the
/// pass stops there (the rest wait for the next attempt) instead of paying two
/// failing statements for every row of the batch.
async fn write_one_by_one(
    rows: &mut RowWriter,
    batch: Vec<AuditEntry>,
    stats: &AuditStats,
) -> Vec<AuditEntry> {
    let mut batch = batch.into_iter();
    while let Some(row) = batch.next() {
        let (mut row, result) = rows.insert(vec![row]).await;
        if result.is_ok() {
            stats.written.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let Some(row) = row.pop() else {
            // Not reached: a write hands its rows back. Counted if it ever is.
            stats.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let (_, result) = rows.insert(vec![row.minimal()]).await;
        if result.is_err() {
            return std::iter::once(row).chain(batch).collect();
        }
        stats.written.fetch_add(1, Ordering::Relaxed);
        stats.minimized.fetch_add(1, Ordering::Relaxed);
    }
    Vec::new()
}

async fn prune_older_than(db: &DatabaseConnection, retention: Duration) {
    let Ok(retention) = chrono::Duration::from_std(retention) else {
        return;
    };
    match store::prune(db, chrono::Utc::now() - retention).await {
        Ok(0) => {}
        Ok(pruned) => tracing::info!(pruned, "old audit rows pruned"),
        Err(e) => tracing::warn!(error = %e, "pruning audit rows failed"),
    }
}

#[cfg(test)]
mod tests {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::{ConnectionTrait, Database, EntityTrait, QueryOrder};

    use super::*;
    use crate::{audit::Outcome, control::entities::audit_log};

    /// A row with every column set, some beyond their column's bound.
    fn hostile_entry(n: i64) -> AuditEntry {
        let mut entry = AuditEntry::new(
            &crate::audit::Actor {
                user_id: Some(format!("user-{n}")),
                email: Some("ünïcødé@acme.test".into()),
                request_id: Some("r".repeat(100)),
                client_addr: Some("127.0.0.1".into()),
                user_agent: Some("agent\0with nul".into()),
                cli: false,
            },
            crate::audit::Source::Graphql,
            "query",
            Outcome::Error,
        );
        entry.tenant_id = Some("t".into());
        entry.tenant_slug = Some("acme".into());
        entry.target = Some("é".repeat(300));
        entry.operation_type = Some("query".into());
        entry.operation_name = Some("N".repeat(200));
        entry.document_hash = Some("h".into());
        entry.variables = Some(format!(
            "{{\"x\":\"{}\"}}",
            "v".repeat(super::super::store::MAX_JSON_BYTES)
        ));
        entry.error_code = Some("BAD_USER_INPUT".into());
        entry.duration_us = Some(n);
        entry.details = Some(r#"{"k":1}"#.into());
        entry.at = chrono::DateTime::from_timestamp(1_796_000_000 + n, 123_456_789).unwrap();
        entry
    }

    /// The rusqlite writer stores what the ORM's writer stores, byte for byte as
    /// the ORM reads it back — bounds, `at`'s text form and all.
    #[tokio::test]
    async fn the_file_writer_writes_what_the_orm_writer_writes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("control.db");
        let db = Database::connect(format!("sqlite://{}?mode=rwc", file.display()))
            .await
            .unwrap();
        db.execute_unprepared("PRAGMA journal_mode=WAL")
            .await
            .unwrap();
        Migrator::up(&db, None).await.unwrap();
        let entries: Vec<AuditEntry> = (1..=3).map(hostile_entry).collect();
        let mut orm = RowWriter::Orm(db.clone());
        let mut file = RowWriter::File(FileWriter { file, conn: None });
        let (_, written) = orm.insert(entries.clone()).await;
        written.unwrap();
        let (handed_back, written) = file.insert(entries.clone()).await;
        written.unwrap();
        assert_eq!(handed_back, entries);
        let rows = audit_log::Entity::find()
            .order_by_asc(audit_log::Column::Id)
            .all(&db)
            .await
            .unwrap();
        assert_eq!(rows.len(), 6);
        for (by_orm, by_file) in rows[..3].iter().zip(&rows[3..]) {
            assert_eq!(by_orm.target.as_ref().unwrap().chars().count(), 255);
            assert!(by_orm.variables.as_ref().unwrap().contains("truncated"));
            let by_file = AuditEntry {
                id: by_orm.id,
                ..by_file.clone()
            };
            assert_eq!(&by_file, by_orm);
        }
        // `at` sorts and prunes the same whichever writer stored it.
        let cut = entries[1].at;
        let pruned = store::prune(&db, cut).await.unwrap();
        assert_eq!(pruned, 2, "the first entry's row from each writer");
    }

    /// The writer's own connection relaxes syncing only where WAL keeps a
    /// commit safe from a crashed process; a rollback-journal file keeps FULL.
    #[test]
    fn the_file_writer_syncs_at_checkpoints_only_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let synchronous_after_open = |name: &str, journal: &str| -> i64 {
            let file = dir.path().join(name);
            let setup = rusqlite::Connection::open(&file).unwrap();
            setup.pragma_update(None, "journal_mode", journal).unwrap();
            drop(setup);
            let conn = open_file(&file).unwrap();
            conn.pragma_query_value(None, "synchronous", |row| row.get(0))
                .unwrap()
        };
        assert_eq!(synchronous_after_open("wal.db", "WAL"), 1, "NORMAL");
        assert_eq!(synchronous_after_open("delete.db", "DELETE"), 2, "FULL");
    }
}
