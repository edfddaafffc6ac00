//! The audit log: every request becomes a row (none lost on a graceful stop),
//! refusals of verified tokens are recorded, and no secret reaches the audit log,
//! the control plane's files or the server's log.
use std::{
    io::Read,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use futures_util::{stream, StreamExt};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};
use tenantql::{
    config::ControlPlaneConfig,
    control::{entities::audit_log, entities::tenant::TenantStatus, ControlPlane},
};

use crate::helpers::{free_port, ok, tenantql, two_tenants, SmtpSink, TestApp, ME};

const REQUESTS: usize = 5000;

#[tokio::test]
async fn every_request_is_a_row_and_a_graceful_stop_loses_none() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let services = app.services.clone();
    let config = app.config.clone();
    let query = "query AuditMe($shown: Boolean!) { me @include(if: $shown) { email } }";
    let answers: Vec<StatusCode> = stream::iter(0..REQUESTS)
        .map(|n| {
            let app = &app;
            let alice = &alice;
            async move {
                let answer = app
                    .gql(query, json!({ "shown": n % 2 == 0 }), Some(alice))
                    .await;
                answer.assert_ok();
                answer.status
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(answers.iter().all(|s| *s == StatusCode::OK));
    let data_dir = app.stop().await;

    let (control, _) = ControlPlane::open(&config.control).await.unwrap();
    let rows = audit_log::Entity::find()
        .filter(audit_log::Column::OperationName.eq("AuditMe"))
        .count(&control.db)
        .await
        .unwrap();
    assert_eq!(rows, REQUESTS as u64);
    let stats = services.audit.stats();
    assert_eq!(stats.dropped.load(std::sync::atomic::Ordering::Relaxed), 0);
    let row = audit_log::Entity::find()
        .filter(audit_log::Column::OperationName.eq("AuditMe"))
        .one(&control.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.tenant_slug.as_deref(), Some("acme"));
    assert_eq!(row.actor_email.as_deref(), Some("alice@acme.test"));
    assert_eq!(row.operation_type.as_deref(), Some("query"));
    assert_eq!(row.outcome, "ok");
    assert_eq!(row.client_addr.as_deref(), Some("127.0.0.1"));
    assert_eq!(row.document_hash.as_ref().map(String::len), Some(64));
    assert!(row.variables.as_deref().unwrap().contains("\"shown\""));
    assert!(row.duration_us.unwrap() > 0);
    drop(data_dir);
}

#[tokio::test]
async fn refusals_of_verified_tokens_and_errors_are_recorded() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let carol = app.token("carol@acme.test", Some("acme")).await;
    // A guard refusal inside GraphQL, and a refusal at the door after suspension.
    let answer = app
        .gql("{ tenantMembers { email } }", json!({}), Some(&carol))
        .await;
    assert_eq!(answer.code(), "FORBIDDEN");
    app.set_tenant_status("acme", TenantStatus::Suspended).await;
    app.gql(ME, json!({}), Some(&carol))
        .await
        .assert_refused(StatusCode::FORBIDDEN, "TENANT_SUSPENDED");
    // Tokens that do not verify and anonymous refusals prove no identity: no rows.
    app.gql(ME, json!({}), Some("not-a-token")).await;
    app.gql(ME, json!({}), None).await;
    let rows = app.audit_rows_after_stop().await;
    let forbidden = rows
        .iter()
        .find(|r| r.error_code.as_deref() == Some("FORBIDDEN"))
        .expect("the guard refusal is audited");
    assert_eq!(forbidden.outcome, "error");
    assert_eq!(forbidden.actor_email.as_deref(), Some("carol@acme.test"));
    let suspended = rows
        .iter()
        .find(|r| r.error_code.as_deref() == Some("TENANT_SUSPENDED"))
        .expect("the refusal at the door is audited");
    assert_eq!(suspended.source, "http");
    assert_eq!(suspended.outcome, "refused");
    assert_eq!(suspended.tenant_slug.as_deref(), Some("acme"));
    assert!(rows
        .iter()
        .all(|r| r.error_code.as_deref() != Some("UNAUTHENTICATED")));
    assert!(rows
        .iter()
        .any(|r| r.action == "tenant.suspend" && r.source == "cli"));
}

/// The seeded secrets: database passwords, user passwords, tokens.
struct Secrets(Vec<String>);

impl Secrets {
    fn add(&mut self, secret: impl Into<String>) -> String {
        let secret = secret.into();
        self.0.push(secret.clone());
        secret
    }

    #[track_caller]
    fn assert_absent(&self, haystack: &[u8], place: &str) {
        for secret in &self.0 {
            let found = haystack
                .windows(secret.len())
                .any(|window| window == secret.as_bytes());
            assert!(!found, "a secret ({}…) is in {place}", &secret[..6]);
        }
    }
}

/// Stops the server like an operator (SIGTERM) and returns everything it printed.
fn terminate(mut child: Child) -> Vec<u8> {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let since = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            since.elapsed() < Duration::from_secs(30),
            "server did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut printed = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut printed)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut printed)
        .unwrap();
    printed
}

#[tokio::test]
async fn no_secret_reaches_the_audit_log_the_control_plane_or_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut secrets = Secrets(Vec::new());
    let cli_db = secrets.add("cli-db-secret-7f3a9");
    let root_password = secrets.add("root-password-8c1e2");
    let alice_password = secrets.add("alice-password-5d0b4");
    ok(tenantql(
        d,
        &[
            "tenant",
            "add",
            "initech",
            "--backend",
            "oracle",
            "--connect",
            "127.0.0.1:9/NOPE",
            "--db-user",
            "erp",
            "--db-password-stdin",
        ],
        Some(&format!("{cli_db}\n")),
    ));
    ok(tenantql(d, &["tenant", "add", "acme"], None));
    ok(tenantql(
        d,
        &["user", "add", "root@x.test", "--platform-admin"],
        Some(&format!("{root_password}\n")),
    ));
    ok(tenantql(
        d,
        &["user", "add", "alice@acme.test"],
        Some(&format!("{alice_password}\n")),
    ));
    ok(tenantql(
        d,
        &["grant", "alice@acme.test", "acme", "admin"],
        None,
    ));
    let rotated_cli = secrets.add("cli-rotated-secret-1b6f0");
    ok(tenantql(
        d,
        &["tenant", "rotate-credentials", "initech"],
        Some(&format!("{rotated_cli}\n")),
    ));

    let port = free_port();
    let sink = SmtpSink::start().await;
    let child = Command::new(env!("CARGO_BIN_EXE_tenantql"))
        .env_clear()
        .env("TENANTQL_DATA_DIR", d)
        .env("TENANTQL_SMTP_URL", sink.url())
        .env("TENANTQL_MAIL_FROM", "tenantql <no-reply@tenantql.test>")
        .env("TENANTQL_LOG", "debug")
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let since = Instant::now();
    while client.get(format!("{base}/health")).send().await.is_err() {
        assert!(
            since.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gql = |query: String, variables: Value, token: Option<String>| {
        let client = client.clone();
        let url = format!("{base}/graphql");
        async move {
            let mut request = client
                .post(url)
                .json(&json!({ "query": query, "variables": variables }));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send().await.unwrap().json::<Value>().await.unwrap()
        }
    };

    let login = "mutation($e: String!, $p: String!, $t: String) { login(email: $e, password: $p, tenant: $t) { token } }";
    let root = gql(
        login.into(),
        json!({ "e": "root@x.test", "p": root_password }),
        None,
    )
    .await;
    let root = secrets.add(root["data"]["login"]["token"].as_str().unwrap());
    // A password written into the document itself, not a variable.
    let alice = gql(
        format!("mutation {{ login(email: \"alice@acme.test\", password: \"{alice_password}\", tenant: \"acme\") {{ token }} }}"),
        json!({}),
        None,
    )
    .await;
    let alice = secrets.add(alice["data"]["login"]["token"].as_str().unwrap());
    let gql_db = secrets.add("gql-db-secret-2e9c7");
    let created = gql(
        "mutation($i: CreateTenantInput!) { createTenant(input: $i) { slug } }".into(),
        json!({ "i": { "slug": "umbrella", "backend": "ORACLE", "connectString": "127.0.0.1:9/X", "dbUser": "erp", "dbPassword": gql_db } }),
        Some(root.clone()),
    )
    .await;
    assert_eq!(
        created["data"]["createTenant"]["slug"], "umbrella",
        "{created}"
    );
    let inline_db = secrets.add("inline-db-secret-4a8d1");
    let rotated = gql(
        format!("mutation {{ rotateTenantCredentials(slug: \"umbrella\", dbPassword: \"{inline_db}\") {{ configVersion }} }}"),
        json!({}),
        Some(root.clone()),
    )
    .await;
    assert!(rotated["errors"].is_null(), "{rotated}");
    // The Oracle tenants cannot connect here: their errors must not carry secrets either.
    gql(
        "mutation { testTenantConnection(slug: \"initech\") { reachable } }".into(),
        json!({}),
        Some(root.clone()),
    )
    .await;
    let invited = gql(
        "mutation { addMember(email: \"frank@acme.test\", role: MEMBER) { invitation { email } } }"
            .into(),
        json!({}),
        Some(alice.clone()),
    )
    .await;
    assert_eq!(
        invited["data"]["addMember"]["invitation"]["email"], "frank@acme.test",
        "{invited}"
    );
    let invitation = secrets.add(
        sink.mails_to("frank@acme.test")
            .last()
            .and_then(|m| m.invitation_token())
            .expect("the invitation mail"),
    );
    let frank_password = secrets.add("frank-password-9e4c3");
    let set = gql(
        "mutation($token: String!, $password: String!) { acceptInvitation(token: $token, password: $password) { tenant } }".into(),
        json!({ "token": invitation, "password": frank_password }),
        None,
    )
    .await;
    assert_eq!(set["data"]["acceptInvitation"]["tenant"], "acme", "{set}");
    // A token sent as a variable by a careless client.
    gql(
        "query($apiToken: String) { me { email } }".into(),
        json!({ "apiToken": alice }),
        Some(alice.clone()),
    )
    .await;
    let me = gql("{ me { email } }".into(), json!({}), Some(alice.clone())).await;
    assert_eq!(me["data"]["me"]["email"], "alice@acme.test");

    let printed = terminate(child);
    secrets.assert_absent(&printed, "the server's log");
    assert!(!printed.is_empty(), "the log was captured");

    // The control plane's files, audit table included, hold only sealed or hashed forms.
    for entry in std::fs::read_dir(d).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            secrets.assert_absent(&std::fs::read(&path).unwrap(), &path.display().to_string());
        }
    }
    let (control, _) = ControlPlane::open(&ControlPlaneConfig::new(d))
        .await
        .unwrap();
    let rows = audit_log::Entity::find().all(&control.db).await.unwrap();
    let text = format!("{rows:?}");
    secrets.assert_absent(text.as_bytes(), "the audit rows");
    assert!(rows.len() >= 12, "{} audit rows", rows.len());
    let login_row = rows
        .iter()
        .find(|r| {
            r.variables
                .as_deref()
                .is_some_and(|v| v.contains("root@x.test"))
        })
        .expect("the login is audited");
    assert!(login_row
        .variables
        .as_deref()
        .unwrap()
        .contains("[redacted]"));
    assert!(rows
        .iter()
        .any(|r| r.action == "tenant.rotate_credentials" && r.source == "cli"));
    assert!(rows
        .iter()
        .any(|r| r.action == "tenant.rotate_credentials" && r.source == "graphql"));
}

