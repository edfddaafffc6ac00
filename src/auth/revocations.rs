//! Signed-out tokens: a token id (`jti`) revoked by `logout` is refused until
//! the token would have expired anyway.
//!
//! The check runs on every request, so it is a lookup in this process's set,
//! never a network call. The set is kept current three ways: this instance's
//! own sign-outs at once; other instances' through the cluster (Redis pub/sub)
//! at once; and the control-plane table, polled every `sync_every` (the same
//! bound as any other control-plane change), which also fills the set at start
//! and covers instances without Redis or a Redis outage.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use chrono::Utc;
use sea_orm::{sea_query::OnConflict, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::{
    cluster::Cluster,
    control::{entities::revoked_token, ControlPlane},
    error::AppError,
};

const CHANNEL: &str = "revocations";
/// Rows revoked this long before the last poll are read again, so clocks a
/// little apart between instances lose nothing.
const POLL_OVERLAP_MS: i64 = 10_000;
/// Expired rows are deleted every this many polls.
const PRUNE_EVERY: u32 = 600;

pub struct Revocations {
    control: ControlPlane,
    cluster: Cluster,
    /// jti → expiry (unix seconds).
    revoked: Mutex<HashMap<String, u64>>,
}

impl Revocations {
    /// Loads the revocations still in force and keeps them current.
    pub async fn start(
        control: ControlPlane,
        cluster: Cluster,
        sync_every: Duration,
    ) -> Result<Arc<Self>, sea_orm::DbErr> {
        let revocations = Arc::new(Revocations {
            control,
            cluster,
            revoked: Mutex::new(HashMap::new()),
        });
        let watermark = revocations.poll(0).await?;
        tokio::spawn(keep_current(
            Arc::downgrade(&revocations),
            revocations.cluster.listen(CHANNEL),
            sync_every.max(Duration::from_secs(1)),
            watermark,
        ));
        Ok(revocations)
    }

    pub fn is_revoked(&self, jti: &str) -> bool {
        self.revoked
            .lock()
            .expect("revocations lock")
            .contains_key(jti)
    }

    /// Revokes a token until `expires_at` (unix seconds): written to the control
    /// plane, applied here, and sent to the other instances.
    pub async fn revoke(&self, jti: &str, user_id: &str, expires_at: u64) -> Result<(), AppError> {
        let row = revoked_token::ActiveModel {
            jti: sea_orm::Set(jti.to_string()),
            user_id: sea_orm::Set(user_id.to_string()),
            expires_at: sea_orm::Set(expires_at as i64),
            revoked_at: sea_orm::Set(Utc::now().timestamp_millis()),
        };
        revoked_token::Entity::insert(row)
            .on_conflict(
                OnConflict::column(revoked_token::Column::Jti)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&self.control.db)
            .await?;
        self.remember(jti, expires_at);
        self.cluster
            .broadcast(CHANNEL, json!({ "jti": jti, "exp": expires_at }))
            .await;
        Ok(())
    }

    fn remember(&self, jti: &str, expires_at: u64) {
        self.revoked
            .lock()
            .expect("revocations lock")
            .insert(jti.to_string(), expires_at);
    }

    /// Reads rows revoked since `watermark` (unix ms) and forgets expired ones;
    /// returns the new watermark.
    async fn poll(&self, watermark: i64) -> Result<i64, sea_orm::DbErr> {
        let now = Utc::now();
        let rows = revoked_token::Entity::find()
            .filter(revoked_token::Column::RevokedAt.gte(watermark - POLL_OVERLAP_MS))
            .filter(revoked_token::Column::ExpiresAt.gt(now.timestamp()))
            .all(&self.control.db)
            .await?;
        let mut revoked = self.revoked.lock().expect("revocations lock");
        let mut newest = watermark;
        for row in rows {
            newest = newest.max(row.revoked_at);
            revoked.insert(row.jti, row.expires_at.max(0) as u64);
        }
        let now_secs = now.timestamp().max(0) as u64;
        revoked.retain(|_, expires_at| *expires_at > now_secs);
        Ok(newest)
    }

    async fn prune(&self) -> Result<(), AppError> {
        revoked_token::Entity::delete_many()
            .filter(revoked_token::Column::ExpiresAt.lt(Utc::now().timestamp()))
            .exec(&self.control.db)
            .await?;
        Ok(())
    }
}

async fn keep_current(
    revocations: Weak<Revocations>,
    mut from_others: tokio::sync::mpsc::Receiver<serde_json::Value>,
    sync_every: Duration,
    mut watermark: i64,
) {
    let mut tick = tokio::time::interval(sync_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut listening = true;
    let mut polls = 0u32;
    loop {
        tokio::select! {
            message = from_others.recv(), if listening => {
                let Some(message) = message else {
                    listening = false;
                    continue;
                };
                let Some(revocations) = revocations.upgrade() else { return };
                if let (Some(jti), Some(exp)) = (message["jti"].as_str(), message["exp"].as_u64()) {
                    revocations.remember(jti, exp);
                }
            }
            _ = tick.tick() => {
                let Some(revocations) = revocations.upgrade() else { return };
                match revocations.poll(watermark).await {
                    Ok(newest) => watermark = newest,
                    Err(err) => tracing::warn!(error = %err, "reading revoked tokens failed; retrying"),
                }
                polls += 1;
                if polls % PRUNE_EVERY == 0 {
                    if let Err(err) = revocations.prune().await {
                        tracing::warn!(error = %err, "pruning expired revocations failed");
                    }
                }
            }
        }
    }
}
