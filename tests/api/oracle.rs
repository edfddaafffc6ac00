//! Oracle tenants. Without an Oracle client library (as on the CI machines) an
//! Oracle tenant answers TENANT_UNAVAILABLE while everyone else keeps working. With
//! TENANTQL_TEST_ORACLE_URL (e.g. the docker-compose `oracle` service) the ERP
//! contract runs against a real Oracle database.
use secrecy::SecretString;
use serde_json::json;
use tenantql::control::{
    entities::tenant::BackendKind,
    tenants::{NewTenant, PoolLimits},
};

use crate::{
    erp,
    helpers::{register_tenant, TestApp},
};

async fn add_oracle_tenant(app: &TestApp, slug: &str, connect: &str, user: &str, password: &str) {
    register_tenant(
        app,
        NewTenant {
            slug: slug.into(),
            display_name: "ERP on Oracle".into(),
            backend: BackendKind::Oracle,
            connect_string: connect.into(),
            db_username: Some(user.into()),
            db_password: Some(SecretString::from(password.to_string())),
            pool: PoolLimits::default(),
            tunnel: None,
        },
    )
    .await;
}

#[tokio::test]
async fn an_oracle_tenant_without_a_client_library_is_unavailable_alone() {
    if std::env::var_os("TENANTQL_TEST_ORACLE_URL").is_some() {
        eprintln!("notice: an Oracle client is configured; the no-client test does not apply");
        return;
    }
    let app = TestApp::spawn_demo(20).await;
    add_oracle_tenant(
        &app,
        "erp",
        "127.0.0.1:1/FREEPDB1",
        "reader",
        "secret-password",
    )
    .await;
    let erp_token = app.token("alice@acme.test", Some("erp")).await;
    let acme_token = app.token("alice@acme.test", Some("acme")).await;

    let answer = app
        .gql("{ companies { name } }", json!({}), Some(&erp_token))
        .await;
    assert_eq!(answer.code(), "TENANT_UNAVAILABLE", "{:#}", answer.body);
    assert!(answer.body["data"].is_null());
    let message = answer.message();
    assert!(message.contains("Oracle client library"), "{message}");
    assert!(
        !message.contains("secret-password") && !message.contains("DPI-"),
        "{message}"
    );
    // acme answers normally, before and after.
    assert_eq!(app.companies(&acme_token).await.len(), 3);
}

/// `oracle://user:password@host:port/service`
fn parse_oracle_url(url: &str) -> (String, String, String) {
    let rest = url
        .strip_prefix("oracle://")
        .expect("TENANTQL_TEST_ORACLE_URL starts with oracle://");
    let (credentials, connect) = rest
        .rsplit_once('@')
        .expect("user:password@host:port/service");
    let (user, password) = credentials.split_once(':').expect("user:password");
    (user.to_string(), password.to_string(), connect.to_string())
}

#[tokio::test]
async fn erp_contract_on_oracle() {
    let Ok(url) = std::env::var("TENANTQL_TEST_ORACLE_URL") else {
        eprintln!(
            "notice: TENANTQL_TEST_ORACLE_URL is not set; skipping the Oracle contract suite"
        );
        return;
    };
    let (user, password, connect) = parse_oracle_url(&url);
    let app = TestApp::spawn_demo(20).await;
    add_oracle_tenant(&app, "erp", &connect, &user, &password).await;
    tenantql::demo::seed_tenant(&app.services, "erp", erp::INVOICES)
        .await
        .expect("seed the Oracle schema (apply sql/oracle/erp_schema.sql first)");
    let token = app.token("alice@acme.test", Some("erp")).await;
    erp::contract(&app, "erp", &token).await;
}

#[test]
fn oracle_urls_parse() {
    assert_eq!(
        parse_oracle_url("oracle://tenantql:p@ss@127.0.0.1:1521/FREEPDB1"),
        (
            "tenantql".into(),
            "p@ss".into(),
            "127.0.0.1:1521/FREEPDB1".into()
        )
    );
}
