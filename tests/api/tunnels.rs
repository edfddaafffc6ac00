//! Tenants across the network: a PostgreSQL tenant passes the same ERP contract
//! as SQLite, and a tenant whose PostgreSQL is reached only through an SSH
//! bastion (a real sshd on loopback, started by the test) follows that bastion:
//! down when it dies, back without a restart when it returns, refused when it
//! shows another host key.
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{
    erp::{self, INVOICE_PAGE},
    helpers::{add_postgres_tenant, ok, postgres_url, tenantql, SshServer, TestApp},
    live,
};

#[tokio::test]
async fn erp_contract_on_postgres() {
    if postgres_url().is_none() {
        return;
    }
    let app = TestApp::spawn_demo(20).await;
    add_postgres_tenant(&app, "north", erp::INVOICES, None).await;
    let token = app.token("alice@acme.test", Some("north")).await;
    erp::contract(&app, "north", &token).await;
}

#[tokio::test]
async fn writes_and_change_events_on_postgres() {
    if postgres_url().is_none() {
        return;
    }
    let app = TestApp::spawn_demo_with(20, |c| c.server.change_poll_ms = 100).await;
    add_postgres_tenant(&app, "north", 300, None).await;
    let token = app.token("alice@acme.test", Some("north")).await;
    let company = app.companies(&token).await[0].0.clone();
    live::concurrent_payments_never_overpay(&app, &token, &company).await;

    // A row changed outside tenantql reaches subscribers through the change log
    // (PL/pgSQL triggers, polled by the watcher).
    let mut ws = app.ws(&token).await;
    ws.subscribe("a", live::EVENTS, json!({ "companyId": company }))
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    live::pay_outside_tenantql(&app, "north", 1).await;
    live::changed_and_paid(&mut ws, "a").await;
}

async fn invoice_page(app: &TestApp, token: &str, company: &str) -> crate::helpers::Answer {
    app.gql(INVOICE_PAGE, json!({ "companyId": company }), Some(token))
        .await
}

/// Asks until `done` holds for the answer, at most `within`; how long it took.
async fn until<T>(
    within: Duration,
    mut ask: impl AsyncFnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> (Duration, T) {
    let started = Instant::now();
    loop {
        let answer = ask().await;
        if done(&answer) || started.elapsed() >= within {
            return (started.elapsed(), answer);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (at most `within`) until the invoice page is answered; how long it took.
async fn answered_within(app: &TestApp, token: &str, company: &str, within: Duration) -> Duration {
    let (took, answer) = until(
        within,
        || invoice_page(app, token, company),
        |a| a.body["errors"].is_null(),
    )
    .await;
    answer.assert_ok();
    took
}

const CONNECTION_TEST: &str = r#"mutation($slug: String!) { testTenantConnection(slug: $slug) {
  reachable reason hops { name reachable latencyMs reason } } }"#;

const TUNNEL_STATS: &str = r#"query($slug: String!) { tenant(slug: $slug) {
  tunnel { host port user hostKey } poolStats { tunnel { state reconnects lastError } } } }"#;

