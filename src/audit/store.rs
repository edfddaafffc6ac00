//! The audit log table: writing rows, reading pages of them, pruning old ones.
use std::{borrow::Cow, sync::LazyLock};

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement, Value,
};

use super::AuditEntry;
use crate::{control::entities::audit_log, error::AppError, paging};

/// The columns an insert sets (all but the id, which the database assigns), in
/// the order `push_values` pushes them.
const COLUMNS: [&str; 19] = [
    "at",
    "request_id",
    "tenant_id",
    "tenant_slug",
    "actor_user_id",
    "actor_email",
    "source",
    "action",
    "target",
    "operation_type",
    "operation_name",
    "document_hash",
    "variables",
    "outcome",
    "error_code",
    "duration_us",
    "client_addr",
    "user_agent",
    "details",
];
/// Rows per INSERT statement: a fixed size, so the database prepares the statement
/// once and reuses it (19 × 50 bind values stays far under every backend's limit).
const ROWS_PER_STATEMENT: usize = 50;

/// Longest text kept in the JSON columns (`variables`, `details`): a row is at
/// most a few kilobytes whatever a client sends.
pub const MAX_JSON_BYTES: usize = 8 * 1024;

/// `text` cut to `max` characters — the column's length, the same bound on
/// SQLite (which would keep anything) and PostgreSQL (which refuses the row).
fn clipped(text: Option<&str>, max: usize) -> Option<Cow<'_, str>> {
    let text = text?;
    // A text of at most `max` bytes has at most `max` characters: no count needed.
    if text.len() <= max || text.chars().count() <= max {
        return Some(Cow::Borrowed(text));
    }
    Some(Cow::Owned(text.chars().take(max).collect()))
}

/// JSON text over `MAX_JSON_BYTES` replaced by a note of its size (cut JSON
/// would not parse).
fn bounded_json(text: Option<&str>) -> Option<Cow<'_, str>> {
    match text? {
        text if text.len() > MAX_JSON_BYTES => Some(Cow::Owned(format!(
            "{{\"truncated\":true,\"bytes\":{}}}",
            text.len()
        ))),
        text => Some(Cow::Borrowed(text)),
    }
}

/// One row's text columns after `at`, in `COLUMNS` order with `duration_us`
/// left out, each bounded by its column (migration
/// `m20261129_000002_admin_and_audit`): the one place both writers take their
/// values from.
fn bounded_texts(entry: &AuditEntry) -> [Option<Cow<'_, str>>; 17] {
    [
        clipped(entry.request_id.as_deref(), 64),
        clipped(entry.tenant_id.as_deref(), 36),
        clipped(entry.tenant_slug.as_deref(), 63),
        clipped(entry.actor_user_id.as_deref(), 36),
        clipped(entry.actor_email.as_deref(), 254),
        clipped(Some(&entry.source), 16),
        clipped(Some(&entry.action), 64),
        clipped(entry.target.as_deref(), 255),
        clipped(entry.operation_type.as_deref(), 16),
        clipped(entry.operation_name.as_deref(), 128),
        clipped(entry.document_hash.as_deref(), 64),
        bounded_json(entry.variables.as_deref()),
        clipped(Some(&entry.outcome), 16),
        clipped(entry.error_code.as_deref(), 32),
        clipped(entry.client_addr.as_deref(), 64),
        clipped(entry.user_agent.as_deref(), 255),
        bounded_json(entry.details.as_deref()),
    ]
}

/// Where `duration_us` sits among `COLUMNS`: the texts before it, then it, then
/// the rest.
const DURATION_COLUMN: usize = 15;

/// One row's values in `COLUMNS` order.
fn push_values(values: &mut Vec<Value>, entry: &AuditEntry) {
    let texts = bounded_texts(entry);
    let (before, after) = texts.split_at(DURATION_COLUMN - 1);
    let text =
        |t: &Option<Cow<'_, str>>| Value::String(t.as_ref().map(|t| Box::new(t.to_string())));
    values.push(Value::from(entry.at));
    values.extend(before.iter().map(text));
    values.push(entry.duration_us.into());
    values.extend(after.iter().map(text));
}

/// `INSERT INTO audit_log (…) VALUES (…), …` for `rows` rows, in the backend's
/// placeholder style.
fn insert_sql(backend: DbBackend, rows: usize) -> String {
    let mut sql = format!("INSERT INTO audit_log ({}) VALUES ", COLUMNS.join(", "));
    let mut n = 0;
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..COLUMNS.len() {
            n += 1;
            if column > 0 {
                sql.push_str(", ");
            }
            match backend {
                DbBackend::Postgres => sql.push_str(&format!("${n}")),
                _ => sql.push('?'),
            }
        }
        sql.push(')');
    }
    sql
}

/// Writes `entries` with as few statements as possible, built by hand rather than
/// through the ORM: the audit log is written once per request, and the ORM's
/// per-row statement building cost more than SQLite's own work (measured with
/// `perf` under `{ me }` load).
pub(super) async fn insert_rows(
    db: &impl ConnectionTrait,
    entries: &[AuditEntry],
) -> Result<(), sea_orm::DbErr> {
    let backend = db.get_database_backend();
    let full_chunk_sql = insert_sql(backend, ROWS_PER_STATEMENT);
    for chunk in entries.chunks(ROWS_PER_STATEMENT) {
        let sql = if chunk.len() == ROWS_PER_STATEMENT {
            full_chunk_sql.clone()
        } else {
            insert_sql(backend, chunk.len())
        };
        let mut values = Vec::with_capacity(chunk.len() * COLUMNS.len());
        for entry in chunk {
            push_values(&mut values, entry);
        }
        db.execute(Statement::from_sql_and_values(backend, sql, values))
            .await?;
    }
    Ok(())
}

