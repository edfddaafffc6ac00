//! Document limits, batches, introspection and the Authorization header, seen
//! from a client.
use reqwest::StatusCode;
use serde_json::{json, Value};
use tenantql::config::Introspection;

use crate::helpers::{two_tenants, ControlDb, TestApp, ME};

async fn alice(app: &TestApp) -> String {
    two_tenants(app).await;
    app.token("alice@acme.test", Some("acme")).await
}

#[tokio::test]
async fn oversized_documents_are_refused_naming_the_limit() {
    let app = TestApp::spawn().await;
    let alice = alice(&app).await;
    let aliases: String = (0..5000).map(|i| format!("a{i}: __typename ")).collect();
    let directives: String = (0..10_000).map(|_| "@include(if: true) ").collect();
    let nested_aliases: String = (0..51).map(|i| format!("e{i}: email ")).collect();
    let roots: String = (0..21).map(|i| format!("m{i}: me {{ email }} ")).collect();
    let five_directives: String = (0..5).map(|_| "@include(if: true) ").collect();
    for (query, limit) in [
        (format!("{{ {aliases} }}"), "token limit of 5000"),
        (
            format!("{{ me {directives} {{ email }} }}"),
            "token limit of 5000",
        ),
        (
            format!("{{ me {{ {nested_aliases} }} }}"),
            "alias limit of 50",
        ),
        (
            format!("{{ {roots} }}"),
            "root field (per query) limit of 20",
        ),
        (
            format!("{{ me {five_directives} {{ email }} }}"),
            "directives-per-location limit of 4",
        ),
    ] {
        let answer = app.gql(&query, json!({}), Some(&alice)).await;
        assert_eq!(answer.code(), "BAD_USER_INPUT", "{limit}");
        assert!(answer.message().contains(limit), "{}", answer.message());
        assert!(answer.body["data"].is_null());
    }
    // Raised limits let the same documents through (they are configuration).
    let relaxed = TestApp::spawn_with(ControlDb::Sqlite, |c| {
        c.server.query_token_limit = 20_000;
        c.server.query_alias_limit = 6000;
        c.server.query_root_field_limit = 6000;
    })
    .await;
    let alice = self::alice(&relaxed).await;
    let answer = relaxed
        .gql(&format!("{{ {aliases} }}"), json!({}), Some(&alice))
        .await;
    assert_eq!(answer.assert_ok()["a4999"], "Query");
}

#[tokio::test]
async fn two_authorization_headers_are_refused_before_anything_runs() {
    let app = TestApp::spawn().await;
    let alice = alice(&app).await;
    let bob = app.token("bob@globex.test", Some("globex")).await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("Authorization", format!("Bearer {alice}"))
        .header("Authorization", format!("Bearer {bob}"))
        .json(&json!({ "query": "mutation { addMember(email: \"x@acme.test\", role: ADMIN) { member { email } } }" }))
        .send()
        .await
        .unwrap();
    let answer = TestApp::answer(response).await;
    answer.assert_refused(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert!(answer
        .message()
        .contains("exactly one Authorization header"));
    let members = app
        .gql("{ tenantMembers { email } }", json!({}), Some(&alice))
        .await;
    assert!(
        !members.body.to_string().contains("x@acme.test"),
        "the mutation ran"
    );
}

#[tokio::test]
async fn batches_run_each_operation_up_to_the_limit() {
    let app = TestApp::spawn().await;
    let alice = alice(&app).await;
    let post = |body: Value| {
        let request = app
            .client
            .post(app.url("/graphql"))
            .bearer_auth(&alice)
            .json(&body);
        async move { TestApp::answer(request.send().await.unwrap()).await }
    };
    let two = post(json!([{ "query": ME }, { "query": "{ myTenants { role } }" }])).await;
    assert_eq!(two.status, StatusCode::OK);
    assert_eq!(two.body[0]["data"]["me"]["email"], "alice@acme.test");
    assert_eq!(two.body[1]["data"]["myTenants"][0]["role"], "ADMIN");
    let eleven: Vec<Value> = (0..11).map(|_| json!({ "query": ME })).collect();
    let refused = post(Value::Array(eleven)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.code(), "BAD_USER_INPUT");
    assert!(
        refused.message().contains("limit of 10"),
        "{}",
        refused.message()
    );
    let empty = post(json!([])).await;
    assert_eq!(empty.code(), "BAD_USER_INPUT");
}

const INTROSPECT: &str = "{ __schema { queryType { name } } }";

#[tokio::test]
async fn introspection_is_for_signed_in_callers_unless_configured() {
    let app = TestApp::spawn().await;
    let alice = alice(&app).await;
    app.gql(INTROSPECT, json!({}), None)
        .await
        .assert_refused(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let answer = app.gql(INTROSPECT, json!({}), Some(&alice)).await;
    assert_eq!(answer.assert_ok()["__schema"]["queryType"]["name"], "Query");

    for (mode, anonymous_ok, signed_in_ok) in [
        (Introspection::Public, true, true),
        (Introspection::Off, false, false),
    ] {
        let app = TestApp::spawn_with(ControlDb::Sqlite, |c| c.server.introspection = mode).await;
        let alice = self::alice(&app).await;
        let anonymous = app.gql(INTROSPECT, json!({}), None).await;
        assert_eq!(
            anonymous.body.get("errors").is_none(),
            anonymous_ok,
            "{mode:?}: {:#}",
            anonymous.body
        );
        let signed_in = app.gql(INTROSPECT, json!({}), Some(&alice)).await;
        assert_eq!(
            signed_in.body.get("errors").is_none(),
            signed_in_ok,
            "{mode:?}: {:#}",
            signed_in.body
        );
        // Anonymous callers still cannot run anything else.
        app.gql(ME, json!({}), None)
            .await
            .assert_refused(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
}
