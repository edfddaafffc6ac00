//! Trusted documents: manifests published for the deployment, a tenant and a
//! client app; the modes off, allow, log-unknown and require; every transport;
//! switched at once on every instance.
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tenantql::control::entities::api_key::ApiKeyRole;

use crate::helpers::{ok, tenantql, two_tenants, Answer, ControlDb, RedisServer, TestApp, ME};

const PUBLISH: &str = "mutation($m: String!, $t: String, $c: String) {
  publishTrustedDocuments(manifest: $m, tenant: $t, clientName: $c) { tenant clientName documents } }";
const LOGIN: &str =
    "mutation($e: String!, $p: String!) { login(email: $e, password: $p, tenant: \"acme\") { token } }";
const OTHER: &str = "{ me { email } }";

use tenantql::digest::sha256_hex as hex;

fn id(text: &str) -> String {
    format!("sha256:{}", hex(text))
}

/// Apollo's persisted query list of `bodies`.
fn apollo_manifest(bodies: &[&str]) -> String {
    let operations: Vec<Value> = bodies
        .iter()
        .map(|b| json!({ "id": hex(b), "body": b, "name": "Op", "type": "query" }))
        .collect();
    json!({ "format": "apollo-persisted-query-manifest", "version": 1, "operations": operations })
        .to_string()
}

async fn publish(
    app: &TestApp,
    admin: &str,
    manifest: &str,
    tenant: Option<&str>,
    client: Option<&str>,
) -> Value {
    let answer = app
        .gql(
            PUBLISH,
            json!({ "m": manifest, "t": tenant, "c": client }),
            Some(admin),
        )
        .await;
    answer.assert_ok()["publishTrustedDocuments"].clone()
}

/// A POST naming a published document by id.
async fn by_id(
    app: &TestApp,
    document_id: &str,
    variables: Value,
    token: Option<&str>,
    client: Option<&str>,
) -> Answer {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "documentId": document_id, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(client) = client {
        request = request.header("graphql-client-name", client);
    }
    TestApp::answer(request.send().await.unwrap()).await
}

async fn spawn_requiring() -> TestApp {
    TestApp::spawn_with(ControlDb::Sqlite, |c| {
        c.server.persisted_documents = tenantql::config::PersistedDocuments::Require;
    })
    .await
}

