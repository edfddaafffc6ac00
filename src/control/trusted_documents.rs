//! Published (trusted) documents in the control plane, by scope and client.
use chrono::Utc;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
};

use super::entities::trusted_document;
use crate::error::AppError;

/// The scope of the deployment's own list.
pub const DEPLOYMENT_SCOPE: &str = "*";

/// Replaces the list of `scope` and `client_name` with `documents` (id, body).
pub async fn replace(
    db: &impl ConnectionTrait,
    scope: &str,
    client_name: &str,
    documents: Vec<(String, String)>,
) -> Result<(), AppError> {
    trusted_document::Entity::delete_many()
        .filter(trusted_document::Column::Scope.eq(scope))
        .filter(trusted_document::Column::ClientName.eq(client_name))
        .exec(db)
        .await?;
    let now = Utc::now();
    // In chunks: one statement per document would be slow, one for all too large.
    for chunk in documents.chunks(200) {
        let rows = chunk
            .iter()
            .map(|(id, body)| trusted_document::ActiveModel {
                scope: Set(scope.to_string()),
                client_name: Set(client_name.to_string()),
                document_id: Set(id.clone()),
                body: Set(body.clone()),
                published_at: Set(now),
            });
        trusted_document::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// The client names of `scope` that have a list of their own.
pub async fn client_names(db: &impl ConnectionTrait, scope: &str) -> Result<Vec<String>, AppError> {
    Ok(trusted_document::Entity::find()
        .select_only()
        .column(trusted_document::Column::ClientName)
        .distinct()
        .filter(trusted_document::Column::Scope.eq(scope))
        .filter(trusted_document::Column::ClientName.ne(""))
        .into_tuple()
        .all(db)
        .await?)
}

/// Every document of `scope`, all clients.
pub async fn of_scope(
    db: &impl ConnectionTrait,
    scope: &str,
) -> Result<Vec<trusted_document::Model>, AppError> {
    Ok(trusted_document::Entity::find()
        .filter(trusted_document::Column::Scope.eq(scope))
        .all(db)
        .await?)
}
