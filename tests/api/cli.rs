//! The command line, run as a user would: set up a tenant, mint a token, use it.
use serde_json::json;

use crate::helpers::{ok, tenantql, ControlDb, TestApp, ME};

#[tokio::test]
async fn set_up_a_tenant_and_use_a_minted_token() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(tenantql(
        d,
        &["tenant", "add", "acme", "--name", "Acme Corporation"],
        None,
    ));
    ok(tenantql(
        d,
        &["user", "add", "alice@acme.test"],
        Some("s3cret-password\n"),
    ));
    ok(tenantql(
        d,
        &["grant", "alice@acme.test", "acme", "admin"],
        None,
    ));
    let list = ok(tenantql(d, &["tenant", "list"], None));
    assert!(list.contains("acme") && list.contains("active"), "{list}");

    let token = ok(tenantql(
        d,
        &[
            "token",
            "--tenant",
            "acme",
            "--user",
            "alice@acme.test",
            "--ttl",
            "10m",
        ],
        None,
    ));
    let token = token.trim();

    let app =
        TestApp::spawn_with(ControlDb::Sqlite, |c| c.control.data_dir = d.to_path_buf()).await;
    let me = app.gql(ME, json!({}), Some(token)).await;
    assert_eq!(
        me.assert_ok()["me"],
        json!({ "email": "alice@acme.test", "role": "ADMIN", "tenant": { "slug": "acme" } })
    );
    let login = app
        .login("alice@acme.test", "s3cret-password", Some("acme"))
        .await;
    login.assert_ok();

    // Suspending from the command line applies to the running server.
    ok(tenantql(d, &["tenant", "suspend", "acme"], None));
    assert_eq!(
        app.gql(ME, json!({}), Some(token)).await.code(),
        "TENANT_SUSPENDED"
    );
}

#[test]
fn refusals_are_clear_and_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(tenantql(d, &["tenant", "add", "acme"], None));
    ok(tenantql(d, &["tenant", "add", "globex"], None));
    ok(tenantql(
        d,
        &["user", "add", "alice@acme.test"],
        Some("s3cret-password\n"),
    ));
    ok(tenantql(
        d,
        &["grant", "alice@acme.test", "acme", "member"],
        None,
    ));

    let foreign = tenantql(
        d,
        &["token", "--tenant", "globex", "--user", "alice@acme.test"],
        None,
    );
    assert!(!foreign.status.success());
    assert!(String::from_utf8_lossy(&foreign.stderr).contains("not a member"));

    let duplicate = tenantql(d, &["tenant", "add", "acme"], None);
    assert!(!duplicate.status.success());
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("already exists"));

    let short = tenantql(d, &["user", "add", "bob@acme.test"], Some("short\n"));
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("password"));
}

#[test]
fn secrets_never_show() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(tenantql(
        d,
        &[
            "tenant",
            "add",
            "erp",
            "--backend",
            "oracle",
            "--connect",
            "db:1521/ERP",
            "--db-user",
            "reader",
            "--db-password-stdin",
        ],
        Some("tiger-password\n"),
    ));
    let show = ok(tenantql(d, &["tenant", "show", "erp"], None));
    assert!(show.contains("set (sealed)"), "{show}");
    assert!(!show.contains("tiger"), "{show}");
    let db = std::fs::read(d.join("control.db")).unwrap();
    assert!(
        !String::from_utf8_lossy(&db).contains("tiger-password"),
        "password stored in clear"
    );
}

#[test]
fn schema_command_prints_the_sdl() {
    let dir = tempfile::tempdir().unwrap();
    let sdl = ok(tenantql(dir.path(), &["schema"], None));
    assert_eq!(sdl, tenantql::schema::sdl());
}

#[test]
fn help_lists_every_command_and_variable() {
    let dir = tempfile::tempdir().unwrap();
    let help = ok(tenantql(dir.path(), &["--help"], None));
    for command in [
        "serve", "migrate", "schema", "tenant", "user", "grant", "revoke", "token", "key",
    ] {
        assert!(help.contains(command), "--help lacks {command}:\n{help}");
    }
    let serve = ok(tenantql(dir.path(), &["serve", "--help"], None));
    for variable in [
        "TENANTQL_LISTEN",
        "TENANTQL_DATA_DIR",
        "TENANTQL_CONTROL_DB_URL",
        "TENANTQL_MASTER_KEY",
        "TENANTQL_LOG_FORMAT",
    ] {
        assert!(
            serve.contains(variable),
            "serve --help lacks {variable}:\n{serve}"
        );
    }
}
