//! Automatic persisted queries: the protocol over POST, GET and WebSocket, who
//! may register, sharing through Redis, and Apollo Client's own link from npm.
use std::{path::Path, process::Command};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{two_tenants, ControlDb, RedisServer, TestApp, ME};

use tenantql::digest::sha256_hex as sha256;

fn persisted(text: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": sha256(text) } })
}

/// POST with the hash, and with the text when given.
async fn post(
    app: &TestApp,
    text: &str,
    with_text: bool,
    token: Option<&str>,
) -> crate::helpers::Answer {
    let mut body = json!({ "extensions": persisted(text) });
    if with_text {
        body["query"] = json!(text);
    }
    let mut request = app.client.post(app.url("/graphql")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    TestApp::answer(request.send().await.unwrap()).await
}

/// GET with the hash only, as Apollo Client's `useGETForHashedQueries` sends it.
async fn get_hashed(app: &TestApp, text: &str, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/graphql"))
        .header("apollo-require-preflight", "true")
        .query(&[("extensions", persisted(text).to_string())])
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_hash_is_registered_once_with_its_text_then_runs_alone_on_every_transport() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;

    let unknown = post(&app, ME, false, Some(&alice)).await;
    assert_eq!(
        unknown.code(),
        "PERSISTED_QUERY_NOT_FOUND",
        "{:#}",
        unknown.body
    );
    assert_eq!(unknown.message(), "PersistedQueryNotFound");
    assert!(unknown.body["errors"][0]["extensions"]["requestId"].is_string());
    let registered = post(&app, ME, true, Some(&alice)).await;
    assert_eq!(registered.assert_ok()["me"]["email"], "alice@acme.test");
    let hashed = post(&app, ME, false, Some(&alice)).await;
    assert_eq!(hashed.assert_ok()["me"]["email"], "alice@acme.test");
    let over_get = TestApp::answer(get_hashed(&app, ME, &alice).await).await;
    assert_eq!(over_get.assert_ok()["me"]["tenant"]["slug"], "acme");
    // Another tenant's member runs the same text by its hash, with their own answer.
    let bob = app.token("bob@globex.test", Some("globex")).await;
    let theirs = post(&app, ME, false, Some(&bob)).await;
    assert_eq!(theirs.assert_ok()["me"]["email"], "bob@globex.test");

    let mut ws = app.ws(&alice).await;
    ws.send(json!({ "id": "1", "type": "subscribe",
                    "payload": { "query": "", "extensions": persisted(ME) } }))
        .await;
    assert_eq!(
        ws.next_of("1").await["data"]["me"]["email"],
        "alice@acme.test"
    );
    assert_eq!(ws.message().await["type"], "complete");
    let unregistered = "{ me { email role } }";
    ws.send(json!({ "id": "2", "type": "subscribe",
                    "payload": { "query": "", "extensions": persisted(unregistered) } }))
        .await;
    let refused = ws.message().await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );

    assert_counts(&app, 2, 1, 4).await;
}

#[tokio::test]
async fn a_hash_that_is_not_the_texts_or_a_mutation_over_get_is_refused() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let body = json!({
        "query": ME,
        "extensions": persisted("{ me { email } }"),
    });
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&alice)
        .json(&body)
        .send()
        .await
        .unwrap();
    let answer = TestApp::answer(response).await;
    assert_eq!(answer.code(), "BAD_USER_INPUT", "{:#}", answer.body);
    assert!(answer.body.get("data").is_none_or(Value::is_null));
    for extension in [
        json!({ "persistedQuery": { "version": 2, "sha256Hash": sha256(ME) } }),
        json!({ "persistedQuery": { "version": 1, "sha256Hash": "not-hex" } }),
        json!({ "persistedQuery": "hash" }),
    ] {
        let response = app
            .client
            .post(app.url("/graphql"))
            .bearer_auth(&alice)
            .json(&json!({ "query": ME, "extensions": extension }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            TestApp::answer(response).await.code(),
            "BAD_USER_INPUT",
            "{extension}"
        );
    }

    // A registered mutation stays a mutation when it comes by hash over GET.
    let mutation = "mutation { selectTenant(tenant: \"acme\") { token } }";
    post(&app, mutation, true, Some(&alice)).await.assert_ok();
    let response = get_hashed(&app, mutation, &alice).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn an_anonymous_caller_runs_by_hash_but_never_registers() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let login = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";
    let body = json!({
        "query": login,
        "variables": { "e": "alice@acme.test", "p": crate::helpers::PASSWORD },
        "extensions": persisted(login),
    });
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&body)
        .send()
        .await
        .unwrap();
    TestApp::answer(response).await.assert_ok();
    let hashed = post(&app, login, false, None).await;
    assert_eq!(
        hashed.code(),
        "PERSISTED_QUERY_NOT_FOUND",
        "{:#}",
        hashed.body
    );
    // Registered by a signed-in caller, the text serves anonymous callers too.
    let alice = app.token("alice@acme.test", Some("acme")).await;
    post(&app, login, true, Some(&alice)).await;
    let body = json!({
        "variables": { "e": "alice@acme.test", "p": crate::helpers::PASSWORD },
        "extensions": persisted(login),
    });
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(TestApp::answer(response).await.assert_ok()["login"]["token"].is_string());
}

