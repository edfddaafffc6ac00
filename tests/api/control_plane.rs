//! The control plane behaves the same on SQLite and PostgreSQL: constraints map to
//! client errors, secrets are sealed to their row, a wrong master key stops start-up.
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tenantql::{
    admin::registry,
    audit::Actor,
    config::ControlPlaneConfig,
    control::{
        entities::{membership::MemberRole, tenant, tenant::BackendKind},
        tenants::{self, NewTenant, PoolLimits},
        ControlPlane,
    },
    sealing::SealError,
};

use crate::helpers::{postgres_url, two_tenants, ControlDb, TestApp, ME, PASSWORD};

fn oracle_tenant(slug: &str, password: &str) -> NewTenant {
    NewTenant {
        slug: slug.into(),
        display_name: slug.to_uppercase(),
        backend: BackendKind::Oracle,
        connect_string: "db.example.test:1521/ERP".into(),
        db_username: Some("erp_reader".into()),
        db_password: Some(SecretString::from(password.to_string())),
        pool: PoolLimits::default(),
        tunnel: None,
        contract: Default::default(),
        allowed_origins: Vec::new(),
    }
}

async fn contract(db: ControlDb) {
    let app = TestApp::spawn_with(db, |_| {}).await;
    let control = &app.services.control;
    let services = &app.services;
    two_tenants(&app).await;

    // Unique slug and email, whatever the case of the email.
    let dup = registry::add_tenant(services, &Actor::cli("test"), oracle_tenant("acme", "x"))
        .await
        .unwrap_err();
    assert_eq!(dup.code(), "CONFLICT", "{dup}");
    let dup = registry::add_user(
        services,
        &Actor::cli("test"),
        "ALICE@acme.test",
        SecretString::from(PASSWORD.to_string()),
        false,
    )
    .await
    .unwrap_err();
    assert_eq!(dup.code(), "CONFLICT", "{dup}");
    let bad = registry::add_tenant(
        services,
        &Actor::cli("test"),
        oracle_tenant("Not A Slug", "x"),
    )
    .await
    .unwrap_err();
    assert_eq!(bad.code(), "BAD_USER_INPUT");
    assert_eq!(
        registry::grant(
            services,
            &Actor::cli("test"),
            "nobody@x.test",
            "acme",
            MemberRole::Member
        )
        .await
        .unwrap_err()
        .code(),
        "NOT_FOUND"
    );
    assert_eq!(
        tenants::list(&control.db).await.unwrap().len(),
        2,
        "failed adds left nothing behind"
    );

    // Secrets: sealed at rest, open for their own row only.
    let a = registry::add_tenant(
        services,
        &Actor::cli("test"),
        oracle_tenant("initech", "tiger-a"),
    )
    .await
    .unwrap();
    let b = registry::add_tenant(
        services,
        &Actor::cli("test"),
        oracle_tenant("umbrella", "tiger-b"),
    )
    .await
    .unwrap();
    let sealed_a = a.db_password_sealed.clone().unwrap();
    assert!(!sealed_a.contains("tiger"), "stored sealed, not plain");
    let opened = tenants::open_db_password(&control.sealer, &a)
        .unwrap()
        .unwrap();
    assert_eq!(opened.expose_secret(), "tiger-a");
    let mut moved: tenant::ActiveModel = b.clone().into();
    moved.db_password_sealed = Set(Some(sealed_a));
    let b = moved.update(&control.db).await.unwrap();
    assert!(matches!(
        tenants::open_db_password(&control.sealer, &b),
        Err(SealError::DoesNotOpen)
    ));

    // Membership changes and logins work end to end over HTTP.
    let login = app.login("carol@acme.test", PASSWORD, Some("globex")).await;
    let token = login.assert_ok()["login"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.gql(ME, json!({}), Some(&token)).await.assert_ok()["me"]["tenant"]["slug"],
        "globex"
    );
    assert!(
        registry::revoke(services, &Actor::cli("test"), "carol@acme.test", "globex")
            .await
            .unwrap()
    );
    assert!(
        !registry::revoke(services, &Actor::cli("test"), "carol@acme.test", "globex")
            .await
            .unwrap()
    );
    app.gql(ME, json!({}), Some(&token))
        .await
        .assert_refused(StatusCode::FORBIDDEN, "FORBIDDEN");

    // A wrong master key is a clear start-up error, not garbage.
    let mut wrong_key = app.config.control.clone();
    wrong_key.master_key = Some(SecretString::from(base64_key(9)));
    let err = ControlPlane::open(&wrong_key)
        .await
        .err()
        .expect("a wrong key must not open");
    let message = err.to_string();
    assert!(message.contains("master key does not match"), "{message}");
    // ...while listing the replaced key as a previous one lets it start (rotation).
    let mut rotated = wrong_key.clone();
    rotated.previous_master_keys = Some(SecretString::from(
        std::fs::read_to_string(app.config.control.data_dir.join("master.key")).unwrap(),
    ));
    let (reopened, _) = ControlPlane::open(&rotated)
        .await
        .expect("previous key opens");
    let a = tenants::get_by_slug(&reopened.db, "initech").await.unwrap();
    assert_eq!(
        tenants::open_db_password(&reopened.sealer, &a)
            .unwrap()
            .unwrap()
            .expose_secret(),
        "tiger-a"
    );
}

fn base64_key(byte: u8) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

#[tokio::test]
async fn control_plane_on_sqlite() {
    contract(ControlDb::Sqlite).await;
}

#[tokio::test]
async fn control_plane_on_postgres() {
    if postgres_url().is_none() {
        return;
    }
    contract(ControlDb::Postgres).await;
}

#[tokio::test]
async fn a_malformed_master_key_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ControlPlaneConfig::new(dir.path());
    config.master_key = Some(SecretString::from("too-short".to_string()));
    let err = ControlPlane::open(&config).await.err().expect("refused");
    assert!(err.to_string().contains("32 bytes"), "{err}");
}
