//! Subscriptions over `graphql-transport-ws`, the writes that feed them, and
//! what ends them: a real server, real WebSocket clients.
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tenantql::erp::Cents;

use crate::helpers::{RedisServer, TestApp, WsClient, WsEvent};

pub const EVENTS: &str = r#"subscription Events($companyId: ID!) {
  invoiceEvents(companyId: $companyId) { change invoice { id number total paid balance status partner { name } payments { amount } } payment { id amount date method } } }"#;

const LIVE_DASHBOARD: &str = r#"subscription Live($companyId: ID!, $year: Int!) {
  dashboardUpdated(companyId: $companyId, year: $year) { year revenue receivables payables cash topCustomers(limit: 3) { total partner { name } } monthly { month revenue } } }"#;

pub const RECORD_PAYMENT: &str = r#"mutation Pay($invoiceId: ID!, $amount: Money!, $date: Date!, $method: String) {
  recordPayment(invoiceId: $invoiceId, amount: $amount, date: $date, method: $method) {
    payment { id amount date method } invoice { id paid balance status } } }"#;

pub const CREATE_INVOICE: &str = r#"mutation Create($input: CreateInvoiceInput!) {
  createInvoice(input: $input) { id number kind issueDate dueDate net vat total paid balance partner { id } company { id } } }"#;

const OPEN_INVOICES: &str = r#"query Open($companyId: ID!, $after: String) {
  invoices(companyId: $companyId, first: 100, after: $after, filter: { status: OVERDUE }) {
    edges { node { id issueDate balance total } } pageInfo { hasNextPage endCursor } } }"#;

fn cents(v: &Value) -> Cents {
    Cents::parse(v.as_str().expect("money is a string")).expect("money parses")
}

struct Demo {
    app: TestApp,
    /// alice, admin of acme.
    acme: String,
    /// bob, member of globex.
    globex: String,
    acme_company: String,
    globex_company: String,
}

async fn demo_sized(
    invoices: usize,
    configure: impl FnOnce(&mut tenantql::config::Config),
) -> Demo {
    let app = TestApp::spawn_demo_with(invoices, configure).await;
    let acme = app.token("alice@acme.test", Some("acme")).await;
    let globex = app.token("bob@globex.test", Some("globex")).await;
    let acme_company = app.companies(&acme).await[0].0.clone();
    let globex_company = app.companies(&globex).await[0].0.clone();
    Demo {
        app,
        acme,
        globex,
        acme_company,
        globex_company,
    }
}

async fn demo_with(configure: impl FnOnce(&mut tenantql::config::Config)) -> Demo {
    demo_sized(300, configure).await
}

async fn demo() -> Demo {
    demo_with(|_| {}).await
}

