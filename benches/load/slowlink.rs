//! The `slowlink` phase: how many round-trip stages a request waits for when
//! the tenant's database is far away. The tenant `pgslow` lives on `--pg-url`'s
//! PostgreSQL, reached through a relay on loopback that holds every chunk it
//! forwards for half of the RTT in each direction (this machine's kernel has no
//! `netem` qdisc: `tc qdisc add … netem` answers "Specified qdisc kind is
//! unknown"). Chunks keep their order and leave when due, so a round trip costs
//! one RTT however many statements share it, as on a real link; bandwidth is
//! not limited. Invoice pages (following endCursor) and dashboards are sent one
//! at a time, so each latency is one request's own path: at 0 ms the server's
//! and the database's own time, at each RTT that plus the stages times the RTT.
//! Reported: p50 per RTT, the stages it implies ((p50 − p50 at 0 ms) / RTT),
//! and the sessions the tenant's pool opened (at most what one request holds
//! at once: requests never overlap here).
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use super::*;

/// A TCP relay on loopback that delays each direction by half the RTT.
struct DelayedLink {
    port: u16,
    /// One-way delay, µs: read when a chunk arrives.
    one_way_us: Arc<AtomicU64>,
    relay: tokio::task::JoinHandle<()>,
}

/// Copies `from` to `to`, each chunk leaving `one_way_us` after it arrived.
async fn delayed_copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    one_way_us: Arc<AtomicU64>,
) {
    let (chunks, mut due) = tokio::sync::mpsc::channel::<(tokio::time::Instant, Vec<u8>)>(1024);
    let reader = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(n) = from.read(&mut buffer).await {
            if n == 0 {
                break;
            }
            let delay = Duration::from_micros(one_way_us.load(Ordering::Relaxed));
            let at = tokio::time::Instant::now() + delay;
            if chunks.send((at, buffer[..n].to_vec())).await.is_err() {
                break;
            }
        }
    };
    let writer = async move {
        while let Some((at, chunk)) = due.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

impl DelayedLink {
    async fn start(upstream: String) -> DelayedLink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let one_way_us = Arc::new(AtomicU64::new(0));
        let delay = one_way_us.clone();
        let relay = tokio::spawn(async move {
            // Dropped with the relay: every connection's copies end with it.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                connections.spawn(delayed_copy(client_read, server_write, delay.clone()));
                connections.spawn(delayed_copy(server_read, client_write, delay.clone()));
            }
        });
        DelayedLink {
            port,
            one_way_us,
            relay,
        }
    }

    fn set_rtt(&self, rtt_ms: u64) {
        self.one_way_us.store(rtt_ms * 500, Ordering::Relaxed);
    }
}

impl Drop for DelayedLink {
    fn drop(&mut self) {
        self.relay.abort();
    }
}

