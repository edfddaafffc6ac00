//! `login`, `selectTenant`, `me`, `myTenants`, and what an anonymous caller may do.
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{two_tenants, TestApp, ME, PASSWORD};

const SELECT: &str =
    "mutation($t: String!) { selectTenant(tenant: $t) { token role tenant { slug } } }";

#[tokio::test]
async fn login_returns_a_working_token() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let answer = app.login("Alice@Acme.test", PASSWORD, Some("acme")).await;
    let data = answer.assert_ok();
    assert_eq!(data["login"]["role"], "ADMIN");
    assert_eq!(data["login"]["tenant"]["slug"], "acme");
    let token = data["login"]["token"].as_str().unwrap();
    let me = app.gql(ME, json!({}), Some(token)).await;
    assert_eq!(me.assert_ok()["me"]["email"], "alice@acme.test");
}

#[tokio::test]
async fn login_without_tenant_uses_the_only_one_or_asks() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let bob = app.login("bob@globex.test", PASSWORD, None).await;
    assert_eq!(bob.assert_ok()["login"]["tenant"]["slug"], "globex");
    let carol = app.login("carol@acme.test", PASSWORD, None).await;
    assert_eq!(carol.code(), "BAD_USER_INPUT");
    assert_eq!(carol.body["errors"][0]["extensions"]["field"], "tenant");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let wrong = app
        .login("alice@acme.test", "not the password", Some("acme"))
        .await;
    let unknown = app.login("mallory@acme.test", PASSWORD, Some("acme")).await;
    for answer in [&wrong, &unknown] {
        assert_eq!(answer.code(), "UNAUTHENTICATED");
        assert!(answer.body["data"].is_null(), "{:#}", answer.body);
    }
    assert_eq!(wrong.message(), unknown.message());
}

#[tokio::test]
async fn login_takes_the_same_time_for_unknown_users() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    // Interleaved so that machine noise hits both sides alike; medians of 9.
    let (mut wrong, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..9 {
        let started = Instant::now();
        app.login("alice@acme.test", "not the password", Some("acme"))
            .await;
        wrong.push(started.elapsed());
        let started = Instant::now();
        app.login("nobody@acme.test", "not the password", Some("acme"))
            .await;
        unknown.push(started.elapsed());
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (wrong, unknown) = (median(&mut wrong), median(&mut unknown));
    let ratio = wrong.as_secs_f64() / unknown.as_secs_f64();
    // Without the dummy hash an unknown user answers ~30x faster than a wrong password.
    assert!(
        (0.5..2.0).contains(&ratio),
        "wrong password {wrong:?} vs unknown user {unknown:?} (ratio {ratio:.2})"
    );
}

#[tokio::test]
async fn login_to_a_foreign_or_unknown_tenant_is_forbidden_alike() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let foreign = app.login("alice@acme.test", PASSWORD, Some("globex")).await;
    let unknown = app
        .login("alice@acme.test", PASSWORD, Some("initech"))
        .await;
    assert_eq!(foreign.code(), "FORBIDDEN");
    assert_eq!(unknown.code(), "FORBIDDEN");
    assert!(foreign.body["data"].is_null());
}

#[tokio::test]
async fn select_tenant_only_to_own_tenants() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let carol = app.token("carol@acme.test", Some("acme")).await;
    let switched = app
        .gql(SELECT, json!({ "t": "globex" }), Some(&carol))
        .await;
    let token = switched.assert_ok()["selectTenant"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let me = app.gql(ME, json!({}), Some(&token)).await;
    assert_eq!(me.assert_ok()["me"]["tenant"]["slug"], "globex");

    let alice = app.token("alice@acme.test", Some("acme")).await;
    for tenant in ["globex", "initech"] {
        let refused = app.gql(SELECT, json!({ "t": tenant }), Some(&alice)).await;
        assert_eq!(refused.code(), "FORBIDDEN", "{:#}", refused.body);
        assert!(refused.body["data"].is_null());
    }
    // Anonymous callers cannot switch at all.
    let anonymous = app.gql(SELECT, json!({ "t": "acme" }), None).await;
    anonymous.assert_refused(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}

#[tokio::test]
async fn my_tenants_lists_memberships() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let carol = app.token("carol@acme.test", Some("acme")).await;
    let answer = app
        .gql(
            "{ myTenants { role tenant { slug name status } } }",
            json!({}),
            Some(&carol),
        )
        .await;
    assert_eq!(
        answer.assert_ok()["myTenants"],
        json!([
            { "role": "MEMBER", "tenant": { "slug": "acme", "name": "acme Inc.", "status": "ACTIVE" } },
            { "role": "MEMBER", "tenant": { "slug": "globex", "name": "globex Inc.", "status": "ACTIVE" } },
        ])
    );
}

#[tokio::test]
async fn anonymous_callers_may_only_log_in() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    for query in [
        ME,
        "{ myTenants { role } }",
        "{ __schema { queryType { name } } }",
        "{ __typename me { email } }",
        "mutation { ...F } fragment F on Mutation { selectTenant(tenant: \"acme\") { token } }",
    ] {
        let answer = app.gql(query, json!({}), None).await;
        answer.assert_refused(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    app.login("alice@acme.test", PASSWORD, Some("acme"))
        .await
        .assert_ok();
}

#[tokio::test]
async fn platform_admins_get_a_platform_token() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    tenantql::admin::registry::add_user(
        &app.services,
        &tenantql::audit::Actor::cli("test"),
        "root@tenantql.test",
        secrecy::SecretString::from(PASSWORD.to_string()),
        true,
    )
    .await
    .unwrap();
    let login = app.login("root@tenantql.test", PASSWORD, None).await;
    let data = login.assert_ok();
    assert_eq!(data["login"]["role"], "PLATFORM_ADMIN");
    assert!(data["login"]["tenant"].is_null());
    let token = data["login"]["token"].as_str().unwrap();
    let me = app.gql(ME, json!({}), Some(token)).await;
    assert_eq!(
        me.assert_ok()["me"],
        json!({ "email": "root@tenantql.test", "role": "PLATFORM_ADMIN", "tenant": null })
    );
    // A platform admin is not a member of acme by that alone.
    let refused = app.gql(SELECT, json!({ "t": "acme" }), Some(token)).await;
    assert_eq!(refused.code(), "FORBIDDEN");
}
