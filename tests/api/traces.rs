//! OpenTelemetry traces against a real OTLP/HTTP receiver on loopback: the
//! server (a `tenantql serve` process, since the tracing subscriber is one per
//! process) exports one tree per request — the HTTP server span, the GraphQL
//! operation, each tenant-database statement — with the tenant and no secret;
//! errors carry the trace id; a caller's `traceparent` is a link unless the
//! operator trusts callers.
use std::{
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest, common::v1::any_value::Value as AnyValue,
    trace::v1::Span,
};
use prost::Message;
use serde_json::{json, Value};

use crate::helpers::{free_port, ok, tenantql, PASSWORD};

type Exports = Arc<Mutex<Vec<Vec<u8>>>>;

/// An OTLP/HTTP endpoint that keeps every export's protobuf body.
async fn receiver() -> (String, Exports) {
    let exports: Exports = Arc::default();
    let kept = exports.clone();
    let router = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push(body.to_vec());
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, exports)
}

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(data_dir: &Path, endpoint: &str, trust: bool) -> Server {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_tenantql"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["serve", "--demo", "--demo-invoices", "30"])
        .arg(format!("--listen=127.0.0.1:{port}"))
        .arg(format!("--metrics-listen=127.0.0.1:{}", free_port()))
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("TENANTQL_TRUST_TRACEPARENT", trust.to_string())
        .env("TENANTQL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tenantql serve starts");
    let server = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let since = Instant::now();
    while reqwest::get(format!("{}/health", server.url))
        .await
        .is_err()
    {
        assert!(
            since.elapsed() < Duration::from_secs(60),
            "the server never listened"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server
}

/// Every span exported so far.
fn spans(exports: &Exports) -> Vec<Span> {
    exports
        .lock()
        .unwrap()
        .iter()
        .flat_map(|body| {
            ExportTraceServiceRequest::decode(body.as_slice())
                .expect("OTLP protobuf")
                .resource_spans
        })
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .collect()
}

fn attr(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            AnyValue::StringValue(s) => Some(s.clone()),
            AnyValue::IntValue(i) => Some(i.to_string()),
            AnyValue::DoubleValue(d) => Some(d.to_string()),
            AnyValue::BoolValue(b) => Some(b.to_string()),
            _ => None,
        })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Waits until a trace holds a server span, a GraphQL span and a statement.
async fn trace_of(exports: &Exports, trace_id: &str) -> Vec<Span> {
    let since = Instant::now();
    loop {
        let trace: Vec<Span> = spans(exports)
            .into_iter()
            .filter(|s| hex(&s.trace_id) == trace_id)
            .collect();
        if trace.iter().any(|s| s.name.starts_with("SELECT"))
            && trace.iter().any(|s| s.name == "POST")
        {
            return trace;
        }
        assert!(
            since.elapsed() < Duration::from_secs(15),
            "trace {trace_id} never arrived whole: {trace:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn post(server: &Server, token: &str, query: &str, traceparent: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{}/graphql", server.url))
        .bearer_auth(token)
        .header("traceparent", traceparent)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A graphql-transport-ws subscription to `invoiceEvents` of `company`.
async fn subscribe(server: &Server, token: &str, company: &str) -> Socket {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message as Ws};
    let mut request = format!("{}/graphql", server.url.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let send = |v: Value| Ws::Text(v.to_string().into());
    ws.send(send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } })))
        .await
        .unwrap();
    next_event(&mut ws).await;
    ws.send(send(json!({ "id": "1", "type": "subscribe", "payload": {
        "query": "subscription($c: ID!) { invoiceEvents(companyId: $c) { change } }",
        "variables": { "c": company } } })))
        .await
        .unwrap();
    // The subscription is live once the server has read it; give it that moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    ws
}

