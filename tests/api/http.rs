//! The HTTP surface: GraphQL-over-HTTP details, probes, GraphiQL, JWKS, request ids.
use jsonwebtoken::{DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{two_tenants, ControlDb, TestApp, ME};

#[tokio::test]
async fn health_ready_and_graphiql() {
    let app = TestApp::spawn().await;
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready");
    let page = app.client.get(app.url("/graphiql")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("/graphql"));
}

#[tokio::test]
async fn ready_fails_when_the_control_plane_is_gone() {
    let app = TestApp::spawn().await;
    app.services.control.db.clone().close().await.unwrap();
    let ready = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn jwks_verifies_issued_tokens() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let token = app.token("alice@acme.test", Some("acme")).await;
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    let jwks: Value = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3, "platform + two tenants: {jwks:#}");
    assert!(
        keys.iter().all(|k| k.get("d").is_none()),
        "no private parts in the JWKS"
    );
    let key = keys.iter().find(|k| k["kid"] == kid.as_str()).unwrap();
    let decoding = DecodingKey::from_ed_components(key["x"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&["tenantql"]);
    let claims = jsonwebtoken::decode::<Value>(&token, &decoding, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["tenant"], "acme");
    for claim in [
        "sub", "tenant", "role", "exp", "iat", "nbf", "aud", "iss", "jti",
    ] {
        assert!(claims.get(claim).is_some(), "token lacks {claim}: {claims}");
    }
}

#[tokio::test]
async fn get_runs_queries_and_refuses_mutations() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let token = app.token("alice@acme.test", Some("acme")).await;
    // Any web page can make a browser send a GET: it needs a header that only
    // a preflighted request can carry.
    let unmarked = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", ME)])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    TestApp::answer(unmarked)
        .await
        .assert_refused(StatusCode::BAD_REQUEST, "PREFLIGHT_REQUIRED");
    let response = app
        .client
        .get(app.url("/graphql"))
        .header("apollo-require-preflight", "true")
        .query(&[("query", ME)])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let answer = TestApp::answer(response).await;
    assert_eq!(answer.assert_ok()["me"]["email"], "alice@acme.test");
    let named = app
        .client
        .get(app.url("/graphql"))
        .header("x-apollo-operation-name", "Me")
        .query(&[("query", ME)])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    TestApp::answer(named).await.assert_ok();

    let mutation = "mutation { selectTenant(tenant: \"acme\") { token } }";
    let response = app
        .client
        .get(app.url("/graphql"))
        .header("apollo-require-preflight", "true")
        .query(&[("query", mutation)])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
}

#[tokio::test]
async fn graphql_response_json_follows_the_spec() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let token = app.token("alice@acme.test", Some("acme")).await;
    let post = |query: &str| {
        app.client
            .post(app.url("/graphql"))
            .header("accept", "application/graphql-response+json")
            .bearer_auth(&token)
            .json(&json!({ "query": query }))
            .send()
    };
    let ok = post(ME).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/graphql-response+json"));

    for broken in ["{ me { email ", "{ noSuchField }"] {
        let answer = TestApp::answer(post(broken).await.unwrap()).await;
        answer.assert_refused(StatusCode::BAD_REQUEST, "BAD_USER_INPUT");
    }

    // Legacy application/json: a validation error still answers 200.
    let legacy = app.gql("{ noSuchField }", json!({}), Some(&token)).await;
    assert_eq!(legacy.status, StatusCode::OK);
    assert_eq!(legacy.code(), "BAD_USER_INPUT");
}

#[tokio::test]
async fn bad_requests_get_clear_statuses() {
    let app = TestApp::spawn_with(ControlDb::Sqlite, |c| c.server.body_limit_bytes = 4096).await;
    let not_acceptable = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "text/html")
        .json(&json!({ "query": ME }))
        .send()
        .await
        .unwrap();
    assert_eq!(not_acceptable.status(), StatusCode::NOT_ACCEPTABLE);

    let wrong_type = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "text/plain")
        .body("{ me { email } }")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let not_json = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body("{ this is not json")
        .send()
        .await
        .unwrap();
    TestApp::answer(not_json)
        .await
        .assert_refused(StatusCode::BAD_REQUEST, "BAD_USER_INPUT");

    let huge = format!("{{ __typename # {} }}", "x".repeat(10_000));
    let too_large = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": huge }))
        .send()
        .await
        .unwrap();
    TestApp::answer(too_large)
        .await
        .assert_refused(StatusCode::PAYLOAD_TOO_LARGE, "BAD_USER_INPUT");
}

#[tokio::test]
async fn query_depth_is_limited() {
    let app = TestApp::spawn_with(ControlDb::Sqlite, |c| c.server.query_depth_limit = 2).await;
    two_tenants(&app).await;
    let token = app.token("alice@acme.test", Some("acme")).await;
    let answer = app
        .gql("{ myTenants { tenant { slug } } }", json!({}), Some(&token))
        .await;
    assert_eq!(answer.code(), "BAD_USER_INPUT", "{:#}", answer.body);
}

#[tokio::test]
async fn request_ids_are_echoed_and_attached_to_errors() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("x-request-id", "client-chosen-id-42")
        .json(&json!({ "query": ME }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "client-chosen-id-42");
    let answer = TestApp::answer(response).await;
    assert_eq!(
        answer.body["errors"][0]["extensions"]["requestId"],
        "client-chosen-id-42"
    );

    // An id that could forge log lines is replaced by a generated one.
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("x-request-id", "bad id with spaces")
        .json(&json!({ "query": ME }))
        .send()
        .await
        .unwrap();
    let echoed = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(echoed, "bad id with spaces");
    let answer = TestApp::answer(response).await;
    assert_eq!(
        answer.body["errors"][0]["extensions"]["requestId"],
        echoed.as_str()
    );
}

#[tokio::test]
async fn shuts_down_gracefully() {
    let app = TestApp::spawn().await;
    let addr = app.addr;
    app.stop().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed after shutdown"
    );
}