/// Invoices of the company with something still due, as (id, issue date, balance).
pub async fn unpaid(app: &TestApp, token: &str, company: &str) -> Vec<(String, String, Cents)> {
    let mut out = Vec::new();
    let mut after = Value::Null;
    for _ in 0..100 {
        let answer = app
            .gql(
                OPEN_INVOICES,
                json!({ "companyId": company, "after": after }),
                Some(token),
            )
            .await;
        let page = answer.assert_ok()["invoices"].clone();
        for edge in page["edges"].as_array().unwrap() {
            let node = &edge["node"];
            out.push((
                node["id"].as_str().unwrap().to_string(),
                node["issueDate"].as_str().unwrap().to_string(),
                cents(&node["balance"]),
            ));
        }
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            return out;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    panic!("pagination did not end");
}

pub async fn pay(
    app: &TestApp,
    token: &str,
    invoice: &str,
    amount: &str,
    date: &str,
) -> crate::helpers::Answer {
    app.gql(
        RECORD_PAYMENT,
        json!({ "invoiceId": invoice, "amount": amount, "date": date }),
        Some(token),
    )
    .await
}

/// A bad message closes with `code`; the connection is past `connection_ack`
/// when `acked`.
async fn assert_closes_with(app: &TestApp, token: &str, acked: bool, send: &str, code: u16) {
    let mut ws = if acked {
        app.ws(token).await
    } else {
        app.ws_with(Some("graphql-transport-ws")).await
    };
    ws.send_text(send).await;
    let (got, reason) = ws.closed().await;
    assert_eq!(got, code, "{send} → {got} {reason}");
}

#[tokio::test]
async fn the_protocol_is_followed_to_the_letter() {
    let d = demo_with(|c| c.server.ws_init_timeout_secs = 1).await;
    let app = &d.app;

    // No subprotocol offered: 4406.
    let mut ws = app.ws_with(None).await;
    assert_eq!(ws.closed().await.0, 4406);

    // No connection_init in time: 4408.
    let mut ws = app.ws_with(Some("graphql-transport-ws")).await;
    let started = Instant::now();
    assert_eq!(ws.closed().await.0, 4408);
    assert!(started.elapsed() < Duration::from_secs(3));

    // Subscribing before the acknowledgement: 4401.
    let subscribe =
        json!({ "id": "1", "type": "subscribe", "payload": { "query": "{ me { email } }" } })
            .to_string();
    assert_closes_with(app, &d.acme, false, &subscribe, 4401).await;

    // Bad messages: 4400, before and after the acknowledgement.
    for bad in [
        "not json",
        r#"{"type":"next","id":"1","payload":{}}"#,
        r#"{"type":"subscribe","id":"1"}"#,
        r#"{"type":"mystery"}"#,
    ] {
        assert_closes_with(app, &d.acme, false, bad, 4400).await;
        assert_closes_with(app, &d.acme, true, bad, 4400).await;
    }
    let mut ws = app.ws(&d.acme).await;
    ws.send_binary(b"\x00\x01").await;
    assert_eq!(ws.closed().await.0, 4400);

    // A second connection_init: 4429.
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", d.acme) } }).to_string();
    assert_closes_with(app, &d.acme, true, &init, 4429).await;

    // A token that does not verify, or none: 4403.
    for payload in [
        json!({ "authorization": "Bearer not-a-token" }),
        json!({ "authorization": d.acme.clone() }),
        json!({}),
    ] {
        let mut ws = app.ws_with(Some("graphql-transport-ws")).await;
        ws.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        assert_eq!(ws.closed().await.0, 4403, "{payload}");
    }

    // Ping → pong with the payload.
    let mut ws = app.ws(&d.acme).await;
    ws.send(json!({ "type": "ping", "payload": { "n": 7 } }))
        .await;
    assert_eq!(
        ws.message().await,
        json!({ "type": "pong", "payload": { "n": 7 } })
    );

    // A query over the socket: next, then complete.
    ws.subscribe("q", "{ me { email } }", json!({})).await;
    assert_eq!(
        ws.next_of("q").await["data"]["me"]["email"],
        "alice@acme.test"
    );
    assert_eq!(ws.message().await, json!({ "id": "q", "type": "complete" }));

    // An operation that fails before it runs: one `error`, no complete, and the
    // connection stays usable (the id is free again).
    ws.subscribe("bad", "subscription { noSuchField }", json!({}))
        .await;
    let error = ws.message().await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["id"], "bad");
    assert!(error["payload"].as_array().is_some_and(|e| !e.is_empty()));
    ws.subscribe("bad", "{ me { email } }", json!({})).await;
    assert_eq!(
        ws.next_of("bad").await["data"]["me"]["email"],
        "alice@acme.test"
    );
    assert_eq!(ws.message().await["type"], "complete");

    // An id is free again as soon as its `complete` arrives: reused at once,
    // twenty times, it is never taken for a duplicate.
    for _ in 0..20 {
        ws.subscribe("r", "{ me { email } }", json!({})).await;
        assert_eq!(
            ws.next_of("r").await["data"]["me"]["email"],
            "alice@acme.test"
        );
        assert_eq!(ws.message().await, json!({ "id": "r", "type": "complete" }));
    }

    // A duplicate id of a running subscription: 4409.
    let variables = json!({ "companyId": d.acme_company });
    ws.subscribe("live", EVENTS, variables.clone()).await;
    ws.subscribe("live", EVENTS, variables).await;
    let (code, reason) = ws.closed().await;
    assert_eq!(code, 4409, "{reason}");
    assert!(reason.contains("live"), "{reason}");
}