#[tokio::test]
async fn require_runs_only_published_documents_and_refuses_the_rest_before_reading_them() {
    let app = spawn_requiring().await;
    two_tenants(&app).await;
    let admin = app.platform_admin("ops@tenantql.test").await;
    let published = publish(&app, &admin, &apollo_manifest(&[ME, LOGIN]), None, None).await;
    assert_eq!(
        published,
        json!({ "tenant": null, "clientName": "", "documents": 2 })
    );
    let carol = app.token("carol@acme.test", Some("acme")).await;

    // Free-form: refused, whatever it holds — a hostile document is not read.
    let free = app.gql(OTHER, json!({}), Some(&carol)).await;
    assert_eq!(
        free.code(),
        "PERSISTED_QUERY_ID_REQUIRED",
        "{:#}",
        free.body
    );
    let hostile = format!("{{ me {} }}", "{".repeat(1800));
    let refused = app.gql(&hostile, json!({}), Some(&carol)).await;
    assert_eq!(
        refused.code(),
        "PERSISTED_QUERY_ID_REQUIRED",
        "{:#}",
        refused.body
    );
    let anonymous = app
        .gql(
            LOGIN.replace("acme", "globex").as_str(),
            json!({ "e": "x@y.test", "p": "x" }),
            None,
        )
        .await;
    assert_eq!(anonymous.code(), "PERSISTED_QUERY_ID_REQUIRED");

    // By id: over POST (signing in too), GET, an APQ hash, and the WebSocket.
    let signed_in = by_id(
        &app,
        &id(LOGIN),
        json!({ "e": "carol@acme.test", "p": crate::helpers::PASSWORD }),
        None,
        None,
    )
    .await;
    assert!(signed_in.assert_ok()["login"]["token"].is_string());
    let me = by_id(&app, &id(ME), json!({}), Some(&carol), None).await;
    assert_eq!(me.assert_ok()["me"]["email"], "carol@acme.test");
    let get = app
        .client
        .get(app.url("/graphql"))
        .header("apollo-require-preflight", "true")
        .query(&[("documentId", id(ME))])
        .bearer_auth(&carol)
        .send()
        .await
        .unwrap();
    TestApp::answer(get).await.assert_ok();
    let apq = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&carol)
        .json(
            &json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hex(ME) } } }),
        )
        .send()
        .await
        .unwrap();
    TestApp::answer(apq).await.assert_ok();
    let mut ws = app.ws(&carol).await;
    ws.send(json!({ "id": "1", "type": "subscribe",
                    "payload": { "query": "", "extensions": { "documentId": id(ME) } } }))
        .await;
    assert_eq!(
        ws.next_of("1").await["data"]["me"]["email"],
        "carol@acme.test"
    );

    let unknown = by_id(&app, &id(OTHER), json!({}), Some(&carol), None).await;
    assert_eq!(unknown.code(), "PERSISTED_QUERY_NOT_IN_LIST");
    let apq_unknown = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&carol)
        .json(&json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hex(OTHER) } } }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        TestApp::answer(apq_unknown).await.code(),
        "PERSISTED_QUERY_NOT_IN_LIST"
    );
    let malformed = by_id(&app, "md5:abc", json!({}), Some(&carol), None).await;
    assert_eq!(malformed.code(), "BAD_USER_INPUT");

    // Admins keep GraphiQL; a machine client never.
    let alice = app.token("alice@acme.test", Some("acme")).await;
    app.gql(OTHER, json!({}), Some(&alice)).await.assert_ok();
    app.gql(OTHER, json!({}), Some(&admin)).await.assert_ok();
    let key = app.api_key("acme", ApiKeyRole::Member).await;
    assert_eq!(
        app.gql(OTHER, json!({}), Some(&key)).await.code(),
        "PERSISTED_QUERY_ID_REQUIRED"
    );
    assert_eq!(
        app.metric("tenantql_trusted_document_free_form_refused_total")
            .await,
        4
    );
    assert_eq!(
        app.metric("tenantql_trusted_document_not_in_list_total")
            .await,
        2
    );
    assert_eq!(app.metric("tenantql_trusted_document_hits_total").await, 5);
}

