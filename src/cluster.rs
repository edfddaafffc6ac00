//! What the instances of one deployment share, through Redis when
//! `TENANTQL_REDIS_URL` is set: messages between instances (invoice events,
//! revoked tokens), and commands on shared keys (rate-limit counters).
//!
//! Redis is never on the critical path. Without a URL every feature runs in
//! process. With one, a Redis that is down or slow makes the instance degraded,
//! not down: commands give up after a short timeout and return `None` (callers
//! fall back: events stay local, rate limits fail open), `tenantql_redis_up`
//! drops to 0, and one warning is logged per outage. Everything resumes by
//! itself: the connection manager reconnects on the next command and the
//! subscriber task re-subscribes with backoff.
use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use redis::{aio::ConnectionManager, AsyncCommands, FromRedisValue};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Longest a Redis command or connection attempt may take before the
/// instance carries on without it.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);
/// Re-subscription backoff bounds after the pub/sub connection drops.
const RESUBSCRIBE_MIN: Duration = Duration::from_millis(100);
const RESUBSCRIBE_MAX: Duration = Duration::from_secs(2);
/// Messages from other instances waiting for their consumer.
const INBOX: usize = 4096;
/// Prefix of every key and channel, so a Redis can be shared with other apps.
pub const PREFIX: &str = "tenantql:";

#[derive(Debug, Default)]
pub struct ClusterStats {
    pub redis_up: AtomicBool,
    pub redis_errors: AtomicU64,
    pub messages_published: AtomicU64,
    pub messages_received: AtomicU64,
}

struct RedisLink {
    client: redis::Client,
    manager: ConnectionManager,
}

/// This instance's handle on what it shares with the others.
#[derive(Clone)]
pub struct Cluster {
    redis: Option<Arc<RedisLink>>,
    instance_id: Arc<str>,
    stats: Arc<ClusterStats>,
    stop: CancellationToken,
}

#[derive(Debug, thiserror::Error)]
#[error("TENANTQL_REDIS_URL is not a Redis URL: {0}")]
pub struct BadRedisUrl(String);

impl Cluster {
    /// Only this process: nothing is shared.
    pub fn local() -> Self {
        Cluster {
            redis: None,
            instance_id: uuid::Uuid::new_v4().simple().to_string().into(),
            stats: Arc::default(),
            stop: CancellationToken::new(),
        }
    }

    /// Shares through the Redis at `url`. A Redis that is not reachable yet is
    /// not an error: the instance starts degraded and connects when it can.
    pub fn with_redis(url: &str) -> Result<Self, BadRedisUrl> {
        let client = redis::Client::open(url).map_err(|e| BadRedisUrl(e.to_string()))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| BadRedisUrl(e.to_string()))?;
        Ok(Cluster {
            redis: Some(Arc::new(RedisLink { client, manager })),
            ..Cluster::local()
        })
    }

    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    pub fn is_shared(&self) -> bool {
        self.redis.is_some()
    }

    pub fn stats(&self) -> &ClusterStats {
        &self.stats
    }

    /// Whether the shared Redis answers a PING now.
    pub async fn ping(&self) -> bool {
        self.command::<String>(&redis::cmd("PING")).await.is_some()
    }

    /// Stops the subscriber tasks (at shutdown).
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Runs `cmd` on the shared Redis. `None` without Redis, or when Redis
    /// failed or did not answer in time (counted; the caller falls back).
    pub async fn command<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Option<T> {
        let link = self.redis.as_ref()?;
        self.run(async {
            let mut conn = link.manager.clone();
            cmd.query_async::<T>(&mut conn).await
        })
        .await
    }

    /// Runs a Lua script on the shared Redis (see `command`).
    pub async fn script<T: FromRedisValue>(
        &self,
        script: &redis::Script,
        keys: &[String],
        args: &[String],
    ) -> Option<T> {
        let link = self.redis.as_ref()?;
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        for arg in args {
            invocation.arg(arg);
        }
        self.run(async {
            let mut conn = link.manager.clone();
            invocation.invoke_async::<T>(&mut conn).await
        })
        .await
    }

    /// Awaits one Redis call within the timeout and records the outcome.
    async fn run<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        let span = tracing::info_span!(
            target: crate::telemetry::TRACE_TARGET,
            "redis",
            otel.kind = "client",
            db.system.name = "redis",
        );
        match tokio::time::timeout(REDIS_TIMEOUT, tracing::Instrument::instrument(call, span)).await
        {
            Ok(Ok(value)) => {
                self.mark(true, None);
                Some(value)
            }
            Ok(Err(err)) => {
                // A dropped connection is being replaced by the manager now;
                // the next call uses the new one.
                self.mark(false, Some(&err.to_string()));
                None
            }
            Err(_) => {
                self.mark(false, Some("timed out"));
                None
            }
        }
    }

    /// Sends `body` to every other instance listening on `channel`. Best
    /// effort: false when it could not be sent (no Redis, or Redis down).
    pub async fn broadcast(&self, channel: &str, body: Value) -> bool {
        let Some(link) = &self.redis else {
            return false;
        };
        let envelope = serde_json::json!({ "origin": &*self.instance_id, "body": body });
        let mut conn = link.manager.clone();
        let sent = tokio::time::timeout(
            REDIS_TIMEOUT,
            conn.publish::<_, _, i64>(format!("{PREFIX}{channel}"), envelope.to_string()),
        )
        .await;
        match sent {
            Ok(Ok(_)) => {
                self.mark(true, None);
                self.stats
                    .messages_published
                    .fetch_add(1, Ordering::Relaxed);
                true
            }
            Ok(Err(err)) => {
                self.mark(false, Some(&err.to_string()));
                false
            }
            Err(_) => {
                self.mark(false, Some("timed out"));
                false
            }
        }
    }

    /// What the other instances broadcast on `channel` from now on (never this
    /// instance's own messages). Without Redis the receiver just never yields.
    pub fn listen(&self, channel: &str) -> mpsc::Receiver<Value> {
        let (sender, receiver) = mpsc::channel(INBOX);
        if let Some(link) = self.redis.clone() {
            tokio::spawn(subscribe_forever(
                link,
                format!("{PREFIX}{channel}"),
                self.clone(),
                sender,
            ));
        }
        receiver
    }

    /// Records whether Redis answered; logs once per change of state.
    fn mark(&self, up: bool, error: Option<&str>) {
        let was_up = self.stats.redis_up.swap(up, Ordering::Relaxed);
        if !up {
            self.stats.redis_errors.fetch_add(1, Ordering::Relaxed);
        }
        match (was_up, up) {
            (true, false) => tracing::warn!(
                error = error.unwrap_or("unknown"),
                "Redis is unavailable: running degraded (events stay on this instance, rate limits fail open, the shared cache is bypassed)"
            ),
            (false, true) => tracing::info!("Redis is reachable"),
            _ => {}
        }
    }
}