#[tokio::test]
async fn a_text_registered_on_one_instance_is_found_on_another_through_redis() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let url = redis.url();
    let a = TestApp::spawn_with(ControlDb::Sqlite, |c| {
        c.server.redis_url = Some(url.clone())
    })
    .await;
    two_tenants(&a).await;
    let b = a.spawn_sibling(|_| {}).await;
    let alice = a.token("alice@acme.test", Some("acme")).await;
    post(&a, ME, true, Some(&alice)).await.assert_ok();
    let on_b = post(&b, ME, false, Some(&alice)).await;
    assert_eq!(on_b.assert_ok()["me"]["email"], "alice@acme.test");
    assert_eq!(b.metric("tenantql_persisted_query_hits_total").await, 1);
    drop(redis);
}

/// `tests/js` with its packages installed (`npm ci --prefix tests/js`, which
/// `scripts/test.sh` runs).
fn client_packages() -> Option<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    if dir.join("node_modules/@apollo/client").exists() {
        return Some(dir);
    }
    if std::env::var_os("TENANTQL_TEST_REQUIRE_ALL").is_some() {
        panic!("tests/js has no node_modules: run scripts/test.sh (npm ci --prefix tests/js)");
    }
    eprintln!("notice: tests/js packages not installed; skipping the Apollo Client test");
    None
}

#[tokio::test]
async fn apollo_clients_persisted_query_link_registers_and_then_sends_hashes_only() {
    let Some(dir) = client_packages() else {
        return;
    };
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let url = app.url("/graphql");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("apq.mjs")
            .arg(url)
            .arg(alice)
            .current_dir(dir)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.trim()).expect("the script prints JSON");
    assert!(seen.get("error").is_none(), "{seen:#}");
    assert_eq!(seen["queries"][0]["email"], "alice@acme.test");
    assert_eq!(seen["queries"][1]["tenant"]["slug"], "acme");
    assert_eq!(seen["mutations"][1]["slug"], "acme");
    let sent: Vec<(String, bool)> = seen["sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["hashed"], true, "{r}");
            (
                r["method"].as_str().unwrap().to_string(),
                r["withQuery"].as_bool().unwrap(),
            )
        })
        .collect();
    let s = |method: &str, with_query| (method.to_string(), with_query);
    assert_eq!(
        sent,
        [
            // The first client: the hash alone over GET, not found, then the text.
            s("GET", false),
            s("POST", true),
            // A second client: the hash alone is enough.
            s("GET", false),
            // Mutations go by POST, the same way.
            s("POST", false),
            s("POST", true),
            s("POST", false),
        ],
        "{seen:#}"
    );
    assert_counts(&app, 2, 2, 2).await;
}

/// The server's APQ counters: misses, registrations, hits.
async fn assert_counts(app: &TestApp, misses: u64, registered: u64, hits: u64) {
    let count = |name: &'static str| app.metric(name);
    assert_eq!(
        (
            count("tenantql_persisted_query_misses_total").await,
            count("tenantql_persisted_queries_registered_total").await,
            count("tenantql_persisted_query_hits_total").await,
        ),
        (misses, registered, hits)
    );
}
