//! The scale phase: `--scale-tenants` tenants registered (10,000 by default,
//! each with a tiny store), a window of `--active` of them sending invoice
//! pages open loop at `--scale-rps` in total, the window moving on by
//! `--rotate` tenants a second so that fresh tenants keep arriving cold.
//!
//! Reported: every tenant's first request (pool, signing key and statements
//! all cold) apart from the rest — those of the window at the start (all
//! arriving at once on a fresh server) apart from those reached later — the server's peak resident memory, pools
//! open during the load and after the idle TTL, and how many tenant label
//! values `/metrics` exports.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tenantql::resolvers::erp::{IdCodec, Kind};

use super::*;

/// The member every generated tenant grants (one password hash, not 10,000).
const SCALE_USER: &str = "scale@bench.test";
/// Written last by the generator: a directory without it is regenerated.
const COMPLETE: &str = "generated";
/// Pools unused this long are reaped during the run.
const IDLE_TTL_SECS: u64 = 10;

fn slug(i: usize) -> String {
    format!("s{i:05}")
}

/// Registers `count` tenants, each with a copy of one tiny seeded store, once
/// per (count, invoices) under target/loadbench.
pub async fn prepare(dir: &Path, count: usize, invoices: usize) -> Services {
    if dir.exists() && !dir.join(COMPLETE).exists() {
        std::fs::remove_dir_all(dir).expect("an unfinished generation removed");
    }
    let fresh = !dir.join(COMPLETE).exists();
    std::fs::create_dir_all(dir.join("tenants")).unwrap();
    let services = open_control(dir, fresh).await;
    if !fresh {
        return services;
    }
    let started = Instant::now();
    let template = dir.join("template.db").display().to_string();
    tenantql::erp::seed::seed_sqlite(
        &template,
        "template",
        tenantql::erp::seed::SeedPlan::new(invoices),
    )
    .await
    .unwrap();
    let actor = Actor::cli("bench");
    registry::add_user(
        &services,
        &actor,
        SCALE_USER,
        SecretString::from(PASSWORD.to_string()),
        false,
    )
    .await
    .unwrap();
    for i in 1..=count {
        let slug = slug(i);
        let store = dir.join(format!("tenants/{slug}.db"));
        std::fs::copy(&template, &store).unwrap();
        registry::add_tenant(
            &services,
            &actor,
            sqlite_tenant(&slug, &format!("Scale tenant {i}"), &store),
        )
        .await
        .unwrap();
        registry::grant(&services, &actor, SCALE_USER, &slug, MemberRole::Member)
            .await
            .unwrap();
        if i % 1000 == 0 {
            eprintln!(
                "registered {i} tenants in {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    std::fs::write(dir.join(COMPLETE), format!("{count} tenants\n")).unwrap();
    services
}

struct Tenant {
    token: String,
    company: String,
    seen: AtomicBool,
}

#[derive(Default)]
struct Latencies {
    /// First requests of the tenants that were in the window from the start:
    /// `--active` tenants arriving at once on a server that just started.
    cold_initial: Vec<Duration>,
    /// First requests of the tenants the moving window reached later: new
    /// tenants arriving at a running server, the steady state.
    cold: Vec<Duration>,
    /// When each cold request was sent (since the load began) and how long it took.
    cold_at: Vec<(Duration, Duration)>,
    warm: Vec<Duration>,
    errors: u64,
}

/// Open pools and tenant label values, from `/metrics`.
async fn pools_and_labels(client: &reqwest::Client, addr: &str) -> (u64, usize) {
    let text = metrics_text(client, addr).await;
    let open = text
        .lines()
        .find_map(|l| l.strip_prefix("tenantql_pools_open "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let labels: std::collections::HashSet<&str> = text
        .split("tenant=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    (open, labels.len())
}

pub async fn run(dir: &Path, o: &Options, services: &Services, ratios: &mut Vec<String>) {
    let seconds = o.seconds;
    let reached = (o.active + o.rotate * seconds as usize).min(o.scale_tenants);
    let started = Instant::now();
    let mut tenants = Vec::with_capacity(reached);
    for i in 1..=reached {
        let row = tenantql::control::tenants::get_by_slug(&services.control.db, &slug(i))
            .await
            .unwrap();
        let token = services
            .sessions
            .mint(SCALE_USER, Some(&row.slug), Duration::from_secs(3600))
            .await
            .unwrap()
            .issued
            .token;
        let company = IdCodec::for_tenant(&row.id).encode(Kind::Company, 1).0;
        tenants.push(Tenant {
            token,
            company,
            seen: AtomicBool::new(false),
        });
    }
    eprintln!(
        "{reached} tokens minted in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let tenants = Arc::new(tenants);

    let idle = IDLE_TTL_SECS.to_string();
    let env = [
        ("TENANTQL_POOL_IDLE_TTL_SECS", idle.as_str()),
        ("TENANTQL_CACHE_TTL_SECS", "0"),
    ];
    let server = start_server_with(dir, o, &env).await;
    let url = format!("http://{}/graphql", server.addr);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
        .unwrap();
    let rss_before = rss_kib(server.child.id());

    // Peak resident memory, sampled until the load ends.
    let peak = Arc::new(AtomicU64::new(rss_before));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling, pid) = (peak.clone(), sampling.clone(), server.child.id());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };

    let cpu_before = cpu_seconds(server.child.id());
    let latencies = Arc::new(std::sync::Mutex::new(Latencies::default()));
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / o.scale_rps.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let load_started = Instant::now();
    let deadline = load_started + Duration::from_secs(seconds);
    let mut sent = Vec::new();
    let mut n = 0usize;
    while Instant::now() < deadline {
        tick.tick().await;
        let window = (load_started.elapsed().as_secs_f64() * o.rotate as f64) as usize;
        // Spread over the window, not in order, as independent users are.
        let index = (window + (n * 7919) % o.active).min(reached - 1);
        n += 1;
        let (client, url, tenants, latencies) = (
            client.clone(),
            url.clone(),
            tenants.clone(),
            latencies.clone(),
        );
        let initial = index < o.active;
        sent.push(tokio::spawn(async move {
            let tenant = &tenants[index];
            let cold = !tenant.seen.swap(true, Ordering::Relaxed);
            let began = Instant::now();
            let sent_at = began - load_started;
            let answer = client
                .post(&url)
                .bearer_auth(&tenant.token)
                .json(&json!({ "query": INVOICE_PAGE, "variables": { "companyId": tenant.company, "after": null } }))
                .send()
                .await;
            let ok = match answer {
                Ok(r) if r.status().is_success() => r
                    .json::<Value>()
                    .await
                    .is_ok_and(|b| b.get("errors").is_none() && b["data"]["invoices"]["edges"].is_array()),
                _ => false,
            };
            let took = began.elapsed();
            let mut l = latencies.lock().unwrap();
            match (ok, cold) {
                (false, _) => l.errors += 1,
                (true, true) => {
                    if initial {
                        l.cold_initial.push(took);
                    } else {
                        l.cold.push(took);
                    }
                    l.cold_at.push((sent_at, took));
                }
                (true, false) => l.warm.push(took),
            }
        }));
    }
    for task in sent {
        task.await.unwrap();
    }
    let elapsed = load_started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(server.child.id()) - cpu_before;
    let metrics_addr = server
        .metrics_addr
        .clone()
        .expect("tenantql serves /metrics");
    let (open_during, _) = pools_and_labels(&client, &metrics_addr).await;
    sampling.store(false, Ordering::Relaxed);
    sampler.await.unwrap();
    let peak_mib = peak.load(Ordering::Relaxed) as f64 / 1024.0;

    // Reaped on schedule: the reaper runs every quarter of the TTL.
    tokio::time::sleep(Duration::from_secs(IDLE_TTL_SECS + IDLE_TTL_SECS / 4 + 2)).await;
    let (open_after, labels) = pools_and_labels(&client, &metrics_addr).await;
    drop(server);

    let mut l = std::mem::take(&mut *latencies.lock().unwrap());
    l.cold_initial.sort();
    l.cold.sort();
    l.warm.sort();
    println!(
        "\n### scale: {} tenants registered, {} active, window moving {} tenants/s, {} pages/s open loop, {seconds} s (server on one core)\n",
        o.scale_tenants, o.active, o.rotate, o.scale_rps
    );
    println!(
        "| requests | count | req/s | p50 ms | p95 ms | p99 ms |\n|---|---:|---:|---:|---:|---:|"
    );
    let rows = [
        (
            "first of a tenant in the window at the start (cold, all at once)",
            &l.cold_initial,
        ),
        ("first of a tenant reached later (cold, arriving)", &l.cold),
        ("the others (warm)", &l.warm),
    ];
    for (name, samples) in rows {
        println!(
            "| {name} | {} | {:.0} | {:.2} | {:.2} | {:.2} |",
            samples.len(),
            samples.len() as f64 / elapsed,
            percentile(samples, 0.50),
            percentile(samples, 0.95),
            percentile(samples, 0.99)
        );
    }
    // The slowest cold requests with when they were sent: a stall of the whole
    // server shows as several at the same moment.
    l.cold_at.sort_by_key(|(_, took)| std::cmp::Reverse(*took));
    let slowest: Vec<String> = l
        .cold_at
        .iter()
        .take(8)
        .map(|(at, took)| {
            format!(
                "{:.0} ms at {:.2} s",
                took.as_secs_f64() * 1e3,
                at.as_secs_f64()
            )
        })
        .collect();
    println!("\nslowest cold requests: {}", slowest.join(", "));
    let answered = (l.cold_initial.len() + l.cold.len() + l.warm.len()).max(1) as f64;
    println!(
        "\nserver CPU {:.3} ms per request (all requests)",
        cpu * 1e3 / answered
    );
    println!(
        "\nerrors {}; tenants reached {reached}; server RSS {:.0} MiB before the load, peak {peak_mib:.0} MiB; pools open at the end of the load {open_during}, {} s later {open_after} (idle TTL {IDLE_TTL_SECS} s); tenant label values in /metrics {labels}",
        l.errors,
        rss_before as f64 / 1024.0,
        IDLE_TTL_SECS + IDLE_TTL_SECS / 4 + 2,
    );
    ratios.push(format!(
        "scale: {} tenants, server CPU {:.3} ms per request, {} arriving tenants' first requests p95 {:.2} ms (goal ≤ 50; the {} at the start, all at once: p95 {:.2} ms), peak RSS {peak_mib:.0} MiB (goal ≤ 512), pools open {open_during} → {open_after} after the idle TTL, {labels} tenant label values, {} errors",
        o.scale_tenants,
        cpu * 1e3 / answered,
        l.cold.len(),
        percentile(&l.cold, 0.95),
        l.cold_initial.len(),
        percentile(&l.cold_initial, 0.95),
        l.errors
    ));
}