#[tokio::test]
async fn a_payment_reaches_its_tenants_subscribers_and_no_one_else() {
    let d = demo().await;
    let app = &d.app;
    let mut acme = app.ws(&d.acme).await;
    acme.subscribe("a", EVENTS, json!({ "companyId": d.acme_company }))
        .await;
    let mut globex = app.ws(&d.globex).await;
    globex
        .subscribe("g", EVENTS, json!({ "companyId": d.globex_company }))
        .await;
    // Another acme company's subscriber hears nothing of this one.
    let other_company = app.companies(&d.acme).await[1].0.clone();
    let mut acme_other = app.ws(&d.acme).await;
    acme_other
        .subscribe("o", EVENTS, json!({ "companyId": other_company }))
        .await;
    // Subscriptions start when the server has read them; a ping round trip proves it.
    for ws in [&mut acme, &mut globex, &mut acme_other] {
        ws.send(json!({ "type": "ping" })).await;
        assert_eq!(ws.message().await["type"], "pong");
    }

    let (invoice, issued, balance) = unpaid(app, &d.acme, &d.acme_company).await[0].clone();
    let answer = pay(app, &d.acme, &invoice, "10.00", &issued).await;
    let recorded = answer.assert_ok()["recordPayment"].clone();
    assert_eq!(
        cents(&recorded["invoice"]["balance"]),
        balance - Cents(1000)
    );

    let event = acme.next_of("a").await;
    let event = &event["data"]["invoiceEvents"];
    assert_eq!(event["change"], "PAID");
    assert_eq!(event["invoice"]["id"], invoice.as_str());
    assert_eq!(cents(&event["invoice"]["balance"]), balance - Cents(1000));
    assert_eq!(event["payment"]["amount"], "10.00");
    assert_eq!(event["payment"]["method"], "transfer");
    assert!(event["invoice"]["payments"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["amount"] == "10.00"));

    // A new invoice is an event too.
    let partner = app.first_partner(&d.acme).await;
    let input = json!({ "companyId": d.acme_company, "partnerId": partner, "kind": "SALE",
        "issueDate": "2026-11-02", "dueDate": "2026-12-02", "net": "100.00", "vat": "21.00" });
    let created = app
        .gql(CREATE_INVOICE, json!({ "input": input }), Some(&d.acme))
        .await;
    let created = created.assert_ok()["createInvoice"].clone();
    assert_eq!(created["total"], "121.00");
    assert_eq!(created["balance"], "121.00");
    assert!(
        created["number"].as_str().unwrap().starts_with("S"),
        "{created}"
    );
    let event = acme.next_of("a").await;
    assert_eq!(event["data"]["invoiceEvents"]["change"], "CREATED");
    assert_eq!(
        event["data"]["invoiceEvents"]["invoice"]["id"],
        created["id"]
    );

    globex.assert_silent(Duration::from_millis(500)).await;
    acme_other.assert_silent(Duration::from_millis(100)).await;

    // The client ends its subscription: nothing more arrives on it.
    acme.send(json!({ "id": "a", "type": "complete" })).await;
    pay(app, &d.acme, &invoice, "0.01", &issued)
        .await
        .assert_ok();
    acme.assert_silent(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn writes_are_validated_and_never_overpay() {
    let d = demo().await;
    let app = &d.app;
    let (invoice, issued, balance) = unpaid(app, &d.acme, &d.acme_company).await[0].clone();
    let day_before = chrono::NaiveDate::parse_from_str(&issued, "%Y-%m-%d")
        .unwrap()
        .pred_opt()
        .unwrap()
        .to_string();
    let over = (balance + Cents(1)).to_string();
    let cases: [(&str, &str, Option<&str>, &str); 5] = [
        ("0", &issued, None, "amount"),
        ("-5.00", &issued, None, "amount"),
        (&over, &issued, None, "amount"),
        ("1.00", &day_before, None, "date"),
        ("1.00", &issued, Some("barter"), "method"),
    ];
    for (amount, date, method, field) in cases {
        let answer = app
            .gql(
                RECORD_PAYMENT,
                json!({ "invoiceId": invoice, "amount": amount, "date": date, "method": method }),
                Some(&d.acme),
            )
            .await;
        assert_eq!(
            answer.code(),
            "BAD_USER_INPUT",
            "{amount} {date}: {:#}",
            answer.body
        );
        assert_eq!(answer.body["errors"][0]["extensions"]["field"], field);
        assert!(answer.body["data"].is_null(), "{:#}", answer.body);
    }
    let bad_invoice = json!({ "companyId": d.acme_company, "partnerId": "x", "kind": "SALE",
        "issueDate": "2026-11-02", "dueDate": "2026-11-01", "net": "1.00" });
    let answer = app
        .gql(
            CREATE_INVOICE,
            json!({ "input": bad_invoice }),
            Some(&d.acme),
        )
        .await;
    assert_eq!(answer.code(), "NOT_FOUND", "{:#}", answer.body);

    concurrent_payments_never_overpay(app, &d.acme, &d.acme_company).await;
}

/// Eight concurrent payments of a third of an invoice's balance each: exactly
/// three succeed, the invoice is paid to the cent and never beyond (the write
/// locks hold in every backend).
pub async fn concurrent_payments_never_overpay(app: &TestApp, token: &str, company: &str) {
    let (invoice, issued, balance) = unpaid(app, token, company).await[0].clone();
    let third = Cents(balance.0 / 3);
    let mut attempts = Vec::new();
    for _ in 0..8 {
        let amount = third.to_string();
        let (invoice, issued) = (&invoice, &issued);
        attempts.push(async move { pay(app, token, invoice, &amount, issued).await });
    }
    let answers = futures_util::future::join_all(attempts).await;
    let ok = answers
        .iter()
        .filter(|a| a.body["errors"].is_null())
        .count();
    assert_eq!(
        ok,
        3,
        "{:#?}",
        answers.iter().map(|a| &a.body).collect::<Vec<_>>()
    );
    for refused in answers.iter().filter(|a| !a.body["errors"].is_null()) {
        assert_eq!(refused.code(), "BAD_USER_INPUT", "{:#}", refused.body);
    }
    let after = app
        .gql(
            "query($id: ID!) { invoice(id: $id) { balance payments { amount } } }",
            json!({ "id": invoice }),
            Some(token),
        )
        .await;
    assert_eq!(
        cents(&after.assert_ok()["invoice"]["balance"]),
        balance - Cents(third.0 * 3)
    );
}

#[tokio::test]
async fn another_tenants_ids_are_not_found_at_every_entry_point() {
    let d = demo().await;
    let app = &d.app;
    let (globex_invoice, issued, _) = unpaid(app, &d.globex, &d.globex_company).await[0].clone();
    let globex_partner = app.first_partner(&d.globex).await;
    let acme_partner = app.first_partner(&d.acme).await;

    // Over HTTP: pay globex's invoice, invoice globex's company or partner.
    let answer = pay(app, &d.acme, &globex_invoice, "1.00", &issued).await;
    assert_eq!(answer.code(), "NOT_FOUND", "{:#}", answer.body);
    assert!(answer.body["data"].is_null());
    for (company, partner) in [
        (json!(d.globex_company), acme_partner.clone()),
        (json!(d.acme_company), globex_partner.clone()),
    ] {
        let input = json!({ "companyId": company, "partnerId": partner, "kind": "SALE",
            "issueDate": "2026-11-02", "dueDate": "2026-12-02", "net": "1.00" });
        let answer = app
            .gql(CREATE_INVOICE, json!({ "input": input }), Some(&d.acme))
            .await;
        assert_eq!(answer.code(), "NOT_FOUND", "{:#}", answer.body);
        assert!(answer.body["data"].is_null());
    }

    // Over the socket: subscribe to globex's company.
    let mut ws = app.ws(&d.acme).await;
    for (id, query, variables) in [
        ("e", EVENTS, json!({ "companyId": d.globex_company })),
        (
            "d",
            LIVE_DASHBOARD,
            json!({ "companyId": d.globex_company, "year": 2026 }),
        ),
    ] {
        ws.subscribe(id, query, variables).await;
        let error = ws.message().await;
        assert_eq!(error["type"], "error", "{error}");
        assert_eq!(error["id"], id);
        assert_eq!(
            error["payload"][0]["extensions"]["code"], "NOT_FOUND",
            "{error}"
        );
    }
    // Globex's data is unchanged.
    let unchanged = unpaid(app, &d.globex, &d.globex_company).await;
    assert!(unchanged.iter().any(|(id, ..)| *id == globex_invoice));

    // A platform token has no tenant: subscriptions are forbidden to it.
    let root = app.platform_admin("ops@tenantql.test").await;
    let mut ws = app.ws(&root).await;
    ws.subscribe("p", EVENTS, json!({ "companyId": d.acme_company }))
        .await;
    let error = ws.message().await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(
        error["payload"][0]["extensions"]["code"], "FORBIDDEN",
        "{error}"
    );
}

async fn recomputes(app: &TestApp) -> u64 {
    app.metric("tenantql_dashboard_recomputes_total").await
}

#[tokio::test]
async fn a_burst_of_payments_recomputes_the_dashboard_once() {
    let d = demo_sized(3000, |_| {}).await;
    let app = &d.app;
    let year = 2026;
    let due: Vec<_> = unpaid(app, &d.acme, &d.acme_company)
        .await
        .into_iter()
        .filter(|(_, issued, _)| issued.starts_with("2026"))
        .collect();
    assert!(
        due.len() >= 100,
        "the demo data has {} unpaid 2026 invoices",
        due.len()
    );

    // Two subscribers of the same dashboard share one feed.
    let variables = json!({ "companyId": d.acme_company, "year": year });
    let mut first = app.ws(&d.acme).await;
    first
        .subscribe("d", LIVE_DASHBOARD, variables.clone())
        .await;
    let initial = first.next_of("d").await["data"]["dashboardUpdated"].clone();
    let mut second = app.ws(&d.acme).await;
    second.subscribe("d", LIVE_DASHBOARD, variables).await;
    assert_eq!(
        second.next_of("d").await["data"]["dashboardUpdated"],
        initial
    );
    let before = recomputes(app).await;
    assert_eq!(before, 1, "one feed computed once for two subscribers");

    // 100 payments of 0.01 from 10 concurrent clients.
    let started = Instant::now();
    for chunk in due[..100].chunks(10) {
        let payments = chunk.iter().map(|(invoice, issued, _)| {
            let (app, token) = (&d.app, &d.acme);
            async move { pay(app, token, invoice, "0.01", issued).await }
        });
        for answer in futures_util::future::join_all(payments).await {
            answer.assert_ok();
        }
    }
    let burst = started.elapsed();

    // The subscribers see what is owed (receivables and payables) drop by 1.00.
    let owed = |d: &Value| cents(&d["receivables"]) + cents(&d["payables"]);
    let expected = owed(&initial) - Cents(100);
    let mut updates = 0;
    loop {
        let update = first.next_of("d").await["data"]["dashboardUpdated"].clone();
        updates += 1;
        if owed(&update) == expected {
            break;
        }
        assert!(updates < 20, "the dashboard never caught up: {update}");
    }
    // At most one recomputation per started second of the burst, plus the
    // trailing one: with 100 payments that is far from 100.
    let allowed = burst.as_secs() + 2;
    let during = recomputes(app).await - before;
    assert!(
        during <= allowed,
        "{during} recomputations for a burst of 100 payments over {burst:?}"
    );
    assert!(updates as u64 <= allowed);
}

#[tokio::test]
async fn suspension_removal_and_expiry_end_the_streams() {
    let d = demo().await;
    let app = &d.app;
    let root = app.platform_admin("ops@tenantql.test").await;
    let carol_acme = app.token("carol@acme.test", Some("acme")).await;
    let mut alice = app.ws(&d.acme).await;
    alice
        .subscribe("a", EVENTS, json!({ "companyId": d.acme_company }))
        .await;
    let mut carol = app.ws(&carol_acme).await;
    carol
        .subscribe("c", EVENTS, json!({ "companyId": d.acme_company }))
        .await;
    let mut bob = app.ws(&d.globex).await;
    bob.subscribe("b", EVENTS, json!({ "companyId": d.globex_company }))
        .await;

    // Carol is removed from acme: her stream ends with 4403, alice's goes on.
    let removed = app
        .gql(
            r#"mutation { removeMember(email: "carol@acme.test") { email } }"#,
            json!({}),
            Some(&d.acme),
        )
        .await;
    removed.assert_ok();
    let (code, reason) = carol.closed().await;
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.contains("member"), "{reason}");

    // Acme is suspended: alice's stream ends with 4403 within the check period;
    // globex's subscriber is untouched.
    let started = Instant::now();
    let suspended = app
        .gql(
            r#"mutation { suspendTenant(slug: "acme") { status } }"#,
            json!({}),
            Some(&root),
        )
        .await;
    suspended.assert_ok();
    let (code, reason) = alice.closed().await;
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.contains("suspended"), "{reason}");
    assert!(started.elapsed() < Duration::from_secs(3));
    bob.send(json!({ "type": "ping" })).await;
    assert_eq!(bob.message().await["type"], "pong");

    // A suspended tenant's token cannot open a connection either.
    let mut again = app.ws_with(Some("graphql-transport-ws")).await;
    again
        .send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", d.acme) } }))
        .await;
    let (code, reason) = again.closed().await;
    assert_eq!(code, 4403, "{reason}");
}

