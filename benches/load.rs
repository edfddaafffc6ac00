//! Load benchmark: the release server on generated ERP data, driven over loopback
//! by virtual users with the two documents SPAs send all day.
//!
//!     cargo bench --bench load -- [options]
//!
//! Phases, each run over N tenants and again over one tenant (same total load),
//! so multi-tenant overhead comes out as a ratio taken in one run:
//! - realistic: `--users` virtual users per tenant, each waiting `--think-ms`
//!   between requests (3 invoice pages following endCursor, then a dashboard);
//! - saturation: `--connections` workers without think time, first the invoice
//!   page alone, then the dashboard alone;
//! - audit: the saturation invoice page against a server with request auditing on,
//!   then one with it off, three times in turn (on, off, on, off, …), and the same
//!   for `{ me { email } }`, reporting throughput and the server's CPU time per
//!   request for each, and the on/off ratios;
//! - me: `{ me { email } }` with a real token against tenantql (auditing off, then
//!   on) and against a bare async-graphql schema answering from memory on the same
//!   axum stack (`mod bare`), three times in turn, as ratios to the bare schema.
//!
//! - fairness: tenant B (t002) sends invoice pages one at a time on one
//!   connection (`wrk -c1`), alone, then while tenant A (t001) floods the
//!   server with dashboards from each of `--flood-connections` (64,256)
//!   connections without think time, over HTTP (wrk) and over WebSockets, the
//!   answer cache off and on; B's p95 beside the flood over alone and A's
//!   throughput beside B over alone; `--fair-off true` adds fair share off
//!   (`mod fairness`). Needs wrk.
//!
//! - events: two instances sharing a private redis-server; `--subscribers`
//!   WebSocket subscribers of `invoiceEvents`, half on each; `--payments`
//!   payments sent to the second instance one after the other; the latency from
//!   sending each mutation to each subscriber's `next` (p50, p99 over all
//!   deliveries);
//! - memory: the server's resident memory before and 10 s after opening
//!   `--subscribers` idle subscriptions (one WebSocket each), per subscription,
//!   then per connection whose only operation has completed;
//! - cache: the saturation dashboard with the answer cache off, then on (warm).
//!
//! - overhead: the multi-tenant overhead measured fairly: invoice pages sent
//!   open loop at `--steady-rps` in total, rotating over the tenants, then all
//!   to t001 (which then has every tenant's pool connections), same rate, same
//!   connections; the server's CPU time per page each time, `--rounds` rounds
//!   in turn, and the ratio multi / single.
//!
//! - network: the saturation invoice page on the same PostgreSQL database reached
//!   directly, then through an SSH tunnel (a private sshd on loopback), then on
//!   t001's SQLite store, in one run; then sshd is killed and restarted
//!   `--rounds` times, and the time from its restart (and from the loss) to the
//!   tenant's first answer is measured. Needs `--pg-url` (or
//!   TENANTQL_TEST_PG_URL): a PostgreSQL whose user may create databases.
//!
//! - hotpath: the issue's table in one run, uncached: the floor (`mod floor`,
//!   a hand-written handler whose answers are first checked byte for byte
//!   against tenantql's), tenantql and the bare schema, `--rounds` rounds in
//!   turn, each saturated from `--connections` connections: invoice page and
//!   dashboard req/s, server CPU per request and p99, `{ me }` against the
//!   bare schema; means as ratios to the floor and to the Node reference.
//!
//! - contract: the saturated invoice page and dashboard on PostgreSQL, on
//!   tenantql's own tables (`pgown`) and on the vendor-like example of a
//!   client's ERP read through the contract views (`pgviews`,
//!   sql/postgres/examples/), the same rows in both, `--rounds` rounds in turn:
//!   req/s, server CPU per request and p95, and the ratios views / own. Needs
//!   `--pg-url`.
//!
//! - edges: what the browser and machine-client edges cost per request:
//!   `{ me { email } }` saturated with no `Origin`, from a tenant's allowed
//!   origin (CORS headers and the tenant's origin check), by `documentId`
//!   under `allow`, and by `documentId` for a tenant in `require` mode, on one
//!   server, `--rounds` rounds in turn: server CPU per request as ratios to the
//!   plain request (`mod edges`).
//!
//! - slowlink: the tenant's PostgreSQL (`--pg-url`) behind a delayed link: a
//!   relay on loopback holding each chunk for half of each of `--rtts`
//!   (0,10,25,50 ms) per direction; invoice pages and dashboards sent one at a
//!   time (`--slow-requests` of each per RTT): p50, p95, the round-trip stages
//!   they imply and the sessions the tenant's pool opened (`mod slowlink`).
//!
//! - scale: `--scale-tenants` tenants registered once under target/loadbench
//!   (tiny stores of `--scale-invoices` invoices), `--active` of them sending
//!   invoice pages open loop at `--scale-rps`, the window moving on by
//!   `--rotate` tenants a second: cold first requests apart from warm ones,
//!   peak RSS, pools reaped after the idle TTL, tenant label values in
//!   /metrics (`mod scale`).
//!
//! TENANTQL_BENCH_SERVER=/path/to/tenantql measures that server binary instead
//! of the one cargo built (an earlier commit's, for a before/after in one run).
//!
//! The server runs pinned to `--server-cpu` (taskset) and this process to
//! another CPU. Every loop is bounded by `--seconds`; the server is stopped at the
//! end. Data is generated once per (tenants, invoices) under target/loadbench;
//! each run starts with an empty audit log.
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use secrecy::SecretString;
use serde_json::{json, Value};
use tenantql::{
    admin::registry,
    audit::Actor,
    config::Config,
    control::{
        entities::{membership::MemberRole, tenant::BackendKind},
        tenants::{NewTenant, PoolLimits},
    },
    state::Services,
};

/// The loopback services the tests start (redis-server, sshd), shared with them;
/// the tests use parts the benchmark does not.
#[allow(dead_code)]
#[path = "../tests/api/services.rs"]
mod services;

use services::free_port;

/// The `contract` phase: a client's ERP through the contract views.
#[path = "load/contract.rs"]
mod contract;
/// The hand-written floor the `hotpath` phase measures against.
#[path = "load/edges.rs"]
mod edges;

/// The `fairness` phase: a real flood beside a sequential tenant.
#[path = "load/fairness.rs"]
mod fairness;
#[path = "load/floor.rs"]
mod floor;
/// The `scale` phase: ten thousand tenants.
#[path = "load/scale.rs"]
mod scale;
/// The `slowlink` phase: a tenant database across a delayed link.
#[path = "load/slowlink.rs"]
mod slowlink;

const INVOICE_PAGE: &str = r#"query InvoicePage($companyId: ID!, $after: String) {
  invoices(companyId: $companyId, first: 100, after: $after) {
    edges { cursor node { id number kind issueDate dueDate total balance status
      partner { id name taxId } company { id name } payments { id date amount } } }
    pageInfo { hasNextPage endCursor } } }"#;

const DASHBOARD: &str = r#"query Dashboard($companyId: ID!, $year: Int!) {
  dashboard(companyId: $companyId, year: $year) { revenue expenses receivables payables overdue
    monthly { month revenue expenses } topCustomers(limit: 5) { partner { id name } total } } }"#;

const PASSWORD: &str = "bench-password-1";

#[derive(Debug, Clone)]
struct Options {
    tenants: usize,
    users: usize,
    invoices: usize,
    seconds: u64,
    think_ms: u64,
    connections: usize,
    server_cpu: Option<usize>,
    phases: Vec<String>,
    pool_max: i32,
    steady_rps: u64,
    /// The fairness phase's flood sizes (connections of tenant A).
    flood_sizes: Vec<usize>,
    /// The slowlink phase's round-trip times, ms.
    rtts: Vec<u64>,
    /// The slowlink phase's requests of each kind per RTT.
    slow_requests: usize,
    /// Whether the fairness phase also measures fair share off.
    fair_off: bool,
    rounds: usize,
    subscribers: usize,
    payments: usize,
    pg_url: Option<String>,
    scale_tenants: usize,
    scale_invoices: usize,
    active: usize,
    rotate: usize,
    scale_rps: u64,
}

