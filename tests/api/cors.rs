//! Browsers on other origins: CORS preflights answered for the deployment's
//! and every tenant's origins, a verified caller held to its own tenant's,
//! WebSocket handshakes, CSRF, and a real Chromium on a second origin.
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{
    browser::Browser,
    helpers::{two_tenants, ControlDb, TestApp, ME},
};

const DEPLOYMENT: &str = "https://app.example.test";
const DEPLOYMENT_PATTERN: &str = "https://*.spa.example.test";
const ACME_APP: &str = "https://erp.acme.example";
const ELSEWHERE: &str = "https://evil.example";

const SET_ORIGINS: &str = "mutation($slug: String!, $origins: [String!]!) {
  updateTenant(slug: $slug, input: { allowedOrigins: $origins }) { slug allowedOrigins } }";

/// The CORS headers of a preflight from `origin` for a POST with a token.
async fn preflight(app: &TestApp, origin: &str) -> reqwest::header::HeaderMap {
    let response = app
        .client
        .request(Method::OPTIONS, app.url("/graphql"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.headers().clone()
}

fn allowed_origin(headers: &reqwest::header::HeaderMap) -> Option<&str> {
    headers
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap())
}

/// `{ me }` as a page on `origin` sends it.
async fn me_from(
    app: &TestApp,
    origin: &str,
    token: &str,
) -> (Option<String>, crate::helpers::Answer) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("origin", origin)
        .bearer_auth(token)
        .json(&json!({ "query": ME }))
        .send()
        .await
        .unwrap();
    let allowed = allowed_origin(response.headers()).map(str::to_string);
    (allowed, TestApp::answer(response).await)
}

async fn set_origins(app: &TestApp, admin: &str, slug: &str, origins: &[&str]) -> Value {
    let answer = app
        .gql(
            SET_ORIGINS,
            json!({ "slug": slug, "origins": origins }),
            Some(admin),
        )
        .await;
    answer.assert_ok()["updateTenant"]["allowedOrigins"].clone()
}

async fn spawn_with_origins() -> TestApp {
    TestApp::spawn_with(ControlDb::Sqlite, |c| {
        c.server.cors_allowed_origins = vec![DEPLOYMENT.into(), DEPLOYMENT_PATTERN.into()];
        c.server.cors_max_age_secs = 600;
    })
    .await
}

#[tokio::test]
async fn preflights_answer_the_deployments_and_every_tenants_origins() {
    let app = spawn_with_origins().await;
    two_tenants(&app).await;
    let admin = app.platform_admin("ops@tenantql.test").await;
    let stored = set_origins(
        &app,
        &admin,
        "acme",
        &[
            "https://ERP.acme.example",
            "https://*.acme.example",
            ACME_APP,
        ],
    )
    .await;
    assert_eq!(stored, json!(["https://*.acme.example", ACME_APP]));

    let headers = preflight(&app, DEPLOYMENT).await;
    assert_eq!(allowed_origin(&headers), Some(DEPLOYMENT));
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    assert!(
        methods.contains("POST") && methods.contains("GET"),
        "{methods}"
    );
    let allowed = headers["access-control-allow-headers"].to_str().unwrap();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert_eq!(headers["access-control-max-age"], "600");
    let vary = headers["vary"].to_str().unwrap();
    assert!(vary.contains("origin"), "{vary}");
    assert!(
        headers.get("access-control-allow-credentials").is_none(),
        "no credentials unless configured"
    );
    for (origin, answered) in [
        ("https://x.spa.example.test", true),
        ("https://a.b.spa.example.test", true),
        ("https://spa.example.test", false),
        (ACME_APP, true),
        ("https://reports.acme.example", true),
        ("http://erp.acme.example", false),
        (ELSEWHERE, false),
        ("null", false),
    ] {
        let headers = preflight(&app, origin).await;
        assert_eq!(
            allowed_origin(&headers).is_some(),
            answered,
            "{origin}: {headers:?}"
        );
    }

    // Once the token is verified, a tenant's origin serves only that tenant.
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let bob = app.token("bob@globex.test", Some("globex")).await;
    let (cors, answer) = me_from(&app, ACME_APP, &alice).await;
    assert_eq!(answer.assert_ok()["me"]["email"], "alice@acme.test");
    assert_eq!(cors.as_deref(), Some(ACME_APP));
    let (cors, answer) = me_from(&app, ACME_APP, &bob).await;
    answer.assert_refused(StatusCode::FORBIDDEN, "ORIGIN_NOT_ALLOWED");
    assert_eq!(
        cors.as_deref(),
        Some(ACME_APP),
        "the page can read why it was refused"
    );
    let (_, answer) = me_from(&app, DEPLOYMENT, &bob).await;
    assert_eq!(answer.assert_ok()["me"]["email"], "bob@globex.test");
    let (cors, answer) = me_from(&app, ELSEWHERE, &alice).await;
    answer.assert_refused(StatusCode::FORBIDDEN, "ORIGIN_NOT_ALLOWED");
    assert_eq!(cors, None);
    // A platform token has no tenant: only the deployment's origins.
    let (_, answer) = me_from(&app, ACME_APP, &admin).await;
    answer.assert_refused(StatusCode::FORBIDDEN, "ORIGIN_NOT_ALLOWED");
    // Pages tenantql serves itself (GraphiQL) are on its own origin.
    let own = format!("http://{}", app.addr);
    let (_, answer) = me_from(&app, &own, &bob).await;
    answer.assert_ok();

    // Changed and audited; a suspended tenant's origins leave the union.
    let audited = app
        .audit_rows()
        .await
        .into_iter()
        .rev()
        .find(|row| row.action == "tenant.update")
        .expect("the change is audited");
    let details: Value = serde_json::from_str(audited.details.as_deref().unwrap()).unwrap();
    assert_eq!(details["allowedOrigins"], stored, "{details}");
    assert_eq!(details["changed"], json!(["allowedOrigins"]));
    app.set_tenant_status(
        "acme",
        tenantql::control::entities::tenant::TenantStatus::Suspended,
    )
    .await;
    assert_eq!(allowed_origin(&preflight(&app, ACME_APP).await), None);
    app.set_tenant_status(
        "acme",
        tenantql::control::entities::tenant::TenantStatus::Active,
    )
    .await;
    assert!(allowed_origin(&preflight(&app, ACME_APP).await).is_some());
    assert_eq!(set_origins(&app, &admin, "acme", &[]).await, json!([]));
    assert_eq!(allowed_origin(&preflight(&app, ACME_APP).await), None);
    let (_, answer) = me_from(&app, ACME_APP, &alice).await;
    answer.assert_refused(StatusCode::FORBIDDEN, "ORIGIN_NOT_ALLOWED");
}

