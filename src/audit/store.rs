//! The audit log table: writing rows, reading pages of them, pruning old ones.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::AuditEntry;
use crate::{control::entities::audit_log, error::AppError};

/// The row as an insert: every column set but the id, which the database assigns.
fn active(entry: AuditEntry) -> audit_log::ActiveModel {
    let mut row = audit_log::ActiveModel::from(entry).reset_all();
    row.id = NotSet;
    row
}

/// Writes one change row; call it on the transaction that makes the change.
pub async fn record_change(db: &impl ConnectionTrait, entry: AuditEntry) -> Result<(), AppError> {
    audit_log::Entity::insert(active(entry)).exec(db).await?;
    Ok(())
}

/// Writes a batch of request rows in one statement.
pub(super) async fn insert_batch(
    db: &impl ConnectionTrait,
    entries: Vec<AuditEntry>,
) -> Result<(), sea_orm::DbErr> {
    if entries.is_empty() {
        return Ok(());
    }
    audit_log::Entity::insert_many(entries.into_iter().map(active))
        .exec_without_returning(db)
        .await?;
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
    let mut rows = query
        .order_by_desc(Column::Id)
        .limit(first as u64 + 1)
        .all(db)
        .await?;
    let has_next = rows.len() > first;
    rows.truncate(first);
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
