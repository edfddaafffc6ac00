//! Every way a token can be wrong is refused with 401 / UNAUTHENTICATED and no
//! data; every way its user, tenant or membership can stop qualifying is refused
//! with its own code.
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tenantql::admin::registry;
use tenantql::audit::Actor;
use tenantql::control::{entities::tenant::TenantStatus, tenants};

use crate::helpers::{two_tenants, TestApp, ME};

fn now() -> u64 {
    chrono::Utc::now().timestamp() as u64
}

/// Valid claims for alice in acme; tests change one thing at a time.
async fn alice_claims(app: &TestApp) -> Value {
    let alice = tenantql::control::users::get_by_email(&app.services.control.db, "alice@acme.test")
        .await
        .unwrap();
    json!({
        "sub": alice.id, "tenant": "acme", "role": "admin",
        "exp": now() + 600, "iat": now(), "nbf": now(),
        "aud": "tenantql", "iss": "tenantql", "jti": "test-jti",
    })
}

/// Signs `claims` with the real signing key of `tenant_slug` (or the platform).
async fn sign(app: &TestApp, tenant_slug: Option<&str>, claims: &Value) -> String {
    let tenant_id = match tenant_slug {
        Some(slug) => Some(
            tenants::get_by_slug(&app.services.control.db, slug)
                .await
                .unwrap()
                .id,
        ),
        None => None,
    };
    let key = app
        .services
        .tokens
        .keyring()
        .signing_key(tenant_id.as_deref())
        .await
        .unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

async fn kid_and_public_key(app: &TestApp, slug: &str) -> (String, Vec<u8>) {
    let tenant = tenants::get_by_slug(&app.services.control.db, slug)
        .await
        .unwrap();
    let key = app
        .services
        .tokens
        .keyring()
        .signing_key(Some(&tenant.id))
        .await
        .unwrap();
    let jwks = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    let jwks: Value = jwks.json().await.unwrap();
    let x = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == key.kid.as_str())
        .expect("tenant key is published")["x"]
        .as_str()
        .unwrap()
        .to_string();
    (key.kid.clone(), URL_SAFE_NO_PAD.decode(x).unwrap())
}

async fn assert_unauthenticated(app: &TestApp, token: &str) {
    let answer = app.gql(ME, json!({}), Some(token)).await;
    answer.assert_refused(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let challenge = answer
        .headers
        .get("www-authenticate")
        .expect("401 carries a challenge");
    assert!(challenge.to_str().unwrap().starts_with("Bearer"));
}

#[tokio::test]
async fn a_valid_token_answers_me() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let token = sign(&app, Some("acme"), &alice_claims(&app).await).await;
    let data = app
        .gql(ME, json!({}), Some(&token))
        .await
        .assert_ok()
        .clone();
    assert_eq!(
        data["me"],
        json!({ "email": "alice@acme.test", "role": "ADMIN", "tenant": { "slug": "acme" } })
    );
}

#[tokio::test]
async fn malformed_headers_and_tokens() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    for token in [
        "",
        "not-a-jwt",
        "a.b.c",
        "eyJhbGciOiJFZERTQSJ9.e30.",
        &"x".repeat(5000),
    ] {
        let response = app
            .client
            .post(app.url("/graphql"))
            .header("authorization", format!("Bearer {token}"))
            .json(&json!({ "query": ME }))
            .send()
            .await
            .unwrap();
        TestApp::answer(response)
            .await
            .assert_refused(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    let valid = sign(&app, Some("acme"), &alice_claims(&app).await).await;
    let basic = app
        .client
        .post(app.url("/graphql"))
        .header("authorization", format!("Basic {valid}"))
        .json(&json!({ "query": ME }))
        .send()
        .await
        .unwrap();
    TestApp::answer(basic)
        .await
        .assert_refused(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}

#[tokio::test]
async fn tampered_payload_is_refused() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let token = sign(&app, Some("acme"), &alice_claims(&app).await).await;
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["role"] = json!("platform_admin");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap()),
        parts[2]
    );
    assert_unauthenticated(&app, &forged).await;
}

#[tokio::test]
async fn alg_none_is_refused() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let (kid, _) = kid_and_public_key(&app, "acme").await;
    let header = json!({ "alg": "none", "typ": "JWT", "kid": kid });
    let claims = alice_claims(&app).await;
    for signature in ["", "c2lnbmF0dXJl"] {
        let token = format!(
            "{}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        assert_unauthenticated(&app, &token).await;
    }
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let (kid, public_key) = kid_and_public_key(&app, "acme").await;
    let claims = alice_claims(&app).await;
    let encoded_x = URL_SAFE_NO_PAD.encode(&public_key);
    for secret in [public_key.as_slice(), encoded_x.as_bytes()] {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.clone());
        let token =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap();
        assert_unauthenticated(&app, &token).await;
    }
}