/// The next text message (a bounded wait).
async fn next_event(ws: &mut Socket) -> Value {
    use futures_util::StreamExt;
    let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a message in time")
        .expect("the socket is open")
        .unwrap();
    serde_json::from_str(message.to_text().unwrap()).unwrap()
}

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[tokio::test]
async fn one_request_is_one_trace_with_its_tenant_and_no_secret() {
    let (endpoint, exports) = receiver().await;
    let data_dir = tempfile::tempdir().unwrap();
    let server = serve(data_dir.path(), &endpoint, false).await;
    let token = ok(tenantql(
        data_dir.path(),
        &["token", "--tenant", "acme", "--user", "alice@acme.test"],
        None,
    ))
    .trim()
    .to_string();

    // An error names the trace it belongs to; the caller's trace is only a link.
    let answer = post(
        &server,
        &token,
        "{ companies { id name } partner(id: \"nope\") { id } }",
        TRACEPARENT,
    )
    .await;
    let error = &answer["errors"][0]["extensions"];
    let trace_id = error["traceId"]
        .as_str()
        .unwrap_or_else(|| panic!("no traceId: {answer:#}"))
        .to_string();
    assert!(error["requestId"].is_string());
    assert_ne!(
        trace_id, CALLER_TRACE,
        "an untrusted caller chose the trace"
    );
    let trace = trace_of(&exports, &trace_id).await;

    let server_span = trace.iter().find(|s| s.name == "POST").unwrap();
    assert!(
        server_span.parent_span_id.is_empty(),
        "the server span is the root"
    );
    assert_eq!(attr(server_span, "url.path").as_deref(), Some("/graphql"));
    assert_eq!(
        attr(server_span, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert!(
        server_span
            .links
            .iter()
            .any(|l| hex(&l.trace_id) == CALLER_TRACE),
        "the caller's trace is not linked: {server_span:#?}"
    );
    let operation = trace.iter().find(|s| s.name == "query").unwrap_or_else(|| {
        let names: Vec<&str> = trace.iter().map(|s| s.name.as_str()).collect();
        panic!("no GraphQL span named `query` in {names:?}")
    });
    assert_eq!(operation.parent_span_id, server_span.span_id);
    assert_eq!(
        attr(operation, "graphql.operation.type").as_deref(),
        Some("query")
    );
    assert_eq!(attr(operation, "tenant.slug").as_deref(), Some("acme"));
    assert!(attr(operation, "tenant.id").is_some_and(|id| id.len() == 36));
    let statements: Vec<&Span> = trace
        .iter()
        .filter(|s| s.name.starts_with("SELECT"))
        .collect();
    assert!(
        statements.iter().any(|s| s.name == "SELECT companies"),
        "{statements:#?}"
    );
    for statement in &statements {
        assert_eq!(
            statement.parent_span_id, operation.span_id,
            "{statement:#?}"
        );
        assert_eq!(attr(statement, "db.system.name").as_deref(), Some("sqlite"));
        assert!(attr(statement, "tenantql.pool.wait_ms").is_some());
    }

    // Nothing secret anywhere in what was exported.
    let raw: Vec<u8> = exports.lock().unwrap().concat();
    for secret in [token.as_str(), PASSWORD, "nope"] {
        assert!(
            !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "`{secret}` reached the traces"
        );
    }
    drop(server);

    // An operator who trusts its callers continues their traces.
    let (endpoint, exports) = receiver().await;
    let trusting = serve(data_dir.path(), &endpoint, true).await;
    let answer = post(&trusting, &token, "{ companies { id } }", TRACEPARENT).await;
    assert!(answer.get("errors").is_none(), "{answer:#}");
    let trace = trace_of(&exports, CALLER_TRACE).await;
    let server_span = trace.iter().find(|s| s.name == "POST").unwrap();
    assert_eq!(hex(&server_span.parent_span_id), "00f067aa0ba902b7");
    // A published document is named by its id.
    let document = "{ companies { name } }";
    let id = format!("sha256:{}", tenantql::digest::sha256_hex(document));
    let manifest = json!({ id.clone(): document }).to_string();
    ok(tenantql(
        data_dir.path(),
        &["documents", "publish", "-"],
        Some(&manifest),
    ));
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/graphql", trusting.url))
        .bearer_auth(&token)
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .json(&json!({ "documentId": id }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(answer.get("errors").is_none(), "{answer:#}");
    let trace = trace_of(&exports, "0af7651916cd43dd8448eb211c80319c").await;
    let operation = trace.iter().find(|s| s.name == "query").unwrap();
    assert_eq!(attr(operation, "graphql.document.id"), Some(id));

    // A subscriber's delivery of an event is a span linked to the write that caused it.
    let data = post(&trusting, &token, "{ companies { id } }", TRACEPARENT).await;
    let company = data["data"]["companies"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let invoices = post(
        &trusting,
        &token,
        &format!("{{ invoices(companyId: \"{company}\", first: 50) {{ edges {{ node {{ id balance issueDate }} }} }} }}"),
        TRACEPARENT,
    )
    .await;
    let open = invoices["data"]["invoices"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .find(|n| n["balance"] != "0.00")
        .expect("an open invoice")
        .clone();
    let mut ws = subscribe(&trusting, &token, &company).await;
    let write_trace = "11111111111111111111111111111111";
    let pay = format!(
        "mutation {{ recordPayment(invoiceId: \"{}\", amount: \"0.01\", date: \"{}\") {{ payment {{ id }} }} }}",
        open["id"].as_str().unwrap(),
        open["issueDate"].as_str().unwrap()
    );
    let paid = post(
        &trusting,
        &token,
        &pay,
        &format!("00-{write_trace}-2222222222222222-01"),
    )
    .await;
    assert!(paid.get("errors").is_none(), "{paid:#}");
    next_event(&mut ws).await;
    let since = Instant::now();
    while !spans(&exports).iter().any(|s| {
        s.name == "invoice event" && s.links.iter().any(|l| hex(&l.trace_id) == write_trace)
    }) {
        assert!(
            since.elapsed() < Duration::from_secs(15),
            "no delivery span linked to the payment"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
