//! tenantql's own objects inside a tenant database — the change log, the
//! procedure a client's triggers call, and (for databases tenantql created) id
//! sequences and the triggers on its own tables — as numbered steps per
//! backend (`sql/<backend>/migrations/NNNN_name.sql`). The version each
//! database is at is recorded in it (`tenantql_schema_version`, one row per
//! step); the runner (`admin::rollout`) records it in the control plane too.
//!
//! Every step is idempotent, so a run that failed halfway is simply run again.
//! On SQLite and PostgreSQL a step and its version row commit together; on
//! Oracle DDL commits as it goes, so a step runs block by block and its
//! version row is written last.
use crate::store::{Connection, Dialect, Sql, StoreError};

/// One numbered change to tenantql's objects in a tenant database.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub version: u32,
    pub name: &'static str,
    /// Only for databases whose contract relations are tenantql's own tables
    /// (write mode `tables`, no contract schema); recorded as not applicable elsewhere.
    pub own_tables_only: bool,
    sqlite: &'static str,
    postgres: &'static str,
    oracle: &'static str,
}

impl Step {
    pub fn script(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => self.sqlite,
            Dialect::Postgres => self.postgres,
            Dialect::Oracle => self.oracle,
        }
    }
}

pub const STEPS: &[Step] = &[
    Step {
        version: 1,
        name: "change_log",
        own_tables_only: false,
        sqlite: include_str!("../../sql/sqlite/migrations/0001_change_log.sql"),
        postgres: include_str!("../../sql/postgres/migrations/0001_change_log.sql"),
        oracle: include_str!("../../sql/oracle/migrations/0001_change_log.sql"),
    },
    Step {
        version: 2,
        name: "own_tables",
        own_tables_only: true,
        sqlite: include_str!("../../sql/sqlite/migrations/0002_own_tables.sql"),
        postgres: include_str!("../../sql/postgres/migrations/0002_own_tables.sql"),
        oracle: include_str!("../../sql/oracle/migrations/0002_own_tables.sql"),
    },
];

/// The version every tenant database is migrated to.
pub fn target_version() -> u32 {
    STEPS.last().map(|s| s.version).unwrap_or(0)
}

/// The first version whose change log the watcher can read.
pub const CHANGE_LOG_VERSION: u32 = 1;

/// The table recording applied steps, created before anything else is read.
pub fn bootstrap_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => {
            "CREATE TABLE IF NOT EXISTS tenantql_schema_version (version INTEGER PRIMARY KEY, \
             name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        }
        Dialect::Postgres => {
            "CREATE TABLE IF NOT EXISTS tenantql_schema_version (version INTEGER PRIMARY KEY, \
             name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        }
        Dialect::Oracle => {
            "BEGIN EXECUTE IMMEDIATE 'CREATE TABLE tenantql_schema_version (version NUMBER(9) PRIMARY KEY, \
             name VARCHAR2(128) NOT NULL, applied_at TIMESTAMP DEFAULT SYSTIMESTAMP NOT NULL)'; \
             EXCEPTION WHEN OTHERS THEN IF SQLCODE != -955 THEN RAISE; END IF; END;"
        }
    }
}

/// An Oracle script as the blocks SQL*Plus would send: split at lines holding
/// only `/`, comment lines before a block dropped.
pub fn oracle_blocks(script: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        if line.trim() == "/" {
            let block = current.trim().to_string();
            if !block.is_empty() {
                blocks.push(block);
            }
            current.clear();
        } else if !(current.trim().is_empty() && line.trim_start().starts_with("--")) {
            current.push_str(line);
            current.push('\n');
        }
    }
    let rest = current.trim();
    if !rest.is_empty() {
        blocks.push(rest.to_string());
    }
    blocks
}

/// The last step recorded in the database (0 for none).
pub fn version_sql(dialect: Dialect) -> Sql {
    Sql::raw(
        dialect,
        "SELECT COALESCE(MAX(version), 0) FROM tenantql_schema_version",
    )
}