/// Keeps one pub/sub subscription to `channel` open, re-subscribing with
/// backoff whenever the connection drops, until the cluster stops or nobody
/// reads the messages any more.
async fn subscribe_forever(
    link: Arc<RedisLink>,
    channel: String,
    cluster: Cluster,
    sender: mpsc::Sender<Value>,
) {
    let mut backoff = RESUBSCRIBE_MIN;
    loop {
        let connected = tokio::time::timeout(REDIS_TIMEOUT, async {
            let mut pubsub = link.client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        match connected {
            Ok(Ok(mut pubsub)) => {
                cluster.mark(true, None);
                backoff = RESUBSCRIBE_MIN;
                let mut messages = pubsub.on_message();
                loop {
                    let message = tokio::select! {
                        () = cluster.stop.cancelled() => return,
                        message = futures_util::StreamExt::next(&mut messages) => message,
                    };
                    let Some(message) = message else { break };
                    let Some(body) = decode(&cluster, message.get_payload_bytes()) else {
                        continue;
                    };
                    cluster
                        .stats
                        .messages_received
                        .fetch_add(1, Ordering::Relaxed);
                    if sender.send(body).await.is_err() {
                        return;
                    }
                }
                cluster.mark(false, Some("the pub/sub connection dropped"));
            }
            Ok(Err(err)) => cluster.mark(false, Some(&err.to_string())),
            Err(_) => cluster.mark(false, Some("subscribing timed out")),
        }
        tokio::select! {
            () = cluster.stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        if sender.is_closed() {
            return;
        }
        backoff = (backoff * 2).min(RESUBSCRIBE_MAX);
    }
}

/// The body of another instance's message; None for our own or a malformed one.
fn decode(cluster: &Cluster, payload: &[u8]) -> Option<Value> {
    let mut envelope: Value = serde_json::from_slice(payload).ok()?;
    if envelope.get("origin")?.as_str()? == &*cluster.instance_id {
        return None;
    }
    Some(envelope.get_mut("body")?.take())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_ignores_its_own_messages() {
        let cluster = Cluster::local();
        let own = serde_json::json!({ "origin": &*cluster.instance_id, "body": 1 });
        assert_eq!(decode(&cluster, own.to_string().as_bytes()), None);
        let other = serde_json::json!({ "origin": "another", "body": { "a": 1 } });
        assert_eq!(
            decode(&cluster, other.to_string().as_bytes()),
            Some(serde_json::json!({ "a": 1 }))
        );
        assert_eq!(decode(&cluster, b"not json"), None);
    }

    #[tokio::test]
    async fn without_redis_nothing_is_shared_and_nothing_fails() {
        let cluster = Cluster::local();
        assert!(!cluster.is_shared());
        assert!(!cluster.broadcast("events", Value::Null).await);
        assert_eq!(cluster.command::<i64>(&redis::cmd("INCR")).await, None);
    }

    #[tokio::test]
    async fn an_unreachable_redis_degrades_quickly() {
        // Port 1 on loopback: connection refused at once.
        let cluster = Cluster::with_redis("redis://127.0.0.1:1/").unwrap();
        let started = std::time::Instant::now();
        assert_eq!(
            cluster
                .command::<i64>(redis::cmd("INCR").arg("tenantql:test"))
                .await,
            None
        );
        assert!(!cluster.broadcast("events", Value::Null).await);
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(!cluster.stats().redis_up.load(Ordering::Relaxed));
        assert!(cluster.stats().redis_errors.load(Ordering::Relaxed) >= 2);
    }
}
