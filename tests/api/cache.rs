//! The cache of hot reads: per tenant, invalidated by the tenant's writes (on
//! every instance, through Redis), bypassed while Redis is down.
use std::time::Duration;

use serde_json::{json, Value};
use tenantql::erp::Cents;

use crate::helpers::{RedisServer, TestApp};

const DASHBOARD: &str = r#"query Dashboard($companyId: ID!, $year: Int!) {
  dashboard(companyId: $companyId, year: $year) { revenue receivables payables overdue cash
    topCustomers(limit: 3) { partner { name } total } } companies { id name } }"#;

const OVERDUE: &str = r#"query($companyId: ID!) {
  invoices(companyId: $companyId, first: 5, filter: { status: OVERDUE }) { edges { node { id issueDate balance } } } }"#;

const PAY: &str = r#"mutation($invoiceId: ID!, $date: Date!) {
  recordPayment(invoiceId: $invoiceId, amount: "1.00", date: $date) { invoice { balance } } }"#;

fn owed(dashboard: &Value) -> Cents {
    let cents = |v: &Value| Cents::parse(v.as_str().unwrap()).unwrap();
    cents(&dashboard["receivables"]) + cents(&dashboard["payables"])
}

async fn round_trips(app: &TestApp, slug: &str) -> u64 {
    app.pool_stats(slug).await.map_or(0, |s| s.round_trips)
}

async fn dashboard(app: &TestApp, token: &str, company: &str) -> Value {
    app.gql(
        DASHBOARD,
        json!({ "companyId": company, "year": 2026 }),
        Some(token),
    )
    .await
    .assert_ok()["dashboard"]
        .clone()
}

/// Pays 1.00 on an overdue 2026 invoice of the company.
async fn pay_one(app: &TestApp, token: &str, company: &str) {
    let page = app
        .gql(OVERDUE, json!({ "companyId": company }), Some(token))
        .await;
    let edges = page.assert_ok()["invoices"]["edges"].clone();
    let node = edges
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .find(|n| n["issueDate"].as_str().unwrap().starts_with("2026"))
        .expect("an overdue 2026 invoice")
        .clone();
    app.gql(
        PAY,
        json!({ "invoiceId": node["id"], "date": node["issueDate"] }),
        Some(token),
    )
    .await
    .assert_ok();
}

#[tokio::test]
async fn hot_reads_are_cached_per_tenant_and_a_write_invalidates_them() {
    let app = TestApp::spawn_demo_with(300, |c| c.server.cache_ttl_secs = 10).await;
    let acme = app.token("alice@acme.test", Some("acme")).await;
    let carol = app.token("carol@acme.test", Some("acme")).await;
    let globex = app.token("bob@globex.test", Some("globex")).await;
    let company = app.companies(&acme).await[0].0.clone();

    let first = dashboard(&app, &acme, &company).await;
    let trips = round_trips(&app, "acme").await;
    let again = dashboard(&app, &acme, &company).await;
    assert_eq!(again, first);
    assert_eq!(
        round_trips(&app, "acme").await,
        trips,
        "the second read was cached"
    );
    // The role is part of the key: carol (a member; alice is an admin) gets
    // her own entry, the same data, then her reads are cached too.
    assert_eq!(dashboard(&app, &carol, &company).await, first);
    let trips = round_trips(&app, "acme").await;
    assert_eq!(dashboard(&app, &carol, &company).await, first);
    assert_eq!(round_trips(&app, "acme").await, trips);

    // The same document for globex is globex's own answer, never acme's.
    let globex_company = app.companies(&globex).await[0].0.clone();
    let globex_trips = round_trips(&app, "globex").await;
    let answer = app
        .gql(
            DASHBOARD,
            json!({ "companyId": company, "year": 2026 }),
            Some(&globex),
        )
        .await;
    assert_eq!(
        answer.code(),
        "NOT_FOUND",
        "acme's company id means nothing in globex"
    );
    let theirs = dashboard(&app, &globex, &globex_company).await;
    assert_ne!(theirs, first);
    assert!(round_trips(&app, "globex").await > globex_trips);

    // A payment invalidates acme's answers at once.
    pay_one(&app, &acme, &company).await;
    let after = dashboard(&app, &acme, &company).await;
    assert_eq!(owed(&after), owed(&first) - Cents(100));
    // The admin mutation invalidates too.
    let root = app.platform_admin("ops@tenantql.test").await;
    let trips = round_trips(&app, "acme").await;
    app.gql(
        r#"mutation { invalidateTenantCache(slug: "acme") }"#,
        json!({}),
        Some(&root),
    )
    .await
    .assert_ok();
    dashboard(&app, &acme, &company).await;
    assert!(
        round_trips(&app, "acme").await > trips,
        "read again after the invalidation"
    );
    assert_eq!(app.metric("tenantql_cache_hits_total").await, 2);
}

#[tokio::test]
async fn instances_share_the_cache_through_redis_and_bypass_it_without_redis() {
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let url = redis.url();
    let a = TestApp::spawn_demo_with(300, |c| {
        c.server.redis_url = Some(url.clone());
        c.server.cache_ttl_secs = 10;
    })
    .await;
    let b = a.spawn_sibling(|_| {}).await;
    let acme = a.token("alice@acme.test", Some("acme")).await;
    let company = a.companies(&acme).await[0].0.clone();

    let first = dashboard(&a, &acme, &company).await;
    // B finds A's answer in Redis: no round trip on B.
    let trips = round_trips(&b, "acme").await;
    assert_eq!(dashboard(&b, &acme, &company).await, first);
    assert_eq!(round_trips(&b, "acme").await, trips);

    // A payment on B: A's next read is fresh.
    pay_one(&b, &acme, &company).await;
    let mut fresh = Value::Null;
    for _ in 0..20 {
        fresh = dashboard(&a, &acme, &company).await;
        if owed(&fresh) != owed(&first) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(owed(&fresh), owed(&first) - Cents(100));

    // Redis down: reads bypass the cache and stay right; a write on A shows on B.
    redis.kill();
    pay_one(&a, &acme, &company).await;
    let during = dashboard(&b, &acme, &company).await;
    assert_eq!(owed(&during), owed(&first) - Cents(200));
    assert!(b.metric("tenantql_cache_bypassed_total").await > 0);
}