fn options() -> Options {
    let mut o = Options {
        tenants: 3,
        users: 100,
        invoices: 20_000,
        seconds: 30,
        think_ms: 1000,
        connections: 32,
        server_cpu: Some(0),
        phases: vec!["realistic".into(), "saturation".into()],
        pool_max: 4,
        steady_rps: 20,
        flood_sizes: vec![64, 256],
        rtts: vec![0, 10, 25, 50],
        slow_requests: 40,
        fair_off: false,
        rounds: 3,
        subscribers: 1000,
        payments: 50,
        pg_url: std::env::var("TENANTQL_TEST_PG_URL").ok(),
        scale_tenants: 10_000,
        scale_invoices: 20,
        active: 500,
        rotate: 25,
        scale_rps: 400,
    };
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--tenants" => o.tenants = value.parse().expect("--tenants N"),
            "--users" => o.users = value.parse().expect("--users N"),
            "--invoices" => o.invoices = value.parse().expect("--invoices N"),
            "--seconds" => o.seconds = value.parse().expect("--seconds N"),
            "--think-ms" => o.think_ms = value.parse().expect("--think-ms N"),
            "--connections" => o.connections = value.parse().expect("--connections N"),
            "--server-cpu" => {
                o.server_cpu = if value == "none" {
                    None
                } else {
                    Some(value.parse().expect("--server-cpu N|none"))
                }
            }
            "--phases" => o.phases = value.split(',').map(str::to_string).collect(),
            "--pool-max" => o.pool_max = value.parse().expect("--pool-max N"),
            "--steady-rps" => o.steady_rps = value.parse().expect("--steady-rps N"),
            "--flood-connections" => {
                o.flood_sizes = value
                    .split(',')
                    .map(|n| n.parse().expect("--flood-connections N[,N…]"))
                    .collect()
            }
            "--fair-off" => o.fair_off = value == "true",
            "--rtts" => {
                o.rtts = value
                    .split(',')
                    .map(|n| n.parse().expect("--rtts MS[,MS…]"))
                    .collect()
            }
            "--slow-requests" => o.slow_requests = value.parse().expect("--slow-requests N"),
            "--rounds" => o.rounds = value.parse().expect("--rounds N"),
            "--subscribers" => o.subscribers = value.parse().expect("--subscribers N"),
            "--payments" => o.payments = value.parse().expect("--payments N"),
            "--pg-url" => o.pg_url = Some(value.clone()),
            "--scale-tenants" => o.scale_tenants = value.parse().expect("--scale-tenants N"),
            "--scale-invoices" => o.scale_invoices = value.parse().expect("--scale-invoices N"),
            "--active" => o.active = value.parse().expect("--active N"),
            "--rotate" => o.rotate = value.parse().expect("--rotate N"),
            "--scale-rps" => o.scale_rps = value.parse().expect("--scale-rps N"),
            other => panic!("unknown option {other}; see the doc comment of benches/load.rs"),
        }
        i += 2;
    }
    o
}

/// The control plane over `dir` with the earlier runs' audit rows gone, and a
/// platform key when it is new.
async fn open_control(dir: &Path, fresh: bool) -> Services {
    let config = Config::with_data_dir(dir);
    let (services, _) = Services::start(&config.control, &config.tokens, Default::default())
        .await
        .expect("control plane");
    forget_earlier_runs(&services).await;
    if fresh {
        services
            .tokens
            .keyring()
            .ensure_platform_key()
            .await
            .unwrap();
    }
    services
}

/// Empties the audit log the earlier runs on this data filled (a row per
/// request): the control plane must be the same size for every run, or each
/// run's audit writer works on a larger table than the last.
async fn forget_earlier_runs(services: &Services) {
    use sea_orm::ConnectionTrait;
    services
        .control
        .db
        .execute_unprepared("DELETE FROM audit_log")
        .await
        .expect("the audit log emptied");
}

/// A tenant on the SQLite store at `store`, with the default pool.
fn sqlite_tenant(slug: &str, display_name: &str, store: &Path) -> NewTenant {
    NewTenant {
        slug: slug.to_string(),
        display_name: display_name.to_string(),
        backend: BackendKind::Sqlite,
        connect_string: store.display().to_string(),
        db_username: None,
        db_password: None,
        pool: PoolLimits::default(),
        tunnel: None,
        contract: Default::default(),
        allowed_origins: Vec::new(),
    }
}

/// Creates tenants t1..tN with generated data and a member each, once.
async fn prepare(dir: &Path, o: &Options) -> Services {
    let fresh = !dir.join("control.db").exists();
    let services = open_control(dir, fresh).await;
    if fresh {
        for t in 1..=o.tenants {
            let slug = format!("t{t:03}");
            let store = dir.join(format!("tenants/{slug}.db"));
            registry::add_tenant(
                &services,
                &Actor::cli("test"),
                sqlite_tenant(&slug, &format!("Tenant {t}"), &store),
            )
            .await
            .unwrap();
            let email = format!("bench@{slug}.test");
            registry::add_user(
                &services,
                &Actor::cli("test"),
                &email,
                SecretString::from(PASSWORD.to_string()),
                false,
            )
            .await
            .unwrap();
            registry::grant(
                &services,
                &Actor::cli("test"),
                &email,
                &slug,
                MemberRole::Member,
            )
            .await
            .unwrap();
            let counts = tenantql::demo::seed_tenant(&services, &slug, o.invoices)
                .await
                .unwrap();
            eprintln!(
                "seeded {slug}: {} invoices, {} payments",
                counts.invoices, counts.payments
            );
        }
    }
    // Pool limits are the operator's per-tenant setting; apply this run's.
    for t in 1..=o.tenants {
        set_pool_max(&services, &format!("t{t:03}"), o.pool_max).await;
    }
    services
}

/// Changes a tenant's pool limit; a running server replaces the pool once its
/// tenant-context cache (5 s) has expired.
async fn set_pool_max(services: &Services, slug: &str, max: i32) {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let row = tenantql::control::tenants::get_by_slug(&services.control.db, slug)
        .await
        .unwrap();
    if row.pool_max_size == max {
        return;
    }
    let version = row.config_version;
    let mut active: tenantql::control::entities::tenant::ActiveModel = row.into();
    active.pool_max_size = Set(max);
    active.config_version = Set(version + 1);
    active.update(&services.control.db).await.unwrap();
}

/// Before a single-tenant phase: t1 gets the connections all tenants had, so both
/// runs have the same total load and the same total database capacity.
async fn give_t1_all_connections(services: &Services, url: &str, targets: &[Target], o: &Options) {
    set_pool_max(services, "t001", o.pool_max * o.tenants as i32).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    run_phase(url, "warm-up t1 (not measured)", 2, |driver, deadline| {
        (0..8)
            .map(|c| {
                tokio::spawn(worker(
                    driver.clone(),
                    targets[..1].to_vec(),
                    c,
                    false,
                    deadline,
                ))
            })
            .collect()
    })
    .await;
}

