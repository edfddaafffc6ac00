//! The per-tenant pool manager under load and failure: lazy single-flight creation,
//! limits and POOL_TIMEOUT, idle eviction, replacement, the circuit breaker — and
//! one tenant's trouble never reaching another.
use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::json;
use tenantql::{
    control::{entities::tenant, tenants},
    store::{Dialect, Sql},
    tenancy::breaker::BreakerState,
};

use crate::helpers::TestApp;

const COMPANIES: &str = "{ companies { name } }";

#[tokio::test]
async fn a_hundred_concurrent_first_requests_create_one_pool() {
    let app = TestApp::spawn_demo(20).await;
    let token = app.token("bob@globex.test", Some("globex")).await;
    assert!(
        app.pool_stats("globex").await.is_none(),
        "no pool before first use"
    );
    let requests = (0..100).map(|_| app.gql(COMPANIES, json!({}), Some(&token)));
    let answers = futures_util::future::join_all(requests).await;
    assert!(answers
        .iter()
        .all(|a| a.status == StatusCode::OK && a.body.get("errors").is_none()));
    let stats = app.pool_stats("globex").await.unwrap();
    assert_eq!(stats.pools_created, 1);
    assert!(stats.size <= stats.max_size, "{stats:?}");
}

async fn set_pool(app: &TestApp, slug: &str, max: i32, timeout_ms: i32) {
    let row = tenants::get_by_slug(&app.services.control.db, slug)
        .await
        .unwrap();
    let version = row.config_version;
    let mut active: tenant::ActiveModel = row.into();
    active.pool_max_size = Set(max);
    active.pool_acquire_timeout_ms = Set(timeout_ms);
    active.config_version = Set(version + 1);
    active.update(&app.services.control.db).await.unwrap();
}

#[tokio::test]
async fn an_exhausted_pool_times_out_for_its_tenant_only() {
    let app = TestApp::spawn_demo(20).await;
    set_pool(&app, "acme", 1, 500).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let bob = app.token("bob@globex.test", Some("globex")).await;
    app.gql(COMPANIES, json!({}), Some(&bob)).await.assert_ok();
    let acme = app.tenant_ref("acme").await;

    // acme's only session is taken: its request waits out the 500 ms acquire
    // timeout, while a globex request sent at the same time is answered at once.
    let held = app.services.pools.acquire(&acme).await.unwrap();
    let started = std::time::Instant::now();
    let acme_request = app.gql(COMPANIES, json!({}), Some(&alice));
    let globex_request = async {
        let answer = app.gql(COMPANIES, json!({}), Some(&bob)).await;
        (answer, started.elapsed())
    };
    let (refused, (globex, globex_took)) = tokio::join!(acme_request, globex_request);
    assert_eq!(refused.code(), "POOL_TIMEOUT", "{:#}", refused.body);
    assert!(refused.body["data"].is_null());
    assert!(started.elapsed() >= Duration::from_millis(500));
    globex.assert_ok();
    assert!(
        globex_took < Duration::from_millis(500),
        "globex waited on acme: {globex_took:?}"
    );

    drop(held);
    app.gql(COMPANIES, json!({}), Some(&alice))
        .await
        .assert_ok();
    let stats = app.pool_stats("acme").await.unwrap();
    assert_eq!((stats.max_size, stats.timeouts), (1, 1));
}

#[tokio::test]
async fn idle_pools_are_evicted() {
    let app = TestApp::spawn_demo(20).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    app.gql(COMPANIES, json!({}), Some(&alice))
        .await
        .assert_ok();
    assert!(app.pool_stats("acme").await.unwrap().open);

    let pools = &app.services.pools;
    let now = tokio::time::Instant::now();
    assert_eq!(
        pools.evict_idle_at(now + Duration::from_secs(60)),
        0,
        "not idle long enough"
    );
    assert_eq!(pools.evict_idle_at(now + Duration::from_secs(3601)), 1);
    let stats = app.pool_stats("acme").await.unwrap();
    assert!(!stats.open && stats.size == 0);
    // The next request builds a new pool.
    app.gql(COMPANIES, json!({}), Some(&alice))
        .await
        .assert_ok();
    assert_eq!(app.pool_stats("acme").await.unwrap().pools_created, 2);
}

#[tokio::test]
async fn a_config_change_replaces_the_pool_and_in_flight_work_finishes_on_the_old_one() {
    let app = TestApp::spawn_demo(20).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    app.gql(COMPANIES, json!({}), Some(&alice))
        .await
        .assert_ok();
    let before = app.tenant_ref("acme").await;
    let mut old_session = app.services.pools.acquire(&before).await.unwrap();

    set_pool(&app, "acme", 3, 2000).await;
    app.gql(COMPANIES, json!({}), Some(&alice))
        .await
        .assert_ok();
    let stats = app.pool_stats("acme").await.unwrap();
    assert_eq!(
        (stats.pools_created, stats.max_size, stats.config_version),
        (2, 3, before.config_version + 1)
    );

    // The session borrowed from the old pool still works.
    let rows = old_session
        .query(
            &Sql::raw(Dialect::Sqlite, "SELECT COUNT(*) FROM companies"),
            "test",
        )
        .await
        .unwrap();
    assert_eq!(rows[0].int(0).unwrap(), 3);
}

#[tokio::test]
async fn the_breaker_opens_fails_fast_probes_and_closes() {
    let app = TestApp::spawn_demo_with(20, |c| c.server.pool_breaker_backoff_ms = 20).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let bob = app.token("bob@globex.test", Some("globex")).await;
    // acme's store disappears (disk unmounted, file moved away).
    let acme = tenants::get_by_slug(&app.services.control.db, "acme")
        .await
        .unwrap();
    let parked = format!("{}.parked", acme.connect_string);
    std::fs::rename(&acme.connect_string, &parked).unwrap();
    app.services
        .pools
        .evict_idle_at(tokio::time::Instant::now() + Duration::from_secs(7200));

    for _ in 0..3 {
        let answer = app.gql(COMPANIES, json!({}), Some(&alice)).await;
        assert_eq!(answer.code(), "TENANT_UNAVAILABLE", "{:#}", answer.body);
        assert!(answer.body["data"].is_null());
    }
    assert_eq!(
        app.pool_stats("acme").await.unwrap().breaker,
        BreakerState::Open
    );
    let fast = app.gql(COMPANIES, json!({}), Some(&alice)).await;
    assert_eq!(fast.code(), "TENANT_UNAVAILABLE");
    assert!(
        fast.message().contains("next attempt"),
        "{}",
        fast.message()
    );
    // globex keeps working throughout.
    app.gql(COMPANIES, json!({}), Some(&bob)).await.assert_ok();

    // The store comes back: after the backoff one probe succeeds and the breaker closes.
    std::fs::rename(&parked, &acme.connect_string).unwrap();
    let mut recovered = false;
    // Bounded: each request takes well over a microsecond, so 2,000 of them outlast
    // the 20 ms backoff many times over.
    for _ in 0..2000 {
        let answer = app.gql(COMPANIES, json!({}), Some(&alice)).await;
        if answer.body.get("errors").is_none() {
            recovered = true;
            break;
        }
        assert_eq!(answer.code(), "TENANT_UNAVAILABLE");
        tokio::task::yield_now().await;
    }
    assert!(recovered, "acme did not recover after its store came back");
    assert_eq!(
        app.pool_stats("acme").await.unwrap().breaker,
        BreakerState::Closed
    );
}
