//! The `contract` phase: does reading a client's ERP through the contract
//! views cost what reading tenantql's own tables costs? Two PostgreSQL
//! databases holding the same generated rows — `pgown` in tenantql's own
//! tables (the seeder), `pgviews` in the vendor-like schema of
//! sql/postgres/examples/ read through its `erp_contract` views — saturated in
//! turn with the invoice page and the dashboard, `--rounds` rounds, the
//! server pinned like every phase.
use super::*;

/// Both tenants on fresh databases; bench@t001.test a member of each.
async fn tenants(services: &Services, pg_url: &str, o: &Options) {
    let pid = std::process::id();
    let (user, own) = fresh_pg_database(pg_url, &format!("tq_bench_own_{pid}")).await;
    register_or_repoint(services, pg_tenant("pgown", &user, &own, o)).await;
    let counts = tenantql::demo::seed_tenant(services, "pgown", o.invoices)
        .await
        .unwrap();
    let (user, views) = fresh_pg_database(pg_url, &format!("tq_bench_views_{pid}")).await;
    let settings = tenantql::store::postgres::PostgresSettings {
        connect_string: views.clone(),
        username: user.clone(),
        password: None,
    };
    let mut dba = tenantql::store::Connection::Postgres(
        tenantql::store::postgres::PostgresSession::open(&settings, None)
            .await
            .expect("a session on the views database"),
    );
    // The same rows as pgown's: the seeder's data for the same slug.
    tenantql::erp::seed::load_vendor_example(
        &mut dba,
        "pgown",
        tenantql::erp::seed::SeedPlan::new(o.invoices),
    )
    .await
    .expect("the vendor-like example");
    register_or_repoint(
        services,
        NewTenant {
            contract: tenantql::control::tenants::ContractPlacement {
                schema: Some("erp_contract".into()),
                write_mode: tenantql::control::entities::tenant::WriteMode::ReadOnly,
            },
            ..pg_tenant("pgviews", &user, &views, o)
        },
    )
    .await;
    eprintln!(
        "contract: {} invoices in tenantql's own tables (pgown) and in the vendor-like schema behind views (pgviews)",
        counts.invoices
    );
}

/// One round's figures of a query on a store: req/s, server CPU ms per request, p95 ms.
type Round = (f64, f64, f64);

pub async fn run(
    dir: &Path,
    o: &Options,
    services: &Services,
    pg_url: &str,
    ratios: &mut Vec<String>,
) {
    tenants(services, pg_url, o).await;
    // Fair share opened up as in the network phase: a remote database's waits
    // would otherwise be serialized by one executing operation per CPU. The
    // answer cache is off: every request reads the database.
    let server = start_server_with(
        dir,
        o,
        &[
            ("TENANTQL_MAX_CONCURRENT_OPERATIONS", "64"),
            ("TENANTQL_CACHE_TTL_SECS", "0"),
        ],
    )
    .await;
    let url = format!("http://{}/graphql", server.addr);
    let client = reqwest::Client::new();
    let mut targets = Vec::new();
    for slug in ["pgown", "pgviews"] {
        let token = services
            .sessions
            .mint("bench@t001.test", Some(slug), Duration::from_secs(3600))
            .await
            .unwrap()
            .issued
            .token;
        let company_ids = company_ids(&client, &url, &token).await;
        targets.push(Target {
            slug: slug.to_string(),
            token,
            company_ids,
        });
    }
    let connections = o.connections;
    let mut figures: BTreeMap<(&str, String), Vec<Round>> = BTreeMap::new();
    println!("\n| round | query | store | req/s | server CPU ms / request | p95 ms |\n|---:|---|---|---:|---:|---:|");
    for round in 1..=o.rounds {
        for (query, dashboards) in [("invoice page", false), ("dashboard", true)] {
            for target in &targets {
                let spawn = |driver: Arc<Driver>, deadline| {
                    (0..connections)
                        .map(|c| {
                            tokio::spawn(worker(
                                driver.clone(),
                                vec![target.clone()],
                                c,
                                dashboards,
                                deadline,
                            ))
                        })
                        .collect()
                };
                run_phase(&url, "warm-up (not measured)", 2, spawn).await;
                let cpu_before = cpu_seconds(server.child.id());
                let phase = format!(
                    "contract, round {round}: {query} on {}, {connections} connections",
                    target.slug
                );
                let result = run_phase(&url, &phase, o.seconds, spawn).await;
                let cpu = cpu_seconds(server.child.id()) - cpu_before;
                let (rps, p95) = result[query];
                let per_request = cpu * 1000.0 / (rps * o.seconds as f64);
                println!(
                    "| {round} | {query} | {} | {rps:.0} | {per_request:.3} | {p95:.2} |",
                    target.slug
                );
                figures
                    .entry((query, target.slug.clone()))
                    .or_default()
                    .push((rps, per_request, p95));
            }
        }
    }
    let mean = |v: &[Round], pick: fn(&Round) -> f64| {
        v.iter().map(pick).sum::<f64>() / v.len().max(1) as f64
    };
    println!("\n| query | own tables req/s | views req/s | own CPU ms | views CPU ms | CPU views / own |\n|---|---:|---:|---:|---:|---:|");
    for query in ["invoice page", "dashboard"] {
        let own = &figures[&(query, "pgown".to_string())];
        let views = &figures[&(query, "pgviews".to_string())];
        let (own_cpu, views_cpu) = (mean(own, |f| f.1), mean(views, |f| f.1));
        println!(
            "| {query} | {:.0} | {:.0} | {own_cpu:.3} | {views_cpu:.3} | {:.3} |",
            mean(own, |f| f.0),
            mean(views, |f| f.0),
            views_cpu / own_cpu
        );
        ratios.push(format!(
            "contract: {query} through the contract views / on tenantql's own tables (PostgreSQL): server CPU per request {:.3}, req/s {:.3} (mean of {} rounds)",
            views_cpu / own_cpu,
            mean(views, |f| f.0) / mean(own, |f| f.0),
            o.rounds
        ));
    }
}
