//! Hostile input from outside: each document or input below is answered at
//! once with a stable code, and the server answers the next request as before.
//! Work is bounded by counts the server checks before it walks anything (the
//! messages name the limit that refused), never by wall-clock time here.
use reqwest::StatusCode;
use serde_json::{json, Value};

use tenantql::schema::fuzz::fragment_bomb;

use crate::helpers::{two_tenants, TestApp, ME};

/// `{ me @skip(if: [[[…true…]]]) { email } }`: list brackets nested `levels` deep.
fn nested_values(levels: usize) -> String {
    format!(
        "{{ me @skip(if: {}true{}) {{ email }} }}",
        "[".repeat(levels),
        "]".repeat(levels)
    )
}

/// The server still answers: `/health`, and a member's `{ me }`.
async fn assert_healthy(app: &TestApp, token: &str) {
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let me = app.gql(ME, json!({}), Some(token)).await;
    assert_eq!(me.assert_ok()["me"]["email"], "alice@acme.test");
}

async fn get(app: &TestApp, query: &str, token: Option<&str>) -> Value {
    let mut request = app
        .client
        .get(app.url("/graphql"))
        .header("apollo-require-preflight", "true")
        .query(&[("query", query)]);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    TestApp::answer(request.send().await.unwrap()).await.body
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<no code>")
}

#[tokio::test]
async fn deeply_nested_values_are_refused_before_parsing_on_every_transport() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    // About 3.6 KB: under the token limit, and it aborted the process.
    let query = nested_values(1800);
    for token in [None, Some(alice.as_str())] {
        let answer = app.gql(&query, json!({}), token).await;
        assert_eq!(answer.code(), "BAD_USER_INPUT", "{:#}", answer.body);
        assert!(answer.message().contains("nests brackets deeper than 64"));
        let body = get(&app, &query, token).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body:#}");
    }
    let mut ws = app.ws(&alice).await;
    ws.subscribe("deep", &query, json!({})).await;
    let message = ws.message().await;
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(
        message["payload"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
    // Variables nested past the input bound are refused the same way.
    let deep = serde_json::from_str::<Value>(&("[".repeat(100) + &"]".repeat(100))).unwrap();
    let answer = app
        .gql(
            "query($v: [Int]) { me { email } }",
            json!({ "v": deep }),
            Some(&alice),
        )
        .await;
    assert_eq!(answer.code(), "BAD_USER_INPUT", "{:#}", answer.body);
    assert!(
        answer.message().contains("nest at most 32"),
        "{}",
        answer.message()
    );
    assert_healthy(&app, &alice).await;
}

#[tokio::test]
async fn fragment_bombs_and_cycles_are_refused_before_any_walk() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let cases = [
        // 8 levels of 8 spreads (~600 bytes): 30–40 s of a worker before.
        (fragment_bomb(9, 8), "expanded selection limit of 10000"),
        // The doubling chain to depth 39, which never finished for a member.
        (fragment_bomb(39, 2), "chain deeper than 32"),
        (fragment_bomb(20, 2), "expanded selection limit of 10000"),
        (
            "{ ...A } fragment A on Query { me { email } ...B } fragment B on Query { ...A }"
                .into(),
            "spreads itself",
        ),
    ];
    for (query, refusal) in &cases {
        for token in [None, Some(alice.as_str())] {
            let answer = app.gql(query, json!({}), token).await;
            assert_eq!(answer.code(), "BAD_USER_INPUT", "{:#}", answer.body);
            assert!(answer.message().contains(refusal), "{}", answer.message());
            let body = get(&app, query, token).await;
            assert_eq!(code(&body), "BAD_USER_INPUT", "{body:#}");
        }
        let mut ws = app.ws(&alice).await;
        ws.subscribe("bomb", query, json!({})).await;
        let message = ws.message().await;
        assert_eq!(message["type"], "error", "{message}");
        let text = message["payload"][0]["message"].as_str().unwrap_or("");
        assert!(text.contains(refusal), "{message}");
    }
    // Fragments used as SPAs use them still run.
    let answer = app
        .gql(
            "{ ...M ...M } fragment M on Query { me { ...E } } fragment E on Me { email }",
            json!({}),
            Some(&alice),
        )
        .await;
    assert_eq!(answer.assert_ok()["me"]["email"], "alice@acme.test");
    assert_healthy(&app, &alice).await;
}