/// The single-row insert the SQLite writer prepares once per connection.
static FILE_INSERT_SQL: LazyLock<String> = LazyLock::new(|| insert_sql(DbBackend::Sqlite, 1));

/// Writes `entries` over a rusqlite connection to the control plane's SQLite
/// file, binding the bounded texts in place, with `at` in the text form sqlx
/// gives a `DateTime<Utc>` (the ORM reads these rows, and `at` is compared as
/// text when rows are listed by time or pruned). The caller owns the transaction.
pub(super) fn insert_rows_file(
    conn: &rusqlite::Connection,
    entries: &[AuditEntry],
) -> rusqlite::Result<()> {
    let mut statement = conn.prepare_cached(&FILE_INSERT_SQL)?;
    for entry in entries {
        let texts = bounded_texts(entry);
        let (before, after) = texts.split_at(DURATION_COLUMN - 1);
        let at = entry.at.to_rfc3339_opts(SecondsFormat::AutoSi, false);
        statement.raw_bind_parameter(1, &at)?;
        for (index, text) in (2..).zip(before) {
            statement.raw_bind_parameter(index, text.as_deref())?;
        }
        statement.raw_bind_parameter(DURATION_COLUMN + 1, entry.duration_us)?;
        for (index, text) in (DURATION_COLUMN + 2..).zip(after) {
            statement.raw_bind_parameter(index, text.as_deref())?;
        }
        statement.raw_execute()?;
    }
    Ok(())
}

/// Writes the change's row on the change's transaction and commits both: a change
/// without its row cannot exist.
pub async fn commit_with(txn: DatabaseTransaction, entry: AuditEntry) -> Result<(), AppError> {
    record_change(&txn, entry).await?;
    txn.commit().await?;
    Ok(())
}

/// Writes one change row; call it on the transaction that makes the change.
pub async fn record_change(db: &impl ConnectionTrait, entry: AuditEntry) -> Result<(), AppError> {
    insert_rows(db, std::slice::from_ref(&entry)).await?;
    Ok(())
}

/// Which rows to list. `tenant_id` is set by the caller's scope, never by the
/// client of a tenant admin.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub tenant_id: Option<String>,
    pub tenant_slug: Option<String>,
    /// An email or a user id.
    pub actor: Option<String>,
    pub action: Option<String>,
    pub operation_name: Option<String>,
    pub outcome: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

pub struct AuditPage {
    pub rows: Vec<audit_log::Model>,
    pub has_next: bool,
}

/// Newest first; `after` is the id of the last row of the previous page.
pub async fn page(
    db: &impl ConnectionTrait,
    filter: &AuditFilter,
    first: usize,
    after: Option<i64>,
) -> Result<AuditPage, AppError> {
    use audit_log::Column;
    let mut query = audit_log::Entity::find();
    if let Some(tenant_id) = &filter.tenant_id {
        query = query.filter(Column::TenantId.eq(tenant_id.as_str()));
    }
    if let Some(slug) = &filter.tenant_slug {
        query = query.filter(Column::TenantSlug.eq(slug.as_str()));
    }
    if let Some(actor) = &filter.actor {
        let actor = actor.trim().to_lowercase();
        query = query.filter(
            Column::ActorEmail
                .eq(actor.as_str())
                .or(Column::ActorUserId.eq(actor.as_str())),
        );
    }
    if let Some(action) = &filter.action {
        query = query.filter(Column::Action.eq(action.as_str()));
    }
    if let Some(name) = &filter.operation_name {
        query = query.filter(Column::OperationName.eq(name.as_str()));
    }
    if let Some(outcome) = &filter.outcome {
        query = query.filter(Column::Outcome.eq(outcome.as_str()));
    }
    if let Some(from) = filter.from {
        query = query.filter(Column::At.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(Column::At.lt(to));
    }
    if let Some(after) = after {
        query = query.filter(Column::Id.lt(after));
    }
    let rows = query
        .order_by_desc(Column::Id)
        .limit(first as u64 + 1)
        .all(db)
        .await?;
    let (rows, has_next) = paging::split_page(rows, first);
    Ok(AuditPage { rows, has_next })
}

/// Deletes rows older than `before`; returns how many.
pub async fn prune(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, AppError> {
    Ok(audit_log::Entity::delete_many()
        .filter(audit_log::Column::At.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_per_backend() {
        let sqlite = insert_sql(DbBackend::Sqlite, 2);
        assert!(sqlite.starts_with("INSERT INTO audit_log (at, request_id, "));
        assert_eq!(sqlite.matches('?').count(), 2 * COLUMNS.len());
        assert!(sqlite.ends_with("?), (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
        let postgres = insert_sql(DbBackend::Postgres, 2);
        assert!(postgres.contains("($1, $2, "));
        assert!(postgres.ends_with("$38)"));
        assert!(!postgres.contains('?'));
    }
}
