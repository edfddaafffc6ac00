//! API keys of machine clients: made by tenant admins (GraphQL and CLI), shown
//! once, scoped to their tenant and role, refused when altered, revoked or
//! expired, rotated with an overlap, audited as their own actor.
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use tenantql::control::entities::api_key;

use crate::helpers::{ok, tenantql, two_tenants, TestApp, ME};

const CREATE: &str = "mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { key apiKey { id name role status prefix createdBy expiresAt lastUsedAt } } }";

async fn create(app: &TestApp, admin: &str, input: Value) -> (String, Value) {
    let answer = app
        .gql(CREATE, json!({ "input": input }), Some(admin))
        .await;
    let created = &answer.assert_ok()["createApiKey"];
    (
        created["key"].as_str().unwrap().to_string(),
        created["apiKey"].clone(),
    )
}

#[tokio::test]
async fn a_tenant_admin_makes_a_key_that_acts_only_in_its_tenant_and_role() {
    let app = TestApp::spawn_demo(20).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let carol = app.token("carol@acme.test", Some("acme")).await;

    let (key, shown) = create(
        &app,
        &alice,
        json!({ "name": "Power BI", "role": "READER" }),
    )
    .await;
    let id = shown["id"].as_str().unwrap();
    assert!(key.starts_with(&format!("tqk_{id}_")), "{key}");
    assert_eq!(shown["prefix"], format!("tqk_{id}_"));
    assert_eq!(shown["status"], "ACTIVE");
    assert_eq!(shown["createdBy"], "alice@acme.test");
    let listed = app
        .gql("{ apiKeys { id name role } }", json!({}), Some(&alice))
        .await;
    let listed = listed.assert_ok()["apiKeys"].to_string();
    assert!(
        listed.contains("Power BI") && !listed.contains(&key[20..]),
        "{listed}"
    );
    let refused = app
        .gql(CREATE, json!({ "input": { "name": "x" } }), Some(&carol))
        .await;
    assert_eq!(refused.code(), "FORBIDDEN");

    // The tenant comes from the key's record: there is nothing to choose.
    let me = app.gql(ME, json!({}), Some(&key)).await;
    let me = me.assert_ok()["me"].clone();
    assert_eq!(me["tenant"]["slug"], "acme");
    assert_eq!(me["role"], "MEMBER");
    assert_eq!(me["email"], format!("apikey:{id}"));
    assert_eq!(app.companies(&key).await, app.companies(&alice).await);
    let bob = app.token("bob@globex.test", Some("globex")).await;
    let globex_key = app
        .api_key(
            "globex",
            tenantql::control::entities::api_key::ApiKeyRole::Member,
        )
        .await;
    assert_eq!(app.companies(&globex_key).await, app.companies(&bob).await);
    assert_ne!(app.companies(&globex_key).await, app.companies(&key).await);

    // A reader reads, and writes nothing.
    let write = app
        .gql(
            "mutation { createInvoice(input: { companyId: \"x\", partnerId: \"y\", issueDate: \"2026-01-01\", dueDate: \"2026-02-01\", netAmount: \"1.00\", vatAmount: \"0.00\" }) { id } }",
            json!({}),
            Some(&key),
        )
        .await;
    assert_eq!(write.code(), "FORBIDDEN", "{:#}", write.body);
    assert!(write.message().contains("reader"), "{}", write.message());
    // A key is no session.
    for session in [
        "mutation { logout }",
        "mutation { selectTenant(tenant: \"acme\") { token } }",
    ] {
        let answer = app.gql(session, json!({}), Some(&key)).await;
        assert_eq!(answer.code(), "FORBIDDEN", "{session}: {:#}", answer.body);
    }
    // Over the WebSocket too.
    let mut ws = app.ws(&key).await;
    ws.subscribe("1", ME, json!({})).await;
    assert_eq!(
        ws.next_of("1").await["data"]["me"]["tenant"]["slug"],
        "acme"
    );

    // Its use is recorded (at most once a minute) and audited with the key as actor.
    let since = Instant::now();
    loop {
        let row = api_key::Entity::find_by_id(id)
            .one(&app.services.control.db)
            .await
            .unwrap()
            .unwrap();
        if row.last_used_at.is_some() {
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "last use never recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rows = app.audit_rows_after_stop().await;
    let by_key = rows
        .iter()
        .filter(|r| r.actor_user_id.as_deref() == Some(&format!("apikey:{id}")))
        .count();
    assert!(by_key >= 5, "{by_key} rows name the key");
    let created = rows
        .iter()
        .find(|r| r.action == "api_key.create" && r.target.as_deref() == Some(id))
        .expect("the creation is audited");
    assert_eq!(created.actor_email.as_deref(), Some("alice@acme.test"));
    assert_eq!(created.tenant_slug.as_deref(), Some("acme"));
    assert!(
        rows.iter()
            .all(|r| !r.details.as_deref().unwrap_or("").contains(&key[20..])
                && !r.variables.as_deref().unwrap_or("").contains(&key[20..])),
        "the key's secret reached the audit log"
    );
}

#[tokio::test]
async fn altered_unknown_revoked_and_expired_keys_are_refused() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let (key, shown) = create(&app, &alice, json!({ "name": "export" })).await;
    let id = shown["id"].as_str().unwrap().to_string();
    app.gql(ME, json!({}), Some(&key)).await.assert_ok();

    let refused = |answer: crate::helpers::Answer, says: &str| {
        answer.assert_refused(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
        assert!(answer.message().contains(says), "{}", answer.message());
    };
    let mut altered = key.clone().into_bytes();
    let at = altered.len() - 10;
    altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    refused(app.gql(ME, json!({}), Some(&altered)).await, "checksum");
    let unknown = tenantql::auth::api_keys::generate();
    refused(
        app.gql(ME, json!({}), Some(unknown.key.expose_secret()))
            .await,
        "not valid",
    );
    // A JWT where a key is expected, a key where a JWT is.
    refused(
        app.gql(ME, json!({}), Some(&format!("tqk_{alice}"))).await,
        "not a tenantql API key",
    );
    let as_jwt = key.trim_start_matches("tqk_");
    app.gql(ME, json!({}), Some(as_jwt))
        .await
        .assert_refused(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");

    // Expired: the row's end moved into the past.
    let (short, shown) = create(&app, &alice, json!({ "name": "short", "expiresInDays": 1 })).await;
    let row = api_key::Entity::find_by_id(shown["id"].as_str().unwrap())
        .one(&app.services.control.db)
        .await
        .unwrap()
        .unwrap();
    let mut active: api_key::ActiveModel = row.into();
    active.expires_at = Set(chrono::Utc::now() - chrono::Duration::minutes(1));
    active.update(&app.services.control.db).await.unwrap();
    refused(app.gql(ME, json!({}), Some(&short)).await, "expired");
    // Beyond the operator's maximum, or never expiring, is not a key.
    for days in [366, 0] {
        let input = json!({ "input": { "name": "x", "expiresInDays": days } });
        let refused = app.gql(CREATE, input, Some(&alice)).await;
        assert_eq!(refused.code(), "BAD_USER_INPUT", "{days} days");
    }

    // Revoked: refused at once; another tenant's admin cannot even find it.
    let dave = {
        app.add_user(
            "dave@globex.test",
            &[(
                "globex",
                tenantql::control::entities::membership::MemberRole::Admin,
            )],
        )
        .await;
        app.token("dave@globex.test", Some("globex")).await
    };
    let revoke = "mutation($id: ID!) { revokeApiKey(id: $id) { status revokedAt } }";
    let theirs = app.gql(revoke, json!({ "id": id }), Some(&dave)).await;
    assert_eq!(theirs.code(), "NOT_FOUND", "{:#}", theirs.body);
    app.gql(ME, json!({}), Some(&key)).await.assert_ok();
    let revoked = app.gql(revoke, json!({ "id": id }), Some(&alice)).await;
    assert_eq!(revoked.assert_ok()["revokeApiKey"]["status"], "REVOKED");
    refused(app.gql(ME, json!({}), Some(&key)).await, "revoked");
}

#[tokio::test]
async fn a_rotated_key_overlaps_its_successor_for_the_window_given() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let (old, shown) = create(&app, &alice, json!({ "name": "sync", "role": "READER" })).await;
    let old_id = shown["id"].as_str().unwrap().to_string();
    let rotate = "mutation($id: ID!, $h: Int) { rotateApiKey(id: $id, overlapHours: $h) {
        key apiKey { id name role rotatedFrom } } }";
    let answer = app
        .gql(rotate, json!({ "id": old_id, "h": 2 }), Some(&alice))
        .await;
    let rotated = answer.assert_ok()["rotateApiKey"].clone();
    let new = rotated["key"].as_str().unwrap().to_string();
    assert_eq!(rotated["apiKey"]["rotatedFrom"], old_id);
    assert_eq!(rotated["apiKey"]["name"], "sync");
    assert_eq!(rotated["apiKey"]["role"], "READER");
    app.gql(ME, json!({}), Some(&old)).await.assert_ok();
    app.gql(ME, json!({}), Some(&new)).await.assert_ok();
    let listed = app
        .gql("{ apiKeys { id expiresAt } }", json!({}), Some(&alice))
        .await;
    let keys = listed.assert_ok()["apiKeys"].as_array().unwrap().clone();
    let old_row = keys.iter().find(|k| k["id"] == old_id.as_str()).unwrap();
    let ends: chrono::DateTime<chrono::Utc> =
        old_row["expiresAt"].as_str().unwrap().parse().unwrap();
    let left = ends - chrono::Utc::now();
    assert!(
        left <= chrono::Duration::hours(2) && left > chrono::Duration::minutes(119),
        "the old key ends in {left}"
    );
    // No overlap: the old key stops at once.
    let new_id = rotated["apiKey"]["id"].as_str().unwrap();
    let again = app
        .gql(rotate, json!({ "id": new_id, "h": 0 }), Some(&alice))
        .await;
    let newest = again.assert_ok()["rotateApiKey"]["key"]
        .as_str()
        .unwrap()
        .to_string();
    app.gql(ME, json!({}), Some(&new))
        .await
        .assert_refused(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    app.gql(ME, json!({}), Some(&newest)).await.assert_ok();
    let too_long = app
        .gql(rotate, json!({ "id": new_id, "h": 500 }), Some(&alice))
        .await;
    assert_eq!(too_long.code(), "BAD_USER_INPUT");
}

#[tokio::test]
async fn an_operator_makes_lists_and_revokes_keys_on_the_command_line() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let data_dir = app.config.control.data_dir.clone();
    let output = tenantql(
        &data_dir,
        &[
            "api-key",
            "create",
            "--tenant",
            "globex",
            "--name",
            "nightly export",
            "--expires-in-days",
            "30",
        ],
        None,
    );
    let key = ok(output).trim().to_string();
    assert!(key.starts_with("tqk_"), "{key}");
    let me = app.gql(ME, json!({}), Some(&key)).await;
    assert_eq!(me.assert_ok()["me"]["tenant"]["slug"], "globex");
    let id = &key[4..16];
    let listed = ok(tenantql(
        &data_dir,
        &["api-key", "list", "--tenant", "globex"],
        None,
    ));
    assert!(
        listed.contains(id) && listed.contains("nightly export") && !listed.contains(&key[17..]),
        "{listed}"
    );
    let refused = tenantql(
        &data_dir,
        &[
            "api-key",
            "create",
            "--tenant",
            "globex",
            "--name",
            "x",
            "--expires-in-days",
            "400",
        ],
        None,
    );
    assert!(!refused.status.success());
    ok(tenantql(
        &data_dir,
        &["api-key", "revoke", "--tenant", "globex", id],
        None,
    ));
    app.gql(ME, json!({}), Some(&key))
        .await
        .assert_refused(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}