#[tokio::test]
async fn tenants_and_client_apps_have_their_own_lists_and_modes() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let admin = app.platform_admin("ops@tenantql.test").await;
    let carol_acme = app.token("carol@acme.test", Some("acme")).await;
    let bob = app.token("bob@globex.test", Some("globex")).await;
    let set_mode = |slug: &'static str, mode: &'static str| {
        let admin = admin.clone();
        let app = &app;
        async move {
            app.gql(
                "mutation($s: String!, $m: TenantDocumentsMode!) { updateTenant(slug: $s, input: { documentsMode: $m }) { documentsMode } }",
                json!({ "s": slug, "m": mode }),
                Some(&admin),
            )
            .await
            .assert_ok()["updateTenant"]["documentsMode"]
                .clone()
        }
    };
    assert_eq!(set_mode("acme", "REQUIRE").await, "REQUIRE");
    // The deployment allows: globex runs free-form, acme does not.
    app.gql(OTHER, json!({}), Some(&bob)).await.assert_ok();
    assert_eq!(
        app.gql(OTHER, json!({}), Some(&carol_acme)).await.code(),
        "PERSISTED_QUERY_ID_REQUIRED"
    );
    // acme's web app has its own list.
    let manifest = json!({ id(OTHER): OTHER }).to_string();
    let published = publish(&app, &admin, &manifest, Some("acme"), Some("web")).await;
    assert_eq!(
        published,
        json!({ "tenant": "acme", "clientName": "web", "documents": 1 })
    );
    by_id(&app, &id(OTHER), json!({}), Some(&carol_acme), Some("web"))
        .await
        .assert_ok();
    let no_client = by_id(&app, &id(OTHER), json!({}), Some(&carol_acme), None).await;
    assert_eq!(no_client.code(), "PERSISTED_QUERY_NOT_IN_LIST");
    let other_tenant = by_id(&app, &id(OTHER), json!({}), Some(&bob), Some("web")).await;
    assert_eq!(other_tenant.code(), "PERSISTED_QUERY_NOT_IN_LIST");
    // An empty manifest clears the list at once.
    publish(&app, &admin, "{}", Some("acme"), Some("web")).await;
    let cleared = by_id(&app, &id(OTHER), json!({}), Some(&carol_acme), Some("web")).await;
    assert_eq!(cleared.code(), "PERSISTED_QUERY_NOT_IN_LIST");

    // log-unknown: free-form runs, and what is not published is counted.
    assert_eq!(set_mode("globex", "LOG_UNKNOWN").await, "LOG_UNKNOWN");
    publish(&app, &admin, &json!({ id(ME): ME }).to_string(), None, None).await;
    app.gql(OTHER, json!({}), Some(&bob)).await.assert_ok();
    app.gql(ME, json!({}), Some(&bob)).await.assert_ok();
    assert_eq!(
        app.metric("tenantql_trusted_document_unknown_total").await,
        1
    );
    // off: ids are refused, free-form runs.
    assert_eq!(set_mode("globex", "OFF").await, "OFF");
    let off = by_id(&app, &id(ME), json!({}), Some(&bob), None).await;
    assert_eq!(off.code(), "BAD_USER_INPUT", "{:#}", off.body);
    assert_eq!(set_mode("globex", "DEPLOYMENT").await, "DEPLOYMENT");
    by_id(&app, &id(ME), json!({}), Some(&bob), None)
        .await
        .assert_ok();

    // A manifest whose id is not its document's is refused whole.
    let wrong = json!({ id(ME): OTHER }).to_string();
    let answer = app
        .gql(
            PUBLISH,
            json!({ "m": wrong, "t": null, "c": null }),
            Some(&admin),
        )
        .await;
    assert_eq!(answer.code(), "BAD_USER_INPUT");
    assert_eq!(answer.body["errors"][0]["extensions"]["field"], "manifest");
    by_id(&app, &id(ME), json!({}), Some(&bob), None)
        .await
        .assert_ok();
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let tenant_admin = app
        .gql(
            PUBLISH,
            json!({ "m": "{}", "t": "acme", "c": null }),
            Some(&alice),
        )
        .await;
    assert_eq!(tenant_admin.code(), "FORBIDDEN");
    // A tenant's admin publishes for their own tenant only.
    let own = app
        .gql(
            "mutation($m: String!) { publishTenantDocuments(manifest: $m) { tenant clientName documents } }",
            json!({ "m": json!({ id(OTHER): OTHER }).to_string() }),
            Some(&alice),
        )
        .await;
    assert_eq!(
        own.assert_ok()["publishTenantDocuments"],
        json!({ "tenant": "acme", "clientName": "", "documents": 1 })
    );
    by_id(&app, &id(OTHER), json!({}), Some(&carol_acme), None)
        .await
        .assert_ok();
    let not_theirs = by_id(&app, &id(OTHER), json!({}), Some(&bob), None).await;
    assert_eq!(not_theirs.code(), "PERSISTED_QUERY_NOT_IN_LIST");
    // At most 20 client lists per tenant; replacing one of them is always allowed.
    let one = json!({ id(ME): ME }).to_string();
    for n in 0..20 {
        publish(
            &app,
            &admin,
            &one,
            Some("globex"),
            Some(&format!("app-{n}")),
        )
        .await;
    }
    let more = app
        .gql(
            PUBLISH,
            json!({ "m": one, "t": "globex", "c": "app-20" }),
            Some(&admin),
        )
        .await;
    assert_eq!(more.code(), "CONFLICT", "{:#}", more.body);
    publish(&app, &admin, &one, Some("globex"), Some("app-3")).await;
}

