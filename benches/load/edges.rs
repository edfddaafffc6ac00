//! The `edges` phase: what CORS, the caller's origin check and trusted
//! documents cost per request. `{ me { email } }` is the cheapest document a
//! signed-in caller sends, so the edges' share of it is the largest any
//! request shows. One server, four ways of sending it, `--rounds` rounds in
//! turn, each saturated from `--connections` connections:
//! - plain: no `Origin` (a non-browser client), free-form;
//! - cross-origin: `Origin` of t001's own allowed origin (the preflight
//!   union's lookup, the verified caller's check, the CORS response headers);
//! - by id (allow): t001 sends the published document's `documentId`;
//! - by id (require): t002, whose mode is `require`, does the same.
use super::*;
use tenantql::control::{entities::tenant::DocumentsMode, tenants::TenantChanges};

const ME: &str = "{ me { email } }";
const ORIGIN: &str = "https://erp.t001.example";

type Round = (f64, f64);
/// One way of sending the document: its name, who, the body and extra headers.
type Variant<'a> = (&'a str, &'a Target, &'a Value, &'a [(&'a str, &'a str)]);

pub async fn run(
    dir: &Path,
    o: &Options,
    services: &Services,
    targets: &[Target],
    ratios: &mut Vec<String>,
) {
    assert!(targets.len() >= 2, "the edges phase needs two tenants");
    let actor = tenantql::audit::Actor::cli("bench");
    let set = |slug: &str, changes: TenantChanges| {
        let slug = slug.to_string();
        let actor = actor.clone();
        async move {
            registry::update_tenant(services, &actor, &slug, changes)
                .await
                .unwrap();
        }
    };
    set(
        "t001",
        TenantChanges {
            allowed_origins: Some(vec![ORIGIN.into(), "https://*.t001.example".into()]),
            documents_mode: Some(Some(DocumentsMode::Allow)),
            ..Default::default()
        },
    )
    .await;
    set(
        "t002",
        TenantChanges {
            documents_mode: Some(Some(DocumentsMode::Require)),
            ..Default::default()
        },
    )
    .await;
    let id = tenantql::trusted::document_id(ME);
    let manifest = json!({ id.clone(): ME }).to_string();
    tenantql::admin::documents::publish(services, &actor, None, None, &manifest)
        .await
        .unwrap();
    let server = start_server_with(
        dir,
        o,
        &[
            ("TENANTQL_CORS_ALLOWED_ORIGINS", "https://app.example.test"),
            ("TENANTQL_CACHE_TTL_SECS", "0"),
        ],
    )
    .await;
    let url = format!("http://{}/graphql", server.addr);
    let free_form = json!({ "query": ME });
    let by_id = json!({ "documentId": id });
    let variants: [Variant; 4] = [
        ("plain", &targets[0], &free_form, &[]),
        (
            "cross-origin",
            &targets[0],
            &free_form,
            &[("origin", ORIGIN)],
        ),
        ("by id, allow", &targets[0], &by_id, &[]),
        ("by id, require", &targets[1], &by_id, &[]),
    ];
    let connections = o.connections;
    let mut figures: BTreeMap<&str, Vec<Round>> = BTreeMap::new();
    println!("\n| round | request | req/s | server CPU µs / request |\n|---:|---|---:|---:|");
    for round in 1..=o.rounds {
        for (name, target, body, headers) in variants {
            let spawn = |driver: Arc<Driver>, deadline: Instant| {
                (0..connections)
                    .map(|_| {
                        let driver = driver.clone();
                        let (slug, token) = (target.slug.clone(), target.token.clone());
                        let body = body.clone();
                        let headers: Vec<(String, String)> = headers
                            .iter()
                            .map(|(n, v)| (n.to_string(), v.to_string()))
                            .collect();
                        tokio::spawn(async move {
                            let headers: Vec<(&str, &str)> = headers
                                .iter()
                                .map(|(n, v)| (n.as_str(), v.as_str()))
                                .collect();
                            while Instant::now() < deadline {
                                driver.send_body(&slug, "me", &token, &body, &headers).await;
                            }
                        })
                    })
                    .collect()
            };
            run_phase(&url, "warm-up (not measured)", 2, spawn).await;
            let cpu_before = cpu_seconds(server.child.id());
            let phase = format!("edges, round {round}: {name}, {connections} connections");
            let summary = run_phase_summary(&url, &phase, o.seconds, spawn).await;
            let cpu = cpu_seconds(server.child.id()) - cpu_before;
            let me = summary.get("me").expect("answers");
            assert_eq!(me.errors, 0, "{name}: {} requests failed", me.errors);
            let rps = me.rps;
            let per_request = cpu * 1e6 / (rps * o.seconds as f64);
            println!("| {round} | {name} | {rps:.0} | {per_request:.1} |");
            figures.entry(name).or_default().push((rps, per_request));
        }
    }
    let mean = |name: &str, pick: fn(&Round) -> f64| {
        let v = &figures[name];
        v.iter().map(pick).sum::<f64>() / v.len().max(1) as f64
    };
    println!("\n| request | req/s | server CPU µs / request | CPU / plain |\n|---|---:|---:|---:|");
    for (name, ..) in variants {
        println!(
            "| {name} | {:.0} | {:.1} | {:.3} |",
            mean(name, |r| r.0),
            mean(name, |r| r.1),
            mean(name, |r| r.1) / mean("plain", |r| r.1)
        );
    }
    for name in ["cross-origin", "by id, allow", "by id, require"] {
        ratios.push(format!(
            "edges: {{ me }} {name} / plain: server CPU per request {:.3}, req/s {:.3} (mean of {} rounds)",
            mean(name, |r| r.1) / mean("plain", |r| r.1),
            mean(name, |r| r.0) / mean("plain", |r| r.0),
            o.rounds
        ));
    }
    drop(server);
}
