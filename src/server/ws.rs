//! GraphQL over WebSocket at `/graphql`: the `graphql-transport-ws` protocol,
//! written out here because async-graphql's stock handler does not close with
//! the protocol's codes for every violation (a duplicate id replaces the
//! stream; some violations close with 1002 or 1011).
//!
//! One task per connection reads the socket and does the connection's control
//! work. It authenticates the `connection_init` payload (`{"authorization":
//! "Bearer …"}`) exactly as HTTP authenticates a header, runs each `subscribe`
//! as its own task, and hands what those tasks produce, through a bounded
//! outbox, to a writer task that owns the socket's sending half. It never waits
//! for a write: a client that stops reading fills the writer's queue, its
//! operations are held back (never more memory), and once the few places kept
//! for the connection's own messages (pings, pongs, errors) are full too, the
//! connection ends — its ping timeout, access re-checks and shutdown keep
//! running meanwhile. Once a second it checks
//! the caller again: an expired token closes with 4401, a suspended tenant, a
//! removed membership or a disabled user with 4403.
//!
//! Close codes: 4400 bad message, 4401 subscribe before `connection_ack` (or
//! token expired), 4403 forbidden, 4406 subprotocol not offered, 4408 no
//! `connection_init` in time, 4409 duplicate operation id, 4429 second
//! `connection_init`, 1001 server stopping or client silent for two pings.
use std::{collections::HashMap, time::Duration};

use async_graphql::Request;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::{
    sync::mpsc,
    task::AbortHandle,
    time::{interval_at, Instant, MissedTickBehavior},
};

use super::{caller::authenticate, caller::bearer_token, AppState};
use crate::{
    error::AppError,
    request_id::{RequestId, RequestMeta},
    schema,
    tenancy::TenantContext,
};

pub const PROTOCOL: &str = "graphql-transport-ws";

/// Messages waiting to be written per connection; past it, operations wait.
const OUTBOX: usize = 64;
/// Frames queued for the writer task.
const WRITE_QUEUE: usize = 32;
/// Places in the write queue that operations' messages never take: the
/// connection's own messages still fit while a client reads slowly.
const CONTROL_RESERVE: usize = 8;
/// How long the closing frame may take to go out once the connection ends.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a connection's caller is checked again.
const ACCESS_CHECK: Duration = Duration::from_secs(1);
/// Largest frame a client may send (a subscribe message is a document).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// The socket's read buffer (it grows for a bigger message).
pub const READ_BUFFER_BYTES: usize = 1024;
/// Most unsent bytes kept for a client that does not read.
pub const MAX_WRITE_BUFFER_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct WsSettings {
    pub init_timeout: Duration,
    pub ping_interval: Duration,
    pub max_subscriptions_per_connection: usize,
}

/// Why the server ends a connection: a close code and a reason (≤ 123 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Close(u16, String);

impl Close {
    pub(super) fn code(&self) -> u16 {
        self.0
    }
}

impl Close {
    fn bad_message(why: impl Into<String>) -> Self {
        Close(4400, truncate(why.into()))
    }

    fn forbidden(why: impl Into<String>) -> Self {
        Close(4403, truncate(why.into()))
    }

    /// The close for a caller who no longer qualifies.
    fn for_refusal(err: &AppError) -> Self {
        match err {
            AppError::Unauthenticated(why) => Close(4401, truncate(format!("Unauthorized: {why}"))),
            other => Close::forbidden(format!("Forbidden: {}", other.public_message())),
        }
    }
}

fn truncate(mut reason: String) -> String {
    if reason.len() > 123 {
        let mut end = 120;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push_str("...");
    }
    reason
}

/// A message from the client, as the protocol defines it.
#[derive(Debug)]
pub(super) enum ClientMessage {
    ConnectionInit(Option<serde_json::Map<String, Value>>),
    Ping(Option<Value>),
    Pong,
    Subscribe { id: String, request: Box<Request> },
    Complete { id: String },
}

