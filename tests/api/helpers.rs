//! One place for what every integration test needs: a real server on a random
//! port over a fresh control plane (SQLite in a temp dir, or a fresh database on
//! the test PostgreSQL), fixtures built through the library, and a client.
use std::{
    io::Write,
    net::SocketAddr,
    path::Path,
    process::{Command, Output, Stdio},
    sync::OnceLock,
};

use reqwest::{header::HeaderMap, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use secrecy::SecretString;
use serde_json::{json, Value};
use tenantql::{
    admin::registry,
    audit::Actor,
    config::Config,
    control::{
        entities::{membership::MemberRole, tenant, tenant::BackendKind, user},
        tenants::{NewTenant, PoolLimits},
    },
    state::Services,
    tenancy::{pools::PoolStats, TenantRef},
    Application,
};
use tokio_util::sync::CancellationToken;

pub use crate::services::{free_port, RedisServer, SmtpSink, SshServer};

pub const PASSWORD: &str = "correct horse battery";

/// Which control-plane database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlDb {
    Sqlite,
    Postgres,
}

/// Logs stay silent unless TEST_LOG is set.
fn init_tracing() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tenantql::telemetry::init(&tenantql::telemetry::LogConfig {
                log_format: tenantql::config::LogFormat::Text,
                log: "info,tenantql=debug".into(),
                traces: Default::default(),
            });
        }
    });
}

/// The PostgreSQL server the test script started, if any. When the full suite is
/// required (CI, `scripts/test.sh`) its absence is an error, not a skip.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("TENANTQL_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        if std::env::var_os("TENANTQL_TEST_REQUIRE_ALL").is_some() {
            panic!("TENANTQL_TEST_PG_URL is not set but TENANTQL_TEST_REQUIRE_ALL is: run scripts/test.sh");
        }
        eprintln!(
            "notice: TENANTQL_TEST_PG_URL is not set; skipping the PostgreSQL control-plane run"
        );
    }
    url
}