/// One measured phase of the audit comparison: document, auditing on, round,
/// req/s, p95 ms, server CPU µs per request.
type AuditRow = (&'static str, bool, usize, f64, f64, f64);

struct Server {
    child: Child,
    addr: String,
    /// The `/metrics` listener (tenantql only).
    metrics_addr: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

async fn start_server(dir: &Path, o: &Options) -> Server {
    start_server_with(dir, o, &[]).await
}

/// The server's CPU time so far (user + system), from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// `program`, pinned to the server CPU with taskset when one is set.
fn pinned(o: &Options, program: &Path) -> Command {
    match o.server_cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// This benchmark's own binary serving something else (`--serve-bare ADDR`,
/// `--serve-floor ADDR DIR`), pinned, once it answers HTTP.
async fn start_own(o: &Options, flag: &str, extra: &[&str]) -> Server {
    let addr = format!("127.0.0.1:{}", free_port());
    let child = pinned(o, &std::env::current_exe().unwrap())
        .arg(flag)
        .arg(&addr)
        .args(extra)
        .env("TENANTQL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the benchmark binary starts");
    let server = Server {
        child,
        addr,
        metrics_addr: None,
    };
    let client = reqwest::Client::new();
    for _ in 0..200 {
        let answer = client
            .post(format!("http://{}/graphql", server.addr))
            .json(&json!({ "query": "{ me { email } }" }))
            .send()
            .await;
        if answer.is_ok() {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{flag} did not start");
}

/// The bare schema of `mod bare`.
async fn start_bare(o: &Options) -> Server {
    start_own(o, "--serve-bare", &[]).await
}

/// The floor of `mod floor` over `dir`.
async fn start_floor(dir: &Path, o: &Options) -> Server {
    start_own(o, "--serve-floor", &[&dir.display().to_string()]).await
}

/// Asks tenantql and the floor the same requests (first and second pages and
/// both years' dashboards of every company of every tenant) and stops the run
/// unless every pair of answers is byte for byte the same.
async fn same_answers(targets: &[Target], tenantql: &str, floor: &str) -> usize {
    let client = reqwest::Client::new();
    let ask = |addr: &str, token: &str, query: &str, variables: &Value| {
        let request = client
            .post(format!("http://{addr}/graphql"))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }));
        async move {
            let answer = request.send().await.expect("answered");
            let status = answer.status();
            let body = answer.bytes().await.expect("a body").to_vec();
            assert!(
                status.is_success(),
                "{status}: {}",
                String::from_utf8_lossy(&body)
            );
            body
        }
    };
    let mut compared = 0;
    for target in targets {
        for company in &target.company_ids {
            let mut requests = vec![
                (INVOICE_PAGE, json!({ "companyId": company, "after": null })),
                (DASHBOARD, json!({ "companyId": company, "year": 2025 })),
                (DASHBOARD, json!({ "companyId": company, "year": 2026 })),
            ];
            let first: Value = serde_json::from_slice(
                &ask(tenantql, &target.token, INVOICE_PAGE, &requests[0].1).await,
            )
            .unwrap();
            let cursor = first["data"]["invoices"]["pageInfo"]["endCursor"].clone();
            requests.push((
                INVOICE_PAGE,
                json!({ "companyId": company, "after": cursor }),
            ));
            for (query, variables) in &requests {
                let ours = ask(tenantql, &target.token, query, variables).await;
                let theirs = ask(floor, &target.token, query, variables).await;
                assert!(
                    !ours.windows(9).any(|w| w == b"\"errors\""),
                    "tenantql answered with errors: {}",
                    String::from_utf8_lossy(&ours)
                );
                if ours != theirs {
                    let at = ours
                        .iter()
                        .zip(&theirs)
                        .position(|(a, b)| a != b)
                        .unwrap_or(ours.len().min(theirs.len()));
                    let around = |b: &[u8]| {
                        String::from_utf8_lossy(&b[at.saturating_sub(60)..(at + 60).min(b.len())])
                            .into_owned()
                    };
                    panic!("the floor's answer differs from tenantql's at byte {at}:\n tenantql: …{}…\n floor:    …{}…", around(&ours), around(&theirs));
                }
                compared += 1;
            }
        }
    }
    compared
}

async fn start_server_with(dir: &Path, o: &Options, env: &[(&str, &str)]) -> Server {
    // Cargo builds the server binary (bench profile = release) before the bench;
    // TENANTQL_BENCH_SERVER names another build to measure (an earlier commit's).
    let binary = std::env::var_os("TENANTQL_BENCH_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_tenantql")));
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let mut command = pinned(o, &binary);
    command.envs(env.iter().copied());
    let child = command
        .args([
            "serve",
            "--listen",
            &addr,
            "--metrics-listen",
            &metrics_addr,
        ])
        .env("TENANTQL_DATA_DIR", dir)
        .env("TENANTQL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("server starts");
    let server = Server {
        child,
        addr,
        metrics_addr: Some(metrics_addr),
    };
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = client
            .get(format!("http://{}/ready", server.addr))
            .send()
            .await
        {
            if r.status().is_success() {
                return server;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server did not become ready");
}

fn pin_self_away_from(cpu: Option<usize>) {
    let Some(cpu) = cpu else { return };
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if cpus < 2 {
        return;
    }
    let others: Vec<String> = (0..cpus)
        .filter(|c| *c != cpu)
        .map(|c| c.to_string())
        .collect();
    let _ = Command::new("taskset")
        .args([
            "-a",
            "-p",
            "-c",
            &others.join(","),
            &std::process::id().to_string(),
        ])
        .stdout(Stdio::null())
        .status();
}

#[derive(Clone)]
struct Target {
    slug: String,
    token: String,
    company_ids: Vec<String>,
}

#[derive(Default)]
struct Samples {
    latencies: Vec<Duration>,
    errors: u64,
}

type Results = BTreeMap<(String, &'static str), Samples>;

struct Driver {
    client: reqwest::Client,
    url: String,
    results: tokio::sync::Mutex<Results>,
}

impl Driver {
    /// Sends one document; returns the response data when it succeeded.
    async fn send(
        &self,
        slug: &str,
        name: &'static str,
        token: &str,
        query: &str,
        variables: Value,
    ) -> Option<Value> {
        let body = json!({ "query": query, "variables": variables });
        self.send_body(slug, name, token, &body, &[]).await
    }

    /// Sends one request body with extra headers; records it like `send`.
    async fn send_body(
        &self,
        slug: &str,
        name: &'static str,
        token: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Option<Value> {
        let started = Instant::now();
        let mut request = self.client.post(&self.url).bearer_auth(token).json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let outcome = request.send().await;
        let body: Option<Value> = match outcome {
            Ok(r) if r.status().is_success() => r.json().await.ok(),
            _ => None,
        };
        let elapsed = started.elapsed();
        let ok = body.as_ref().is_some_and(|b| b.get("errors").is_none());
        let mut results = self.results.lock().await;
        let entry = results.entry((slug.to_string(), name)).or_default();
        if ok {
            entry.latencies.push(elapsed);
            body.map(|mut b| b["data"].take())
        } else {
            entry.errors += 1;
            None
        }
    }
}

/// The benchmark's invoice page for one company, after a cursor (or from the top).
async fn invoice_page(
    driver: &Driver,
    target: &Target,
    company: &str,
    after: Value,
) -> Option<Value> {
    let variables = json!({ "companyId": company, "after": after });
    driver
        .send(
            &target.slug,
            "invoice page",
            &target.token,
            INVOICE_PAGE,
            variables,
        )
        .await
}

/// The benchmark's dashboard for one company and year.
async fn dashboard(driver: &Driver, target: &Target, company: &str, year: i32) -> Option<Value> {
    let variables = json!({ "companyId": company, "year": year });
    driver
        .send(
            &target.slug,
            "dashboard",
            &target.token,
            DASHBOARD,
            variables,
        )
        .await
}

/// A virtual user: 3 invoice pages (following endCursor), then a dashboard, with
/// think time after each, until the deadline.
async fn virtual_user(
    driver: Arc<Driver>,
    target: Target,
    seed: usize,
    users: usize,
    think: Duration,
    deadline: Instant,
) {
    // Users arrive spread over one think time, as real ones do, not all at once.
    tokio::time::sleep(think.mul_f64(seed as f64 / users.max(1) as f64)).await;
    let mut n = seed;
    while Instant::now() < deadline {
        let company = &target.company_ids[n % target.company_ids.len()];
        let mut after = Value::Null;
        for _ in 0..3 {
            let data = invoice_page(&driver, &target, company, after).await;
            after = data
                .map(|d| d["invoices"]["pageInfo"]["endCursor"].clone())
                .unwrap_or(Value::Null);
            tokio::time::sleep(think).await;
            if Instant::now() >= deadline {
                return;
            }
        }
        let year = if n % 2 == 0 { 2025 } else { 2026 };
        dashboard(&driver, &target, company, year).await;
        tokio::time::sleep(think).await;
        n += 1;
    }
}

/// A saturation worker sending `{ me { email } }` back to back: the smallest
/// authenticated operation, where per-request costs show most.
async fn me_worker(driver: Arc<Driver>, targets: Vec<Target>, seed: usize, deadline: Instant) {
    let mut n = seed;
    while Instant::now() < deadline {
        let target = &targets[n % targets.len()];
        driver
            .send(
                &target.slug,
                "me",
                &target.token,
                "{ me { email } }",
                json!({}),
            )
            .await;
        n += 1;
    }
}

/// A saturation worker: one document back to back until the deadline.
async fn worker(
    driver: Arc<Driver>,
    targets: Vec<Target>,
    seed: usize,
    dashboards: bool,
    deadline: Instant,
) {
    let mut n = seed;
    while Instant::now() < deadline {
        let target = &targets[n % targets.len()];
        let company = &target.company_ids[n % target.company_ids.len()];
        if dashboards {
            dashboard(&driver, target, company, 2025).await;
        } else {
            invoice_page(&driver, target, company, Value::Null).await;
        }
        n += 1;
    }
}

/// Open-loop load: `rps` invoice pages a second for `target`, each sent on its
/// own schedule whatever the previous one's latency, until the deadline.
async fn steady_sender(driver: Arc<Driver>, target: Target, rps: u64, deadline: Instant) {
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rps.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sent = Vec::new();
    let mut n = 0usize;
    while Instant::now() < deadline {
        tick.tick().await;
        let (driver, target) = (driver.clone(), target.clone());
        let company = target.company_ids[n % target.company_ids.len()].clone();
        sent.push(tokio::spawn(async move {
            invoice_page(&driver, &target, &company, Value::Null).await;
        }));
        n += 1;
    }
    for request in sent {
        let _ = request.await;
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A `graphql-transport-ws` connection past its acknowledgement, subscribed to
/// `query` with `variables` as operation "1".
async fn subscriber(addr: &str, token: &str, query: &str, variables: Value) -> Socket {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};
    let mut request = format!("ws://{addr}/graphql")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket");
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
    socket
        .send(Message::Text(init.to_string().into()))
        .await
        .unwrap();
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) if text.contains("connection_ack") => break,
            Some(Ok(_)) => continue,
            other => panic!("no connection_ack: {other:?}"),
        }
    }
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } });
    socket
        .send(Message::Text(subscribe.to_string().into()))
        .await
        .unwrap();
    socket
}

