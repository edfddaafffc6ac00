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
    for command in ["audit", "demo"] {
        assert!(help.contains(command), "--help lacks {command}:\n{help}");
    }
    // The README's configuration table and `serve --help` name the same settings.
    let serve = ok(tenantql(dir.path(), &["serve", "--help"], None));
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let variables = |text: &str| -> std::collections::BTreeSet<String> {
        text.split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
            .filter(|w| w.starts_with("TENANTQL_") && !w.starts_with("TENANTQL_TEST_"))
            .map(str::to_string)
            .collect()
    };
    let table: String = readme
        .lines()
        .filter(|line| line.starts_with("| `TENANTQL_"))
        .collect();
    assert_eq!(
        variables(&serve),
        variables(&table),
        "serve --help vs the README's table"
    );
}

#[tokio::test]
async fn operators_manage_tenants_and_the_audit_log_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(tenantql(d, &["tenant", "add", "acme"], None));
    let refused = tenantql(d, &["tenant", "add", "admin"], None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("reserved"));

    // No store yet: the connection test says so, with a reason safe to show.
    let down = tenantql(d, &["tenant", "test-connection", "acme"], None);
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains("cannot be opened"));
    ok(tenantql(
        d,
        &["demo", "seed", "--tenant", "acme", "--invoices", "10"],
        None,
    ));
    let up = ok(tenantql(d, &["tenant", "test-connection", "acme"], None));
    assert!(up.contains("acme: reachable in"), "{up}");

    let updated = tenantql(d, &["tenant", "update", "acme", "--pool-max", "3"], None);
    assert!(updated.status.success());
    assert!(String::from_utf8_lossy(&updated.stderr).contains("config version 2"));
    let shown = ok(tenantql(d, &["tenant", "show", "acme"], None));
    assert!(shown.contains("max 3"), "{shown}");
    let rotated = tenantql(
        d,
        &["tenant", "rotate-credentials", "acme"],
        Some("new-secret-1\n"),
    );
    assert!(String::from_utf8_lossy(&rotated.stderr).contains("config version 3"));

    let wrong = tenantql(d, &["tenant", "delete", "acme", "--confirm", "acm"], None);
    assert!(!wrong.status.success());
    ok(tenantql(
        d,
        &["tenant", "delete", "acme", "--confirm", "acme"],
        None,
    ));
    let list = ok(tenantql(d, &["tenant", "list"], None));
    assert!(!list.contains("acme"), "{list}");
    let reuse = tenantql(d, &["tenant", "add", "acme"], None);
    assert!(
        !reuse.status.success(),
        "a deleted tenant's slug is never reused"
    );

    // Every change is in the audit log; pruning keeps recent rows and is audited.
    ok(tenantql(
        d,
        &["audit", "prune", "--older-than", "90d"],
        None,
    ));
    let (control, _) =
        tenantql::control::ControlPlane::open(&tenantql::config::ControlPlaneConfig::new(d))
            .await
            .unwrap();
    use sea_orm::EntityTrait;
    let rows = tenantql::control::entities::audit_log::Entity::find()
        .all(&control.db)
        .await
        .unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    for action in [
        "tenant.create",
        "tenant.test_connection",
        "tenant.update",
        "tenant.rotate_credentials",
        "tenant.delete",
        "audit.prune",
    ] {
        assert!(actions.contains(&action), "no {action} in {actions:?}");
    }
    assert!(rows.iter().all(|r| r.source == "cli"));
    assert!(rows
        .iter()
        .all(|r| r.actor_email.as_deref().unwrap_or("").starts_with("cli:")));
}

#[test]
fn a_bad_worker_thread_count_is_an_error_not_a_panic() {
    let run = |value: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tenantql"))
            .env_clear()
            .env("TOKIO_WORKER_THREADS", value)
            .arg("schema")
            .output()
            .unwrap()
    };
    for bad in ["abc", "0", "-1"] {
        let out = run(bad);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bad}: {stderr}");
        assert!(
            stderr.contains("TOKIO_WORKER_THREADS must be a whole number"),
            "{bad}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{bad}: {stderr}");
    }
    let good = run("1");
    assert!(good.status.success());
    assert!(String::from_utf8_lossy(&good.stdout).contains("type Query"));
}