#[tokio::test]
async fn a_publication_switches_every_instance_at_once_through_redis() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let url = redis.url();
    // Lists are otherwise re-read only after 30 s: only the message can explain a switch.
    let a = TestApp::spawn_with(ControlDb::Sqlite, |c| {
        c.server.redis_url = Some(url.clone());
        c.server.persisted_documents = tenantql::config::PersistedDocuments::Require;
        c.server.context_cache_secs = 30;
    })
    .await;
    two_tenants(&a).await;
    let b = a.spawn_sibling(|_| {}).await;
    let admin = a.platform_admin("ops@tenantql.test").await;
    let carol = a.token("carol@acme.test", Some("acme")).await;
    let before = by_id(&b, &id(OTHER), json!({}), Some(&carol), None).await;
    assert_eq!(before.code(), "PERSISTED_QUERY_NOT_IN_LIST");
    publish(&a, &admin, &apollo_manifest(&[OTHER]), None, None).await;
    let since = std::time::Instant::now();
    loop {
        let answer = by_id(&b, &id(OTHER), json!({}), Some(&carol), None).await;
        if answer.status == StatusCode::OK && answer.body.get("errors").is_none() {
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(3),
            "the other instance kept its old list: {:#}",
            answer.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(redis);
}

#[tokio::test]
async fn an_operator_publishes_a_manifest_file_on_the_command_line() {
    let app = spawn_requiring().await;
    two_tenants(&app).await;
    let data_dir = app.config.control.data_dir.clone();
    let file = data_dir.join("manifest.json");
    std::fs::write(&file, apollo_manifest(&[ME])).unwrap();
    let out = tenantql(
        &data_dir,
        &[
            "documents",
            "publish",
            file.to_str().unwrap(),
            "--tenant",
            "acme",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let carol = app.token("carol@acme.test", Some("acme")).await;
    by_id(&app, &id(ME), json!({}), Some(&carol), None)
        .await
        .assert_ok();
    let bob = app.token("bob@globex.test", Some("globex")).await;
    let globex = by_id(&app, &id(ME), json!({}), Some(&bob), None).await;
    assert_eq!(globex.code(), "PERSISTED_QUERY_NOT_IN_LIST");
    // One scope holds at most 8 MiB of documents, whoever publishes them.
    let bulky: Vec<String> = (0..140)
        .map(|i| format!("{{ me {{ email }} }} # {i}{}", " ".repeat(64_000)))
        .collect();
    let bulky: Vec<&str> = bulky.iter().map(String::as_str).collect();
    let too_much = tenantql(
        &data_dir,
        &["documents", "publish", "-", "--tenant", "globex"],
        Some(&apollo_manifest(&bulky)),
    );
    assert!(!too_much.status.success());
    assert!(
        String::from_utf8_lossy(&too_much.stderr).contains("bytes of documents"),
        "{}",
        String::from_utf8_lossy(&too_much.stderr)
    );
    ok(tenantql(
        &data_dir,
        &["tenant", "update", "acme", "--documents-mode", "allow"],
        None,
    ));
    app.gql(OTHER, json!({}), Some(&carol)).await.assert_ok();
}

#[tokio::test]
async fn a_persisted_only_key_runs_published_documents_alone_whatever_the_mode() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let admin = app.platform_admin("ops@tenantql.test").await;
    publish(&app, &admin, &apollo_manifest(&[ME]), None, None).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let answer = app
        .gql(
            "mutation { createApiKey(input: { name: \"bi\", persistedOnly: true }) { key apiKey { persistedOnly } } }",
            json!({}),
            Some(&alice),
        )
        .await;
    let created = answer.assert_ok()["createApiKey"].clone();
    assert_eq!(created["apiKey"]["persistedOnly"], true);
    let key = created["key"].as_str().unwrap();
    // The deployment allows free-form documents; this key does not.
    app.gql(OTHER, json!({}), Some(&alice)).await.assert_ok();
    assert_eq!(
        app.gql(OTHER, json!({}), Some(key)).await.code(),
        "PERSISTED_QUERY_ID_REQUIRED"
    );
    let me = by_id(&app, &id(ME), json!({}), Some(key), None).await;
    assert_eq!(me.assert_ok()["me"]["tenant"]["slug"], "acme");
}