#[tokio::test]
async fn a_tenant_behind_a_bastion_follows_its_sshd() {
    if postgres_url().is_none() {
        return;
    }
    let Some(mut sshd) = SshServer::start().await else {
        return;
    };
    let app = TestApp::spawn_demo(20).await;
    // Registered and seeded from the command line, as an operator would.
    let data_dir = app.config.control.data_dir.clone();
    let base = postgres_url().unwrap();
    let url = crate::helpers::fresh_postgres_database(&base).await;
    let (user, connect) = url
        .strip_prefix("postgres://")
        .unwrap()
        .split_once('@')
        .unwrap();
    let tunnel = sshd.tunnel("host_key.pub");
    let key_file = data_dir.join("bastion_key");
    std::fs::write(
        &key_file,
        secrecy::ExposeSecret::expose_secret(&tunnel.private_key),
    )
    .unwrap();
    let port = sshd.port.to_string();
    ok(tenantql(
        &data_dir,
        &[
            "tenant",
            "add",
            "north",
            "--backend",
            "postgres",
            "--connect",
            connect,
            "--db-user",
            user,
            "--ssh-host",
            "127.0.0.1",
            "--ssh-port",
            &port,
            "--ssh-user",
            &tunnel.user,
            "--ssh-key-file",
            key_file.to_str().unwrap(),
            "--ssh-host-key",
            &tunnel.host_key,
        ],
        None,
    ));
    ok(tenantql(
        &data_dir,
        &["demo", "seed", "--tenant", "north", "--invoices", "400"],
        None,
    ));
    let shown = ok(tenantql(&data_dir, &["tenant", "show", "north"], None));
    assert!(
        shown.contains("ssh bastion:") && shown.contains(&port),
        "{shown}"
    );
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    ok(tenantql(
        &data_dir,
        &["grant", "alice@acme.test", "north", "admin"],
        None,
    ));

    let north = app.token("alice@acme.test", Some("north")).await;
    let acme = app.token("alice@acme.test", Some("acme")).await;
    let root = app.platform_admin("ops@tenantql.test").await;
    let north_company = app.companies(&north).await[0].0.clone();
    let acme_company = app.companies(&acme).await[0].0.clone();
    let page = invoice_page(&app, &north, &north_company).await;
    assert_eq!(
        page.assert_ok()["invoices"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        100
    );

    // Each hop reported on its own; the tunnel's state in pool stats, /ready
    // and /metrics.
    let test = app
        .gql(CONNECTION_TEST, json!({ "slug": "north" }), Some(&root))
        .await;
    let test = test.assert_ok()["testTenantConnection"].clone();
    assert_eq!(test["reachable"], true, "{test}");
    let hops: Vec<&str> = test["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(hops, ["tunnel", "database", "schema"]);
    assert_eq!(test["hops"][2]["reachable"], true, "{test}");
    let stats = app
        .gql(TUNNEL_STATS, json!({ "slug": "north" }), Some(&root))
        .await;
    let tenant = stats.assert_ok()["tenant"].clone();
    assert_eq!(tenant["tunnel"]["port"], sshd.port);
    assert_eq!(tenant["poolStats"]["tunnel"]["state"], "UP", "{tenant}");
    assert!(!stats.body.to_string().contains("PRIVATE KEY"));
    assert_eq!(app.ready().await["tunnels"]["up"], 1);
    assert!(app
        .metrics()
        .await
        .contains("tenantql_tunnels_up{tenant=\"north\"} 1"));

    // The tunnel lives with the pool: an evicted pool leaves no SSH connection,
    // the next request opens both again. (The connection test's own tunnel
    // closes with it; sshd's process for it may take a moment to exit.)
    let (_, serving) = until(
        Duration::from_secs(5),
        || async { sshd.connections() },
        |n| *n == 1,
    )
    .await;
    assert_eq!(serving, 1, "only the pool's tunnel is connected");
    let later = tokio::time::Instant::now() + Duration::from_secs(24 * 3600);
    assert!(app.services.pools.evict_idle_at(later) >= 1);
    let (_, closed) = until(
        Duration::from_secs(5),
        || async { sshd.connections() },
        |n| *n == 0,
    )
    .await;
    assert_eq!(closed, 0, "the evicted pool's SSH connection is closed");
    answered_within(&app, &north, &north_company, Duration::from_secs(10)).await;
    assert_eq!(sshd.connections(), 1);

    // The bastion dies: north is TENANT_UNAVAILABLE quickly, acme unaffected.
    sshd.kill();
    // (A request whose session was in use as the link broke may first hear
    // only that the database went away; the next ones name the tunnel.)
    let (took, down) = until(
        Duration::from_secs(5),
        || invoice_page(&app, &north, &north_company),
        |a| a.code() == "TENANT_UNAVAILABLE" && a.message().contains("SSH"),
    )
    .await;
    assert_eq!(down.code(), "TENANT_UNAVAILABLE", "{:#}", down.body);
    assert!(down.body["data"].is_null());
    assert!(down.message().contains("SSH"), "{}", down.message());
    assert!(took < Duration::from_secs(2), "took {took:?}");
    invoice_page(&app, &acme, &acme_company).await.assert_ok();
    let stats = app
        .gql(TUNNEL_STATS, json!({ "slug": "north" }), Some(&root))
        .await;
    assert_eq!(
        stats.assert_ok()["tenant"]["poolStats"]["tunnel"]["state"],
        "DOWN"
    );
    assert_eq!(app.ready().await["tunnels"]["down"], 1);

    // It comes back: north answers again without restarting tenantql, within
    // the first reconnection's backoff (5 s ± 20%, counted from the loss); the
    // reconnection closes the breaker, so no probe backoff adds to it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    sshd.restart().await;
    let recovered_in = answered_within(&app, &north, &north_company, Duration::from_secs(20)).await;
    eprintln!("north answered again {recovered_in:?} after sshd restarted");
    assert!(recovered_in < Duration::from_secs(8), "{recovered_in:?}");
    let stats = app
        .gql(TUNNEL_STATS, json!({ "slug": "north" }), Some(&root))
        .await;
    let tunnel = stats.assert_ok()["tenant"]["poolStats"]["tunnel"].clone();
    assert_eq!(tunnel["state"], "UP");
    assert_eq!(tunnel["reconnects"], 1);
}

const UPDATE_TUNNEL: &str = r#"mutation($slug: String!, $input: UpdateTenantInput!) {
  updateTenant(slug: $slug, input: $input) { configVersion tunnel { host port user hostKey } } }"#;

fn tunnel_input(tunnel: &tenantql::control::tenants::TunnelConfig) -> Value {
    json!({
        "host": tunnel.host,
        "port": tunnel.port,
        "user": tunnel.user,
        "privateKey": secrecy::ExposeSecret::expose_secret(&tunnel.private_key),
        "hostKey": tunnel.host_key,
    })
}

#[tokio::test]
async fn a_bastion_showing_another_host_key_is_refused() {
    if postgres_url().is_none() {
        return;
    }
    let Some(sshd) = SshServer::start().await else {
        return;
    };
    let app = TestApp::spawn_demo(20).await;
    add_postgres_tenant(&app, "south", 50, None).await;
    let root = app.platform_admin("ops@tenantql.test").await;
    let south = app.token("alice@acme.test", Some("south")).await;
    let company = app.companies(&south).await[0].0.clone();

    // Moved behind the bastion, but expecting another host key.
    let wrong = sshd.tunnel("other_host_key.pub");
    let answer = app
        .gql(
            UPDATE_TUNNEL,
            json!({ "slug": "south", "input": { "tunnel": tunnel_input(&wrong) } }),
            Some(&root),
        )
        .await;
    let updated = answer.assert_ok()["updateTenant"].clone();
    assert_eq!(updated["tunnel"]["port"], sshd.port);
    assert!(!answer.body.to_string().contains("PRIVATE KEY"));
    let refused = invoice_page(&app, &south, &company).await;
    assert_eq!(refused.code(), "TENANT_UNAVAILABLE", "{:#}", refused.body);
    assert!(
        refused.message().contains("host key does not match"),
        "{}",
        refused.message()
    );
    let test = app
        .gql(CONNECTION_TEST, json!({ "slug": "south" }), Some(&root))
        .await;
    let test = test.assert_ok()["testTenantConnection"].clone();
    assert_eq!(test["reachable"], false);
    assert_eq!(test["hops"].as_array().unwrap().len(), 1, "{test}");
    assert_eq!(test["hops"][0]["name"], "tunnel");
    assert!(test["hops"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("host key"));

    // The right key: a new pool generation goes through the tunnel.
    let right = sshd.tunnel("host_key.pub");
    app.gql(
        UPDATE_TUNNEL,
        json!({ "slug": "south", "input": { "tunnel": tunnel_input(&right) } }),
        Some(&root),
    )
    .await
    .assert_ok();
    answered_within(&app, &south, &company, Duration::from_secs(10)).await;

    // Bad settings are refused before anything is stored.
    let mut bad_key = tunnel_input(&right);
    bad_key["privateKey"] = json!("not a key");
    let mut bad_host_key = tunnel_input(&right);
    bad_host_key["hostKey"] = json!("ssh-ed25519 ???");
    for (slug, input, field) in [
        ("south", json!({ "tunnel": bad_key }), "tunnel.privateKey"),
        ("south", json!({ "tunnel": bad_host_key }), "tunnel.hostKey"),
        ("acme", json!({ "tunnel": tunnel_input(&right) }), "tunnel"),
        (
            "south",
            json!({ "tunnel": tunnel_input(&right), "removeTunnel": true }),
            "removeTunnel",
        ),
    ] {
        let answer = app
            .gql(
                UPDATE_TUNNEL,
                json!({ "slug": slug, "input": input }),
                Some(&root),
            )
            .await;
        assert_eq!(answer.code(), "BAD_USER_INPUT", "{:#}", answer.body);
        assert_eq!(answer.body["errors"][0]["extensions"]["field"], field);
        assert!(!answer.body.to_string().contains("PRIVATE KEY"));
    }

    // The key is in no audit row (variables named like a key are redacted).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rows = app.audit_rows().await;
    assert!(rows.iter().any(|r| r.action == "tenant.update"));
    let redacted = rows
        .iter()
        .filter_map(|r| r.variables.as_deref())
        .any(|v| v.contains("\"privateKey\":\"[redacted]\""));
    assert!(
        redacted,
        "the mutation's row keeps the variables, key redacted"
    );
    for row in &rows {
        assert!(!format!("{row:?}").contains("PRIVATE KEY"), "{row:?}");
    }

    // Directly again.
    let direct = app
        .gql(
            UPDATE_TUNNEL,
            json!({ "slug": "south", "input": { "removeTunnel": true } }),
            Some(&root),
        )
        .await;
    assert!(direct.assert_ok()["updateTenant"]["tunnel"].is_null());
    answered_within(&app, &south, &company, Duration::from_secs(10)).await;
}