#[tokio::test]
async fn a_comment_ended_by_a_carriage_return_hides_nothing() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    // The parser ends the comment at `\r`: `tenantMembers` is selected. Our lexer
    // read it as comment up to `\n`, so the request was audited as `{ me { email } }`.
    let hidden = "{ #\r tenantMembers { email } x: \n me { email } }";
    let plain = "{ me { email } }";
    app.gql(hidden, json!({}), Some(&alice)).await;
    app.gql(plain, json!({}), Some(&alice)).await;
    let rows = app.audit_rows_after_stop().await;
    let hashes: Vec<&str> = rows
        .iter()
        .filter(|r| r.source == "graphql")
        .filter_map(|r| r.document_hash.as_deref())
        .collect();
    assert_eq!(hashes.len(), 2, "{rows:?}");
    assert_ne!(
        hashes[0], hashes[1],
        "a different document, a different hash"
    );
}

#[tokio::test]
async fn operations_over_a_websocket_take_a_fair_share_slot() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let before = app.metric("tenantql_operations_admitted_total").await;
    let mut ws = app.ws(&alice).await;
    ws.subscribe("q", ME, json!({})).await;
    let payload = ws.next_of("q").await;
    assert_eq!(payload["data"]["me"]["email"], "alice@acme.test");
    let after = app.metric("tenantql_operations_admitted_total").await;
    assert_eq!(
        after,
        before + 1,
        "the query over the socket asked for a slot"
    );
}

const LOGIN: &str = "login(email: \"alice@acme.test\", password: \"not her password\") { token }";

#[tokio::test]
async fn a_request_checks_at_most_one_password() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    // Twenty `login` fields in one document: one check, nineteen refusals.
    let fields: String = (0..20).map(|i| format!("l{i}: {LOGIN} ")).collect();
    let answer = app
        .gql(&format!("mutation {{ {fields} }}"), json!({}), None)
        .await;
    let errors = answer.body["errors"].as_array().expect("errors");
    let once = errors
        .iter()
        .filter(|e| e["message"].as_str().unwrap_or("").contains("only once"))
        .count();
    assert_eq!(errors.len(), 20, "{:#}", answer.body);
    assert_eq!(once, 19, "{:#}", answer.body);
    // A batch of ten sign-ins: one check for the whole request.
    let batch: Vec<Value> = (0..10)
        .map(|_| json!({ "query": format!("mutation {{ {LOGIN} }}") }))
        .collect();
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&batch)
        .send()
        .await
        .unwrap();
    let answers: Vec<Value> = response.json().await.unwrap();
    let refused = answers
        .iter()
        .filter(|a| {
            a["errors"][0]["message"]
                .as_str()
                .unwrap_or("")
                .contains("only once")
        })
        .count();
    assert_eq!(refused, 9, "{answers:#?}");
}

