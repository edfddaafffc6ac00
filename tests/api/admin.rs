//! The guarded admin API: every field's guard, the role × field matrix, tenant
//! isolation for tenant admins, the platform admin's tenant operations, members,
//! and suspension taking effect within the documented bound.
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tenantql::control::{
    entities::{api_key::ApiKeyRole, membership::MemberRole, tenant::TenantStatus},
    memberships, tenants, users,
};

use crate::helpers::{two_tenants, Answer, ControlDb, TestApp, ME};

/// Who may call a root field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    /// Open without a token (sign-in).
    Public,
    /// Any valid token.
    SignedIn,
    /// A user's token (not an API key): a session to switch or end.
    Session,
    /// A member or admin of the token's tenant.
    Member,
    /// An admin of the token's tenant.
    TenantAdmin,
    /// A platform admin.
    PlatformAdmin,
}

/// Every root field of the schema and who may call it. A field missing here
/// fails `every_field_declares_its_guard`, so a new field cannot ship unguarded.
const POLICY: &[(&str, Policy)] = &[
    ("login", Policy::Public),
    ("setPassword", Policy::Public),
    ("acceptInvitation", Policy::Public),
    ("me", Policy::SignedIn),
    ("myTenants", Policy::SignedIn),
    ("selectTenant", Policy::Session),
    ("logout", Policy::Session),
    ("companies", Policy::Member),
    ("company", Policy::Member),
    ("partners", Policy::Member),
    ("partner", Policy::Member),
    ("invoices", Policy::Member),
    ("invoice", Policy::Member),
    ("treasuryAccount", Policy::Member),
    ("dashboard", Policy::Member),
    ("recordPayment", Policy::Member),
    ("createInvoice", Policy::Member),
    ("tenantMembers", Policy::TenantAdmin),
    ("auditLogs", Policy::TenantAdmin),
    ("tenantInvitations", Policy::TenantAdmin),
    ("revokeInvitation", Policy::TenantAdmin),
    ("addMember", Policy::TenantAdmin),
    ("changeMemberRole", Policy::TenantAdmin),
    ("removeMember", Policy::TenantAdmin),
    ("apiKeys", Policy::TenantAdmin),
    ("createApiKey", Policy::TenantAdmin),
    ("revokeApiKey", Policy::TenantAdmin),
    ("rotateApiKey", Policy::TenantAdmin),
    ("slugAvailable", Policy::PlatformAdmin),
    ("tenants", Policy::PlatformAdmin),
    ("tenant", Policy::PlatformAdmin),
    ("platformAuditLogs", Policy::PlatformAdmin),
    ("createTenant", Policy::PlatformAdmin),
    ("updateTenant", Policy::PlatformAdmin),
    ("suspendTenant", Policy::PlatformAdmin),
    ("activateTenant", Policy::PlatformAdmin),
    ("deleteTenant", Policy::PlatformAdmin),
    ("rotateTenantCredentials", Policy::PlatformAdmin),
    ("rotateTenantSigningKey", Policy::PlatformAdmin),
    ("testTenantConnection", Policy::PlatformAdmin),
    ("reloadTenantPool", Policy::PlatformAdmin),
    ("invalidateTenantCache", Policy::PlatformAdmin),
    ("publishTrustedDocuments", Policy::PlatformAdmin),
    ("publishTenantDocuments", Policy::TenantAdmin),
    ("checkTenantDatabase", Policy::PlatformAdmin),
    ("migrateTenantDatabases", Policy::PlatformAdmin),
];

const TYPE_REF: &str = "fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

/// The schema as introspection shows it to a platform admin.
async fn introspect(app: &TestApp, token: &str) -> Value {
    let query = format!(
        "{{ __schema {{ queryType {{ name }} mutationType {{ name }}
            types {{ name kind enumValues {{ name }}
                     inputFields {{ name defaultValue type {{ ...T }} }}
                     fields {{ name type {{ ...T }} args {{ name defaultValue type {{ ...T }} }} }} }} }} }}
         {TYPE_REF}"
    );
    app.gql(&query, json!({}), Some(token)).await.assert_ok()["__schema"].clone()
}

fn type_named<'a>(schema: &'a Value, name: &str) -> &'a Value {
    schema["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("type {name} in the schema"))
}

