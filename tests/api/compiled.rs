//! Compiled plans answer byte for byte as async-graphql does.
//!
//! A document's first run is async-graphql's (it validates the document, and
//! the plan is kept after it); the same text sent again is answered by the
//! plan. Every selection below is sent twice and the two bodies compared as
//! bytes; `/metrics` shows which answers the plans wrote.
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::{json, Value};

use crate::helpers::TestApp;

/// Pieces of an invoice's selection.
const INVOICE: &[&str] = &[
    "id",
    "number",
    "kind",
    "issueDate",
    "dueDate",
    "net vat",
    "total",
    "paid",
    "balance",
    "status",
    "__typename",
    "n: number",
    "id number",
    "partner { id name taxId kind city __typename }",
    "partner { name }",
    "seller: partner { city }",
    "company { id name taxId currency __typename }",
    "company { name }",
    "payments { id date amount method __typename }",
    "p: payments { amount }",
    "...InvoiceBits",
    "... on Invoice { status partner { city } }",
    "... { paid }",
    "total @include(if: true)",
];

/// Pieces of the connection's selection; `NODE` is an invoice selection.
const CONNECTION: &[&str] = &[
    "edges { cursor node { NODE } }",
    "edges { node { NODE } }",
    "nodes { NODE }",
    "pageInfo { hasNextPage hasPreviousPage startCursor endCursor __typename }",
    "__typename",
    "edges { __typename cursor }",
    "info: pageInfo { endCursor }",
    "...Paging",
    "edges { cursor } edges { node { NODE } }",
];

/// Pieces of `me`'s selection.
const ME: &[&str] = &[
    "id",
    "email",
    "role",
    "__typename",
    "tenant { id slug name status __typename }",
    "t: tenant { name }",
    "...MeBits",
    "... on Me { email tenant { id } }",
    "email @skip(if: false)",
];

/// Root fields; `CONN` is a connection selection, `ME` a selection of `me`.
const ROOT: &[&str] = &[
    "invoices(companyId: $c, first: $first, after: $after) { CONN }",
    "invoices(companyId: $c, first: $first, after: $after) { CONN }",
    "other: invoices(companyId: $c, first: 2) { CONN }",
    "__typename",
    "me { ME }",
];

const FRAGMENTS: &[(&str, &str)] = &[
    (
        "InvoiceBits",
        "fragment InvoiceBits on Invoice { number total partner { name } }",
    ),
    (
        "Paging",
        "fragment Paging on InvoiceConnection { pageInfo { hasNextPage endCursor } }",
    ),
    ("MeBits", "fragment MeBits on Me { id tenant { slug } }"),
];