pub(super) fn parse(text: &str) -> Result<ClientMessage, Close> {
    let bad = |why: &str| Close::bad_message(format!("Invalid message received: {why}"));
    let value: Value = serde_json::from_str(text).map_err(|_| bad("not JSON"))?;
    let Value::Object(mut message) = value else {
        return Err(bad("not a JSON object"));
    };
    let kind = match message.get("type") {
        Some(Value::String(kind)) => kind.clone(),
        _ => return Err(bad("no `type`")),
    };
    let id = |message: &serde_json::Map<String, Value>| match message.get("id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
        _ => Err(bad("no `id`")),
    };
    match kind.as_str() {
        "connection_init" => match message.remove("payload") {
            None | Some(Value::Null) => Ok(ClientMessage::ConnectionInit(None)),
            Some(Value::Object(payload)) => Ok(ClientMessage::ConnectionInit(Some(payload))),
            Some(_) => Err(bad("`connection_init` payload must be an object")),
        },
        "ping" => Ok(ClientMessage::Ping(message.remove("payload"))),
        "pong" => Ok(ClientMessage::Pong),
        "subscribe" => {
            let id = id(&message)?;
            let payload = message
                .remove("payload")
                .ok_or_else(|| bad("`subscribe` without a payload"))?;
            let request: Request = serde_json::from_value(payload)
                .map_err(|_| bad("`subscribe` payload is not a GraphQL request"))?;
            Ok(ClientMessage::Subscribe {
                id,
                request: Box::new(request),
            })
        }
        "complete" => Ok(ClientMessage::Complete { id: id(&message)? }),
        other => Err(bad(&format!("unexpected type `{other}`"))),
    }
}

/// What an operation task hands the connection to write: a protocol message
/// of operation `id` of `generation`. Boxed, so the outbox's preallocated
/// slots stay small on idle connections.
type Outgoing = Box<OperationMessage>;

struct OperationMessage {
    id: String,
    generation: u64,
    message: Value,
    /// The operation's `complete` or `error`: once written, its id is free
    /// (before the client can read it and reuse the id).
    last: bool,
}

struct Operation {
    generation: u64,
    task: AbortHandle,
}

/// The connection's verified caller (its `token` says when it expires) and
/// the token that proves it.
struct Session {
    token: String,
    caller: TenantContext,
}

struct Connection {
    /// The socket's receiving half; the sending half belongs to the writer task.
    socket: futures_util::stream::SplitStream<WebSocket>,
    /// Frames for the writer task; never awaited.
    frames: mpsc::Sender<Message>,
    state: AppState,
    settings: WsSettings,
    meta: RequestMeta,
    session: Option<Session>,
    init_received: bool,
    operations: HashMap<String, Operation>,
    next_generation: u64,
    outbox: mpsc::Sender<Outgoing>,
    last_heard: Instant,
}

/// Serves one upgraded socket until either side closes it.
pub async fn serve(socket: WebSocket, state: AppState, meta: RequestMeta, protocol_ok: bool) {
    let settings = state.ws;
    let (outbox, mut outgoing) = mpsc::channel(OUTBOX);
    let (sink, stream) = socket.split();
    let (frames, queued) = mpsc::channel(WRITE_QUEUE);
    let writer = tokio::spawn(write_frames(sink, queued));
    let mut connection = Connection {
        socket: stream,
        frames,
        state,
        settings,
        meta,
        session: None,
        init_received: false,
        operations: HashMap::new(),
        next_generation: 0,
        outbox,
        last_heard: Instant::now(),
    };
    let close = if protocol_ok {
        connection.run(&mut outgoing).await
    } else {
        Some(Close(
            4406,
            format!("Subprotocol not acceptable: offer `{PROTOCOL}`"),
        ))
    };
    for (_, operation) in connection.operations.drain() {
        operation.task.abort();
    }
    if let Some(Close(code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        };
        let _ = connection.frames.try_send(Message::Close(Some(frame)));
    }
    drop(connection);
    // The writer ends once the queue is written (or the socket fails); a
    // client that reads nothing gets no longer than this.
    let abort = writer.abort_handle();
    if tokio::time::timeout(CLOSE_WRITE_TIMEOUT, writer)
        .await
        .is_err()
    {
        abort.abort();
    }
}