/// A literal of the given type, good enough to get past validation.
fn sample(schema: &Value, type_ref: &Value, arg_name: &str) -> String {
    match type_ref["kind"].as_str().unwrap() {
        "NON_NULL" => sample(schema, &type_ref["ofType"], arg_name),
        "LIST" => format!("[{}]", sample(schema, &type_ref["ofType"], arg_name)),
        "ENUM" => {
            let t = type_named(schema, type_ref["name"].as_str().unwrap());
            t["enumValues"][0]["name"].as_str().unwrap().to_string()
        }
        "INPUT_OBJECT" => {
            let t = type_named(schema, type_ref["name"].as_str().unwrap());
            let fields: Vec<String> = t["inputFields"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["type"]["kind"] == "NON_NULL" && f["defaultValue"].is_null())
                .map(|f| {
                    let name = f["name"].as_str().unwrap();
                    format!("{name}: {}", sample(schema, &f["type"], name))
                })
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
        _ => match type_ref["name"].as_str().unwrap() {
            "Int" => "1".into(),
            "Float" => "1.5".into(),
            "Boolean" => "true".into(),
            "Date" => "\"2026-01-01\"".into(),
            "Money" => "\"1.00\"".into(),
            "DateTime" => "\"2026-01-01T00:00:00Z\"".into(),
            _ if arg_name.to_lowercase().contains("email") => "\"nobody@nowhere.test\"".into(),
            _ => "\"nosuch-sample\"".into(),
        },
    }
}

fn named_type(type_ref: &Value) -> &Value {
    if type_ref["ofType"].is_object() {
        named_type(&type_ref["ofType"])
    } else {
        type_ref
    }
}

/// One document per root field: `query { field(required args) { __typename } }`.
fn documents(schema: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (root, keyword) in [("queryType", "query"), ("mutationType", "mutation")] {
        let root_type = type_named(schema, schema[root]["name"].as_str().unwrap());
        for field in root_type["fields"].as_array().unwrap() {
            let name = field["name"].as_str().unwrap().to_string();
            let args: Vec<String> = field["args"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["type"]["kind"] == "NON_NULL" && a["defaultValue"].is_null())
                .map(|a| {
                    let arg = a["name"].as_str().unwrap();
                    format!("{arg}: {}", sample(schema, &a["type"], arg))
                })
                .collect();
            let args = if args.is_empty() {
                String::new()
            } else {
                format!("({})", args.join(", "))
            };
            let selection = match named_type(&field["type"])["kind"].as_str().unwrap() {
                "OBJECT" | "INTERFACE" | "UNION" => " { __typename }",
                _ => "",
            };
            out.push((
                name.clone(),
                format!("{keyword} {{ {name}{args}{selection} }}"),
            ));
        }
    }
    out
}

/// The callers of the matrix, with their tokens (None: no token).
struct Callers {
    platform: String,
    tenant_admin: String,
    member: String,
    other_tenant_admin: String,
    suspended: String,
    /// API keys of acme.
    member_key: String,
    reader_key: String,
}

async fn callers(app: &TestApp) -> Callers {
    two_tenants(app).await;
    app.add_tenant("initech").await;
    app.add_user("dave@globex.test", &[("globex", MemberRole::Admin)])
        .await;
    app.add_user("erin@initech.test", &[("initech", MemberRole::Member)])
        .await;
    let suspended = app.token("erin@initech.test", Some("initech")).await;
    app.set_tenant_status("initech", TenantStatus::Suspended)
        .await;
    Callers {
        platform: app.platform_admin("root@tenantql.test").await,
        tenant_admin: app.token("alice@acme.test", Some("acme")).await,
        member: app.token("carol@acme.test", Some("acme")).await,
        other_tenant_admin: app.token("dave@globex.test", Some("globex")).await,
        suspended,
        member_key: app.api_key("acme", ApiKeyRole::Member).await,
        reader_key: app.api_key("acme", ApiKeyRole::Reader).await,
    }
}

/// The codes of an answer's errors.
fn codes(answer: &Answer) -> Vec<String> {
    answer.body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("-").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Refused for who the caller is (not for what the arguments name): the guards'
/// and the missing-token messages.
fn refused_by_guard(answer: &Answer) -> bool {
    answer.body["errors"].as_array().is_some_and(|errors| {
        errors.iter().any(|e| {
            let code = e["extensions"]["code"].as_str().unwrap_or("");
            let message = e["message"].as_str().unwrap_or("");
            matches!(code, "FORBIDDEN" | "UNAUTHENTICATED")
                && (message.starts_with("this operation") || message.starts_with("sign in first"))
        })
    })
}

#[tokio::test]
async fn every_field_declares_its_guard() {
    let app = TestApp::spawn().await;
    let who = callers(&app).await;
    let schema = introspect(&app, &who.platform).await;
    let docs = documents(&schema);

    let in_schema: Vec<&str> = docs.iter().map(|(name, _)| name.as_str()).collect();
    for name in &in_schema {
        assert!(
            POLICY.iter().any(|(field, _)| field == name),
            "root field `{name}` has no declared policy: give it a guard and list it in POLICY"
        );
    }
    for (field, _) in POLICY {
        assert!(
            in_schema.contains(field),
            "POLICY lists `{field}`, which the schema lacks"
        );
    }

    // Each guarded field refuses the caller just below its policy.
    for (name, document) in &docs {
        let policy = POLICY.iter().find(|(f, _)| f == name).unwrap().1;
        let below = match policy {
            // Below "signed in" is "no token", which the anonymous gate refuses
            // before any guard runs (the matrix test checks that for every field;
            // the SignedIn guard itself is unit-tested in `resolvers::guards`).
            Policy::Public | Policy::SignedIn | Policy::Session => continue,
            Policy::Member => &who.platform,
            Policy::TenantAdmin => &who.member,
            Policy::PlatformAdmin => &who.tenant_admin,
        };
        let answer = app.gql(document, json!({}), Some(below)).await;
        assert!(
            refused_by_guard(&answer),
            "`{name}` ran for a caller below {policy:?}: {:#}",
            answer.body
        );
    }
}

#[tokio::test]
async fn role_by_field_matrix() {
    let app = TestApp::spawn().await;
    let who = callers(&app).await;
    let schema = introspect(&app, &who.platform).await;
    let mut docs = documents(&schema);
    // `logout` signs each caller's token out: it goes last.
    docs.sort_by_key(|(name, _)| name == "logout");
    for (name, document) in docs {
        let policy = POLICY.iter().find(|(f, _)| *f == name).unwrap().1;
        if policy == Policy::Public {
            continue;
        }
        let is_mutation = document.starts_with("mutation");
        // (caller, token, allowed?)
        let rows: [(&str, Option<&str>, bool); 7] = [
            ("no token", None, false),
            (
                "platform admin",
                Some(&who.platform),
                matches!(
                    policy,
                    Policy::SignedIn | Policy::Session | Policy::PlatformAdmin
                ),
            ),
            (
                "tenant admin",
                Some(&who.tenant_admin),
                matches!(
                    policy,
                    Policy::SignedIn | Policy::Session | Policy::Member | Policy::TenantAdmin
                ),
            ),
            (
                "member",
                Some(&who.member),
                matches!(policy, Policy::SignedIn | Policy::Session | Policy::Member),
            ),
            (
                "admin of another tenant",
                Some(&who.other_tenant_admin),
                matches!(
                    policy,
                    Policy::SignedIn | Policy::Session | Policy::Member | Policy::TenantAdmin
                ),
            ),
            (
                "member API key",
                Some(&who.member_key),
                matches!(policy, Policy::SignedIn | Policy::Member),
            ),
            (
                "reader API key",
                Some(&who.reader_key),
                !is_mutation && matches!(policy, Policy::SignedIn | Policy::Member),
            ),
        ];
        for (caller, token, allowed) in rows {
            let answer = app.gql(&document, json!({}), token).await;
            if allowed {
                assert!(
                    !refused_by_guard(&answer),
                    "{caller} was refused `{name}`: {:#}",
                    answer.body
                );
            } else if token.is_none() {
                answer.assert_refused(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
            } else {
                assert_eq!(
                    codes(&answer),
                    ["FORBIDDEN"],
                    "{caller} on `{name}`: {:#}",
                    answer.body
                );
                assert!(
                    answer.body["data"].is_null(),
                    "{caller} on `{name}` got data"
                );
            }
        }
        // A suspended tenant's token is refused before any field runs.
        app.gql(&document, json!({}), Some(&who.suspended))
            .await
            .assert_refused(StatusCode::FORBIDDEN, "TENANT_SUSPENDED");
    }
}

#[tokio::test]
async fn an_acme_admin_never_reaches_globex() {
    let app = TestApp::spawn().await;
    let who = callers(&app).await;
    let globex = app.tenant_ref("globex").await;
    // Some globex activity for the audit log.
    let bob = app.token("bob@globex.test", Some("globex")).await;
    app.gql(ME, json!({}), Some(&bob)).await.assert_ok();
    let alice = &who.tenant_admin;

    let members = app
        .gql("{ tenantMembers { email role } }", json!({}), Some(alice))
        .await;
    let emails: Vec<&str> = members.assert_ok()["tenantMembers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["alice@acme.test", "carol@acme.test"]);

    // The audit log is acme's, whatever the filter asks for.
    for filter in [
        json!({}),
        json!({ "actor": "bob@globex.test" }),
        json!({ "actor": globex.id }),
    ] {
        let logs = app
            .gql(
                "query($f: AuditLogFilter) { auditLogs(filter: $f, first: 100) { edges { node { tenantSlug actorEmail } } } }",
                json!({ "f": filter }),
                Some(alice),
            )
            .await;
        for edge in logs.assert_ok()["auditLogs"]["edges"].as_array().unwrap() {
            assert_eq!(edge["node"]["tenantSlug"], "acme", "{filter}: {edge}");
        }
    }
    // A member whose membership was revoked is refused at the door; acme's admin sees it.
    let carol = app.token("carol@acme.test", Some("acme")).await;
    tenantql::admin::registry::revoke(
        &app.services,
        &tenantql::audit::Actor::cli("test"),
        "carol@acme.test",
        "acme",
    )
    .await
    .unwrap();
    app.gql(ME, json!({}), Some(&carol))
        .await
        .assert_refused(StatusCode::FORBIDDEN, "FORBIDDEN");
    // Request rows are written asynchronously (in batches): wait for it, bounded.
    let carol_row = users::get_by_email(&app.services.control.db, "carol@acme.test")
        .await
        .unwrap();
    let since = Instant::now();
    loop {
        let refusals = app
            .gql(
                "{ auditLogs(filter: { outcome: \"refused\" }) { edges { node { actorUserId errorCode tenantSlug } } } }",
                json!({}),
                Some(alice),
            )
            .await;
        let found = refusals.assert_ok()["auditLogs"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| {
                e["node"]["actorUserId"] == carol_row.id.as_str()
                    && e["node"]["errorCode"] == "FORBIDDEN"
            });
        if found {
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "the refusal never reached acme's audit log"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Time bounds select by when the row was written.
    let count = |from: &str, to: &str| {
        let (app, alice) = (&app, alice.clone());
        let filter = json!({ "from": from, "to": to });
        async move {
            let logs = app
                .gql(
                    "query($f: AuditLogFilter) { auditLogs(filter: $f, first: 100) { edges { node { at } } } }",
                    json!({ "f": filter }),
                    Some(&alice),
                )
                .await;
            logs.assert_ok()["auditLogs"]["edges"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    let hour = chrono::Duration::hours(1);
    let (past, now, future) = (
        chrono::Utc::now() - hour,
        chrono::Utc::now(),
        chrono::Utc::now() + hour,
    );
    assert!(count(&past.to_rfc3339(), &future.to_rfc3339()).await > 0);
    assert_eq!(count(&now.to_rfc3339(), &future.to_rfc3339()).await, 0);
    assert_eq!(
        count(&(past - hour).to_rfc3339(), &past.to_rfc3339()).await,
        0
    );
    // No argument names a tenant; globex's member is not acme's.
    let answer = app
        .gql(
            "{ tenantMembers(tenant: \"globex\") { email } }",
            json!({}),
            Some(alice),
        )
        .await;
    assert_eq!(answer.code(), "BAD_USER_INPUT");
    for mutation in [
        "mutation { changeMemberRole(email: \"bob@globex.test\", role: ADMIN) { email } }",
        "mutation { removeMember(email: \"bob@globex.test\") { email } }",
        "mutation { removeMember(email: \"dave@globex.test\") { email } }",
    ] {
        let answer = app.gql(mutation, json!({}), Some(alice)).await;
        assert_eq!(answer.code(), "NOT_FOUND", "{mutation}: {:#}", answer.body);
    }
    // Tenant settings and pool stats are platform-only.
    for query in [
        "{ tenant(slug: \"globex\") { slug poolStats { size } } }",
        "{ tenants { edges { node { slug } } } }",
        "{ platformAuditLogs { edges { node { id } } } }",
        "mutation { suspendTenant(slug: \"globex\") { slug } }",
        "mutation { updateTenant(slug: \"globex\", input: { name: \"x\" }) { slug } }",
    ] {
        let answer = app.gql(query, json!({}), Some(alice)).await;
        assert_eq!(answer.code(), "FORBIDDEN", "{query}");
    }
    // Removing a member from acme leaves their globex membership alone.
    app.add_user(
        "dan@both.test",
        &[("acme", MemberRole::Member), ("globex", MemberRole::Member)],
    )
    .await;
    app.gql(
        "mutation { removeMember(email: \"dan@both.test\") { email } }",
        json!({}),
        Some(alice),
    )
    .await
    .assert_ok();
    let db = &app.services.control.db;
    let dan = users::get_by_email(db, "dan@both.test").await.unwrap();
    let bob_row = users::get_by_email(db, "bob@globex.test").await.unwrap();
    assert!(memberships::find(db, &dan.id, &globex.id)
        .await
        .unwrap()
        .is_some());
    assert!(memberships::find(db, &bob_row.id, &globex.id)
        .await
        .unwrap()
        .is_some());
    let globex_row = tenants::get_by_slug(db, "globex").await.unwrap();
    assert_eq!(globex_row.status, TenantStatus::Active);
}

#[tokio::test]
async fn suspension_ends_a_held_token_within_the_bound_and_activation_restores_it() {
    const BOUND_SECS: u64 = 2;
    let a = TestApp::spawn_with(ControlDb::Sqlite, |c| {
        c.server.context_cache_secs = BOUND_SECS
    })
    .await;
    two_tenants(&a).await;
    let root = a.platform_admin("root@tenantql.test").await;
    // A second instance over the same control plane: it suspends, `a` must notice.
    let b = a.spawn_sibling(|_| {}).await;
    let alice = a.token("alice@acme.test", Some("acme")).await;
    a.gql(ME, json!({}), Some(&alice)).await.assert_ok();

    let suspend = b
        .gql(
            "mutation { suspendTenant(slug: \"acme\") { status } }",
            json!({}),
            Some(&root),
        )
        .await;
    assert_eq!(suspend.assert_ok()["suspendTenant"]["status"], "SUSPENDED");
    let since = Instant::now();
    let refused_after = loop {
        let answer = a.gql(ME, json!({}), Some(&alice)).await;
        if answer.status == StatusCode::FORBIDDEN {
            answer.assert_refused(StatusCode::FORBIDDEN, "TENANT_SUSPENDED");
            break since.elapsed();
        }
        answer.assert_ok();
        assert!(
            since.elapsed() < Duration::from_secs(10 * BOUND_SECS),
            "never suspended"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        refused_after <= Duration::from_millis(BOUND_SECS * 1000 + 500),
        "suspension took {refused_after:?}, over the {BOUND_SECS} s bound"
    );
    // On the instance that made the change it applies at once.
    b.gql(ME, json!({}), Some(&alice))
        .await
        .assert_refused(StatusCode::FORBIDDEN, "TENANT_SUSPENDED");

    b.gql(
        "mutation { activateTenant(slug: \"acme\") { status } }",
        json!({}),
        Some(&root),
    )
    .await
    .assert_ok();
    b.gql(ME, json!({}), Some(&alice)).await.assert_ok();
    let since = Instant::now();
    while a.gql(ME, json!({}), Some(&alice)).await.status != StatusCode::OK {
        assert!(
            since.elapsed() < Duration::from_secs(10 * BOUND_SECS),
            "never restored"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const TENANT_FIELDS: &str = "slug name status backend connectString dbUser dbPasswordSet configVersion poolLimits { maxSize minIdle acquireTimeoutMs } health poolStats { open size breaker }";

#[tokio::test]
async fn platform_admins_manage_tenants() {
    let app = TestApp::spawn_demo(200).await;
    let root = app.token("root@tenantql.test", None).await;
    let gql = |query: String, variables: Value| {
        let app = &app;
        let root = root.clone();
        async move { app.gql(&query, variables, Some(&root)).await }
    };

    // Slug rules and availability.
    for (slug, available) in [
        ("acme", false),
        ("initech", true),
        ("ab", false),
        ("admin", false),
    ] {
        let answer = gql(format!("{{ slugAvailable(slug: \"{slug}\") }}"), json!({})).await;
        assert_eq!(answer.assert_ok()["slugAvailable"], available, "{slug}");
    }
    let create = "mutation($i: CreateTenantInput!) { createTenant(input: $i) { slug configVersion dbPasswordSet } }";
    for (slug, code) in [
        ("ab", "BAD_USER_INPUT"),
        ("admin", "BAD_USER_INPUT"),
        ("acme", "CONFLICT"),
    ] {
        let answer = gql(
            create.into(),
            json!({ "i": { "slug": slug, "backend": "SQLITE", "connectString": "/tmp/x.db" } }),
        )
        .await;
        assert_eq!(answer.code(), code, "{slug}: {:#}", answer.body);
    }
    let created = gql(
        create.into(),
        json!({ "i": { "slug": "initech", "name": "Initech", "backend": "ORACLE",
                       "connectString": "127.0.0.1:9/NOPE", "dbUser": "erp",
                       "dbPassword": "first-db-secret-1" } }),
    )
    .await;
    assert_eq!(created.assert_ok()["createTenant"]["dbPasswordSet"], true);
    assert!(!created.body.to_string().contains("first-db-secret-1"));

    // Updating the connection bumps the config version; the name alone does not.
    let update = "mutation($s: String!, $i: UpdateTenantInput!) { updateTenant(slug: $s, input: $i) { name configVersion poolLimits { maxSize } } }";
    let renamed = gql(
        update.into(),
        json!({ "s": "initech", "i": { "name": "Initech Corp" } }),
    )
    .await;
    assert_eq!(renamed.assert_ok()["updateTenant"]["configVersion"], 1);
    let resized = gql(
        update.into(),
        json!({ "s": "initech", "i": { "poolLimits": { "maxSize": 3, "minIdle": 0, "acquireTimeoutMs": 800 } } }),
    )
    .await;
    assert_eq!(resized.assert_ok()["updateTenant"]["configVersion"], 2);
    let bad = gql(
        update.into(),
        json!({ "s": "initech", "i": { "poolLimits": { "maxSize": 0, "minIdle": 0, "acquireTimeoutMs": 800 } } }),
    )
    .await;
    assert_eq!(bad.code(), "BAD_USER_INPUT");

    // New credentials: sealed, never echoed, a new config version.
    let rotated = gql(
        "mutation { rotateTenantCredentials(slug: \"initech\", dbPassword: \"second-db-secret-2\") { configVersion dbPasswordSet } }".into(),
        json!({}),
    )
    .await;
    assert_eq!(
        rotated.assert_ok()["rotateTenantCredentials"]["configVersion"],
        3
    );
    assert!(!rotated.body.to_string().contains("second-db-secret-2"));

    // Connection tests: a working SQLite store, and an Oracle tenant that cannot work here.
    let ok = gql(
        "mutation { testTenantConnection(slug: \"acme\") { reachable latencyMs reason } }".into(),
        json!({}),
    )
    .await;
    assert_eq!(ok.assert_ok()["testTenantConnection"]["reachable"], true);
    let down = gql(
        "mutation { testTenantConnection(slug: \"initech\") { reachable reason } }".into(),
        json!({}),
    )
    .await;
    let down = &down.assert_ok()["testTenantConnection"];
    assert_eq!(down["reachable"], false);
    let reason = down["reason"].as_str().unwrap();
    assert!(
        !reason.contains("ORA-") && !reason.contains("DPI-"),
        "{reason}"
    );

    // Pool stats and health, reload.
    let alice = app.token("alice@acme.test", Some("acme")).await;
    app.gql("{ companies { id } }", json!({}), Some(&alice))
        .await
        .assert_ok();
    let details = gql(
        format!("{{ tenant(slug: \"acme\") {{ {TENANT_FIELDS} }} }}"),
        json!({}),
    )
    .await;
    let details = &details.assert_ok()["tenant"];
    assert_eq!(details["health"], "HEALTHY");
    assert_eq!(details["poolStats"]["open"], true);
    assert_eq!(details["poolStats"]["breaker"], "CLOSED");
    let reloaded = gql(
        "mutation { reloadTenantPool(slug: \"acme\") { configVersion poolStats { open } } }".into(),
        json!({}),
    )
    .await;
    assert_eq!(
        reloaded.assert_ok()["reloadTenantPool"]["poolStats"]["open"],
        false
    );
    app.gql("{ companies { id } }", json!({}), Some(&alice))
        .await
        .assert_ok();

    // A new signing key ends the tenant's tokens at once.
    gql(
        "mutation { rotateTenantSigningKey(slug: \"acme\") { kid } }".into(),
        json!({}),
    )
    .await
    .assert_ok();
    app.gql(ME, json!({}), Some(&alice))
        .await
        .assert_refused(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");

    // Listing, filtering, paging.
    let page = gql("{ tenants(first: 2) { edges { cursor node { slug } } pageInfo { hasNextPage endCursor } } }".into(), json!({})).await;
    let page = &page.assert_ok()["tenants"];
    let slugs: Vec<&str> = page["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["acme", "globex"]);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let next = gql(
        "query($a: String) { tenants(first: 2, after: $a) { edges { node { slug } } pageInfo { hasNextPage } } }".into(),
        json!({ "a": page["pageInfo"]["endCursor"] }),
    )
    .await;
    assert_eq!(
        next.assert_ok()["tenants"]["edges"][0]["node"]["slug"],
        "initech"
    );
    let oracle_only = gql(
        "{ tenants(filter: { backend: ORACLE }) { edges { node { slug } } } }".into(),
        json!({}),
    )
    .await;
    assert_eq!(
        oracle_only.assert_ok()["tenants"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Deleting needs the slug repeated; then the tenant's tokens end and the slug stays taken.
    let bob = app.token("bob@globex.test", Some("globex")).await;
    let wrong = gql(
        "mutation { deleteTenant(slug: \"globex\", confirm: \"acme\") { status } }".into(),
        json!({}),
    )
    .await;
    assert_eq!(wrong.code(), "BAD_USER_INPUT");
    app.gql(ME, json!({}), Some(&bob)).await.assert_ok();
    let deleted = gql(
        "mutation { deleteTenant(slug: \"globex\", confirm: \"globex\") { status deletedAt } }"
            .into(),
        json!({}),
    )
    .await;
    assert_eq!(deleted.assert_ok()["deleteTenant"]["status"], "DELETED");
    app.gql(ME, json!({}), Some(&bob))
        .await
        .assert_refused(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let available = gql("{ slugAvailable(slug: \"globex\") }".into(), json!({})).await;
    assert_eq!(available.assert_ok()["slugAvailable"], false);
    let listed = gql("{ tenants { edges { node { slug } } } }".into(), json!({})).await;
    assert!(!listed.body.to_string().contains("globex"));
    let shown = gql("{ tenant(slug: \"globex\") { status } }".into(), json!({})).await;
    assert_eq!(shown.assert_ok()["tenant"]["status"], "DELETED");
    let login = app
        .login("bob@globex.test", "tenantql-demo", Some("globex"))
        .await;
    assert_eq!(login.code(), "FORBIDDEN");

    // Every change left its audit row.
    let actions: Vec<String> = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.source == "graphql" && r.action.contains('.'))
        .map(|r| r.action)
        .collect();
    for action in [
        "tenant.create",
        "tenant.update",
        "tenant.rotate_credentials",
        "tenant.test_connection",
        "tenant.reload_pool",
        "key.rotate",
        "tenant.delete",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "no {action} row in {actions:?}"
        );
    }
}

#[tokio::test]
async fn a_failed_change_leaves_no_change_row() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let root = app.platform_admin("root@tenantql.test").await;
    let create = "mutation($i: CreateTenantInput!) { createTenant(input: $i) { slug } }";
    let duplicate = app
        .gql(
            create,
            json!({ "i": { "slug": "acme", "backend": "SQLITE", "connectString": "/tmp/a.db" } }),
            Some(&root),
        )
        .await;
    assert_eq!(duplicate.code(), "CONFLICT");
    let changes = |rows: &[tenantql::control::entities::audit_log::Model]| {
        rows.iter()
            .filter(|r| r.action == "tenant.create" && r.source == "graphql")
            .count()
    };
    assert_eq!(changes(&app.audit_rows().await), 0);
    app.gql(
        create,
        json!({ "i": { "slug": "initech", "backend": "SQLITE", "connectString": "/tmp/i.db" } }),
        Some(&root),
    )
    .await
    .assert_ok();
    let rows = app.audit_rows().await;
    assert_eq!(changes(&rows), 1);
    let row = rows
        .iter()
        .find(|r| r.action == "tenant.create" && r.source == "graphql")
        .unwrap();
    assert_eq!(row.actor_email.as_deref(), Some("root@tenantql.test"));
    assert_eq!(row.target.as_deref(), Some("initech"));
    assert!(row.request_id.is_some());
}

#[tokio::test]
async fn tenant_admins_manage_members() {
    members_contract(ControlDb::Sqlite).await;
}

#[tokio::test]
async fn tenant_admins_manage_members_on_postgres() {
    if crate::helpers::postgres_url().is_some() {
        members_contract(ControlDb::Postgres).await;
    }
}

async fn members_contract(db: ControlDb) {
    let (app, sink) = TestApp::spawn_with_mail(db).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let add = "mutation($e: String!, $r: MemberRole!) { addMember(email: $e, role: $r) { invitation { email role expiresAt } } }";
    let accept = "mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { email tenant role } }";
    let mailed_token = |address: &str| {
        sink.mails_to(address)
            .last()
            .and_then(|m| m.invitation_token())
            .expect("an invitation mail")
    };

    // A new address is invited by mail; the member exists once they accept.
    let added = app
        .gql(
            add,
            json!({ "e": "Frank@Acme.test", "r": "MEMBER" }),
            Some(&alice),
        )
        .await;
    let added = &added.assert_ok()["addMember"];
    assert_eq!(added["invitation"]["email"], "frank@acme.test");
    assert_eq!(added["invitation"]["role"], "MEMBER");
    let token = mailed_token("frank@acme.test");
    let login = app.login("frank@acme.test", "", Some("acme")).await;
    assert_eq!(login.code(), "UNAUTHENTICATED");
    let short = app
        .gql(accept, json!({ "t": token, "p": "short" }), None)
        .await;
    assert_eq!(short.code(), "BAD_USER_INPUT");
    let accepted = app
        .gql(accept, json!({ "t": token, "p": "frank-password-1" }), None)
        .await;
    assert_eq!(accepted.assert_ok()["acceptInvitation"]["tenant"], "acme");
    app.login("frank@acme.test", "frank-password-1", Some("acme"))
        .await
        .assert_ok();
    let again = app
        .gql(accept, json!({ "t": token, "p": "frank-password-2" }), None)
        .await;
    assert_eq!(again.code(), "BAD_USER_INPUT");

    // An existing account (of another tenant) is invited the same way; once it
    // has joined, inviting it again is a conflict.
    app.gql(
        add,
        json!({ "e": "bob@globex.test", "r": "MEMBER" }),
        Some(&alice),
    )
    .await
    .assert_ok();
    app.gql(
        accept,
        json!({ "t": mailed_token("bob@globex.test"), "p": "bob-password-1" }),
        None,
    )
    .await
    .assert_ok();
    let twice = app
        .gql(
            add,
            json!({ "e": "bob@globex.test", "r": "ADMIN" }),
            Some(&alice),
        )
        .await;
    assert_eq!(twice.code(), "CONFLICT");

    // The last admin can be neither demoted nor removed.
    let demote = app
        .gql(
            "mutation { changeMemberRole(email: \"alice@acme.test\", role: MEMBER) { role } }",
            json!({}),
            Some(&alice),
        )
        .await;
    assert_eq!(demote.code(), "CONFLICT");
    let remove = app
        .gql(
            "mutation { removeMember(email: \"alice@acme.test\") { email } }",
            json!({}),
            Some(&alice),
        )
        .await;
    assert_eq!(remove.code(), "CONFLICT");
    let promoted = app
        .gql(
            "mutation { changeMemberRole(email: \"frank@acme.test\", role: ADMIN) { role } }",
            json!({}),
            Some(&alice),
        )
        .await;
    assert_eq!(promoted.assert_ok()["changeMemberRole"]["role"], "ADMIN");
    app.gql(
        "mutation { changeMemberRole(email: \"alice@acme.test\", role: MEMBER) { role } }",
        json!({}),
        Some(&alice),
    )
    .await
    .assert_ok();
    // Alice is a member now: her next request acts with that role.
    let answer = app
        .gql("{ tenantMembers { email } }", json!({}), Some(&alice))
        .await;
    assert_eq!(answer.code(), "FORBIDDEN");

    let rows = app.audit_rows().await;
    for action in [
        "member.invite",
        "member.accept_invitation",
        "member.change_role",
    ] {
        assert!(rows.iter().any(|r| r.action == action), "no {action} row");
    }
    assert!(rows.iter().all(|r| !r
        .details
        .clone()
        .unwrap_or_default()
        .contains("frank-password")));
}
