//! The `fairness` phase: tenant B (t002) sends invoice pages one at a time on
//! one connection (closed loop, `wrk -c1`), alone and then while tenant A
//! (t001) floods the server with dashboards from many connections without
//! think time — over HTTP (`wrk`, closed loop) or over WebSockets (this
//! process's own sockets, one query after the other on each) — with the answer
//! cache off and on, fair share on (the defaults) and off. Reported: B's p95
//! beside the flood over B's p95 alone, and A's dashboards/s beside B over A's
//! alone. wrk and the WebSocket flood run on the load generator's CPU, the
//! server on its own.
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use super::{start_server_with, subscriber, Options, Target, DASHBOARD, INVOICE_PAGE};

/// What wrk's `done` hook prints (see `lua`).
#[derive(Debug, Clone, Copy, Default)]
struct WrkResult {
    rps: f64,
    p95: f64,
    errors: u64,
}

#[derive(Clone, Copy, PartialEq)]
enum Transport {
    Http,
    WebSocket,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Transport::Http => "HTTP",
            Transport::WebSocket => "WebSocket",
        }
    }
}

/// A wrk script POSTing one GraphQL request with `token`, printing one
/// `RESULT` line (req/s, p95 ms, errors) when done.
fn lua(token: &str, body: &Value) -> String {
    let body = serde_json::to_string(&body.to_string()).expect("a JSON string");
    format!(
        r#"wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.2f %.3f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(95) / 1000, e.status + e.connect + e.read + e.write + e.timeout))
end
"#
    )
}

fn wrk(o: &Options, script: &Path, url: &str, connections: usize, seconds: u64) -> Command {
    let mut command = Command::new("taskset");
    let cpu = o.server_cpu.map_or(1, |c| if c == 0 { 1 } else { 0 });
    command.args(["-c", &cpu.to_string(), "wrk", "-t1"]).args([
        format!("-c{connections}"),
        format!("-d{seconds}s"),
        "--timeout".into(),
        "10s".into(),
        "-s".into(),
        script.display().to_string(),
        url.into(),
    ]);
    command.stdout(Stdio::piped()).stderr(Stdio::null());
    command
}

fn parse(output: &str) -> WrkResult {
    let line = output
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("wrk printed no result: {output}"));
    let mut fields = line.split_whitespace();
    let mut next = || fields.next().unwrap_or("0").to_string();
    WrkResult {
        rps: next().parse().unwrap_or(0.0),
        p95: next().parse().unwrap_or(f64::NAN),
        errors: next().parse().unwrap_or(0),
    }
}

/// Runs wrk to the end and reads its result.
fn run_wrk(command: &mut Command) -> WrkResult {
    let output = command
        .output()
        .expect("wrk runs (apt-get install wrk; see docs/BENCHMARKS.md)");
    parse(&String::from_utf8_lossy(&output.stdout))
}