/// The writer task: sends queued frames in order until the queue closes, a
/// close frame has gone out, or the socket fails.
async fn write_frames(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut queued: mpsc::Receiver<Message>,
) {
    use futures_util::SinkExt;
    while let Some(frame) = queued.recv().await {
        let closing = matches!(frame, Message::Close(_));
        if sink.send(frame).await.is_err() || closing {
            return;
        }
    }
    let _ = sink.close().await;
}

impl Connection {
    /// The connection's loop; returns how the server closes it (None: the
    /// client closed or the socket failed).
    async fn run(&mut self, outgoing: &mut mpsc::Receiver<Outgoing>) -> Option<Close> {
        let init_deadline = tokio::time::sleep(self.settings.init_timeout);
        tokio::pin!(init_deadline);
        let ping_every = self.settings.ping_interval.max(Duration::from_millis(100));
        let mut ping = interval_at(Instant::now() + ping_every, ping_every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut access = interval_at(Instant::now() + ACCESS_CHECK, ACCESS_CHECK);
        access.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let stopping = self.state.stopping.clone();
        loop {
            tokio::select! {
                received = self.socket.next() => {
                    let message = match received {
                        Some(Ok(message)) => message,
                        Some(Err(_)) | None => return None,
                    };
                    self.last_heard = Instant::now();
                    match message {
                        Message::Text(text) => {
                            let result = match parse(text.as_str()) {
                                // Boxed: handling a message (authenticating, starting an
                                // operation) is a big future, needed only for a moment;
                                // inline it would sit in every idle connection's task.
                                Ok(message) => Box::pin(self.handle(message)).await,
                                Err(close) => Err(close),
                            };
                            if let Err(close) = result {
                                return Some(close);
                            }
                        }
                        Message::Binary(_) => {
                            return Some(Close::bad_message(
                                "Invalid message received: binary frames are not part of graphql-transport-ws",
                            ));
                        }
                        Message::Close(_) => return None,
                        Message::Ping(_) | Message::Pong(_) => {}
                    }
                }
                // Operations' messages only while the writer keeps up: the
                // reserve stays free for the connection's own.
                Some(out) = outgoing.recv(), if self.frames.capacity() > CONTROL_RESERVE => {
                    if !self.write(out).await {
                        return None;
                    }
                }
                () = &mut init_deadline, if !self.init_received => {
                    return Some(Close(4408, "Connection initialisation timeout".into()));
                }
                _ = ping.tick() => {
                    if self.last_heard.elapsed() > ping_every * 2 {
                        return Some(Close(1001, format!(
                            "no message or pong for {} ms", (ping_every * 2).as_millis()
                        )));
                    }
                    if !self.send(json!({ "type": "ping" })).await {
                        return None;
                    }
                }
                _ = access.tick(), if self.session.is_some() => {
                    if let Err(close) = Box::pin(self.recheck_access()).await {
                        return Some(close);
                    }
                }
                () = stopping.cancelled() => {
                    return Some(Close(1001, "server shutting down".into()));
                }
            }
        }
    }

    async fn handle(&mut self, message: ClientMessage) -> Result<(), Close> {
        match message {
            ClientMessage::ConnectionInit(payload) => {
                if self.init_received {
                    return Err(Close(4429, "Too many initialisation requests".into()));
                }
                self.init_received = true;
                self.session = Some(self.open_session(payload).await?);
                self.must_send(json!({ "type": "connection_ack" })).await
            }
            ClientMessage::Ping(payload) => {
                let mut pong = json!({ "type": "pong" });
                if let Some(payload) = payload {
                    pong["payload"] = payload;
                }
                self.must_send(pong).await
            }
            ClientMessage::Pong => Ok(()),
            ClientMessage::Subscribe { id, request } => self.subscribe(id, *request).await,
            ClientMessage::Complete { id } => {
                if let Some(operation) = self.operations.remove(&id) {
                    operation.task.abort();
                }
                Ok(())
            }
        }
    }

    /// Authenticates `connection_init`: a token that would be refused over HTTP
    /// is refused here, with 4403.
    async fn open_session(
        &mut self,
        payload: Option<serde_json::Map<String, Value>>,
    ) -> Result<Session, Close> {
        let credential = payload.as_ref().and_then(|p| {
            p.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case("authorization"))
                .and_then(|(_, value)| value.as_str())
        });
        let Some(credential) = credential else {
            return Err(Close::forbidden(
                "Forbidden: connection_init needs {\"authorization\": \"Bearer <token>\"}",
            ));
        };
        let Some(token) = bearer_token(credential) else {
            return Err(Close::forbidden(
                "Forbidden: authorization must be `Bearer <token>`",
            ));
        };
        match authenticate(&self.state, token, &self.meta).await {
            Ok(caller) => Ok(Session {
                token: token.to_string(),
                caller,
            }),
            Err(err) => {
                self.state.services.metrics.record_refused(err.code());
                Err(Close::forbidden(format!(
                    "Forbidden: {}",
                    err.public_message()
                )))
            }
        }
    }

