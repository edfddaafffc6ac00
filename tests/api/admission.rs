//! Rate limits and fair share: RATE_LIMITED with `retryAfter` and
//! `Retry-After`, per tenant and per user, shared through Redis, failing open
//! without it.
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{two_tenants, ControlDb, RedisServer, TestApp, ME};

const SET_LIMITS: &str = r#"mutation($slug: String!, $limits: OperationLimitsInput!) {
  updateTenant(slug: $slug, input: { limits: $limits }) { limits { rateLimitPerSec rateLimitBurst userRateLimitPerSec maxConcurrentOperations } } }"#;

async fn set_limits(app: &TestApp, root: &str, slug: &str, limits: serde_json::Value) {
    let answer = app
        .gql(
            SET_LIMITS,
            json!({ "slug": slug, "limits": limits }),
            Some(root),
        )
        .await;
    answer.assert_ok();
}

/// How many of `n` back-to-back `{ me }` calls were answered before the first
/// refusal, and that refusal.
async fn until_refused(
    app: &TestApp,
    token: &str,
    n: usize,
) -> (usize, Option<crate::helpers::Answer>) {
    for i in 0..n {
        let answer = app.gql(ME, json!({}), Some(token)).await;
        if answer.status != StatusCode::OK || answer.body.get("errors").is_some() {
            return (i, Some(answer));
        }
    }
    (n, None)
}

#[tokio::test]
async fn a_tenant_over_its_rate_is_told_when_to_retry_and_others_are_not_touched() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let root = app.platform_admin("ops@tenantql.test").await;
    set_limits(
        &app,
        &root,
        "acme",
        json!({ "rateLimitPerSec": 1, "rateLimitBurst": 5 }),
    )
    .await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let carol = app.token("carol@acme.test", Some("acme")).await;
    let bob = app.token("bob@globex.test", Some("globex")).await;

    let (answered, refusal) = until_refused(&app, &alice, 20).await;
    assert_eq!(answered, 5, "the burst is 5");
    let refusal = refusal.expect("refused");
    assert_eq!(
        refusal.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:#}",
        refusal.body
    );
    assert_eq!(refusal.code(), "RATE_LIMITED");
    assert!(refusal.body.get("data").is_none(), "{:#}", refusal.body);
    let retry_after = refusal.body["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .expect("retryAfter in seconds");
    assert_eq!(retry_after, 1);
    assert_eq!(refusal.headers["retry-after"], "1");
    // The tenant's limit covers all its users; another tenant is not touched.
    let (answered, _) = until_refused(&app, &carol, 1).await;
    assert_eq!(answered, 0);
    let (answered, _) = until_refused(&app, &bob, 20).await;
    assert_eq!(answered, 20);
    // After the wait it is answered again.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    app.gql(ME, json!({}), Some(&alice)).await.assert_ok();

    // 0 turns the tenant's limit off; a user limit then applies per user.
    set_limits(
        &app,
        &root,
        "acme",
        json!({ "rateLimitPerSec": 0, "userRateLimitPerSec": 1, "userRateLimitBurst": 3 }),
    )
    .await;
    let (answered, refusal) = until_refused(&app, &alice, 20).await;
    assert_eq!(answered, 3);
    assert_eq!(refusal.unwrap().code(), "RATE_LIMITED");
    let (answered, _) = until_refused(&app, &carol, 3).await;
    assert_eq!(answered, 3, "carol has her own allowance");
}

#[tokio::test]
async fn server_defaults_apply_to_tenants_without_their_own() {
    let app = TestApp::spawn_with(ControlDb::Sqlite, |c| {
        c.server.user_rate_limit = 1;
        c.server.user_rate_burst = Some(2);
    })
    .await;
    two_tenants(&app).await;
    let bob = app.token("bob@globex.test", Some("globex")).await;
    let (answered, refusal) = until_refused(&app, &bob, 10).await;
    assert_eq!(answered, 2);
    assert_eq!(refusal.unwrap().code(), "RATE_LIMITED");
    // Subscriptions are limited when they start.
    let mut ws = app.ws(&bob).await;
    ws.subscribe("1", ME, json!({})).await;
    let error = ws.message().await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["payload"][0]["extensions"]["code"], "RATE_LIMITED");
}