#[tokio::test]
async fn expired_and_not_yet_valid_are_refused() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let mut expired = alice_claims(&app).await;
    expired["iat"] = json!(now() - 7200);
    expired["nbf"] = json!(now() - 7200);
    expired["exp"] = json!(now() - 3600);
    assert_unauthenticated(&app, &sign(&app, Some("acme"), &expired).await).await;

    let mut early = alice_claims(&app).await;
    early["nbf"] = json!(now() + 3600);
    early["exp"] = json!(now() + 7200);
    let answer = app
        .gql(ME, json!({}), Some(&sign(&app, Some("acme"), &early).await))
        .await;
    answer.assert_refused(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert_eq!(answer.message(), "token is not valid yet");
}

#[tokio::test]
async fn wrong_audience_issuer_or_missing_claims_are_refused() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    for (claim, value) in [
        ("aud", json!("someone-else")),
        ("iss", json!("evil-issuer")),
        ("aud", json!(["tenantql", "x"])),
    ] {
        let mut claims = alice_claims(&app).await;
        claims[claim] = value;
        assert_unauthenticated(&app, &sign(&app, Some("acme"), &claims).await).await;
    }
    for missing in ["exp", "nbf", "iat", "aud", "iss", "sub"] {
        let mut claims = alice_claims(&app).await;
        claims.as_object_mut().unwrap().remove(missing);
        assert_unauthenticated(&app, &sign(&app, Some("acme"), &claims).await).await;
    }
}

#[tokio::test]
async fn one_tenants_key_cannot_vouch_for_another() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let carol = tenantql::control::users::get_by_email(&app.services.control.db, "carol@acme.test")
        .await
        .unwrap();
    // carol really is a member of globex, but acme's key must not sign for globex.
    let mut claims = alice_claims(&app).await;
    claims["sub"] = json!(carol.id);
    claims["tenant"] = json!("globex");
    claims["role"] = json!("member");
    let answer = app
        .gql(
            ME,
            json!({}),
            Some(&sign(&app, Some("acme"), &claims).await),
        )
        .await;
    answer.assert_refused(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert!(
        answer.message().contains("does not belong"),
        "{}",
        answer.message()
    );

    // Nor may a tenant key sign a platform token, or the platform key a tenant token.
    let mut platform = alice_claims(&app).await;
    platform.as_object_mut().unwrap().remove("tenant");
    platform["role"] = json!("platform_admin");
    assert_unauthenticated(&app, &sign(&app, Some("acme"), &platform).await).await;
    assert_unauthenticated(&app, &sign(&app, None, &alice_claims(&app).await).await).await;
}

#[tokio::test]
async fn rotating_a_key_ends_its_tokens_at_once() {
    // With the caches on: a rotation must still end the old tokens at once.
    let app = TestApp::spawn_with(crate::helpers::ControlDb::Sqlite, |c| {
        c.server.context_cache_secs = 30
    })
    .await;
    two_tenants(&app).await;
    let old = app.token("alice@acme.test", Some("acme")).await;
    let globex = app.token("bob@globex.test", Some("globex")).await;
    app.gql(ME, json!({}), Some(&old)).await.assert_ok();
    registry::rotate_signing_key(&app.services, &Actor::cli("test"), Some("acme"))
        .await
        .unwrap();
    assert_unauthenticated(&app, &old).await;
    let fresh = app.token("alice@acme.test", Some("acme")).await;
    app.gql(ME, json!({}), Some(&fresh)).await.assert_ok();
    // Another tenant's tokens are untouched.
    app.gql(ME, json!({}), Some(&globex)).await.assert_ok();
}

#[tokio::test]
async fn suspended_tenant_answers_tenant_suspended() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let bob = app.token("bob@globex.test", Some("globex")).await;
    app.set_tenant_status("acme", TenantStatus::Suspended).await;
    app.gql(ME, json!({}), Some(&alice))
        .await
        .assert_refused(StatusCode::FORBIDDEN, "TENANT_SUSPENDED");
    app.gql(ME, json!({}), Some(&bob)).await.assert_ok();
    app.set_tenant_status("acme", TenantStatus::Active).await;
    app.gql(ME, json!({}), Some(&alice)).await.assert_ok();
}

#[tokio::test]
async fn revoked_membership_answers_forbidden() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let carol_acme = app.token("carol@acme.test", Some("acme")).await;
    let carol_globex = app.token("carol@acme.test", Some("globex")).await;
    assert!(registry::revoke(
        &app.services,
        &Actor::cli("test"),
        "carol@acme.test",
        "acme"
    )
    .await
    .unwrap());
    app.gql(ME, json!({}), Some(&carol_acme))
        .await
        .assert_refused(StatusCode::FORBIDDEN, "FORBIDDEN");
    app.gql(ME, json!({}), Some(&carol_globex))
        .await
        .assert_ok();
}

#[tokio::test]
async fn role_changes_apply_to_existing_tokens() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let token = app.token("carol@acme.test", Some("acme")).await;
    registry::grant(
        &app.services,
        &Actor::cli("test"),
        "carol@acme.test",
        "acme",
        tenantql::control::entities::membership::MemberRole::Admin,
    )
    .await
    .unwrap();
    let data = app
        .gql(ME, json!({}), Some(&token))
        .await
        .assert_ok()
        .clone();
    assert_eq!(data["me"]["role"], "ADMIN");
}