/// The version the database is at: the last step recorded in it (0: none,
/// or no version table yet).
pub async fn current_version(conn: &mut Connection) -> Result<u32, StoreError> {
    let sql = version_sql(conn.dialect());
    match conn.query(&sql, "tenant-migrate").await {
        Ok(rows) => Ok(rows
            .first()
            .map(|r| r.int_or_zero(0))
            .transpose()?
            .unwrap_or(0)
            .clamp(0, i64::from(u32::MAX)) as u32),
        Err(StoreError::Contract { .. }) => Ok(0),
        Err(e) => Err(e),
    }
}

/// A step a run would take, and whether it changes anything for this database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    pub version: u32,
    pub name: &'static str,
    pub applies: bool,
}

/// The steps after `from`, in order.
pub fn plan(from: u32, own_tables: bool) -> Vec<Planned> {
    STEPS
        .iter()
        .filter(|s| s.version > from)
        .map(|s| Planned {
            version: s.version,
            name: s.name,
            applies: own_tables || !s.own_tables_only,
        })
        .collect()
}

/// A step that failed, in words for the operator (the database's message included:
/// it is the operator's own database).
#[derive(Debug, thiserror::Error)]
#[error("step {version} ({name}) failed: {error}")]
pub struct StepFailed {
    pub version: u32,
    pub name: &'static str,
    pub error: String,
    /// The version the database is at after the failure (the steps before it
    /// stay applied); None when the failure came before it could be read.
    pub at: Option<u32>,
}

impl StepFailed {
    fn of(version: u32, name: &'static str, at: Option<u32>, err: &StoreError) -> Self {
        StepFailed {
            version,
            name,
            error: describe(err),
            at,
        }
    }
}

fn describe(err: &StoreError) -> String {
    match err {
        StoreError::Unavailable { reason, .. } => reason.to_string(),
        StoreError::Contract { detail, .. } => detail.clone(),
        other => other.to_string(),
    }
    .chars()
    .take(500)
    .collect()
}

/// Applies one step and records it.
async fn apply(conn: &mut Connection, step: &Step, applies: bool) -> Result<(), StoreError> {
    let dialect = conn.dialect();
    let mut record = Sql::new(dialect);
    record
        .push("INSERT INTO tenantql_schema_version (version, name) VALUES (")
        .bind(i64::from(step.version))
        .push(", ")
        .bind(if applies {
            step.name.to_string()
        } else {
            format!("{} (not applicable)", step.name)
        })
        .push(")");
    match dialect {
        Dialect::Oracle => {
            if applies {
                for block in oracle_blocks(step.oracle) {
                    conn.execute(&Sql::raw(dialect, &block)).await?;
                }
            }
            conn.execute(&record).await?;
            conn.commit().await
        }
        Dialect::Sqlite | Dialect::Postgres => {
            conn.begin().await?;
            if applies {
                conn.execute_script(step.script(dialect)).await?;
            }
            conn.execute(&record).await?;
            conn.commit().await
        }
    }
}

/// Brings the database from wherever it is to the target version; the
/// versions it went from and to.
pub async fn migrate(conn: &mut Connection, own_tables: bool) -> Result<(u32, u32), StepFailed> {
    let dialect = conn.dialect();
    if dialect == Dialect::Postgres {
        // Beside the control plane's lease: a second control plane (or a
        // DBA's runner) pointed at the same database waits for nobody.
        let lock = Sql::raw(
            dialect,
            &format!("SELECT pg_try_advisory_lock({ADVISORY_LOCK})"),
        );
        let locked = conn
            .query(&lock, "tenant-migrate")
            .await
            .map_err(|e| StepFailed::of(0, "lock", None, &e))?;
        if !matches!(locked.first().map(|r| r.int_or_zero(0)), Some(Ok(1))) {
            return Err(StepFailed {
                version: 0,
                name: "lock",
                error: "another migration holds this database".into(),
                at: None,
            });
        }
    }
    let outcome = migrate_locked(conn, own_tables).await;
    if dialect == Dialect::Postgres {
        let unlock = Sql::raw(
            dialect,
            &format!("SELECT pg_advisory_unlock({ADVISORY_LOCK})"),
        );
        // After a failed step the transaction is aborted and this fails; the
        // session's end releases the lock then.
        let _ = conn.query(&unlock, "tenant-migrate").await;
    }
    outcome
}