#[tokio::test]
async fn sign_ins_are_throttled_per_account_and_per_address() {
    let app = TestApp::spawn_with(crate::helpers::ControlDb::Sqlite, |c| {
        c.server.sign_in_account_per_minute = 3;
        c.server.sign_in_address_per_minute = 5;
    })
    .await;
    two_tenants(&app).await;
    for _ in 0..3 {
        let wrong = app.login("alice@acme.test", "guess", Some("acme")).await;
        assert_eq!(wrong.code(), "UNAUTHENTICATED");
    }
    // The account's allowance is used up, even for the right password.
    let limited = app
        .login("alice@acme.test", crate::helpers::PASSWORD, Some("acme"))
        .await;
    assert_eq!(limited.code(), "RATE_LIMITED", "{:#}", limited.body);
    // A field's error (the request itself ran): 200, the wait in `retryAfter`.
    assert!(
        limited.body["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap()
            >= 1
    );
    // Another account from the same address still signs in …
    app.login("bob@globex.test", crate::helpers::PASSWORD, Some("globex"))
        .await
        .assert_ok();
    // … until the address's allowance (5: three, the refused one does not count, bob) is used up.
    app.login("carol@acme.test", crate::helpers::PASSWORD, Some("acme"))
        .await
        .assert_ok();
    let address = app
        .login("carol@acme.test", crate::helpers::PASSWORD, Some("acme"))
        .await;
    assert_eq!(address.code(), "RATE_LIMITED", "{:#}", address.body);
    let token = app
        .gql(
            "mutation { setPassword(token: \"x\", password: \"long enough password\") }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(token.code(), "RATE_LIMITED", "setPassword is a sign-in too");
}

/// A cursor carries its tenant like an ID: acme's cursor in globex's request is
/// NOT_FOUND, as the README promises, not a page positioned by acme's data.
#[tokio::test]
async fn a_cursor_from_another_tenant_is_not_found() {
    let app = TestApp::spawn_demo(20).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let bob = app.token("bob@globex.test", Some("globex")).await;
    let page = "query($after: String) { partners(first: 1, after: $after) { edges { node { name } } pageInfo { endCursor } } }";
    let first = app.gql(page, json!({}), Some(&alice)).await;
    let cursor = first.assert_ok()["partners"]["pageInfo"]["endCursor"]
        .as_str()
        .unwrap()
        .to_string();
    // Its own tenant pages on with it.
    app.gql(page, json!({ "after": cursor }), Some(&alice))
        .await
        .assert_ok();
    let foreign = app.gql(page, json!({ "after": cursor }), Some(&bob)).await;
    assert_eq!(foreign.code(), "NOT_FOUND", "{:#}", foreign.body);
    // A cursor made by hand from a partner's name and id (the old format) is none.
    use base64::Engine;
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("Acme\u{1f}1");
    let answer = app.gql(page, json!({ "after": forged }), Some(&bob)).await;
    assert_eq!(answer.code(), "BAD_USER_INPUT", "{:#}", answer.body);
}

/// Reads what the server sends on `stream` until it closes the connection, or
/// `wait` passes (None: still open then).
async fn read_until_closed(
    stream: &mut tokio::net::TcpStream,
    wait: std::time::Duration,
) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let read = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

fn post_head(length: usize) -> String {
    format!(
        "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

#[tokio::test]
async fn slow_clients_are_disconnected() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn_with(crate::helpers::ControlDb::Sqlite, |c| {
        c.server.header_timeout_secs = 1;
        c.server.body_timeout_secs = 1;
    })
    .await;
    two_tenants(&app).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let wait = std::time::Duration::from_secs(15);
    // Headers that never end.
    let mut headers = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    headers
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    assert!(
        read_until_closed(&mut headers, wait).await.is_some(),
        "a half-sent head is cut off"
    );
    // 1 of 1,000 announced body bytes.
    let mut body = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    body.write_all(format!("{}{{", post_head(1000)).as_bytes())
        .await
        .unwrap();
    let answer = read_until_closed(&mut body, wait)
        .await
        .expect("closed after the body timeout");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // A kept-alive connection idle after its request.
    let mut idle = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let query = r#"{"query":"{ __typename }"}"#;
    idle.write_all(format!("{}{query}", post_head(query.len())).as_bytes())
        .await
        .unwrap();
    let answer = read_until_closed(&mut idle, wait)
        .await
        .expect("idle connections are closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_healthy(&app, &alice).await;
}

#[tokio::test]
async fn a_client_that_writes_its_whole_oversized_body_first_reads_the_413() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let size = 8 * 1024 * 1024;
    stream.write_all(post_head(size).as_bytes()).await.unwrap();
    // Like Python's urllib: every byte written before anything is read.
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..size / chunk.len() {
        stream
            .write_all(&chunk)
            .await
            .expect("the server keeps reading");
    }
    let mut answer = String::new();
    {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(std::time::Duration::from_secs(15), stream.read(&mut buf))
            .await
            .expect("an answer comes")
            .expect("not a reset");
        answer.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("TENANTQL_BODY_LIMIT_BYTES"), "{answer}");
    assert_healthy(&app, &alice).await;
}

/// A WebSocket client that stops reading cannot freeze its connection: the
/// server never waits on a write, and lets the connection go (with its
/// subscriptions) once its write queue is full — here within a bounded number
/// of checks of the gauge, not a wall-clock guess about buffer sizes.
#[tokio::test]
async fn a_websocket_client_that_stops_reading_is_let_go() {
    let app = TestApp::spawn_demo(20).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let (company, _) = app.companies(&alice).await.remove(0);
    let mut ws = app.ws(&alice).await;
    ws.subscribe(
        "events",
        "subscription($c: ID!) { invoiceEvents(companyId: $c) { change } }",
        json!({ "c": company }),
    )
    .await;
    let mut open = 0;
    for _ in 0..100 {
        open = app.metric("tenantql_subscriptions_open").await;
        if open == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(open, 1, "the subscription is open");
    // Pings with 200 KB payloads: every pong echoes one. Never read again.
    let payload = "x".repeat(200 * 1024);
    let ping = json!({ "type": "ping", "payload": { "p": payload } }).to_string();
    for _ in 0..200 {
        ws.send_text(&ping).await;
        if app.metric("tenantql_subscriptions_open").await == 0 {
            break;
        }
    }
    for _ in 0..200 {
        open = app.metric("tenantql_subscriptions_open").await;
        if open == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(open, 0, "the connection and its subscription were let go");
    assert_healthy(&app, &alice).await;
}

/// Variables the document does not declare are dropped before anything keeps
/// them: 900 KB of junk next to a sign-in leaves no trace in the audit log.
#[tokio::test]
async fn undeclared_variables_are_not_kept() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let junk = "j".repeat(900_000);
    let answer = app
        .gql(
            "mutation($e: String!) { login(email: $e, password: \"wrong password\") { token } }",
            json!({ "e": "alice@acme.test", "junk": junk }),
            None,
        )
        .await;
    assert_eq!(answer.code(), "UNAUTHENTICATED");
    let rows = app.audit_rows_after_stop().await;
    let row = rows
        .iter()
        .find(|r| r.action == "mutation")
        .expect("the sign-in is audited");
    let variables = row.variables.as_deref().unwrap_or("");
    assert!(variables.contains("alice@acme.test"), "{variables}");
    assert!(
        !variables.contains("junk") && variables.len() < 1000,
        "{}",
        variables.len()
    );
}

/// A password-set token is redeemed once, however many requests race with it.
#[tokio::test]
async fn a_password_set_token_is_redeemed_once() {
    for db in [
        crate::helpers::ControlDb::Sqlite,
        crate::helpers::ControlDb::Postgres,
    ] {
        if db == crate::helpers::ControlDb::Postgres && crate::helpers::postgres_url().is_none() {
            continue;
        }
        let app = TestApp::spawn_with(db, |_| {}).await;
        let (_, token, _) = tenantql::admin::registry::add_user_with_token(
            &app.services,
            &tenantql::audit::Actor::cli("test"),
            "dora@acme.test",
            false,
        )
        .await
        .unwrap();
        use secrecy::ExposeSecret;
        let set = "mutation($t: String!, $p: String!) { setPassword(token: $t, password: $p) }";
        let token = token.expose_secret().to_string();
        let (a, b) = tokio::join!(
            app.gql(set, json!({ "t": token, "p": "dora-secret-one" }), None),
            app.gql(set, json!({ "t": token, "p": "dora-secret-two" }), None),
        );
        let wins = [&a, &b]
            .iter()
            .filter(|x| x.body["data"]["setPassword"] == true)
            .count();
        assert_eq!(wins, 1, "{db:?}: {:#} {:#}", a.body, b.body);
    }
}