#[tokio::test]
async fn an_expired_token_ends_the_connection() {
    let d = demo_with(|c| c.tokens.token_ttl_secs = 2).await;
    let token = d.app.token("bob@globex.test", Some("globex")).await;
    let mut bob = d.app.ws(&token).await;
    bob.subscribe("b", EVENTS, json!({ "companyId": d.globex_company }))
        .await;
    let started = Instant::now();
    let (code, reason) = bob.closed().await;
    assert_eq!(code, 4401, "{reason}");
    assert!(reason.contains("expired"), "{reason}");
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn subscriptions_are_limited_per_connection_and_per_tenant() {
    let d = demo_with(|c| {
        c.server.max_subscriptions_per_connection = 2;
        c.server.max_subscriptions_per_tenant = 3;
    })
    .await;
    let app = &d.app;
    let variables = json!({ "companyId": d.acme_company });
    let mut ws = app.ws(&d.acme).await;
    ws.subscribe("1", EVENTS, variables.clone()).await;
    ws.subscribe("2", EVENTS, variables.clone()).await;
    ws.subscribe("3", EVENTS, variables.clone()).await;
    let error = ws.message().await;
    assert_eq!(error["id"], "3");
    assert_eq!(error["type"], "error");
    assert_eq!(
        error["payload"][0]["extensions"]["code"], "LIMIT_EXCEEDED",
        "{error}"
    );

    let mut other: WsClient = app.ws(&d.acme).await;
    other.subscribe("4", EVENTS, variables.clone()).await;
    other.subscribe("5", EVENTS, variables.clone()).await;
    let error = other.message().await;
    assert_eq!(error["id"], "5");
    assert_eq!(
        error["payload"][0]["extensions"]["code"], "LIMIT_EXCEEDED",
        "{error}"
    );
    // Globex has its own allowance.
    let mut globex = app.ws(&d.globex).await;
    globex
        .subscribe("g", EVENTS, json!({ "companyId": d.globex_company }))
        .await;
    globex.assert_silent(Duration::from_millis(300)).await;

    // Ending one frees its slot.
    ws.send(json!({ "id": "1", "type": "complete" })).await;
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.message().await["type"], "pong");
    tokio::time::sleep(Duration::from_millis(200)).await;
    other.subscribe("6", EVENTS, variables).await;
    other.assert_silent(Duration::from_millis(300)).await;
}