/// The WebSocket flood: `connections` sockets, each sending the dashboard as
/// a query, waiting for its `complete`, and sending the next, until the
/// deadline. Returns completed dashboards per second.
async fn websocket_flood(addr: &str, a: &Target, connections: usize, seconds: u64) -> f64 {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let done = Arc::new(AtomicU64::new(0));
    let variables = json!({ "companyId": a.company_ids[0], "year": 2025 });
    let mut sockets = Vec::with_capacity(connections);
    for _ in 0..connections {
        sockets.push(subscriber(addr, &a.token, DASHBOARD, variables.clone()).await);
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|mut socket| {
            let (done, variables) = (done.clone(), variables.clone());
            tokio::spawn(async move {
                let mut id = 1u64;
                loop {
                    let complete = format!("\"id\":\"{id}\",\"type\":\"complete\"");
                    let ok = loop {
                        let next = tokio::time::timeout_at(deadline.into(), socket.next()).await;
                        match next {
                            Ok(Some(Ok(Message::Text(text)))) if text.contains(&complete) => {
                                break true
                            }
                            Ok(Some(Ok(_))) => continue,
                            _ => break false,
                        }
                    };
                    if !ok || Instant::now() >= deadline {
                        return;
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    id += 1;
                    let subscribe = json!({ "id": id.to_string(), "type": "subscribe",
                        "payload": { "query": DASHBOARD, "variables": variables } });
                    if socket
                        .send(Message::Text(subscribe.to_string().into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// A's flood alone (dashboards/s), or beside B's sequential pages (then also B's result).
async fn flood(
    o: &Options,
    scripts: &Scripts,
    addr: &str,
    a: &Target,
    transport: Transport,
    connections: usize,
    with_b: bool,
) -> (f64, Option<WrkResult>) {
    let url = format!("http://{addr}/graphql");
    let seconds = o.seconds;
    // B starts a second after the flood and ends a second before it.
    let b = with_b.then(|| {
        let mut command = wrk(o, &scripts.page, &url, 1, seconds.saturating_sub(2).max(1));
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            run_wrk(&mut command)
        })
    });
    let a_rps = match transport {
        Transport::Http => {
            let mut command = wrk(o, &scripts.dashboard, &url, connections, seconds);
            tokio::task::spawn_blocking(move || run_wrk(&mut command))
                .await
                .expect("wrk thread")
                .rps
        }
        Transport::WebSocket => websocket_flood(addr, a, connections, seconds).await,
    };
    let b = b.map(|thread| thread.join().expect("wrk thread"));
    (a_rps, b)
}

struct Scripts {
    page: PathBuf,
    dashboard: PathBuf,
}

pub async fn run(dir: &Path, o: &Options, targets: &[Target], ratios: &mut Vec<String>) {
    let (a, b) = (&targets[0], &targets[1]);
    let scripts = Scripts {
        page: dir.join("fairness-page.lua"),
        dashboard: dir.join("fairness-dashboard.lua"),
    };
    let page = json!({ "query": INVOICE_PAGE, "variables": { "companyId": b.company_ids[0], "after": null } });
    let dashboard =
        json!({ "query": DASHBOARD, "variables": { "companyId": a.company_ids[0], "year": 2025 } });
    std::fs::write(&scripts.page, lua(&b.token, &page)).expect("page script");
    std::fs::write(&scripts.dashboard, lua(&a.token, &dashboard)).expect("dashboard script");
    let floods: Vec<(Transport, usize)> = [Transport::Http, Transport::WebSocket]
        .into_iter()
        .flat_map(|t| o.flood_sizes.iter().map(move |&n| (t, n)))
        .collect();
    let mut rows = Vec::new();
    for round in 1..=o.rounds {
        for cache in ["off", "on"] {
            for (setting, fair_env) in [
                ("fair share on (defaults)", vec![]),
                (
                    "fair share off",
                    vec![
                        ("TENANTQL_MAX_CONCURRENT_OPERATIONS", "1000000"),
                        ("TENANTQL_TENANT_MAX_CONCURRENT_OPERATIONS", "1000000"),
                        ("TENANTQL_TENANT_MAX_QUEUED_OPERATIONS", "1000000"),
                    ],
                ),
            ] {
                if setting == "fair share off" && !o.fair_off {
                    continue;
                }
                let mut env = fair_env.clone();
                if cache == "off" {
                    env.push(("TENANTQL_CACHE_TTL_SECS", "0"));
                }
                let server = start_server_with(dir, o, &env).await;
                let url = format!("http://{}/graphql", server.addr);
                // Warm-up: both tenants' pools, statements and (cache on) answers.
                run_wrk(&mut wrk(o, &scripts.page, &url, 4, 2));
                run_wrk(&mut wrk(o, &scripts.dashboard, &url, 4, 2));
                let alone = run_wrk(&mut wrk(o, &scripts.page, &url, 1, o.seconds));
                for &(transport, connections) in &floods {
                    let (a_alone, _) =
                        flood(o, &scripts, &server.addr, a, transport, connections, false).await;
                    let (a_beside, b_beside) =
                        flood(o, &scripts, &server.addr, a, transport, connections, true).await;
                    let b_beside = b_beside.unwrap_or_default();
                    println!(
                        "fairness round {round}, cache {cache}, {setting}, {} flood from {connections}: B p95 alone {:.2} ms, beside {:.2} ms (B errors {}); A {:.0}/s alone, {:.0}/s beside",
                        transport.label(), alone.p95, b_beside.p95, b_beside.errors, a_alone, a_beside
                    );
                    rows.push((
                        round,
                        cache,
                        setting,
                        transport.label(),
                        connections,
                        alone,
                        b_beside,
                        a_alone,
                        a_beside,
                    ));
                }
                drop(server);
            }
        }
    }
    println!(
        "\n### fairness: B one page at a time beside A's dashboard flood (server on one core)\n"
    );
    println!("| round | cache | setting | flood | connections | B p95 alone ms | B p95 beside ms | B ratio | A alone /s | A beside /s | A ratio |");
    println!("|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for (round, cache, setting, transport, connections, alone, beside, a_alone, a_beside) in &rows {
        println!(
            "| {round} | {cache} | {setting} | {transport} | {connections} | {:.2} | {:.2} | {:.2} | {a_alone:.0} | {a_beside:.0} | {:.2} |",
            alone.p95,
            beside.p95,
            beside.p95 / alone.p95,
            a_beside / a_alone.max(1e-9)
        );
    }
    let mut keys: Vec<_> = rows.iter().map(|r| (r.1, r.2, r.3, r.4)).collect();
    keys.sort_by_key(|k| format!("{k:?}"));
    keys.dedup();
    for key in keys {
        let picked: Vec<_> = rows
            .iter()
            .filter(|r| (r.1, r.2, r.3, r.4) == key)
            .collect();
        let n = picked.len().max(1) as f64;
        let b = picked.iter().map(|r| r.6.p95 / r.5.p95).sum::<f64>() / n;
        let a_share = picked.iter().map(|r| r.8 / r.7.max(1e-9)).sum::<f64>() / n;
        ratios.push(format!(
            "fairness, cache {}, {}, {} flood from {}: B's p95 beside / alone = {b:.2}; A's throughput beside B / alone = {a_share:.2} (mean of {} rounds)",
            key.0, key.1, key.2, key.3, picked.len()
        ));
    }
}