#[tokio::test]
async fn with_redis_the_instances_share_one_limit_and_fail_open_without_it() {
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let url = redis.url();
    let a = TestApp::spawn_with(ControlDb::Sqlite, |c| {
        c.server.redis_url = Some(url.clone())
    })
    .await;
    two_tenants(&a).await;
    let b = a.spawn_sibling(|_| {}).await;
    let root = a.platform_admin("ops@tenantql.test").await;
    set_limits(
        &a,
        &root,
        "acme",
        json!({ "rateLimitPerSec": 1, "rateLimitBurst": 6 }),
    )
    .await;
    let alice = a.token("alice@acme.test", Some("acme")).await;
    let (on_a, _) = until_refused(&a, &alice, 3).await;
    assert_eq!(on_a, 3);
    let (on_b, refusal) = until_refused(&b, &alice, 10).await;
    assert_eq!(on_b, 3, "B used what A left of the shared burst");
    assert_eq!(refusal.unwrap().code(), "RATE_LIMITED");

    // Redis down: the limit fails open (answered, counted), nothing breaks.
    redis.kill();
    let (answered, _) = until_refused(&b, &alice, 10).await;
    assert_eq!(answered, 10);
    let failed_open = b.metric("tenantql_rate_limit_failed_open_total").await;
    assert!(failed_open >= 10, "{failed_open}");
    assert_eq!(b.metric("tenantql_redis_up").await, 0);
}

/// A POST whose body never finishes: it has been admitted (a place is taken
/// as soon as the caller is known) and holds its place while the body is read.
async fn held_open(app: &TestApp, token: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"query\":",
        app.addr
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket
}

/// Waits (at most 5 s) until the server's gauge `name` reads `value`.
async fn until_gauge(app: &TestApp, name: &str, value: u64) {
    for _ in 0..250 {
        if app.metric(name).await == value {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{name} never read {value}");
}

#[tokio::test]
async fn a_tenant_past_its_backlog_is_told_to_come_back_and_others_are_answered() {
    let app = TestApp::spawn_with(ControlDb::Sqlite, |c| {
        c.server.tenant_max_concurrent_operations = 1;
        c.server.tenant_max_queued_operations = 1;
    })
    .await;
    two_tenants(&app).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let bob = app.token("bob@globex.test", Some("globex")).await;
    // One under way (its body still coming), one waiting for its place; each
    // counted by the server before the next is sent, so they queue in this order.
    let under_way = held_open(&app, &alice).await;
    until_gauge(&app, "tenantql_operations_running", 1).await;
    let waiting = held_open(&app, &alice).await;
    until_gauge(&app, "tenantql_operations_waiting", 1).await;
    let mut refusal = None;
    for _ in 0..50 {
        let answer = app.gql(ME, json!({}), Some(&alice)).await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            refusal = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refusal = refusal.expect("acme's backlog is full");
    assert_eq!(refusal.code(), "RATE_LIMITED");
    assert!(refusal.body["errors"][0]["extensions"]["retryAfter"].is_number());
    assert!(refusal.headers.get("retry-after").is_some());
    // Another tenant is not held up by acme's backlog.
    let answer = app.gql(ME, json!({}), Some(&bob)).await;
    answer.assert_ok();
    // The client that held acme's place goes away: acme is answered again.
    drop(under_way);
    drop(waiting);
    let mut answered = false;
    for _ in 0..100 {
        let answer = app.gql(ME, json!({}), Some(&alice)).await;
        if answer.status == StatusCode::OK && answer.body.get("errors").is_none() {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(answered, "acme's places came back");
}
