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
            contract: Default::default(),
            allowed_origins: Vec::new(),
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

/// A client database of the docker compose stack (`docker/oracle-init/`):
/// TENANTQL_TEST_ORACLE_URL names tenantql's account (say NORTH_TQ) and
/// TENANTQL_TEST_ORACLE_CONTRACT_SCHEMA the contract's schema (NORTH_CONTRACT).
/// tenantql's objects are migrated into it, the contract checks out, and the
/// invoice page and a payment through the client's procedure work.
#[tokio::test]
async fn a_client_database_on_oracle_through_views_and_procedures() {
    let (Ok(url), Ok(schema)) = (
        std::env::var("TENANTQL_TEST_ORACLE_URL"),
        std::env::var("TENANTQL_TEST_ORACLE_CONTRACT_SCHEMA"),
    ) else {
        eprintln!("notice: TENANTQL_TEST_ORACLE_CONTRACT_SCHEMA is not set; skipping the Oracle client-database suite");
        return;
    };
    let (user, password, connect) = parse_oracle_url(&url);
    let app = TestApp::spawn_demo(20).await;
    register_tenant(
        &app,
        NewTenant {
            slug: "client".into(),
            display_name: "Client ERP on Oracle".into(),
            backend: BackendKind::Oracle,
            connect_string: connect,
            db_username: Some(user),
            db_password: Some(SecretString::from(password)),
            pool: PoolLimits::default(),
            tunnel: None,
            contract: tenantql::control::tenants::ContractPlacement {
                schema: Some(schema),
                write_mode: tenantql::control::entities::tenant::WriteMode::Procedures,
            },
            allowed_origins: Vec::new(),
        },
    )
    .await;
    let actor = tenantql::audit::Actor::cli("test");
    let rollout = crate::helpers::migrate_tenant(&app, "client").await;
    assert_eq!(rollout.status, "completed", "{rollout:#?}");
    let report = tenantql::admin::tenant_database::check(&app.services, &actor, "client")
        .await
        .unwrap();
    assert!(report.ok(), "{report:#?}");
    let token = app.token("alice@acme.test", Some("client")).await;
    let company = app.companies(&token).await[0].0.clone();
    app.gql(
        erp::INVOICE_PAGE,
        json!({ "companyId": company }),
        Some(&token),
    )
    .await
    .assert_ok();
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