/// PostgreSQL's advisory lock key for migrating a database ("tenantql" in ASCII).
pub const ADVISORY_LOCK: i64 = 0x7465_6e61_6e74_716c;

async fn migrate_locked(conn: &mut Connection, own_tables: bool) -> Result<(u32, u32), StepFailed> {
    let dialect = conn.dialect();
    let bootstrap = |e: &StoreError| StepFailed::of(0, "schema_version", None, e);
    conn.execute(&Sql::raw(dialect, bootstrap_sql(dialect)))
        .await
        .map_err(|e| bootstrap(&e))?;
    if dialect == Dialect::Oracle {
        conn.commit().await.map_err(|e| bootstrap(&e))?;
    }
    let from = current_version(conn).await.map_err(|e| bootstrap(&e))?;
    let mut at = from;
    for planned in plan(from, own_tables) {
        let step = STEPS
            .iter()
            .find(|s| s.version == planned.version)
            .expect("planned steps exist");
        apply(conn, step, planned.applies)
            .await
            .map_err(|e| StepFailed::of(step.version, step.name, Some(at), &e))?;
        at = step.version;
    }
    Ok((from, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_numbered_in_order_from_one() {
        for (i, step) in STEPS.iter().enumerate() {
            assert_eq!(step.version as usize, i + 1);
        }
        assert_eq!(target_version(), STEPS.len() as u32);
    }

    #[test]
    fn oracle_scripts_split_into_the_blocks_sqlplus_would_send() {
        let blocks = oracle_blocks(STEPS[0].script(Dialect::Oracle));
        assert_eq!(blocks.len(), 4, "{blocks:#?}");
        assert!(blocks[0]
            .starts_with("BEGIN\n    EXECUTE IMMEDIATE 'CREATE SEQUENCE tenantql_changes_seq"));
        assert!(blocks[1].contains("CREATE TABLE tenantql_changes"));
        assert!(blocks[2].starts_with("CREATE OR REPLACE PROCEDURE tenantql_note_change"));
        assert!(blocks[3].contains("GRANT EXECUTE ON tenantql_note_change TO PUBLIC"));
        assert!(blocks.iter().all(|b| b.ends_with("END;")));
        let own = oracle_blocks(STEPS[1].script(Dialect::Oracle));
        assert_eq!(own.len(), 6);
        assert!(own[3].contains("CREATE UNIQUE INDEX invoices_doc_number"));
        assert!(own[4].contains("AFTER INSERT OR UPDATE ON invoices FOR EACH ROW"));
        // Every DDL is guarded, so a run that stopped halfway runs again.
        for block in own.iter().chain(&blocks) {
            assert!(
                block.contains("IF SQLCODE")
                    || block.starts_with("CREATE OR REPLACE")
                    || block.contains("GRANT"),
                "{block}"
            );
        }
    }

    #[test]
    fn the_change_log_matches_the_watcher_on_every_backend() {
        let since = crate::erp::changes::since_sql(Dialect::Oracle, 0);
        assert!(STEPS[0].script(Dialect::Oracle).contains(since.text()));
        for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::Oracle] {
            assert!(STEPS[0].script(dialect).contains("tenantql_changes"));
            assert!(STEPS[1].script(dialect).contains("ON invoices"));
            assert!(STEPS[1].script(dialect).contains("ON payments"));
        }
        for dialect in [Dialect::Postgres, Dialect::Oracle] {
            for table in ["invoices", "payments", "treasury_transactions"] {
                let sequence = format!("{table}_id_seq");
                assert!(
                    STEPS[1].script(dialect).contains(&sequence),
                    "{dialect:?} {sequence}"
                );
            }
        }
    }

    #[test]
    fn plans_skip_what_does_not_apply() {
        assert_eq!(
            plan(0, false),
            vec![
                Planned {
                    version: 1,
                    name: "change_log",
                    applies: true
                },
                Planned {
                    version: 2,
                    name: "own_tables",
                    applies: false
                }
            ]
        );
        assert_eq!(plan(1, true).len(), 1);
        assert!(plan(2, true).is_empty());
    }
}