/// Open sessions in `slug`'s pool, from `/metrics`.
async fn pool_connections(client: &reqwest::Client, metrics_addr: &str, slug: &str) -> u64 {
    let text = metrics_text(client, metrics_addr).await;
    let prefix = format!("tenantql_pool_connections{{tenant=\"{slug}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// `count` requests one after the other: invoice pages following endCursor
/// (from the top again at the end), or dashboards over the companies. The
/// latencies of those that succeeded, sorted, and the errors.
async fn sequential(
    driver: &Driver,
    target: &Target,
    pages: bool,
    count: usize,
) -> (Vec<Duration>, u64) {
    let mut latencies = Vec::with_capacity(count);
    let mut errors = 0;
    let mut after = Value::Null;
    for i in 0..count {
        let company = &target.company_ids[i % target.company_ids.len()];
        let started = Instant::now();
        let answer = if pages {
            invoice_page(driver, target, &target.company_ids[0], after.clone()).await
        } else {
            dashboard(driver, target, company, 2025).await
        };
        match answer {
            Some(data) => {
                latencies.push(started.elapsed());
                if pages {
                    let info = &data["invoices"]["pageInfo"];
                    after = if info["hasNextPage"] == true {
                        info["endCursor"].clone()
                    } else {
                        Value::Null
                    };
                }
            }
            None => errors += 1,
        }
    }
    latencies.sort();
    (latencies, errors)
}

pub async fn run(
    dir: &Path,
    o: &Options,
    services: &Services,
    pg_url: &str,
    ratios: &mut Vec<String>,
) {
    let (user, connect) = fresh_pg_database(pg_url, "tq_slow").await;
    let counts = {
        register_or_repoint(services, pg_tenant("pgslow", &user, &connect, o)).await;
        tenantql::demo::seed_tenant(services, "pgslow", o.invoices)
            .await
            .unwrap()
    };
    // The tenant then reaches the same database through the delayed link.
    let (host, database) = connect.split_once('/').expect("host:port/database");
    let link = DelayedLink::start(host.to_string()).await;
    let delayed = format!("127.0.0.1:{}/{database}", link.port);
    register_or_repoint(services, pg_tenant("pgslow", &user, &delayed, o)).await;
    eprintln!(
        "slowlink: pgslow with {} invoices on {connect}, reached through the delayed link {delayed}",
        counts.invoices
    );
    // The answer cache off: every request reads the database.
    let server = start_server_with(dir, o, &[("TENANTQL_CACHE_TTL_SECS", "0")]).await;
    let url = format!("http://{}/graphql", server.addr);
    let metrics_addr = server.metrics_addr.clone().expect("tenantql's metrics");
    let client = reqwest::Client::new();
    let token = services
        .sessions
        .mint("bench@t001.test", Some("pgslow"), Duration::from_secs(3600))
        .await
        .unwrap()
        .issued
        .token;
    let target = Target {
        slug: "pgslow".into(),
        company_ids: company_ids(&client, &url, &token).await,
        token,
    };
    let driver = Driver {
        client: client.clone(),
        url,
        results: tokio::sync::Mutex::new(BTreeMap::new()),
    };
    let count = o.slow_requests;
    println!(
        "\n### slowlink: one request at a time, {count} of each per RTT, PostgreSQL behind the delayed link\n"
    );
    println!("| RTT ms | page p50 ms | page p95 ms | page stages | dashboard p50 ms | dashboard p95 ms | dashboard stages | errors | pool sessions |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut own: Option<(f64, f64)> = None;
    let mut worst_stages = (0.0f64, 0.0f64);
    for &rtt in &o.rtts {
        link.set_rtt(rtt);
        // Warm-up (not measured): sessions opened, statements prepared.
        sequential(&driver, &target, true, 6).await;
        sequential(&driver, &target, false, 6).await;
        let (pages, page_errors) = sequential(&driver, &target, true, count).await;
        let (dashboards, dashboard_errors) = sequential(&driver, &target, false, count).await;
        let sessions = pool_connections(&client, &metrics_addr, "pgslow").await;
        let (page_p50, dash_p50) = (percentile(&pages, 0.5), percentile(&dashboards, 0.5));
        let (own_page, own_dash) = *own.get_or_insert((page_p50, dash_p50));
        let stages = |p50: f64, own: f64| {
            if rtt == 0 {
                "–".to_string()
            } else {
                format!("{:.2}", (p50 - own) / rtt as f64)
            }
        };
        if rtt > 0 {
            worst_stages.0 = worst_stages.0.max((page_p50 - own_page) / rtt as f64);
            worst_stages.1 = worst_stages.1.max((dash_p50 - own_dash) / rtt as f64);
        }
        println!(
            "| {rtt} | {page_p50:.2} | {:.2} | {} | {dash_p50:.2} | {:.2} | {} | {} | {sessions} |",
            percentile(&pages, 0.95),
            stages(page_p50, own_page),
            percentile(&dashboards, 0.95),
            stages(dash_p50, own_dash),
            page_errors + dashboard_errors,
        );
    }
    let sessions = pool_connections(&client, &metrics_addr, "pgslow").await;
    ratios.push(format!(
        "slowlink: round-trip stages per request at RTTs {:?} ms (p50 over the p50 at the first RTT): invoice page at most {:.2}, dashboard at most {:.2}; pgslow's pool opened {sessions} sessions for requests sent one at a time",
        o.rtts, worst_stages.0, worst_stages.1
    ));
    drop(server);
    drop(link);
}