/// `count` (1 to `most`) pieces, picked by a seeded generator.
fn pick(rng: &mut StdRng, pieces: &[&str], most: usize) -> String {
    let count = rng.gen_range(1..=most);
    (0..count)
        .map(|_| pieces[rng.gen_range(0..pieces.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

/// A whole document; the variables are declared only when used, and so are
/// the fragments.
fn document(rng: &mut StdRng) -> String {
    let mut roots = pick(rng, ROOT, 2);
    if !roots.contains("first: $first") {
        roots.push_str(" invoices(companyId: $c, first: $first, after: $after) { CONN }");
    }
    while roots.contains("CONN") {
        roots = roots.replacen("CONN", &pick(rng, CONNECTION, 3), 1);
    }
    while roots.contains("NODE") {
        roots = roots.replacen("NODE", &pick(rng, INVOICE, 5), 1);
    }
    while roots.contains("ME") {
        roots = roots.replacen("ME", &pick(rng, ME, 3), 1);
    }
    let mut text = String::from("query Page($c: ID!, $first: Int, $after: String) { ");
    text.push_str(&roots);
    text.push_str(" }");
    for (name, fragment) in FRAGMENTS {
        if roots.contains(&format!("...{name}")) {
            text.push('\n');
            text.push_str(fragment);
        }
    }
    text
}

async fn raw(app: &TestApp, token: &str, query: &str, variables: &Value) -> String {
    app.client
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request sent")
        .text()
        .await
        .expect("body read")
}

#[tokio::test]
async fn compiled_plans_answer_as_async_graphql_does_byte_for_byte() {
    let app = TestApp::spawn_demo(40).await;
    let token = app.token("alice@acme.test", Some("acme")).await;
    let (company, _) = app.companies(&token).await.remove(0);
    let first_page = app
        .gql(
            "query($c: ID!) { invoices(companyId: $c, first: 3) { pageInfo { endCursor } } }",
            json!({ "c": company }),
            Some(&token),
        )
        .await;
    let cursor = first_page.assert_ok()["invoices"]["pageInfo"]["endCursor"].clone();
    let variable_sets = [
        json!({ "c": company, "first": 5, "after": null }),
        json!({ "c": company, "first": null }),
        json!({ "c": company, "first": 4, "after": cursor }),
    ];
    let mut rng = StdRng::seed_from_u64(7);
    let before = app.metric("tenantql_compiled_answers_total").await;
    let mut sent = 0;
    for round in 0..240 {
        let query = document(&mut rng);
        let variables = &variable_sets[round % variable_sets.len()];
        let executed = raw(&app, &token, &query, variables).await;
        let compiled = raw(&app, &token, &query, variables).await;
        assert!(executed.starts_with(r#"{"data":{"#), "{query}\n{executed}");
        assert_eq!(
            compiled, executed,
            "document:\n{query}\nvariables: {variables}"
        );
        sent += 1;
    }
    let answered = app.metric("tenantql_compiled_answers_total").await - before;
    // Only the documents with a directive are left to async-graphql.
    assert!(
        answered >= sent * 3 / 4 && answered <= sent,
        "plans answered {answered} of {sent} repeated documents"
    );
}

#[tokio::test]
async fn me_is_answered_by_a_plan_for_every_kind_of_caller() {
    let app = TestApp::spawn_demo(5).await;
    let callers = [
        app.token("alice@acme.test", Some("acme")).await,
        app.platform_admin("root@platform.test").await,
    ];
    let documents = [
        "{ me { email } }",
        "{ me { __typename id email role tenant { __typename id slug name status } } }",
        "query Who { a: me { role } b: me { tenant { slug } } __typename }",
        "{ me { ...M } } fragment M on Me { email ... on Me { role } }",
    ];
    let before = app.metric("tenantql_compiled_answers_total").await;
    for token in &callers {
        for document in documents {
            let executed = raw(&app, token, document, &json!({})).await;
            let compiled = raw(&app, token, document, &json!({})).await;
            assert!(
                executed.starts_with(r#"{"data":{"#),
                "{document}\n{executed}"
            );
            assert_eq!(compiled, executed, "{document}");
        }
    }
    // The first run of each document (one per text) is async-graphql's.
    let answered = app.metric("tenantql_compiled_answers_total").await - before;
    assert_eq!(answered, ((2 * callers.len() - 1) * documents.len()) as u64);
}

#[tokio::test]
async fn a_plan_leaves_every_error_to_async_graphql() {
    let app = TestApp::spawn_demo(20).await;
    let token = app.token("alice@acme.test", Some("acme")).await;
    let (company, _) = app.companies(&token).await.remove(0);
    let query = "query Page($c: ID!, $first: Int, $after: String, $f: InvoiceFilter) {
      invoices(companyId: $c, first: $first, after: $after, filter: $f) {
        edges { cursor node { id number partner { name } payments { amount } } }
        pageInfo { hasNextPage } } }";
    let good = json!({ "c": company, "first": 3 });
    raw(&app, &token, query, &good).await;
    let before = app.metric("tenantql_compiled_deferred_total").await;
    let bad = [
        json!({ "c": company, "first": 0 }),
        json!({ "c": company, "first": 3, "after": "not a cursor" }),
        json!({ "c": "bm90IGFuIGlk", "first": 3 }),
        json!({ "c": company, "first": "three" }),
        json!({ "c": company, "first": 3_000_000_000u64 }),
        json!({ "first": 3 }),
        json!({ "c": company, "f": { "status": "OPEN", "bogus": 1 } }),
        json!({ "c": company, "f": { "status": "OPEN" } }),
    ];
    for (at, variables) in bad.iter().enumerate() {
        let deferred = raw(&app, &token, query, variables).await;
        // The same document as a text not seen before: async-graphql's answer.
        let fresh = raw(
            &app,
            &token,
            &format!("{query}{}", " ".repeat(at + 1)),
            variables,
        )
        .await;
        assert_eq!(
            without_request_ids(&deferred),
            without_request_ids(&fresh),
            "variables {variables}"
        );
        assert!(
            deferred.contains(r#""errors""#) || variables.get("f").is_some(),
            "{deferred}"
        );
    }
    let deferred = app.metric("tenantql_compiled_deferred_total").await - before;
    assert_eq!(deferred, bad.len() as u64, "every bad request was deferred");
    // A platform token is refused by the field's guard, as before.
    let platform = app.platform_admin("root@platform.test").await;
    let refused = app.gql(query, good.clone(), Some(&platform)).await;
    assert_eq!(refused.code(), "FORBIDDEN");
}

/// An answer as JSON without its errors' request ids (one per request).
fn without_request_ids(body: &str) -> Value {
    let mut answer: Value = serde_json::from_str(body).expect("a JSON answer");
    if let Some(errors) = answer.get_mut("errors").and_then(Value::as_array_mut) {
        for error in errors {
            if let Some(extensions) = error.get_mut("extensions").and_then(Value::as_object_mut) {
                extensions.remove("requestId");
            }
        }
    }
    answer
}