#[tokio::test]
async fn origins_that_are_not_origins_are_refused_and_only_platform_admins_set_them() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let admin = app.platform_admin("ops@tenantql.test").await;
    for bad in [
        "*",
        "https://*.com",
        "erp.acme.example",
        "https://erp.acme.example/app",
    ] {
        let answer = app
            .gql(
                SET_ORIGINS,
                json!({ "slug": "acme", "origins": [bad] }),
                Some(&admin),
            )
            .await;
        assert_eq!(answer.code(), "BAD_USER_INPUT", "{bad}: {:#}", answer.body);
        assert_eq!(
            answer.body["errors"][0]["extensions"]["field"],
            "allowedOrigins"
        );
    }
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let answer = app
        .gql(
            SET_ORIGINS,
            json!({ "slug": "acme", "origins": [ACME_APP] }),
            Some(&alice),
        )
        .await;
    assert_eq!(answer.code(), "FORBIDDEN", "{:#}", answer.body);
}

#[tokio::test]
async fn another_instance_answers_a_new_tenant_origin_within_the_sync_bound() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let sibling = app.spawn_sibling(|_| {}).await;
    let admin = app.platform_admin("ops@tenantql.test").await;
    assert_eq!(allowed_origin(&preflight(&sibling, ACME_APP).await), None);
    set_origins(&app, &admin, "acme", &[ACME_APP]).await;
    // Without Redis the other instance re-reads every context-cache period
    // (1 s at the least, as here).
    let since = Instant::now();
    while allowed_origin(&preflight(&sibling, ACME_APP).await).is_none() {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "the sibling never learned the origin"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn websocket_handshakes_are_held_to_the_same_origins() {
    let app = spawn_with_origins().await;
    two_tenants(&app).await;
    let admin = app.platform_admin("ops@tenantql.test").await;
    set_origins(&app, &admin, "acme", &[ACME_APP]).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let bob = app.token("bob@globex.test", Some("globex")).await;

    let refused = app
        .ws_handshake(Some("graphql-transport-ws"), Some(ELSEWHERE))
        .await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::FORBIDDEN)
        }
        Err(other) => panic!("the handshake failed otherwise: {other:?}"),
        Ok(_) => panic!("a handshake from another origin was not refused"),
    }
    let init = |token: &str| json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
    let mut ws = app
        .ws_handshake(Some("graphql-transport-ws"), Some(ACME_APP))
        .await
        .unwrap();
    ws.send(init(&alice)).await;
    assert_eq!(ws.message().await["type"], "connection_ack");
    let mut ws = app
        .ws_handshake(Some("graphql-transport-ws"), Some(ACME_APP))
        .await
        .unwrap();
    ws.send(init(&bob)).await;
    let (code, reason) = ws.closed().await;
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.contains("erp.acme.example"), "{reason}");
    let mut ws = app
        .ws_handshake(Some("graphql-transport-ws"), Some(DEPLOYMENT))
        .await
        .unwrap();
    ws.send(init(&bob)).await;
    assert_eq!(ws.message().await["type"], "connection_ack");
}