/// Sends 0.01 payments on `writer` until `subscriber` sees one (or `wait` passes).
async fn a_payment_arrives(
    writer: &TestApp,
    d: &Demo,
    subscriber: &mut WsClient,
    id: &str,
    wait: Duration,
) -> Option<Duration> {
    let (invoice, issued, _) = unpaid(writer, &d.acme, &d.acme_company).await[0].clone();
    let started = Instant::now();
    while started.elapsed() < wait {
        let sent = Instant::now();
        pay(writer, &d.acme, &invoice, "0.01", &issued)
            .await
            .assert_ok();
        if let Some(WsEvent::Message(message)) =
            subscriber.event_within(Duration::from_millis(300)).await
        {
            assert_eq!(message["id"], id, "{message}");
            assert_eq!(
                message["payload"]["data"]["invoiceEvents"]["change"],
                "PAID"
            );
            return Some(sent.elapsed());
        }
    }
    None
}

#[tokio::test]
async fn instances_share_events_through_redis_and_survive_its_outage() {
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let url = redis.url();
    let d = demo_with(|c| c.server.redis_url = Some(url.clone())).await;
    let a = &d.app;
    let b = a
        .spawn_sibling(|c| c.server.redis_url = Some(url.clone()))
        .await;
    let mut on_a = a.ws(&d.acme).await;
    on_a.subscribe("a", EVENTS, json!({ "companyId": d.acme_company }))
        .await;
    let mut globex_on_a = a.ws(&d.globex).await;
    globex_on_a
        .subscribe("g", EVENTS, json!({ "companyId": d.globex_company }))
        .await;
    let mut globex_on_b = b.ws(&d.globex).await;
    globex_on_b
        .subscribe("g", EVENTS, json!({ "companyId": d.globex_company }))
        .await;
    for ws in [&mut on_a, &mut globex_on_a, &mut globex_on_b] {
        ws.send(json!({ "type": "ping" })).await;
        assert_eq!(ws.message().await["type"], "pong");
    }

    // A payment sent to B reaches A's subscriber within a second; globex's
    // subscribers on either instance get nothing.
    let (invoice, issued, _) = unpaid(&b, &d.acme, &d.acme_company).await[0].clone();
    let sent = Instant::now();
    pay(&b, &d.acme, &invoice, "0.01", &issued)
        .await
        .assert_ok();
    let event = on_a.next_of("a").await;
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(
        event["data"]["invoiceEvents"]["invoice"]["id"],
        invoice.as_str()
    );
    globex_on_a.assert_silent(Duration::from_millis(300)).await;
    globex_on_b.assert_silent(Duration::from_millis(100)).await;
    let ready = a.ready().await;
    assert_eq!(ready["redis"], "up", "{ready}");

    // Redis dies under a query load: every query is answered, B's own
    // subscribers still get B's events, A is ready but degraded.
    let mut on_b = b.ws(&d.acme).await;
    on_b.subscribe("b", EVENTS, json!({ "companyId": d.acme_company }))
        .await;
    redis.kill();
    let queries = (0..200).map(|i| {
        let app = if i % 2 == 0 { a } else { &b };
        let token = if i % 3 == 0 { &d.globex } else { &d.acme };
        async move {
            app.gql("{ companies { id name } }", json!({}), Some(token))
                .await
        }
    });
    for answer in futures_util::future::join_all(queries).await {
        answer.assert_ok();
    }
    pay(&b, &d.acme, &invoice, "0.01", &issued)
        .await
        .assert_ok();
    assert_eq!(
        on_b.next_of("b").await["data"]["invoiceEvents"]["change"],
        "PAID"
    );
    let ready = a.ready().await;
    assert_eq!(ready["degraded"], true, "{ready}");
    assert!(ready["status"] == "ready");
    // The event sent while Redis was down stayed on B (A may not get it later).
    let _ = on_a.event_within(Duration::from_millis(200)).await;

    // Redis returns: events flow from B to A again without a restart.
    redis.restart().await;
    let latency = a_payment_arrives(&b, &d, &mut on_a, "a", Duration::from_secs(15)).await;
    assert!(
        latency.is_some(),
        "events never flowed again after Redis returned"
    );
    let ready = a.ready().await;
    assert_eq!(ready["redis"], "up", "{ready}");
    globex_on_a.assert_silent(Duration::from_millis(100)).await;
}

