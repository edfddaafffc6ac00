//! /metrics speaks Prometheus text and counts what happened, per tenant.
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn metrics_count_requests_errors_round_trips_and_pools() {
    let app = TestApp::spawn_demo(20).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    app.gql("{ companies { name } }", json!({}), Some(&alice))
        .await
        .assert_ok();
    app.gql("{ companies { name } }", json!({}), Some(&alice))
        .await
        .assert_ok();
    let missing = app
        .gql(
            "query($id: ID!) { invoice(id: $id) { number } }",
            json!({ "id": "nope" }),
            Some(&alice),
        )
        .await;
    assert_eq!(missing.code(), "NOT_FOUND");
    app.login("bob@globex.test", "wrong password", Some("globex"))
        .await;
    app.gql("{ me { email } }", json!({}), Some("not-a-token"))
        .await;

    // Not on the public listener: it names every tenant and its traffic.
    let public = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), reqwest::StatusCode::NOT_FOUND);
    let response = app
        .client
        .get(format!("http://{}/metrics", app.metrics_addr))
        .send()
        .await
        .unwrap();
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = response.text().await.unwrap();
    for line in [
        "tenantql_graphql_requests_total{operation=\"query\",tenant=\"acme\"} 3",
        "tenantql_graphql_requests_total{operation=\"mutation\",tenant=\"none\"} 1",
        "tenantql_graphql_errors_total{code=\"NOT_FOUND\",tenant=\"acme\"} 1",
        "tenantql_graphql_errors_total{code=\"UNAUTHENTICATED\",tenant=\"none\"} 2",
        "tenantql_db_round_trips_total{tenant=\"acme\"} 2",
        "tenantql_pools_created_total{tenant=\"acme\"} 1",
        "tenantql_pool_max_size{tenant=\"acme\"} 10",
        "tenantql_pools_open 1",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
    assert!(text.contains("tenantql_graphql_request_duration_seconds_bucket{operation=\"query\",tenant=\"acme\",le=\"+Inf\"} 3"));
    // The audit writer's counters (rows may still be queued: written + queued = 4).
    let counter = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
            .parse()
            .unwrap()
    };
    assert_eq!(counter("tenantql_audit_rows_dropped_total"), 0);
    assert_eq!(
        counter("tenantql_audit_rows_written_total") + counter("tenantql_audit_queue_depth"),
        4,
        "three queries and one sign-in are audited; the bad token is not"
    );
}