/// Resident memory of a process, in KiB.
/// The server's `/metrics` text, from its metrics listener `addr`.
async fn metrics_text(client: &reqwest::Client, addr: &str) -> String {
    client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The ids of the companies the token's tenant has (ids are opaque and bound to
/// their tenant).
async fn company_ids(client: &reqwest::Client, url: &str, token: &str) -> Vec<String> {
    let companies: Value = client
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": "{ companies { id } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    companies["data"]["companies"]
        .as_array()
        .unwrap_or_else(|| panic!("companies: {companies}"))
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// A fresh database `name` on `--pg-url` (dropped first if an earlier run left
/// it); its user and connect string.
async fn fresh_pg_database(pg_url: &str, name: &str) -> (String, String) {
    use sea_orm::{ConnectionTrait, Database};
    let admin = Database::connect(format!("{pg_url}/postgres"))
        .await
        .expect("connect to --pg-url");
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    admin.close().await.ok();
    let (user, host) = pg_url
        .strip_prefix("postgres://")
        .and_then(|r| r.split_once('@'))
        .expect("--pg-url postgres://user@host:port");
    (user.to_string(), format!("{host}/{name}"))
}

/// Registers `new` with bench@t001.test a member, or (on a later run) points
/// the tenant registered then at `new`'s database.
async fn register_or_repoint(services: &Services, new: NewTenant) {
    use tenantql::control::tenants::{self, TenantChanges};
    let actor = Actor::cli("bench");
    let slug = new.slug.clone();
    match tenants::find_by_slug(&services.control.db, &slug)
        .await
        .unwrap()
    {
        None => {
            registry::add_tenant(services, &actor, new).await.unwrap();
            registry::grant(
                services,
                &actor,
                "bench@t001.test",
                &slug,
                MemberRole::Member,
            )
            .await
            .unwrap();
        }
        Some(_) => {
            let changes = TenantChanges {
                connect_string: Some(new.connect_string),
                tunnel: Some(new.tunnel),
                contract_schema: Some(new.contract.schema),
                write_mode: Some(new.contract.write_mode),
                ..Default::default()
            };
            registry::update_tenant(services, &actor, &slug, changes)
                .await
                .unwrap();
        }
    }
}

/// A PostgreSQL tenant of the benchmark (bench@t001.test a member).
fn pg_tenant(slug: &str, user: &str, connect: &str, o: &Options) -> NewTenant {
    NewTenant {
        slug: slug.into(),
        display_name: slug.into(),
        backend: BackendKind::Postgres,
        connect_string: connect.into(),
        db_username: Some(user.into()),
        db_password: None,
        pool: PoolLimits {
            max_size: o.pool_max as u32,
            ..PoolLimits::default()
        },
        tunnel: None,
        contract: Default::default(),
        allowed_origins: Vec::new(),
    }
}

/// The network phase's tenants on one fresh PostgreSQL database: `pgdirect`
/// reaching it directly, `pgtunnel` through `sshd`; bench@t001.test a member of
/// both. Created on the first run, pointed at this run's database after that.
async fn network_tenants(
    services: &Services,
    pg_url: &str,
    sshd: &services::SshServer,
    o: &Options,
) -> String {
    let (user, connect) =
        fresh_pg_database(pg_url, &format!("tq_bench_{}", std::process::id())).await;
    register_or_repoint(services, pg_tenant("pgdirect", &user, &connect, o)).await;
    register_or_repoint(
        services,
        NewTenant {
            tunnel: Some(sshd.tunnel("host_key.pub")),
            ..pg_tenant("pgtunnel", &user, &connect, o)
        },
    )
    .await;
    let counts = tenantql::demo::seed_tenant(services, "pgdirect", o.invoices)
        .await
        .unwrap();
    eprintln!("seeded pgdirect (PostgreSQL): {} invoices", counts.invoices);
    connect
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// One query's figures over all tenants in a phase.
#[derive(Debug, Clone, Copy, Default)]
struct Summary {
    rps: f64,
    p95: f64,
    p99: f64,
    errors: u64,
}

/// Prints one phase; returns the figures per query name over all tenants.
fn report(phase: &str, results: Results, seconds: f64) -> BTreeMap<&'static str, Summary> {
    println!("\n### {phase}\n");
    println!("| tenant | query | requests | req/s | p50 ms | p95 ms | p99 ms | errors |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let mut all: BTreeMap<&'static str, Samples> = BTreeMap::new();
    for ((slug, name), mut s) in results {
        s.latencies.sort();
        println!(
            "| {slug} | {name} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {} |",
            s.latencies.len(),
            s.latencies.len() as f64 / seconds,
            percentile(&s.latencies, 0.50),
            percentile(&s.latencies, 0.95),
            percentile(&s.latencies, 0.99),
            s.errors
        );
        let total = all.entry(name).or_default();
        total.latencies.extend(s.latencies);
        total.errors += s.errors;
    }
    let mut summary = BTreeMap::new();
    for (name, mut s) in all {
        s.latencies.sort();
        let rps = s.latencies.len() as f64 / seconds;
        let p95 = percentile(&s.latencies, 0.95);
        let p99 = percentile(&s.latencies, 0.99);
        println!(
            "| **all** | {name} | {} | {rps:.1} | {:.2} | {p95:.2} | {p99:.2} | {} |",
            s.latencies.len(),
            percentile(&s.latencies, 0.50),
            s.errors
        );
        summary.insert(
            name,
            Summary {
                rps,
                p95,
                p99,
                errors: s.errors,
            },
        );
    }
    summary
}

/// Runs one phase; returns (requests/s, p95 ms) per query name over all tenants.
async fn run_phase(
    url: &str,
    phase: &str,
    seconds: u64,
    spawn: impl Fn(Arc<Driver>, Instant) -> Vec<tokio::task::JoinHandle<()>>,
) -> BTreeMap<&'static str, (f64, f64)> {
    run_phase_summary(url, phase, seconds, spawn)
        .await
        .into_iter()
        .map(|(name, s)| (name, (s.rps, s.p95)))
        .collect()
}

async fn run_phase_summary(
    url: &str,
    phase: &str,
    seconds: u64,
    spawn: impl Fn(Arc<Driver>, Instant) -> Vec<tokio::task::JoinHandle<()>>,
) -> BTreeMap<&'static str, Summary> {
    let driver = Arc::new(Driver {
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .build()
            .unwrap(),
        url: url.to_string(),
        results: tokio::sync::Mutex::new(BTreeMap::new()),
    });
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    for task in spawn(driver.clone(), deadline) {
        task.await.unwrap();
    }
    let seconds = started.elapsed().as_secs_f64();
    let results = std::mem::take(&mut *driver.results.lock().await);
    report(phase, results, seconds)
}

/// The issue's Node/Apollo figures on this machine kind (invoice page req/s,
/// CPU ms per page, dashboard req/s, CPU ms per dashboard): not measured by this
/// benchmark, printed beside ours for the per-core comparison.
const NODE_REFERENCE: (f64, f64, f64, f64) = (474.0, 2.11, 281.0, 3.57);

/// The hot path's rounds as one table (means over rounds), with ratios to the
/// floor, the bare schema and the Node reference.
fn hot_path_table(rows: &[(&str, &str, usize, Summary, f64)], ratios: &mut Vec<String>) {
    println!(
        "\n### hot path: tenantql, the floor and the bare schema (server on one core, uncached)\n"
    );
    println!("| server | document | round | req/s | server CPU ms / request | p99 ms | errors |\n|---|---|---:|---:|---:|---:|---:|");
    for (kind, what, round, s, cpu) in rows {
        println!(
            "| {kind} | {what} | {round} | {:.0} | {cpu:.3} | {:.1} | {} |",
            s.rps, s.p99, s.errors
        );
    }
    let mean = |kind: &str, what: &str, pick: fn(&Summary, f64) -> f64| {
        let picked: Vec<f64> = rows
            .iter()
            .filter(|r| r.0 == kind && r.1 == what)
            .map(|r| pick(&r.3, r.4))
            .collect();
        picked.iter().sum::<f64>() / picked.len().max(1) as f64
    };
    let rps = |kind, what| mean(kind, what, |s, _| s.rps);
    let cpu = |kind, what| mean(kind, what, |_, cpu| cpu);
    let p99 = |kind, what| mean(kind, what, |s, _| s.p99);
    let errors: f64 = rows.iter().map(|r| r.3.errors as f64).sum();
    println!("\n| server | invoice page req/s | CPU ms / page | p99 ms | dashboard req/s | CPU ms / dashboard | {{ me }} req/s | CPU µs / {{ me }} |\n|---|---:|---:|---:|---:|---:|---:|---:|");
    for kind in ["floor", "tenantql", "bare schema"] {
        let cell = |v: f64, digits: usize| {
            if v.is_nan() || v == 0.0 {
                "–".to_string()
            } else {
                format!("{v:.digits$}")
            }
        };
        println!(
            "| {kind} | {} | {} | {} | {} | {} | {} | {} |",
            cell(rps(kind, "invoice page"), 0),
            cell(cpu(kind, "invoice page"), 3),
            cell(p99(kind, "invoice page"), 1),
            cell(rps(kind, "dashboard"), 0),
            cell(cpu(kind, "dashboard"), 3),
            cell(rps(kind, "me"), 0),
            cell(cpu(kind, "me") * 1e3, 1),
        );
    }
    let (node_page, node_page_cpu, node_dash, node_dash_cpu) = NODE_REFERENCE;
    println!("| Node/Apollo (the issue's figures, not this run) | {node_page:.0} | {node_page_cpu:.2} | – | {node_dash:.0} | {node_dash_cpu:.2} | – | – |");
    for what in ["invoice page", "dashboard"] {
        ratios.push(format!(
            "hot path, {what}: tenantql / floor: throughput {:.3}, floor CPU per request / tenantql's {:.3}",
            rps("tenantql", what) / rps("floor", what),
            cpu("floor", what) / cpu("tenantql", what),
        ));
    }
    ratios.push(format!(
        "hot path vs the Node reference per core (its CPU per request / tenantql's): invoice page {:.2}x, dashboard {:.2}x",
        node_page_cpu / cpu("tenantql", "invoice page"),
        node_dash_cpu / cpu("tenantql", "dashboard"),
    ));
    ratios.push(format!(
        "hot path, {{ me }}: tenantql (defaults) / bare schema: throughput {:.3}",
        rps("tenantql", "me") / rps("bare schema", "me"),
    ));
    ratios.push(format!("hot path: {errors:.0} errors in all"));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve-bare") {
        bare::serve(&args[i + 1]);
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--serve-floor") {
        floor::serve(&args[i + 1], &args[i + 2]);
        return;
    }
    let o = options();
    pin_self_away_from(o.server_cpu);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("target/loadbench/{}x{}", o.tenants, o.invoices));
        std::fs::create_dir_all(&dir).unwrap();
        let services = prepare(&dir, &o).await;
        let server = start_server(&dir, &o).await;
        let url = format!("http://{}/graphql", server.addr);
        let client = reqwest::Client::new();
        let mut targets = Vec::new();
        for t in 1..=o.tenants {
            let slug = format!("t{t:03}");
            let token = services
                .sessions
                .mint(&format!("bench@{slug}.test"), Some(&slug), Duration::from_secs(3600))
                .await
                .unwrap()
                .issued
                .token;
            let company_ids = company_ids(&client, &url, &token).await;
            targets.push(Target { slug, token, company_ids });
        }
        println!(
            "# tenantql load benchmark\n\n{} tenants x {} invoices each, {} s per phase, server pinned to CPU {:?}, think time {} ms, pool max {} per tenant",
            o.tenants, o.invoices, o.seconds, o.server_cpu, o.think_ms, o.pool_max
        );
        let think = Duration::from_millis(o.think_ms);
        let mut ratios = Vec::new();
        // Unmeasured warm-up over every tenant: pools open, page caches fill.
        run_phase(&url, "warm-up (not measured)", 3, |driver, deadline| {
            (0..o.connections.min(16))
                .map(|c| tokio::spawn(worker(driver.clone(), targets.clone(), c, c % 2 == 0, deadline)))
                .collect()
        })
        .await;
        if o.phases.iter().any(|p| p == "realistic") {
            let users = o.users;
            let multi = run_phase(&url, &format!("realistic: {} tenants x {users} users", targets.len()), o.seconds, |driver, deadline| {
                targets
                    .iter()
                    .flat_map(|t| (0..users).map(move |u| (t.clone(), u)))
                    .map(|(t, u)| tokio::spawn(virtual_user(driver.clone(), t, u, users, think, deadline)))
                    .collect()
            })
            .await;
            let single_users = users * targets.len();
            give_t1_all_connections(&services, &url, &targets, &o).await;
            let single = run_phase(&url, &format!("realistic: 1 tenant x {single_users} users"), o.seconds, |driver, deadline| {
                (0..single_users)
                    .map(|u| tokio::spawn(virtual_user(driver.clone(), targets[0].clone(), u, single_users, think, deadline)))
                    .collect()
            })
            .await;
            for (name, (_, p95)) in &multi {
                if let Some((_, single_p95)) = single.get(name) {
                    ratios.push(format!("realistic {name}: p95 {p95:.2} ms over {} tenants vs {single_p95:.2} ms on one = {:.3}", targets.len(), p95 / single_p95));
                }
            }
        }
        if o.phases.iter().any(|p| p == "saturation") {
            for dashboard in [false, true] {
                set_pool_max(&services, "t001", o.pool_max).await;
                tokio::time::sleep(Duration::from_secs(6)).await;
                let what = if dashboard { "dashboard" } else { "invoice page" };
                let connections = o.connections;
                let multi = run_phase(&url, &format!("saturation ({what}): {connections} connections over {} tenants", targets.len()), o.seconds, |driver, deadline| {
                    (0..connections)
                        .map(|c| tokio::spawn(worker(driver.clone(), targets.clone(), c, dashboard, deadline)))
                        .collect()
                })
                .await;
                give_t1_all_connections(&services, &url, &targets, &o).await;
                let single = run_phase(&url, &format!("saturation ({what}): {connections} connections, 1 tenant"), o.seconds, |driver, deadline| {
                    (0..connections)
                        .map(|c| tokio::spawn(worker(driver.clone(), targets[..1].to_vec(), c, dashboard, deadline)))
                        .collect()
                })
                .await;
                if let (Some((rps, _)), Some((single_rps, _))) = (multi.get(what), single.get(what)) {
                    ratios.push(format!("saturation {what}: {rps:.0} req/s over {} tenants vs {single_rps:.0} on one = {:.3}", targets.len(), rps / single_rps));
                }
            }
        }
        if o.phases.iter().any(|p| p == "audit") {
            let mut rows = Vec::new();
            for round in 1..=3 {
                for audit in ["true", "false"] {
                    let server = start_server_with(&dir, &o, &[("TENANTQL_AUDIT_REQUESTS", audit)]).await;
                    let url = format!("http://{}/graphql", server.addr);
                    run_phase(&url, "warm-up (not measured)", 3, |driver, deadline| {
                        (0..o.connections)
                            .map(|c| tokio::spawn(worker(driver.clone(), targets.clone(), c, false, deadline)))
                            .collect()
                    })
                    .await;
                    let connections = o.connections;
                    for what in ["invoice page", "me"] {
                        let cpu_before = cpu_seconds(server.child.id());
                        let phase = format!("audit {audit}, round {round}: {what}, {connections} connections over {} tenants", targets.len());
                        let result = run_phase(&url, &phase, o.seconds, |driver, deadline| {
                            (0..connections)
                                .map(|c| {
                                    if what == "me" {
                                        tokio::spawn(me_worker(driver.clone(), targets.clone(), c, deadline))
                                    } else {
                                        tokio::spawn(worker(driver.clone(), targets.clone(), c, false, deadline))
                                    }
                                })
                                .collect()
                        })
                        .await;
                        let cpu = cpu_seconds(server.child.id()) - cpu_before;
                        let (rps, p95) = result.get(what).copied().unwrap_or_default();
                        let answered = rps * o.seconds as f64;
                        let cpu_us = if answered > 0.0 { cpu * 1e6 / answered } else { 0.0 };
                        println!("server CPU {cpu:.2} s, {cpu_us:.0} µs per request");
                        rows.push((what, audit == "true", round, rps, p95, cpu_us));
                    }
                    drop(server);
                }
            }
            println!("\n### request auditing on vs off (server on one core)\n");
            println!("| document | auditing | round | req/s | p95 ms | server CPU µs / request |\n|---|---|---:|---:|---:|---:|");
            for (what, on, round, rps, p95, cpu) in &rows {
                println!("| {what} | {} | {round} | {rps:.1} | {p95:.2} | {cpu:.0} |", if *on { "on" } else { "off" });
            }
            for what in ["invoice page", "me"] {
                let mean = |on: bool, pick: fn(&AuditRow) -> f64| {
                    let picked: Vec<f64> = rows.iter().filter(|r| r.0 == what && r.1 == on).map(pick).collect();
                    picked.iter().sum::<f64>() / picked.len().max(1) as f64
                };
                ratios.push(format!(
                    "auditing on / off, {what}: throughput {:.3}, server CPU per request {:.3}",
                    mean(true, |r| r.3) / mean(false, |r| r.3),
                    mean(true, |r| r.5) / mean(false, |r| r.5)
                ));
            }
        }
        if o.phases.iter().any(|p| p == "me") {
            let mut rows: Vec<(&str, usize, f64, f64, f64)> = Vec::new();
            for round in 1..=3 {
                for server_kind in ["bare schema", "tenantql, auditing off", "tenantql, auditing on"] {
                    let server = match server_kind {
                        "bare schema" => start_bare(&o).await,
                        "tenantql, auditing off" => start_server_with(&dir, &o, &[("TENANTQL_AUDIT_REQUESTS", "false")]).await,
                        _ => start_server_with(&dir, &o, &[("TENANTQL_AUDIT_REQUESTS", "true")]).await,
                    };
                    let url = format!("http://{}/graphql", server.addr);
                    let connections = o.connections;
                    let spawn = |driver: Arc<Driver>, deadline| {
                        (0..connections)
                            .map(|c| tokio::spawn(me_worker(driver.clone(), targets.clone(), c, deadline)))
                            .collect()
                    };
                    run_phase(&url, "warm-up (not measured)", 3, spawn).await;
                    let cpu_before = cpu_seconds(server.child.id());
                    let phase = format!("me, round {round}: {server_kind}, {connections} connections");
                    let result = run_phase(&url, &phase, o.seconds, spawn).await;
                    let cpu = cpu_seconds(server.child.id()) - cpu_before;
                    let (rps, p95) = result.get("me").copied().unwrap_or_default();
                    let answered = rps * o.seconds as f64;
                    let cpu_us = if answered > 0.0 { cpu * 1e6 / answered } else { 0.0 };
                    println!("server CPU {cpu:.2} s, {cpu_us:.1} µs per request");
                    rows.push((server_kind, round, rps, p95, cpu_us));
                    drop(server);
                }
            }
            println!("\n### {{ me }}: tenantql vs a bare async-graphql schema (server on one core)\n");
            println!("| server | round | req/s | p95 ms | server CPU µs / request |\n|---|---:|---:|---:|---:|");
            for (kind, round, rps, p95, cpu) in &rows {
                println!("| {kind} | {round} | {rps:.0} | {p95:.2} | {cpu:.1} |");
            }
            let mean = |kind: &str, pick: fn(&(&str, usize, f64, f64, f64)) -> f64| {
                let picked: Vec<f64> = rows.iter().filter(|r| r.0 == kind).map(pick).collect();
                picked.iter().sum::<f64>() / picked.len().max(1) as f64
            };
            for kind in ["tenantql, auditing off", "tenantql, auditing on"] {
                ratios.push(format!(
                    "{{ me }}, {kind} / bare schema: throughput {:.3}, bare CPU per request / tenantql's {:.3}",
                    mean(kind, |r| r.2) / mean("bare schema", |r| r.2),
                    mean("bare schema", |r| r.4) / mean(kind, |r| r.4)
                ));
            }
        }
        if o.phases.iter().any(|p| p == "hotpath") {
            // The issue's figures are uncached: the answer cache would measure itself.
            let uncached = [("TENANTQL_CACHE_TTL_SECS", "0")];
            {
                let floor = start_floor(&dir, &o).await;
                let server = start_server_with(&dir, &o, &uncached).await;
                let compared = same_answers(&targets, &server.addr, &floor.addr).await;
                println!("\nfloor and tenantql: {compared} answers compared, byte for byte the same");
            }
            let connections = o.connections;
            let mut rows: Vec<(&str, &str, usize, Summary, f64)> = Vec::new();
            for round in 1..=o.rounds {
                for kind in ["floor", "tenantql", "bare schema"] {
                    let (server, documents): (Server, &[&str]) = match kind {
                        "floor" => (start_floor(&dir, &o).await, &["invoice page", "dashboard"]),
                        "tenantql" => (start_server_with(&dir, &o, &uncached).await, &["invoice page", "dashboard", "me"]),
                        _ => (start_bare(&o).await, &["me"]),
                    };
                    let url = format!("http://{}/graphql", server.addr);
                    for &what in documents {
                        let spawn = |driver: Arc<Driver>, deadline| {
                            (0..connections)
                                .map(|c| match what {
                                    "me" => tokio::spawn(me_worker(driver.clone(), targets.clone(), c, deadline)),
                                    _ => tokio::spawn(worker(driver.clone(), targets.clone(), c, what == "dashboard", deadline)),
                                })
                                .collect()
                        };
                        run_phase(&url, "warm-up (not measured)", 3, spawn).await;
                        let cpu_before = cpu_seconds(server.child.id());
                        let phase = format!("hot path, round {round}: {kind}, {what}, {connections} connections over {} tenants", targets.len());
                        let result = run_phase_summary(&url, &phase, o.seconds, spawn).await;
                        let cpu = cpu_seconds(server.child.id()) - cpu_before;
                        let summary = result.get(what).copied().unwrap_or_default();
                        let answered = summary.rps * o.seconds as f64;
                        let cpu_ms = if answered > 0.0 { cpu * 1e3 / answered } else { f64::NAN };
                        println!("server CPU {cpu:.2} s, {cpu_ms:.3} ms per request");
                        rows.push((kind, what, round, summary, cpu_ms));
                    }
                    drop(server);
                }
            }
            hot_path_table(&rows, &mut ratios);
        }
        if o.phases.iter().any(|p| p == "scale") {
            let scale_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join(format!("target/loadbench/scale-{}x{}", o.scale_tenants, o.scale_invoices));
            let scale_services = scale::prepare(&scale_dir, o.scale_tenants, o.scale_invoices).await;
            scale::run(&scale_dir, &o, &scale_services, &mut ratios).await;
        }
        if o.phases.iter().any(|p| p == "fairness") {
            // Both tenants get the same pool; the flood must not win by pool size.
            set_pool_max(&services, "t001", o.pool_max).await;
            set_pool_max(&services, "t002", o.pool_max).await;
            fairness::run(&dir, &o, &targets, &mut ratios).await;
        }
        if o.phases.iter().any(|p| p == "events") {
            use futures_util::StreamExt;
            let redis = services::RedisServer::start()
                .await
                .expect("redis-server is installed (scripts/test.sh installs it)");
            let redis_url = redis.url();
            let env = [("TENANTQL_REDIS_URL", redis_url.as_str())];
            let a = start_server_with(&dir, &o, &env).await;
            let b = start_server_with(&dir, &o, &env).await;
            let target = targets[0].clone();
            let company = target.company_ids[0].clone();
            const EVENTS: &str = "subscription($c: ID!) { invoiceEvents(companyId: $c) { change invoice { id balance } } }";
            let mut sockets = Vec::with_capacity(o.subscribers);
            for i in 0..o.subscribers {
                let addr = if i % 2 == 0 { &a.addr } else { &b.addr };
                sockets.push(subscriber(addr, &target.token, EVENTS, json!({ "c": company })).await);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            let page: Value = client
                .post(format!("http://{}/graphql", b.addr))
                .bearer_auth(&target.token)
                .json(&json!({ "query": "query($c: ID!) { invoices(companyId: $c, first: 100, filter: { status: OVERDUE }) { edges { node { id issueDate balance } } } }", "variables": { "c": company } }))
                .send().await.unwrap().json().await.unwrap();
            let open: Vec<Value> = page["data"]["invoices"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect();
            // Every subscriber reads its socket; each delivery's arrival time is kept.
            let (arrivals_tx, mut arrivals_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
            let readers: Vec<_> = sockets.into_iter().enumerate().map(|(i, mut socket)| {
                let arrivals = arrivals_tx.clone();
                tokio::spawn(async move {
                    while let Some(Ok(message)) = socket.next().await {
                        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
                            if text.contains("\"next\"") {
                                let _ = arrivals.send((i, Instant::now()));
                            }
                        }
                    }
                })
            }).collect();
            drop(arrivals_tx);
            let mut latencies = Vec::new();
            let mut missing = 0usize;
            for n in 0..o.payments {
                let invoice = &open[n % open.len()];
                let sent = Instant::now();
                let answer: Value = client
                    .post(format!("http://{}/graphql", b.addr))
                    .bearer_auth(&target.token)
                    .json(&json!({ "query": "mutation($i: ID!, $d: Date!) { recordPayment(invoiceId: $i, amount: \"0.01\", date: $d) { payment { id } } }", "variables": { "i": invoice["id"], "d": invoice["issueDate"] } }))
                    .send().await.unwrap().json().await.unwrap();
                assert!(answer.get("errors").is_none(), "{answer}");
                let mut got = 0;
                let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
                while got < o.subscribers {
                    match tokio::time::timeout_at(deadline, arrivals_rx.recv()).await {
                        Ok(Some((_, at))) => {
                            latencies.push(at - sent);
                            got += 1;
                        }
                        _ => break,
                    }
                }
                missing += o.subscribers - got;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            for reader in readers {
                reader.abort();
            }
            latencies.sort();
            println!("\n### events: mutation on one instance to {} subscribers over two (Redis)\n", o.subscribers);
            println!("| payments | deliveries | missing | p50 ms | p99 ms | max ms |\n|---:|---:|---:|---:|---:|---:|");
            println!("| {} | {} | {missing} | {:.2} | {:.2} | {:.2} |", o.payments, latencies.len(), percentile(&latencies, 0.5), percentile(&latencies, 0.99), percentile(&latencies, 1.0));
            ratios.push(format!("events to {} subscribers over two instances: p50 {:.2} ms, p99 {:.2} ms, {missing} missing", o.subscribers, percentile(&latencies, 0.5), percentile(&latencies, 0.99)));
            drop((a, b, redis));
        }
        if o.phases.iter().any(|p| p == "overhead") {
            let rps = o.steady_rps.max(1);
            println!("\n### overhead: {rps} invoice pages/s open loop, {} tenants rotating vs 1 tenant, server CPU per page\n", targets.len());
            println!("| round | tenants | pages answered | p95 ms | server CPU ms / page |\n|---:|---:|---:|---:|---:|");
            let mut by_tenants: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
            for round in 1..=o.rounds {
                for tenants in [targets.len(), 1] {
                    if tenants == 1 {
                        give_t1_all_connections(&services, &url, &targets, &o).await;
                    } else {
                        set_pool_max(&services, "t001", o.pool_max).await;
                        tokio::time::sleep(Duration::from_secs(6)).await;
                    }
                    let chosen = targets[..tenants].to_vec();
                    let per_tenant = rps / tenants as u64;
                    let cpu_before = cpu_seconds(server.child.id());
                    let result = run_phase(&url, &format!("overhead round {round}: {tenants} tenant(s), {rps} pages/s"), o.seconds, |driver, deadline| {
                        chosen.iter().map(|t| tokio::spawn(steady_sender(driver.clone(), t.clone(), per_tenant, deadline))).collect()
                    })
                    .await;
                    let cpu = cpu_seconds(server.child.id()) - cpu_before;
                    let (sent_rps, p95) = result["invoice page"];
                    let pages = sent_rps * o.seconds as f64;
                    let per_page = cpu * 1000.0 / pages;
                    println!("| {round} | {tenants} | {pages:.0} | {p95:.2} | {per_page:.3} |");
                    by_tenants.entry(tenants).or_default().push(per_page);
                }
            }
            let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len().max(1) as f64;
            let multi = mean(&by_tenants[&targets.len()]);
            let single = mean(&by_tenants[&1]);
            ratios.push(format!("overhead: server CPU per invoice page, {} tenants rotating / 1 tenant, {rps} pages/s open loop = {:.3} ({multi:.3} ms vs {single:.3} ms, mean of {} rounds)", targets.len(), multi / single, o.rounds));
        }
        if o.phases.iter().any(|p| p == "network") {
            let pg_url = o.pg_url.clone().expect("the network phase needs --pg-url postgres://user@host:port (or TENANTQL_TEST_PG_URL)");
            let mut sshd = services::SshServer::start().await.expect("sshd is installed (scripts/test.sh installs openssh-server)");
            let connect = network_tenants(&services, &pg_url, &sshd, &o).await;
            println!("\nnetwork: one PostgreSQL database ({connect}) with {} invoices, reached directly (pgdirect) and through sshd on 127.0.0.1:{} (pgtunnel)", o.invoices, sshd.port);
            // A server of its own, with fair share opened up: its default (one
            // executing operation per CPU) would serialize waits on a remote
            // database and measure that instead of the path to it.
            let net_server = start_server_with(&dir, &o, &[("TENANTQL_MAX_CONCURRENT_OPERATIONS", "64")]).await;
            let url = format!("http://{}/graphql", net_server.addr);
            let mut network_targets = Vec::new();
            for slug in ["pgdirect", "pgtunnel"] {
                let token = services.sessions.mint("bench@t001.test", Some(slug), Duration::from_secs(3600)).await.unwrap().issued.token;
                let company_ids = company_ids(&client, &url, &token).await;
                network_targets.push(Target { slug: slug.to_string(), token, company_ids });
            }
            network_targets.push(targets[0].clone());
            let mut pages = Vec::new();
            for target in &network_targets {
                run_phase(&url, &format!("warm-up {} (not measured)", target.slug), 2, |driver, deadline| {
                    (0..8).map(|c| tokio::spawn(worker(driver.clone(), vec![target.clone()], c, false, deadline))).collect()
                })
                .await;
                let connections = o.connections;
                let cpu_before = cpu_seconds(net_server.child.id());
                let result = run_phase(&url, &format!("network: invoice page on {}, {connections} connections", target.slug), o.seconds, |driver, deadline| {
                    (0..connections).map(|c| tokio::spawn(worker(driver.clone(), vec![target.clone()], c, false, deadline))).collect()
                })
                .await;
                let cpu = cpu_seconds(net_server.child.id()) - cpu_before;
                let (rps, p95) = result["invoice page"];
                let cpu_ms_per_page = cpu * 1000.0 / (rps * o.seconds as f64);
                pages.push((target.slug.clone(), (rps, p95, cpu_ms_per_page)));
            }
            println!("\n| store | invoice pages/s | p95 ms | server CPU ms / page | pages/s vs direct PostgreSQL | CPU / page vs direct |\n|---|---:|---:|---:|---:|---:|");
            let (direct, _, direct_cpu) = pages[0].1;
            for (slug, (rps, p95, cpu)) in &pages {
                println!("| {slug} | {rps:.1} | {p95:.2} | {cpu:.3} | {:.3} | {:.3} |", rps / direct, cpu / direct_cpu);
            }
            ratios.push(format!("network: invoice pages/s through the tunnel / direct PostgreSQL = {:.3} (server CPU per page {:.3}); SQLite / direct PostgreSQL = {:.3} (CPU {:.3})", pages[1].1 .0 / direct, pages[1].1 .2 / direct_cpu, pages[2].1 .0 / direct, pages[2].1 .2 / direct_cpu));
            // Recovery: sshd dies, comes back after 1 s; time to the tenant's first answer.
            let driver = Driver { client: reqwest::Client::new(), url: url.clone(), results: tokio::sync::Mutex::new(BTreeMap::new()) };
            let tunnel = &network_targets[1];
            let company = tunnel.company_ids[0].clone();
            println!("\n| round | unavailable after loss ms | answering after restart ms | after loss ms |\n|---:|---:|---:|---:|");
            let mut recoveries = Vec::new();
            for round in 1..=o.rounds {
                sshd.kill();
                let lost = Instant::now();
                let mut unavailable = None;
                while lost.elapsed() < Duration::from_secs(10) {
                    if invoice_page(&driver, tunnel, &company, Value::Null).await.is_none() {
                        unavailable = Some(lost.elapsed());
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                tokio::time::sleep(Duration::from_secs(1).saturating_sub(lost.elapsed())).await;
                sshd.restart().await;
                let restarted = Instant::now();
                let mut answered = None;
                while restarted.elapsed() < Duration::from_secs(70) {
                    if invoice_page(&driver, tunnel, &company, Value::Null).await.is_some() {
                        answered = Some(restarted.elapsed());
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let ms = |d: Option<Duration>| d.map_or("never".to_string(), |d| format!("{:.0}", d.as_secs_f64() * 1000.0));
                println!("| {round} | {} | {} | {} |", ms(unavailable), ms(answered), ms(answered.map(|a| restarted - lost + a)));
                recoveries.extend(answered);
                // Let the next loss start from a steady tunnel.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let worst = recoveries.iter().max().map_or(f64::NAN, |d| d.as_secs_f64());
            ratios.push(format!("network: tenant answering again at most {worst:.2} s after sshd restarted ({} of {} rounds recovered)", recoveries.len(), o.rounds));
            drop(net_server);
        }
        if o.phases.iter().any(|p| p == "slowlink") {
            let pg_url = o.pg_url.clone().expect("the slowlink phase needs --pg-url postgres://user@host:port (or TENANTQL_TEST_PG_URL)");
            slowlink::run(&dir, &o, &services, &pg_url, &mut ratios).await;
        }
        if o.phases.iter().any(|p| p == "edges") {
            edges::run(&dir, &o, &services, &targets, &mut ratios).await;
        }
        if o.phases.iter().any(|p| p == "contract") {
            let pg_url = o.pg_url.clone().expect("the contract phase needs --pg-url postgres://user@host:port (or TENANTQL_TEST_PG_URL)");
            contract::run(&dir, &o, &services, &pg_url, &mut ratios).await;
        }
        if o.phases.iter().any(|p| p == "memory") {
            let server = start_server_with(&dir, &o, &[]).await;
            let target = targets[0].clone();
            const EVENTS: &str = "subscription($c: ID!) { invoiceEvents(companyId: $c) { change } }";
            // One subscription first, so what every tenant subscription shares exists.
            let first = subscriber(&server.addr, &target.token, EVENTS, json!({ "c": target.company_ids[0] })).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let before = rss_kib(server.child.id());
            let mut sockets = Vec::with_capacity(o.subscribers);
            for i in 0..o.subscribers {
                let company = &target.company_ids[i % target.company_ids.len()];
                sockets.push(subscriber(&server.addr, &target.token, EVENTS, json!({ "c": company })).await);
            }
            // Until every subscription has been set up and transient memory
            // (audit rows, responses) is given back.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let early = rss_kib(server.child.id());
            tokio::time::sleep(Duration::from_secs(8)).await;
            let after = rss_kib(server.child.id());
            println!("\nRSS 2 s after the last subscription: {early} KiB; 10 s after: {after} KiB");
            let per = (after.saturating_sub(before)) as f64 * 1024.0 / o.subscribers as f64;
            // The same count of connections acknowledged but not subscribed: what
            // the WebSocket costs apart from the subscription.
            let mut bare = Vec::with_capacity(o.subscribers);
            for _ in 0..o.subscribers {
                bare.push(subscriber(&server.addr, &target.token, "{ __typename }", json!({})).await);
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            let with_bare = rss_kib(server.child.id());
            let per_connection = (with_bare.saturating_sub(after)) as f64 * 1024.0 / o.subscribers as f64;
            println!("\nconnections whose only operation has completed: {per_connection:.0} bytes each");
            println!("\n### memory per idle subscription\n\n| subscriptions | RSS before KiB | RSS after KiB | bytes per subscription (connection included) |\n|---:|---:|---:|---:|\n| {} | {before} | {after} | {per:.0} |", o.subscribers);
            ratios.push(format!("memory per idle subscription (its WebSocket included): {:.1} KB over {} subscriptions", per / 1000.0, o.subscribers));
            drop((sockets, bare, first, server));
        }
        if o.phases.iter().any(|p| p == "cache") {
            let mut by_setting = Vec::new();
            for (setting, ttl) in [("cache off", "0"), ("cache on, warm", "10")] {
                let server = start_server_with(&dir, &o, &[("TENANTQL_CACHE_TTL_SECS", ttl)]).await;
                let url = format!("http://{}/graphql", server.addr);
                let connections = o.connections;
                let spawn = |driver: Arc<Driver>, deadline| {
                    (0..connections)
                        .map(|c| tokio::spawn(worker(driver.clone(), targets.clone(), c, true, deadline)))
                        .collect()
                };
                run_phase(&url, "warm-up (not measured)", 3, spawn).await;
                let result = run_phase(&url, &format!("dashboard, {setting}: {connections} connections over {} tenants", targets.len()), o.seconds, spawn).await;
                by_setting.push((setting, result.get("dashboard").copied().unwrap_or_default()));
                drop(server);
            }
            println!("\n### dashboards with the answer cache off and on (server on one core)\n\n| setting | req/s | p95 ms |\n|---|---:|---:|");
            for (setting, (rps, p95)) in &by_setting {
                println!("| {setting} | {rps:.0} | {p95:.2} |");
            }
            if let [(_, (cold, _)), (_, (warm, _))] = by_setting.as_slice() {
                ratios.push(format!("dashboard throughput, cache warm / off: {:.1}", warm / cold));
            }
        }
        println!("\n### ratios\n");
        for r in ratios {
            println!("- {r}");
        }
        drop(server);
    });
}

/// The yardstick for `{ me }`: a bare async-graphql schema answering from memory
/// on the same axum stack (no token, no tenancy, no audit). The benchmark runs it as
/// a second process of its own binary (`--serve-bare ADDR`), pinned like the server.
mod bare {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema, SimpleObject};
    use axum::{extract::State, routing::post, Json, Router};

    #[derive(SimpleObject)]
    struct Me {
        email: String,
    }

    struct Query;

    #[Object]
    impl Query {
        async fn me(&self) -> Me {
            Me {
                email: "bench@t001.test".into(),
            }
        }
    }

    type BareSchema = Schema<Query, EmptyMutation, EmptySubscription>;

    async fn graphql(
        State(schema): State<BareSchema>,
        Json(request): Json<async_graphql::Request>,
    ) -> Json<async_graphql::Response> {
        Json(schema.execute(request).await)
    }

    pub fn serve(addr: &str) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let schema = Schema::new(Query, EmptyMutation, EmptySubscription);
            let app = Router::new()
                .route("/graphql", post(graphql))
                .with_state(schema);
            let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    }
}
