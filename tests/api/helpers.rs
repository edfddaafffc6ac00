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
async fn fresh_postgres_database(base: &str) -> String {
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
        // Tests see control-plane changes at once; the cache is exercised separately.
        config.server.context_cache_secs = 0;
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
        let services = app.services().clone();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        TestApp {
            addr,
            services,
            config,
            client: reqwest::Client::new(),
            shutdown,
            server: Some(server),
            data_dir,
        }
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
        let t = tenantql::control::tenants::get_by_slug(&self.services.control.db, slug)
            .await
            .expect("tenant exists");
        TenantRef {
            id: t.id,
            slug: t.slug,
            display_name: t.display_name,
            backend: t.backend,
            config_version: t.config_version,
        }
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

/// A port nothing listens on right now (for processes that take `--listen`/`--port`).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