/// Marks one unpaid invoice of the company (1-based row id) as fully paid by
/// writing to the tenant's store directly, as another program would; returns its id.
pub async fn pay_outside_tenantql(app: &TestApp, slug: &str, company_row: i64) -> i64 {
    use tenantql::store::Sql;
    let tenant = tenantql::control::tenants::get_by_slug(&app.services.control.db, slug)
        .await
        .unwrap();
    // A session of its own, as another program writing to the store would have.
    let mut session = app.services.pools.open_session(&tenant).await.unwrap();
    let store = &mut session.conn;
    let dialect = store.dialect();
    let mut find = Sql::new(dialect);
    find.push("SELECT id FROM invoices WHERE company_id = ")
        .bind(company_row)
        .push(" AND paid_cents < total_cents ORDER BY id")
        .limit(1);
    let id = match store.query(&find, "test").await.unwrap()[0].0[0] {
        tenantql::store::Value::Int(id) => id,
        ref other => panic!("not an id: {other:?}"),
    };
    let mut pay = Sql::new(dialect);
    pay.push("UPDATE invoices SET paid_cents = total_cents WHERE id = ")
        .bind(id);
    store.execute(&pay).await.unwrap();
    id
}

/// The next event's invoice, which must be a CHANGED one of balance 0.
pub async fn changed_and_paid(ws: &mut WsClient, id: &str) -> Value {
    let event = ws.next_of(id).await["data"]["invoiceEvents"].clone();
    assert_eq!(event["change"], "CHANGED", "{event}");
    assert_eq!(event["invoice"]["balance"], "0.00", "{event}");
    assert_eq!(event["invoice"]["status"], "PAID", "{event}");
    event
}