/// One hostile row must never take others with it: an operation name longer
/// than its column is cut to it, and a row the database refuses whole (a NUL
/// in PostgreSQL text) is written in minimal form and counted — while ten
/// other tenants' rows written at the same time all arrive.
async fn hostile_rows_do_not_take_others_with_them(db: crate::helpers::ControlDb) {
    let app = TestApp::spawn_with(db, |_| {}).await;
    two_tenants(&app).await;
    let bob = app.token("bob@globex.test", Some("globex")).await;
    let long_name = "A".repeat(200);
    let login = format!(
        "mutation {long_name} {{ login(email: \"x@acme.test\", password: \"wrong password\") {{ token }} }}"
    );
    let nul = || {
        app.client
            .post(app.url("/graphql"))
            .json(&json!({ "query": ME, "operationName": "Me\u{0}Evil" }))
            .bearer_auth(&bob)
            .send()
    };
    let globex = (0..10).map(|_| app.gql(ME, json!({}), Some(&bob)));
    let (long, nul, _) = tokio::join!(
        app.gql(&login, json!({}), None),
        nul(),
        futures_util::future::join_all(globex)
    );
    assert_eq!(long.code(), "UNAUTHENTICATED");
    nul.unwrap();
    let rows = app.audit_rows_after_stop().await;
    let globex_rows = rows
        .iter()
        .filter(|r| r.tenant_slug.as_deref() == Some("globex") && r.source == "graphql")
        .count();
    assert_eq!(globex_rows, 11, "ten requests and the NUL one, all kept");
    let cut = rows
        .iter()
        .find(|r| {
            r.operation_name
                .as_deref()
                .is_some_and(|n| n.starts_with("AAAA"))
        })
        .expect("the long-named request is audited");
    assert_eq!(cut.operation_name.as_ref().unwrap().len(), 128);
    if db == crate::helpers::ControlDb::Postgres {
        let minimal = rows
            .iter()
            .find(|r| r.details.as_deref() == Some(r#"{"minimal":true}"#))
            .expect("the row PostgreSQL refused is kept in minimal form");
        assert_eq!(minimal.tenant_slug.as_deref(), Some("globex"));
        assert!(minimal.operation_name.is_none());
    }
}

#[tokio::test]
async fn hostile_audit_rows_on_sqlite() {
    hostile_rows_do_not_take_others_with_them(crate::helpers::ControlDb::Sqlite).await;
}

#[tokio::test]
async fn hostile_audit_rows_on_postgres() {
    if crate::helpers::postgres_url().is_some() {
        hostile_rows_do_not_take_others_with_them(crate::helpers::ControlDb::Postgres).await;
    }
}

/// A tenant admin reads platform operators' changes to their tenant without the
/// operator's e-mail, id, address or user agent; a platform admin sees them all.
#[tokio::test]
async fn tenant_admins_see_platform_operators_as_such() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let root = app.platform_admin("ops@platform.test").await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let reloaded = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&root)
        .header("user-agent", "operator-console/7.1")
        .json(&json!({ "query": "mutation { reloadTenantPool(slug: \"acme\") { slug } }" }))
        .send()
        .await
        .unwrap();
    assert!(reloaded.status().is_success());
    let query = "query($f: AuditLogFilter) { auditLogs(filter: $f) { edges { node { actorEmail actorUserId clientAddress userAgent source } } } }";
    let seen = app
        .gql(
            query,
            json!({ "f": { "action": "tenant.reload_pool" } }),
            Some(&alice),
        )
        .await;
    let rows = seen.assert_ok()["auditLogs"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let node = &rows[0]["node"];
    assert_eq!(node["actorEmail"], "platform operator");
    assert!(
        node["actorUserId"].is_null()
            && node["clientAddress"].is_null()
            && node["userAgent"].is_null(),
        "{node}"
    );
    // The CLI's changes (the test's fixtures) too.
    let cli = app
        .gql(
            query,
            json!({ "f": { "action": "member.grant" } }),
            Some(&alice),
        )
        .await;
    let text = cli.assert_ok().to_string();
    assert!(!text.contains("cli:"), "{text}");
    assert!(text.contains("platform operator"), "{text}");
    // The platform sees who it was.
    let platform = app
        .gql(
            "{ platformAuditLogs(tenant: \"acme\", filter: { action: \"tenant.reload_pool\" }) { edges { node { actorEmail userAgent } } } }",
            json!({}),
            Some(&root),
        )
        .await;
    let node = &platform.assert_ok()["platformAuditLogs"]["edges"][0]["node"];
    assert_eq!(node["actorEmail"], "ops@platform.test");
    assert_eq!(node["userAgent"], "operator-console/7.1");
}

/// The audit log's document hash is keyed (derived from the master key): a
/// low-entropy literal cannot be recovered by hashing guesses, while every
/// instance of the deployment hashes a document the same.
#[tokio::test]
async fn document_hashes_are_keyed_and_the_same_on_every_instance() {
    use sha2::Digest;
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let sibling = app.spawn_sibling(|_| {}).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let query = "{ me { email } }";
    app.gql(query, json!({}), Some(&alice)).await.assert_ok();
    sibling
        .gql(query, json!({}), Some(&alice))
        .await
        .assert_ok();
    sibling.stop().await;
    let rows = app.audit_rows_after_stop().await;
    let hashes: Vec<&str> = rows
        .iter()
        .filter(|r| r.source == "graphql")
        .filter_map(|r| r.document_hash.as_deref())
        .collect();
    assert_eq!(hashes.len(), 2, "{rows:?}");
    assert_eq!(hashes[0], hashes[1], "one key for the deployment");
    let unkeyed: String = sha2::Sha256::digest(b"{me{email}}")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_ne!(
        hashes[0], unkeyed,
        "a guess hashed without the key does not match"
    );
}