#[tokio::test]
async fn disabled_user_is_unauthenticated() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let token = app.token("alice@acme.test", Some("acme")).await;
    registry::set_user_disabled(&app.services, &Actor::cli("test"), "alice@acme.test", true)
        .await
        .unwrap();
    assert_unauthenticated(&app, &token).await;
    let login = app
        .login("alice@acme.test", crate::helpers::PASSWORD, Some("acme"))
        .await;
    assert_eq!(login.code(), "UNAUTHENTICATED");
    assert!(login.body["data"].is_null());
}

#[tokio::test]
async fn a_cached_context_still_sees_suspension_after_the_bound() {
    // With the cache on, a suspension made by another process may lag by at most
    // `context_cache_secs`; one made through this process applies at once.
    let app = TestApp::spawn_with(crate::helpers::ControlDb::Sqlite, |c| {
        c.server.context_cache_secs = 30
    })
    .await;
    two_tenants(&app).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    app.gql(ME, json!({}), Some(&alice)).await.assert_ok();
    app.set_tenant_status("acme", TenantStatus::Suspended).await;
    app.gql(ME, json!({}), Some(&alice))
        .await
        .assert_refused(StatusCode::FORBIDDEN, "TENANT_SUSPENDED");
    app.set_tenant_status("acme", TenantStatus::Active).await;
    app.gql(ME, json!({}), Some(&alice)).await.assert_ok();

    // Another instance suspends acme: this one's cached answer stands until it expires.
    let row = tenants::get_by_slug(&app.services.control.db, "acme")
        .await
        .unwrap();
    tenants::set_status(&app.services.control.db, row, TenantStatus::Suspended)
        .await
        .unwrap();
    app.gql(ME, json!({}), Some(&alice)).await.assert_ok();
    app.services.contexts.forget_all();
    app.gql(ME, json!({}), Some(&alice))
        .await
        .assert_refused(StatusCode::FORBIDDEN, "TENANT_SUSPENDED");
}

/// How long until `app` refuses `token` (None: still accepted after `bound`).
async fn refused_within(
    app: &TestApp,
    token: &str,
    bound: std::time::Duration,
) -> Option<std::time::Duration> {
    let started = std::time::Instant::now();
    while started.elapsed() < bound {
        let answer = app.gql(ME, json!({}), Some(token)).await;
        if answer.status == StatusCode::UNAUTHORIZED {
            assert_eq!(answer.code(), "UNAUTHENTICATED");
            assert!(answer.message().contains("signed out"), "{:#}", answer.body);
            return Some(started.elapsed());
        }
        answer.assert_ok();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    None
}

async fn logout(app: &TestApp, token: &str) {
    let answer = app.gql("mutation { logout }", json!({}), Some(token)).await;
    assert_eq!(answer.assert_ok()["logout"], true);
}

#[tokio::test]
async fn logout_ends_the_token_on_every_instance_and_only_that_token() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let sibling = app.spawn_sibling(|_| {}).await;
    let signed_out = app.token("alice@acme.test", Some("acme")).await;
    let other = app.token("alice@acme.test", Some("acme")).await;
    let mut ws = sibling.ws(&signed_out).await;

    logout(&app, &signed_out).await;
    // At once here; on the sibling (no Redis) within its poll of the control plane.
    let answer = app.gql(ME, json!({}), Some(&signed_out)).await;
    answer.assert_refused(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let lag = refused_within(&sibling, &signed_out, std::time::Duration::from_secs(5)).await;
    assert!(
        lag.is_some(),
        "the sibling still accepts a signed-out token"
    );
    let (code, reason) = ws.closed().await;
    assert_eq!(code, 4401, "{reason}");
    // The user's other token is untouched; signing out twice is refused (the token is gone).
    app.gql(ME, json!({}), Some(&other)).await.assert_ok();
    let again = app
        .gql("mutation { logout }", json!({}), Some(&signed_out))
        .await;
    again.assert_refused(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");

    // A restarted instance still refuses it (the revocation is in the control plane).
    let restarted = app.spawn_sibling(|_| {}).await;
    restarted
        .gql(ME, json!({}), Some(&signed_out))
        .await
        .assert_refused(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}

#[tokio::test]
async fn with_redis_a_logout_reaches_the_other_instances_at_once() {
    let Some(redis) = crate::helpers::RedisServer::start().await else {
        return;
    };
    let url = redis.url();
    let app = TestApp::spawn_with(crate::helpers::ControlDb::Sqlite, |c| {
        c.server.redis_url = Some(url.clone());
        // Without Redis the sibling would need this long to notice.
        c.server.context_cache_secs = 30;
    })
    .await;
    two_tenants(&app).await;
    let sibling = app.spawn_sibling(|_| {}).await;
    let token = app.token("alice@acme.test", Some("acme")).await;
    sibling.gql(ME, json!({}), Some(&token)).await.assert_ok();
    logout(&app, &token).await;
    let lag = refused_within(&sibling, &token, std::time::Duration::from_secs(2)).await;
    assert!(
        lag.is_some_and(|lag| lag < std::time::Duration::from_secs(1)),
        "{lag:?}"
    );
}
