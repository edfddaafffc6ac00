//! The control plane: tenants, users, memberships, signing keys and the audit log,
//! kept with sea-orm in SQLite (default) or PostgreSQL.
pub mod api_keys;
pub mod entities;
pub mod invitations;
pub mod memberships;
pub mod password_tokens;
pub mod tenant_databases;
pub mod tenants;
pub mod trusted_documents;
pub mod users;

use std::{path::PathBuf, sync::Arc, time::Duration};

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ActiveValue::Set, ConnectOptions, ConnectionTrait, Database, DatabaseBackend,
    DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, SqlErr, TransactionTrait,
};

use crate::{
    config::ControlPlaneConfig,
    error::AppError,
    sealing::{KeySource, MasterKeyError, SealError, Sealer},
};
use entities::control_meta;

/// Owner and field under which the master-key check value is sealed.
const KEY_CHECK_OWNER: &str = "control-plane";
const KEY_CHECK_FIELD: &str = "master_key_check";
const KEY_CHECK_PLAINTEXT: &[u8] = b"tenantql master key check";

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),
    #[error(transparent)]
    Redis(#[from] crate::cluster::BadRedisUrl),
    #[error(transparent)]
    Mail(#[from] crate::mail::MailConfigError),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to the control plane database: {0}")]
    Connect(#[source] DbErr),
    #[error("control plane migration failed: {0}")]
    Migrate(#[source] DbErr),
    #[error(
        "the master key does not match this control plane: its secrets were sealed with key `{expected}`, \
         but the configured key is `{configured}` (set TENANTQL_MASTER_KEY to the original key, or list it \
         in TENANTQL_PREVIOUS_MASTER_KEYS)"
    )]
    WrongMasterKey {
        expected: String,
        configured: String,
    },
    #[error("the control plane's master-key check value is damaged ({0}); refusing to start")]
    KeyCheckDamaged(SealError),
    #[error("control plane query failed: {0}")]
    Query(#[from] DbErr),
}

/// A connected, migrated control plane whose master key has been checked.
#[derive(Clone)]
pub struct ControlPlane {
    pub db: DatabaseConnection,
    pub sealer: Arc<Sealer>,
    /// The database's file when it is a SQLite file (not PostgreSQL, not in
    /// memory): the audit writer opens its own connection to it.
    pub sqlite_file: Option<PathBuf>,
}

/// The file a `sqlite:` URL names, unless it names an in-memory database.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = path.is_empty() || path == ":memory:" || query.contains("mode=memory");
    (!in_memory).then(|| PathBuf::from(path))
}

impl ControlPlane {
    /// Connects, applies pending migrations and checks the master key against the
    /// value sealed when the control plane was created, so a wrong key stops start-up
    /// with a clear message instead of failing on the first tenant.
    pub async fn open(cfg: &ControlPlaneConfig) -> Result<(Self, KeySource), StartupError> {
        std::fs::create_dir_all(&cfg.data_dir).map_err(|source| StartupError::DataDir {
            path: cfg.data_dir.display().to_string(),
            source,
        })?;
        let (sealer, key_source) = Sealer::load(
            cfg.master_key.as_ref(),
            cfg.previous_master_keys.as_ref(),
            &cfg.data_dir,
        )?;
        let url = cfg.control_db_url();
        let mut options = ConnectOptions::new(url.clone());
        options
            .max_connections(if url.starts_with("sqlite:") { 4 } else { 10 })
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(5))
            .sqlx_logging(false);
        let db = Database::connect(options)
            .await
            .map_err(StartupError::Connect)?;
        if url.starts_with("sqlite:") {
            // WAL lets the CLI write while a server reads the same file.
            db.execute_unprepared("PRAGMA journal_mode=WAL")
                .await
                .map_err(StartupError::Connect)?;
        }
        Migrator::up(&db, None)
            .await
            .map_err(StartupError::Migrate)?;
        let control = ControlPlane {
            db,
            sealer: Arc::new(sealer),
            sqlite_file: sqlite_file(&url),
        };
        control.check_master_key().await?;
        Ok((control, key_source))
    }

    async fn check_master_key(&self) -> Result<(), StartupError> {
        let stored = control_meta::Entity::find_by_id(KEY_CHECK_FIELD)
            .one(&self.db)
            .await?;
        match stored {
            None => {
                let sealed =
                    self.sealer
                        .seal(KEY_CHECK_OWNER, KEY_CHECK_FIELD, KEY_CHECK_PLAINTEXT);
                control_meta::Entity::insert(control_meta::ActiveModel {
                    key: Set(KEY_CHECK_FIELD.into()),
                    value: Set(sealed),
                })
                .exec(&self.db)
                .await?;
                Ok(())
            }
            Some(row) => match self
                .sealer
                .open(KEY_CHECK_OWNER, KEY_CHECK_FIELD, &row.value)
            {
                Ok(_) => Ok(()),
                Err(SealError::UnknownKey(expected)) => Err(StartupError::WrongMasterKey {
                    expected,
                    configured: self.sealer.key_id().to_string(),
                }),
                Err(other) => Err(StartupError::KeyCheckDamaged(other)),
            },
        }
    }

    /// A transaction for a change. On SQLite it takes the write lock first (as
    /// `BEGIN IMMEDIATE` would): a transaction that read first and wrote later
    /// fails at once with "database is locked" when the audit writer committed in
    /// between, while one that starts by writing waits its turn.
    pub async fn begin_change(&self) -> Result<DatabaseTransaction, DbErr> {
        let txn = self.db.begin().await?;
        if self.db.get_database_backend() == DatabaseBackend::Sqlite {
            txn.execute_unprepared("UPDATE control_meta SET value = value WHERE 1 = 0")
                .await?;
        }
        Ok(txn)
    }

    /// Readiness: the control plane answers a trivial query.
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.db.ping().await
    }
}

/// Turns a database constraint violation into the client error it means, in one place.
pub trait OnConstraint<T> {
    /// A unique violation becomes `Conflict(message)`, a foreign-key violation
    /// `BadInput`; anything else stays internal.
    fn on_conflict(self, message: impl FnOnce() -> String) -> Result<T, AppError>;
}

impl<T> OnConstraint<T> for Result<T, DbErr> {
    fn on_conflict(self, message: impl FnOnce() -> String) -> Result<T, AppError> {
        self.map_err(|err| match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => AppError::Conflict(message()),
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => AppError::BadInput {
                field: None,
                message: "refers to something that does not exist".into(),
            },
            _ => AppError::from(err),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_file_url_names_a_sqlite_file() {
        assert_eq!(
            sqlite_file("sqlite:///data/control.db?mode=rwc"),
            Some(PathBuf::from("/data/control.db"))
        );
        assert_eq!(sqlite_file("sqlite:rel.db"), Some(PathBuf::from("rel.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("sqlite://x.db?mode=memory&cache=shared"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }
}