#[tokio::test]
async fn a_row_changed_directly_in_the_store_reaches_subscribers_once() {
    let d = demo_with(|c| c.server.change_poll_ms = 100).await;
    let app = &d.app;
    let mut ws = app.ws(&d.acme).await;
    ws.subscribe("a", EVENTS, json!({ "companyId": d.acme_company }))
        .await;
    // Let the watcher read the log's head.
    tokio::time::sleep(Duration::from_millis(400)).await;
    pay_outside_tenantql(app, "acme", 1).await;
    let started = Instant::now();
    changed_and_paid(&mut ws, "a").await;
    assert!(started.elapsed() < Duration::from_secs(2));

    // A payment through the API is announced once (PAID), not again as CHANGED.
    let (invoice, issued, _) = unpaid(app, &d.acme, &d.acme_company).await[0].clone();
    pay(app, &d.acme, &invoice, "0.01", &issued)
        .await
        .assert_ok();
    assert_eq!(
        ws.next_of("a").await["data"]["invoiceEvents"]["change"],
        "PAID"
    );
    ws.assert_silent(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn with_redis_one_instance_watches_a_tenant_and_a_survivor_takes_over() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let url = redis.url();
    let d = demo_with(|c| {
        c.server.redis_url = Some(url.clone());
        c.server.change_poll_ms = 100;
    })
    .await;
    // A subscribes first, so A takes the lease.
    let mut on_a = d.app.ws(&d.acme).await;
    on_a.subscribe("a", EVENTS, json!({ "companyId": d.acme_company }))
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let b = d.app.spawn_sibling(|_| {}).await;
    let mut on_b = b.ws(&d.acme).await;
    on_b.subscribe("b", EVENTS, json!({ "companyId": d.acme_company }))
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;

    // One change, one event on each instance (not one per watcher).
    pay_outside_tenantql(&b, "acme", 1).await;
    changed_and_paid(&mut on_a, "a").await;
    changed_and_paid(&mut on_b, "b").await;
    on_a.assert_silent(Duration::from_millis(500)).await;
    on_b.assert_silent(Duration::from_millis(100)).await;

    // A stops; B takes the lease over once it lapses (3 polls) and announces
    // the next change.
    drop(on_a);
    let data_dir = d.app.stop().await;
    pay_outside_tenantql(&b, "acme", 1).await;
    let started = Instant::now();
    changed_and_paid(&mut on_b, "b").await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    drop(data_dir);
}