#[tokio::test]
async fn bodies_a_form_can_send_are_refused() {
    let app = TestApp::spawn().await;
    for content_type in [
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain",
    ] {
        let response = app
            .client
            .post(app.url("/graphql"))
            .header("origin", ELSEWHERE)
            .header("content-type", content_type)
            .body(
                r#"{"query":"mutation { login(email: \"a@b.test\", password: \"x\") { token } }"}"#,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
    }
}

#[tokio::test]
async fn every_origin_with_credentials_is_a_configuration_error() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = tenantql::Config::with_data_dir(data_dir.path());
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config.server.metrics_listen = "127.0.0.1:0".parse().unwrap();
    config.server.cors_allowed_origins = vec!["*".into()];
    config.server.cors_allow_credentials = true;
    let error = match tenantql::Application::build(config.clone()).await {
        Ok(_) => panic!("`*` with credentials started"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("TENANTQL_CORS_ALLOWED_ORIGINS"), "{error}");
    config.server.cors_allow_credentials = false;
    let app = tenantql::Application::build(config)
        .await
        .expect("`*` alone is allowed");
    drop(app);
}

#[tokio::test]
async fn any_origin_without_credentials_is_answered() {
    let app = TestApp::spawn_with(ControlDb::Sqlite, |c| {
        c.server.cors_allowed_origins = vec!["*".into()];
    })
    .await;
    two_tenants(&app).await;
    assert_eq!(
        allowed_origin(&preflight(&app, ELSEWHERE).await),
        Some(ELSEWHERE)
    );
    let alice = app.token("alice@acme.test", Some("acme")).await;
    me_from(&app, ELSEWHERE, &alice).await.1.assert_ok();
}

/// The page a second origin serves: an empty document whose script the test runs.
async fn serve_page() -> (u16, u16) {
    let router = axum::Router::new().route(
        "/",
        axum::routing::get(|| async {
            axum::response::Html("<!doctype html><title>spa</title><p>an SPA on another origin")
        }),
    );
    let mut ports = Vec::new();
    for _ in 0..2 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        ports.push(listener.local_addr().unwrap().port());
        let router = router.clone();
        tokio::spawn(async move { axum::serve(listener, router).await });
    }
    (ports[0], ports[1])
}

/// Runs `fetch` in the page: what the script saw (the status and body, or the
/// browser's refusal).
async fn fetch_from_page(browser: &fantoccini::Client, url: &str, token: &str) -> Value {
    browser
        .execute_async(
            r#"const [url, token, done] = arguments;
               fetch(url, { method: 'POST',
                            headers: { 'content-type': 'application/json', 'authorization': 'Bearer ' + token },
                            body: JSON.stringify({ query: '{ me { email } }' }) })
                 .then(r => r.json().then(body => done({ status: r.status, body })))
                 .catch(e => done({ blocked: String(e) }));"#,
            vec![json!(url), json!(token)],
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_browser_on_another_origin_gets_only_what_its_origin_may() {
    let Some(chrome) = Browser::start("the cross-origin browser test").await else {
        return;
    };
    let (listed, unlisted) = serve_page().await;
    let deployment = format!("http://127.0.0.1:{listed}");
    // The same page server under another name is another origin: acme's own.
    let acme_only = format!("http://localhost:{listed}");
    let app = TestApp::spawn_with(ControlDb::Sqlite, |c| {
        c.server.cors_allowed_origins = vec![deployment.clone()];
    })
    .await;
    two_tenants(&app).await;
    let admin = app.platform_admin("ops@tenantql.test").await;
    set_origins(&app, &admin, "acme", &[&acme_only]).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let bob = app.token("bob@globex.test", Some("globex")).await;
    let graphql = app.url("/graphql");
    let browser = &chrome.client;

    browser.goto(&format!("{deployment}/")).await.unwrap();
    let seen = fetch_from_page(browser, &graphql, &bob).await;
    assert_eq!(seen["status"], 200, "{seen}");
    assert_eq!(seen["body"]["data"]["me"]["email"], "bob@globex.test");

    browser.goto(&format!("{acme_only}/")).await.unwrap();
    let seen = fetch_from_page(browser, &graphql, &alice).await;
    assert_eq!(
        seen["body"]["data"]["me"]["email"], "alice@acme.test",
        "{seen}"
    );
    let seen = fetch_from_page(browser, &graphql, &bob).await;
    assert_eq!(seen["status"], 403, "{seen}");
    assert_eq!(
        seen["body"]["errors"][0]["extensions"]["code"],
        "ORIGIN_NOT_ALLOWED"
    );

    browser
        .goto(&format!("http://127.0.0.1:{unlisted}/"))
        .await
        .unwrap();
    let seen = fetch_from_page(browser, &graphql, &alice).await;
    assert!(
        seen["blocked"]
            .as_str()
            .is_some_and(|e| e.contains("Failed to fetch")),
        "the browser let an unlisted origin read the answer: {seen}"
    );
    chrome.close().await;
}