/// A fresh database on the test PostgreSQL, returned as a URL.
pub async fn fresh_postgres_database(base: &str) -> String {
    let admin = Database::connect(format!("{base}/postgres"))
        .await
        .expect("connect to test PostgreSQL");
    let name = format!("tq_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    admin.close().await.ok();
    format!("{base}/{name}")
}

pub struct TestApp {
    pub addr: SocketAddr,
    /// The `/metrics` listener, apart from the public one.
    pub metrics_addr: SocketAddr,
    pub services: Services,
    pub config: Config,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// `None` for a sibling instance, which shares its first instance's data dir.
    data_dir: Option<std::sync::Arc<tempfile::TempDir>>,
}

/// An HTTP answer with its JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The `extensions.code` of the first error.
    pub fn code(&self) -> &str {
        self.body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or("<no code>")
    }

    pub fn message(&self) -> &str {
        self.body["errors"][0]["message"]
            .as_str()
            .unwrap_or("<no message>")
    }

    /// Refused outright: the code, and no data at all.
    #[track_caller]
    pub fn assert_refused(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{:#}", self.body);
        assert_eq!(self.code(), code, "{:#}", self.body);
        assert!(
            self.body.get("data").is_none(),
            "refused request leaked data: {:#}",
            self.body
        );
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Value {
        assert_eq!(self.status, StatusCode::OK, "{:#}", self.body);
        assert!(
            self.body.get("errors").is_none(),
            "unexpected errors: {:#}",
            self.body
        );
        &self.body["data"]
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(ControlDb::Sqlite, |_| {}).await
    }

    /// Starts a server; `configure` may change the config before it is built.
    pub async fn spawn_with(db: ControlDb, configure: impl FnOnce(&mut Config)) -> TestApp {
        init_tracing();
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::with_data_dir(data_dir.path());
        config.server.listen = "127.0.0.1:0".parse().unwrap();
        config.server.metrics_listen = "127.0.0.1:0".parse().unwrap();
        // Tests see control-plane changes at once; the cache is exercised separately.
        config.server.context_cache_secs = 0;
        // Likewise answers: every read reaches the tenant store (tests/api/cache.rs
        // turns the cache on).
        config.server.cache_ttl_secs = 0;
        config.server.shutdown_grace_secs = 2;
        if db == ControlDb::Postgres {
            let base = postgres_url().expect("PostgreSQL tests call postgres_url() first");
            config.control.control_db_url = Some(fresh_postgres_database(&base).await);
        }
        configure(&mut config);
        Self::start(config, Some(std::sync::Arc::new(data_dir))).await
    }

    async fn start(config: Config, data_dir: Option<std::sync::Arc<tempfile::TempDir>>) -> TestApp {
        let app = Application::build(config.clone())
            .await
            .expect("server builds");
        let addr = app.local_addr();
        let metrics_addr = app.metrics_addr();
        let services = app.services().clone();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        TestApp {
            addr,
            metrics_addr,
            services,
            config,
            client: reqwest::Client::new(),
            shutdown,
            server: Some(server),
            data_dir,
        }
    }

    /// A server whose invitation mail goes to a fresh SMTP sink on loopback
    /// (the invitees' inbox), with the two tenants of `two_tenants`.
    pub async fn spawn_with_mail(db: ControlDb) -> (TestApp, SmtpSink) {
        let sink = SmtpSink::start().await;
        let url = sink.url();
        let app = TestApp::spawn_with(db, |c| {
            c.server.smtp_url = Some(url.into());
            c.server.mail_from = Some("tenantql <no-reply@tenantql.test>".into());
        })
        .await;
        two_tenants(&app).await;
        (app, sink)
    }

    /// A second instance over the same control plane (as behind a load balancer),
    /// with its own listener, caches and pools; `configure` may change its config.
    pub async fn spawn_sibling(&self, configure: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = self.config.clone();
        config.server.demo = false;
        configure(&mut config);
        Self::start(config, self.data_dir.clone()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POST /graphql with an optional bearer token.
    pub async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Answer {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Self::answer(request.send().await.expect("request sent")).await
    }

    pub async fn answer(response: reqwest::Response) -> Answer {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body read");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn login(&self, email: &str, password: &str, tenant: Option<&str>) -> Answer {
        self.gql(
            "mutation($e: String!, $p: String!, $t: String) { login(email: $e, password: $p, tenant: $t) { token role tenant { slug } } }",
            json!({ "e": email, "p": password, "t": tenant }),
            None,
        )
        .await
    }

    pub async fn add_tenant(&self, slug: &str) -> tenant::Model {
        registry::add_tenant(
            &self.services,
            &Actor::cli("test"),
            NewTenant {
                slug: slug.into(),
                display_name: format!("{slug} Inc."),
                backend: BackendKind::Sqlite,
                connect_string: format!("/nonexistent/{slug}.db"),
                db_username: None,
                db_password: None,
                pool: PoolLimits::default(),
                tunnel: None,
                contract: Default::default(),
                allowed_origins: Vec::new(),
            },
        )
        .await
        .expect("tenant added")
    }

    /// A user with password `PASSWORD` and the given memberships.
    pub async fn add_user(&self, email: &str, grants: &[(&str, MemberRole)]) -> user::Model {
        let user = registry::add_user(
            &self.services,
            &Actor::cli("test"),
            email,
            SecretString::from(PASSWORD.to_string()),
            false,
        )
        .await
        .expect("user added");
        for (slug, role) in grants {
            registry::grant(&self.services, &Actor::cli("test"), email, slug, *role)
                .await
                .expect("granted");
        }
        user
    }

    /// A token as `tenantql token` mints it.
    pub async fn token(&self, email: &str, tenant: Option<&str>) -> String {
        self.services
            .sessions
            .mint(email, tenant, self.config.tokens.ttl())
            .await
            .expect("token minted")
            .issued
            .token
    }

    /// The demo tenants (acme, globex) and users, with `invoices` generated
    /// invoices per tenant in SQLite stores under the test's data dir.
    pub async fn spawn_demo(invoices: usize) -> TestApp {
        Self::spawn_demo_with(invoices, |_| {}).await
    }

    pub async fn spawn_demo_with(invoices: usize, configure: impl FnOnce(&mut Config)) -> TestApp {
        Self::spawn_with(ControlDb::Sqlite, |c| {
            c.server.demo = true;
            c.server.demo_invoices = invoices;
            configure(c);
        })
        .await
    }

    /// The tenant as a verified request would see it (for library-level checks).
    pub async fn tenant_ref(&self, slug: &str) -> TenantRef {
        tenantql::control::tenants::get_by_slug(&self.services.control.db, slug)
            .await
            .expect("tenant exists")
            .into()
    }

    pub async fn pool_stats(&self, slug: &str) -> Option<PoolStats> {
        let tenant = self.tenant_ref(slug).await;
        self.services.pools.stats(&tenant.id)
    }

    /// The tenant's companies as (id, name), through the API.
    pub async fn companies(&self, token: &str) -> Vec<(String, String)> {
        let answer = self
            .gql("{ companies { id name } }", json!({}), Some(token))
            .await;
        answer.assert_ok()["companies"]
            .as_array()
            .expect("companies")
            .iter()
            .map(|c| {
                (
                    c["id"].as_str().unwrap().to_string(),
                    c["name"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// The /ready answer.
    pub async fn ready(&self) -> Value {
        reqwest::get(self.url("/ready"))
            .await
            .expect("/ready answers")
            .json()
            .await
            .expect("/ready is JSON")
    }

    /// The /metrics page.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.metrics_addr))
            .await
            .expect("/metrics answers")
            .text()
            .await
            .expect("/metrics is text")
    }

    /// One unlabelled series of /metrics.
    pub async fn metric(&self, name: &str) -> u64 {
        let page = self.metrics().await;
        page.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("`{name}` is not exported"))
            .parse()
            .expect("a number")
    }

    /// The id of the first partner the token's tenant has.
    pub async fn first_partner(&self, token: &str) -> Value {
        self.gql(
            "{ partners(first: 1) { edges { node { id } } } }",
            json!({}),
            Some(token),
        )
        .await
        .assert_ok()["partners"]["edges"][0]["node"]["id"]
            .clone()
    }

    /// Stops the server gracefully (in-flight requests finish, the audit queue is
    /// written) and waits for it. The data dir lives as long as the returned handle.
    pub async fn stop(mut self) -> Option<std::sync::Arc<tempfile::TempDir>> {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server ran cleanly");
        }
        self.data_dir.take()
    }

    /// A platform admin with password `PASSWORD`, and a platform token for them.
    pub async fn platform_admin(&self, email: &str) -> String {
        registry::add_user(
            &self.services,
            &Actor::cli("test"),
            email,
            SecretString::from(PASSWORD.to_string()),
            true,
        )
        .await
        .expect("platform admin added");
        self.token(email, None).await
    }

    /// A new API key of `slug` with `role`, made as `tenantql api-key create` does.
    pub async fn api_key(
        &self,
        slug: &str,
        role: tenantql::control::entities::api_key::ApiKeyRole,
    ) -> String {
        use secrecy::ExposeSecret;
        let tenant = tenantql::control::tenants::get_by_slug(&self.services.control.db, slug)
            .await
            .expect("the tenant exists");
        let spec = tenantql::admin::api_keys::KeySpec {
            name: format!("{} key", role.as_str()),
            role,
            persisted_only: false,
            expires_in_days: None,
        };
        tenantql::admin::api_keys::create(
            &self.services,
            &Actor::cli("test"),
            (&tenant.id, &tenant.slug),
            spec,
        )
        .await
        .expect("an API key is created")
        .key
        .expose_secret()
        .to_string()
    }

    /// Suspends or re-activates a tenant as an operator would (`tenantql tenant suspend`).
    pub async fn set_tenant_status(
        &self,
        slug: &str,
        status: tenantql::control::entities::tenant::TenantStatus,
    ) {
        registry::set_tenant_status(&self.services, &Actor::cli("test"), slug, status)
            .await
            .expect("tenant status changed");
    }

    /// Every audit row, oldest first.
    /// Stops the server (writing every queued audit row) and reads all audit
    /// rows from its control plane.
    pub async fn audit_rows_after_stop(self) -> Vec<tenantql::control::entities::audit_log::Model> {
        use sea_orm::EntityTrait;
        let config = self.config.clone();
        let _data_dir = self.stop().await;
        let (control, _) = tenantql::control::ControlPlane::open(&config.control)
            .await
            .expect("the control plane opens again");
        tenantql::control::entities::audit_log::Entity::find()
            .all(&control.db)
            .await
            .expect("audit rows")
    }

    pub async fn audit_rows(&self) -> Vec<tenantql::control::entities::audit_log::Model> {
        use sea_orm::{EntityTrait, QueryOrder};
        tenantql::control::entities::audit_log::Entity::find()
            .order_by_asc(tenantql::control::entities::audit_log::Column::Id)
            .all(&self.services.control.db)
            .await
            .expect("audit rows")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// acme and globex with alice (admin of acme), bob (member of globex) and carol
/// (member of both): the demo's shape, built through the library.
pub async fn two_tenants(app: &TestApp) {
    app.add_tenant("acme").await;
    app.add_tenant("globex").await;
    app.add_user("alice@acme.test", &[("acme", MemberRole::Admin)])
        .await;
    app.add_user("bob@globex.test", &[("globex", MemberRole::Member)])
        .await;
    app.add_user(
        "carol@acme.test",
        &[("acme", MemberRole::Member), ("globex", MemberRole::Member)],
    )
    .await;
}

pub const ME: &str = "{ me { email role tenant { slug } } }";

/// Runs the `tenantql` binary over `data_dir` as an operator would, with `stdin`
/// as its standard input.
pub fn tenantql(data_dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenantql"))
        .env_clear()
        .env("TENANTQL_DATA_DIR", data_dir)
        .env("TENANTQL_LOG", "warn")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tenantql runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

/// The standard output of a command that must have succeeded.
#[track_caller]
pub fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A `graphql-transport-ws` client: answers the server's pings, and gives
/// every wait a deadline so a test fails instead of hanging.
pub struct WsClient {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

/// How long a test waits for one expected WebSocket message or close.
pub const WS_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// What the server sent, as the client sees it.
#[derive(Debug)]
pub enum WsEvent {
    Message(Value),
    Closed(u16, String),
}

impl TestApp {
    /// Opens a WebSocket to /graphql offering `protocol` (None: offers none).
    pub async fn ws_with(&self, protocol: Option<&str>) -> WsClient {
        self.ws_handshake(protocol, None)
            .await
            .expect("websocket connects")
    }

    /// The handshake as a browser page on `origin` would make it.
    pub async fn ws_handshake(
        &self,
        protocol: Option<&str>,
        origin: Option<&str>,
    ) -> Result<WsClient, tokio_tungstenite::tungstenite::Error> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://{}/graphql", self.addr)
            .into_client_request()
            .expect("ws request");
        for (name, value) in [("sec-websocket-protocol", protocol), ("origin", origin)] {
            if let Some(value) = value {
                request
                    .headers_mut()
                    .insert(name, value.parse().expect("header value"));
            }
        }
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(WsClient { socket })
    }

    /// A connection past `connection_ack` for `token`.
    pub async fn ws(&self, token: &str) -> WsClient {
        let mut ws = self.ws_with(Some("graphql-transport-ws")).await;
        ws.send(json!({
            "type": "connection_init",
            "payload": { "authorization": format!("Bearer {token}") }
        }))
        .await;
        let ack = ws.message().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        ws
    }
}

impl WsClient {
    pub async fn send(&mut self, message: Value) {
        self.send_text(&message.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        use futures_util::SinkExt;
        use tokio_tungstenite::tungstenite::Message;
        self.socket
            .send(Message::Text(text.into()))
            .await
            .expect("websocket send");
    }

    pub async fn send_binary(&mut self, bytes: &[u8]) {
        use futures_util::SinkExt;
        use tokio_tungstenite::tungstenite::Message;
        self.socket
            .send(Message::Binary(bytes.to_vec().into()))
            .await
            .expect("websocket send");
    }

    /// The next protocol message or the close, within `wait` (None: nothing came).
    pub async fn event_within(&mut self, wait: std::time::Duration) -> Option<WsEvent> {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.socket.next()).await;
            let frame = match next {
                Err(_) => return None,
                Ok(None) => return Some(WsEvent::Closed(1006, "connection dropped".into())),
                Ok(Some(Err(_))) => return Some(WsEvent::Closed(1006, "connection failed".into())),
                Ok(Some(Ok(frame))) => frame,
            };
            match frame {
                Message::Text(text) => {
                    let message: Value = serde_json::from_str(&text).expect("server sends JSON");
                    if message["type"] == "ping" {
                        let pong = json!({ "type": "pong" }).to_string();
                        let _ = self.socket.send(Message::Text(pong.into())).await;
                        continue;
                    }
                    return Some(WsEvent::Message(message));
                }
                Message::Close(frame) => {
                    return Some(match frame {
                        Some(frame) => WsEvent::Closed(frame.code.into(), frame.reason.to_string()),
                        None => WsEvent::Closed(1005, String::new()),
                    })
                }
                _ => continue,
            }
        }
    }

    /// The next protocol message; fails the test on a close or a timeout.
    pub async fn message(&mut self) -> Value {
        match self.event_within(WS_WAIT).await {
            Some(WsEvent::Message(message)) => message,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// The close code and reason; fails the test if a message or nothing comes.
    pub async fn closed(&mut self) -> (u16, String) {
        match self.event_within(WS_WAIT).await {
            Some(WsEvent::Closed(code, reason)) => (code, reason),
            other => panic!("expected the server to close, got {other:?}"),
        }
    }

    /// Asserts nothing but pings arrives for `wait`.
    pub async fn assert_silent(&mut self, wait: std::time::Duration) {
        if let Some(event) = self.event_within(wait).await {
            panic!("expected silence, got {event:?}");
        }
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({
            "id": id,
            "type": "subscribe",
            "payload": { "query": query, "variables": variables }
        }))
        .await;
    }

    /// The payload of the next `next` message of `id`.
    pub async fn next_of(&mut self, id: &str) -> Value {
        let message = self.message().await;
        assert_eq!(message["id"], id, "{message}");
        assert_eq!(message["type"], "next", "{message}");
        message["payload"].clone()
    }
}

/// A superuser session on one database of the test PostgreSQL: the client's
/// DBA, or the vendor's own application writing to its tables.
pub async fn pg_superuser(connect: &str) -> tenantql::store::Connection {
    use tenantql::store::postgres::{PostgresSession, PostgresSettings};
    let base = postgres_url().expect("PostgreSQL tests call postgres_url() first");
    let user = base
        .strip_prefix("postgres://")
        .and_then(|rest| rest.split_once('@'))
        .map(|(user, _)| user.to_string())
        .expect("postgres://user@host");
    let settings = PostgresSettings {
        connect_string: connect.to_string(),
        username: user,
        password: None,
    };
    tenantql::store::Connection::Postgres(
        PostgresSession::open(&settings, None)
            .await
            .expect("superuser session"),
    )
}

/// A client database as tenantql meets it in production: the vendor's tables
/// filled with the demo data the contract suite expects (`invoices` of them),
/// the contract as views in `erp_contract` and procedures over the vendor's
/// rules, and tenantql's own account — a role of its own with SELECT on the
/// views and EXECUTE on the procedures (through `<database>_reader`) and a
/// schema `tenantql` for its own objects. Returns (connect string, role).
pub async fn vendor_postgres_database(slug: &str, invoices: usize) -> (String, String) {
    use tenantql::erp::seed::{self, SeedPlan};
    let base = postgres_url().expect("PostgreSQL tests call postgres_url() first");
    let url = fresh_postgres_database(&base).await;
    let connect = url
        .strip_prefix("postgres://")
        .and_then(|rest| rest.split_once('@'))
        .map(|(_, connect)| connect.to_string())
        .expect("user@host");
    let mut dba = pg_superuser(&connect).await;
    seed::load_vendor_example(&mut dba, slug, SeedPlan::new(invoices))
        .await
        .expect("the vendor-like example");
    let database = connect.rsplit('/').next().unwrap().to_string();
    let role = format!("{database}_app");
    dba.execute_script(&format!(
        "CREATE ROLE {role} LOGIN; GRANT {database}_reader TO {role}; \
         CREATE SCHEMA tenantql AUTHORIZATION {role}; ALTER ROLE {role} SET search_path = tenantql"
    ))
    .await
    .expect("tenantql's account");
    (connect, role)
}

/// Registers the vendor-like database as an operator would (contract schema
/// `erp_contract`, write `mode`), makes alice its admin, migrates tenantql's
/// objects into it and wires the vendor's triggers to them. Returns its connect string.
pub async fn add_vendor_tenant(
    app: &TestApp,
    slug: &str,
    invoices: usize,
    mode: tenantql::control::entities::tenant::WriteMode,
) -> String {
    let (connect, role) = vendor_postgres_database(slug, invoices).await;
    register_tenant(
        app,
        NewTenant {
            slug: slug.into(),
            display_name: format!("{slug} (vendor ERP)"),
            backend: BackendKind::Postgres,
            connect_string: connect.clone(),
            db_username: Some(role),
            db_password: None,
            pool: PoolLimits::default(),
            tunnel: None,
            contract: tenantql::control::tenants::ContractPlacement {
                schema: Some("erp_contract".into()),
                write_mode: mode,
            },
            allowed_origins: Vec::new(),
        },
    )
    .await;
    let rollout = migrate_tenant(app, slug).await;
    assert_eq!(rollout.status, "completed", "{rollout:#?}");
    pg_superuser(&connect)
        .await
        .execute_script(tenantql::erp::seed::POSTGRES_VENDOR_TRIGGERS)
        .await
        .expect("vendor triggers");
    connect
}

/// Migrates tenantql's own objects into one tenant's database, as
/// `tenantql tenant migrate SLUG` does.
pub async fn migrate_tenant(
    app: &TestApp,
    slug: &str,
) -> tenantql::admin::tenant_database::Rollout {
    tenantql::admin::tenant_database::migrate(
        &app.services,
        &Actor::cli("test"),
        tenantql::admin::tenant_database::RolloutRequest {
            slugs: vec![slug.into()],
            dry_run: false,
            concurrency: 1,
            canary: None,
        },
    )
    .await
    .expect("the rollout runs")
}

/// Registers a tenant as an operator would and makes alice its admin.
pub async fn register_tenant(app: &TestApp, new: NewTenant) {
    let slug = new.slug.clone();
    registry::add_tenant(&app.services, &Actor::cli("test"), new)
        .await
        .expect("tenant added");
    registry::grant(
        &app.services,
        &Actor::cli("test"),
        "alice@acme.test",
        &slug,
        MemberRole::Admin,
    )
    .await
    .expect("alice granted");
}

/// A tenant whose ERP data lives in a fresh database on the test PostgreSQL
/// (reached through `tunnel` if given), seeded with `invoices` invoices, alice
/// its admin. Returns the database's connect string.
pub async fn add_postgres_tenant(
    app: &TestApp,
    slug: &str,
    invoices: usize,
    tunnel: Option<tenantql::control::tenants::TunnelConfig>,
) -> String {
    let base = postgres_url().expect("PostgreSQL tests call postgres_url() first");
    let url = fresh_postgres_database(&base).await;
    // postgres://user@host:port/db → host:port/db, user
    let rest = url.strip_prefix("postgres://").expect("a postgres:// URL");
    let (user, connect) = rest.split_once('@').expect("user@host");
    register_tenant(
        app,
        NewTenant {
            slug: slug.into(),
            display_name: format!("{slug} on PostgreSQL"),
            backend: BackendKind::Postgres,
            connect_string: connect.to_string(),
            db_username: Some(user.to_string()),
            db_password: None,
            pool: PoolLimits::default(),
            tunnel,
            contract: Default::default(),
            allowed_origins: Vec::new(),
        },
    )
    .await;
    tenantql::demo::seed_tenant(&app.services, slug, invoices)
        .await
        .expect("PostgreSQL tenant seeded");
    connect.to_string()
}