    /// Checks the caller again: the token's expiry, then the tenant, user and
    /// membership as HTTP would check them now.
    async fn recheck_access(&mut self) -> Result<(), Close> {
        let Some(session) = &self.session else {
            return Ok(());
        };
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let expires_at = session.caller.token.as_ref().map_or(0, |t| t.expires_at);
        if expires_at <= now {
            return Err(Close(4401, "Unauthorized: the token expired".into()));
        }
        match authenticate(&self.state, &session.token, &self.meta).await {
            Ok(caller) => {
                if let Some(session) = &mut self.session {
                    session.caller = caller;
                }
                Ok(())
            }
            Err(err) => Err(Close::for_refusal(&err)),
        }
    }

    async fn subscribe(&mut self, id: String, mut request: Request) -> Result<(), Close> {
        let Some(caller) = self.session.as_ref().map(|s| s.caller.clone()) else {
            return Err(Close(4401, "Unauthorized".into()));
        };
        if self.operations.contains_key(&id) {
            return Err(Close(
                4409,
                truncate(format!("Subscriber for {id} already exists")),
            ));
        }
        if self.operations.len() >= self.settings.max_subscriptions_per_connection {
            let err = AppError::LimitExceeded(format!(
                "this connection already has {} operations open, the most allowed \
                 (TENANTQL_MAX_SUBSCRIPTIONS_PER_CONNECTION)",
                self.settings.max_subscriptions_per_connection
            ));
            return self.refuse_operation(&id, &err).await;
        }
        let services = &self.state.services;
        let resolved = schema::resolve_document(
            services,
            &self.state.policy,
            &mut request,
            Some(&caller),
            &self.meta,
        )
        .await;
        if let Err(err) = resolved {
            return self.refuse_operation(&id, &err).await;
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        let meta = RequestMeta {
            request_id: RequestId::generate(),
            sign_in: Default::default(),
            ..self.meta.clone()
        };
        let responses = schema::execute_stream(
            &self.state.schema,
            &self.state.services,
            &self.state.policy,
            request,
            caller,
            &meta,
        );
        let outbox = self.outbox.clone();
        let task = tokio::spawn(run_operation(id.clone(), generation, responses, outbox));
        self.operations.insert(
            id,
            Operation {
                generation,
                task: task.abort_handle(),
            },
        );
        Ok(())
    }

    /// Answers an operation that will not run with an `error` message.
    async fn refuse_operation(&mut self, id: &str, err: &AppError) -> Result<(), Close> {
        let mut error = err.to_server_error();
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("requestId", self.meta.request_id.as_str());
        self.must_send(json!({ "id": id, "type": "error", "payload": [error] }))
            .await
    }

    /// Writes what an operation produced, unless the operation has ended since
    /// (the client completed it, or reused its id).
    async fn write(&mut self, out: Outgoing) -> bool {
        let OperationMessage {
            id,
            generation,
            message,
            last,
        } = *out;
        let current = self
            .operations
            .get(&id)
            .is_some_and(|op| op.generation == generation);
        if !current {
            return true;
        }
        if last {
            self.operations.remove(&id);
        }
        self.send(message).await
    }

    /// Like `send`, for the connection's own answers: a client whose queue is
    /// full is not reading, and the connection ends.
    async fn must_send(&mut self, message: Value) -> Result<(), Close> {
        if self.send(message).await {
            Ok(())
        } else {
            Err(Close(
                1008,
                "the client does not read what it is sent".into(),
            ))
        }
    }

    /// Queues `message` for the writer without waiting; false when the queue
    /// is full (the client has stopped reading) or the socket is gone — the
    /// connection then ends.
    async fn send(&mut self, message: Value) -> bool {
        self.frames
            .try_send(Message::Text(Utf8Bytes::from(message.to_string())))
            .is_ok()
    }
}

/// Runs one operation: `next` per result, then `complete`; a first result with
/// errors and no data is the operation's `error` (nothing follows it).
async fn run_operation(
    id: String,
    generation: u64,
    mut responses: futures_util::stream::BoxStream<'static, async_graphql::Response>,
    outbox: mpsc::Sender<Outgoing>,
) {
    let emit = |message: Value, last: bool| {
        Box::new(OperationMessage {
            id: id.clone(),
            generation,
            message,
            last,
        })
    };
    let mut first = true;
    let mut failed = false;
    while let Some(response) = responses.next().await {
        let refused = first && response.data == async_graphql::Value::Null && response.is_err();
        first = false;
        let message = if refused {
            failed = true;
            json!({ "id": id, "type": "error", "payload": response.errors })
        } else {
            json!({ "id": id, "type": "next", "payload": response })
        };
        if outbox.send(emit(message, failed)).await.is_err() || failed {
            return;
        }
    }
    let complete = json!({ "id": id, "type": "complete" });
    let _ = outbox.send(emit(complete, true)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close_code(text: &str) -> u16 {
        match parse(text) {
            Ok(message) => panic!("accepted {message:?}"),
            Err(close) => close.0,
        }
    }

    #[test]
    fn the_client_messages_of_the_protocol_parse() {
        assert!(matches!(
            parse(r#"{"type":"connection_init"}"#),
            Ok(ClientMessage::ConnectionInit(None))
        ));
        assert!(matches!(
            parse(r#"{"type":"connection_init","payload":{"authorization":"Bearer x"}}"#),
            Ok(ClientMessage::ConnectionInit(Some(_)))
        ));
        assert!(matches!(
            parse(r#"{"type":"pong"}"#),
            Ok(ClientMessage::Pong)
        ));
        assert!(matches!(
            parse(r#"{"type":"ping","payload":{"a":1}}"#),
            Ok(ClientMessage::Ping(Some(p))) if p == json!({"a": 1})
        ));
        assert!(matches!(
            parse(r#"{"id":"1","type":"subscribe","payload":{"query":"subscription { x }"}}"#),
            Ok(ClientMessage::Subscribe { id, .. }) if id == "1"
        ));
        assert!(matches!(
            parse(r#"{"id":"1","type":"complete"}"#),
            Ok(ClientMessage::Complete { id }) if id == "1"
        ));
    }

    #[test]
    fn anything_else_is_a_bad_message() {
        for text in [
            "not json",
            "[]",
            r#"{"id":"1"}"#,
            r#"{"type":"connection_ack"}"#,
            r#"{"type":"next","id":"1","payload":{}}"#,
            r#"{"type":"error","id":"1","payload":[]}"#,
            r#"{"type":"subscribe","payload":{"query":"{ a }"}}"#,
            r#"{"type":"subscribe","id":"","payload":{"query":"{ a }"}}"#,
            r#"{"type":"subscribe","id":"1"}"#,
            r#"{"type":"subscribe","id":"1","payload":{"query":5}}"#,
            r#"{"type":"complete"}"#,
            r#"{"type":"connection_init","payload":"token"}"#,
        ] {
            assert_eq!(close_code(text), 4400, "{text}");
        }
    }

    #[test]
    fn close_reasons_fit_a_close_frame() {
        let long = Close::bad_message("é".repeat(200));
        assert!(long.1.len() <= 123);
        assert_eq!(
            Close::for_refusal(&AppError::Unauthenticated("the token expired")).0,
            4401
        );
        assert_eq!(
            Close::for_refusal(&AppError::TenantSuspended("acme".into())).0,
            4403
        );
    }
}
