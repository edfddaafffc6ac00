//! The ERP API contract. The same checks run on the embedded SQLite store (always)
//! and on Oracle (`oracle.rs`, when TENANTQL_TEST_ORACLE_URL is set).
use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{json, Value as Json};
use tenantql::{
    erp::{
        seed::{generate, Dataset, SeedPlan},
        Cents,
    },
    store::Value,
};

use crate::helpers::TestApp;

pub const INVOICES: usize = 600;

pub const INVOICE_PAGE: &str = r#"query InvoicePage($companyId: ID!, $after: String) {
  invoices(companyId: $companyId, first: 100, after: $after) {
    edges { cursor node { id number kind issueDate dueDate total balance status
      partner { id name taxId } company { id name } payments { id date amount } } }
    pageInfo { hasNextPage endCursor } } }"#;

pub const DASHBOARD: &str = r#"query Dashboard($companyId: ID!, $year: Int!) {
  dashboard(companyId: $companyId, year: $year) { revenue expenses receivables payables overdue
    monthly { month revenue expenses } topCustomers(limit: 5) { partner { id name } total } } }"#;

const PAGE_OF: &str = r#"query($companyId: ID!, $first: Int, $after: String, $filter: InvoiceFilter) {
  invoices(companyId: $companyId, first: $first, after: $after, filter: $filter) {
    edges { cursor node { id number kind issueDate total net vat paid balance status partner { id } payments { amount } } }
    pageInfo { hasNextPage endCursor } } }"#;

fn cents(v: &Json) -> Cents {
    Cents::parse(v.as_str().expect("money is a string")).expect("money parses")
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => panic!("not an int: {other:?}"),
    }
}

fn date(v: &Value) -> String {
    match v {
        Value::Date(d) => d.to_string(),
        other => panic!("not a date: {other:?}"),
    }
}

/// Invoice rows of the generated data for company `company` (1-based).
fn invoices_of(data: &Dataset, company: i64) -> Vec<&Vec<Value>> {
    data.tables[2]
        .rows
        .iter()
        .filter(|r| int(&r[1]) == company)
        .collect()
}

/// Round trips the tenant's pool has counted so far.
async fn round_trips(app: &TestApp, slug: &str) -> u64 {
    app.pool_stats(slug)
        .await
        .map(|s| s.round_trips)
        .unwrap_or(0)
}

/// Every page of `first` invoices of `company_id`, following endCursor.
async fn walk(app: &TestApp, token: &str, company_id: &str, first: i32, filter: Json) -> Vec<Json> {
    let mut nodes = Vec::new();
    let mut after = Json::Null;
    for _ in 0..1000 {
        let answer = app
            .gql(PAGE_OF, json!({ "companyId": company_id, "first": first, "after": after, "filter": filter }), Some(token))
            .await;
        let page = answer.assert_ok()["invoices"].clone();
        nodes.extend(
            page["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"].clone()),
        );
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            return nodes;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    panic!("pagination did not end");
}

/// The contract every backend must satisfy for a tenant seeded with `INVOICES`.
pub async fn contract(app: &TestApp, slug: &str, token: &str) {
    let data = generate(slug, SeedPlan::new(INVOICES));
    let companies = app.companies(token).await;
    assert_eq!(companies.len(), 3);
    let (company_id, _) = companies
        .iter()
        .find(|(_, name)| name.ends_with("Holdings"))
        .unwrap()
        .clone();
    let expected = invoices_of(&data, 1);

    // The benchmark's invoice page, exactly as written, in two round trips sent
    // side by side (the page with its partners and company; its payments).
    let before = round_trips(app, slug).await;
    let first = app
        .gql(
            INVOICE_PAGE,
            json!({ "companyId": company_id }),
            Some(token),
        )
        .await;
    let trips = round_trips(app, slug).await - before;
    let page = first.assert_ok()["invoices"].clone();
    let edges = page["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 100.min(expected.len()));
    assert!(trips <= 2, "invoice page took {trips} round trips");
    for edge in edges {
        let node = &edge["node"];
        assert!(node["partner"]["name"].is_string());
        assert!(node["company"]["name"]
            .as_str()
            .unwrap()
            .ends_with("Holdings"));
        let paid: i64 = node["payments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| cents(&p["amount"]).0)
            .sum();
        assert_eq!(
            cents(&node["balance"]),
            cents(&node["total"]) - Cents(paid),
            "balance = total - payments"
        );
    }

    // Page 2 continues after page 1 without gaps or repeats.
    let second = app
        .gql(
            INVOICE_PAGE,
            json!({ "companyId": company_id, "after": page["pageInfo"]["endCursor"] }),
            Some(token),
        )
        .await;
    let second = second.assert_ok()["invoices"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    let last_of_first = &edges.last().unwrap()["node"];
    let first_of_second = &second[0]["node"];
    assert!(
        (
            first_of_second["issueDate"].as_str(),
            first_of_second["number"].as_str()
        ) != (
            last_of_first["issueDate"].as_str(),
            last_of_first["number"].as_str()
        )
    );
    assert!(first_of_second["issueDate"].as_str() <= last_of_first["issueDate"].as_str());

    // Small pages cost no more round trips than big ones.
    let before = round_trips(app, slug).await;
    app.gql(
        PAGE_OF,
        json!({ "companyId": company_id, "first": 7 }),
        Some(token),
    )
    .await
    .assert_ok();
    assert!(round_trips(app, slug).await - before <= 2);

    // Walking every page yields every invoice of the company once, newest first.
    let all = walk(app, token, &company_id, 37, Json::Null).await;
    assert_eq!(all.len(), expected.len());
    let numbers: HashSet<&str> = all.iter().map(|n| n["number"].as_str().unwrap()).collect();
    assert_eq!(numbers.len(), all.len(), "no repeats");
    let expected_numbers: HashSet<String> = expected
        .iter()
        .map(|r| match &r[3] {
            Value::Text(t) => t.clone(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        numbers,
        expected_numbers
            .iter()
            .map(String::as_str)
            .collect::<HashSet<_>>()
    );
    assert!(all
        .windows(2)
        .all(|w| w[0]["issueDate"].as_str() >= w[1]["issueDate"].as_str()));

    // Exact money: net + vat = total, and the sum over every invoice matches the data.
    let total_api: i64 = all.iter().map(|n| cents(&n["total"]).0).sum();
    let total_data: i64 = expected.iter().map(|r| int(&r[9])).sum();
    assert_eq!(total_api, total_data);
    for n in &all {
        assert_eq!(cents(&n["net"]) + cents(&n["vat"]), cents(&n["total"]));
    }

    // Filters.
    let paid = walk(app, token, &company_id, 100, json!({ "status": "PAID" })).await;
    assert!(!paid.is_empty());
    assert!(paid
        .iter()
        .all(|n| n["status"] == "PAID" && n["balance"] == "0.00"));
    let expected_paid = expected
        .iter()
        .filter(|r| int(&r[10]) >= int(&r[9]))
        .count();
    assert_eq!(paid.len(), expected_paid);
    let purchases = walk(app, token, &company_id, 100, json!({ "kind": "PURCHASE" })).await;
    assert_eq!(
        purchases.len(),
        expected
            .iter()
            .filter(|r| r[4] == Value::from("purchase"))
            .count()
    );
    assert!(purchases.iter().all(|n| n["kind"] == "PURCHASE"));
    let ranged = walk(
        app,
        token,
        &company_id,
        100,
        json!({ "issuedFrom": "2025-01-01", "issuedTo": "2025-03-31", "minTotal": "1000.00", "maxTotal": "5000" }),
    )
    .await;
    let expected_ranged = expected
        .iter()
        .filter(|r| {
            let d = date(&r[5]);
            d.as_str() >= "2025-01-01"
                && d.as_str() <= "2025-03-31"
                && (100_000..=500_000).contains(&int(&r[9]))
        })
        .count();
    assert_eq!(ranged.len(), expected_ranged);
    let partner = all[0]["partner"]["id"].clone();
    let of_partner = walk(
        app,
        token,
        &company_id,
        100,
        json!({ "partnerId": partner }),
    )
    .await;
    assert!(!of_partner.is_empty() && of_partner.iter().all(|n| n["partner"]["id"] == partner));

    // The benchmark's dashboard, exactly as written, against the generated data.
    let dashboard = app
        .gql(
            DASHBOARD,
            json!({ "companyId": company_id, "year": 2025 }),
            Some(token),
        )
        .await;
    let d = dashboard.assert_ok()["dashboard"].clone();
    let in_2025 = |r: &&&Vec<Value>| date(&r[5]).starts_with("2025-");
    let revenue: i64 = expected
        .iter()
        .filter(in_2025)
        .filter(|r| r[4] == Value::from("sale"))
        .map(|r| int(&r[7]))
        .sum();
    let expenses: i64 = expected
        .iter()
        .filter(in_2025)
        .filter(|r| r[4] == Value::from("purchase"))
        .map(|r| int(&r[7]))
        .sum();
    let receivables: i64 = expected
        .iter()
        .filter(in_2025)
        .filter(|r| r[4] == Value::from("sale"))
        .map(|r| int(&r[9]) - int(&r[10]))
        .sum();
    assert_eq!(cents(&d["revenue"]), Cents(revenue));
    assert_eq!(cents(&d["expenses"]), Cents(expenses));
    assert_eq!(cents(&d["receivables"]), Cents(receivables));
    let monthly = d["monthly"].as_array().unwrap();
    assert_eq!(monthly.len(), 12);
    assert_eq!(
        monthly.iter().map(|m| cents(&m["revenue"]).0).sum::<i64>(),
        revenue
    );
    let top = d["topCustomers"].as_array().unwrap();
    assert!(!top.is_empty() && top.len() <= 5);
    assert!(top
        .windows(2)
        .all(|w| cents(&w[0]["total"]) >= cents(&w[1]["total"])));

    // Every part of a dashboard in two round trips, and the same figures as
    // each part asked alone; a year without invoices too.
    let whole_selection = [
        "revenue expenses receivables payables overdue",
        "cash",
        "monthly { month revenue expenses }",
        "topCustomers(limit: 7) { total partner { id name } }",
        "top: topCustomers { total }",
    ];
    let company = company_id.as_str();
    let ask = |selection: String, year: i32| async move {
        let query = format!(
            "query($c: ID!, $y: Int!) {{ dashboard(companyId: $c, year: $y) {{ {selection} }} }}"
        );
        app.gql(&query, json!({ "c": company, "y": year }), Some(token))
            .await
            .assert_ok()["dashboard"]
            .clone()
    };
    for year in [2025, 1990] {
        let before = round_trips(app, slug).await;
        let whole = ask(whole_selection.join(" "), year).await;
        let trips = round_trips(app, slug).await - before;
        assert!(trips <= 2, "the whole dashboard took {trips} round trips");
        for part in whole_selection {
            let alone = ask(part.to_string(), year).await;
            for (key, value) in alone.as_object().unwrap() {
                assert_eq!(&whole[key], value, "{key} of {year} asked alone");
            }
        }
        assert_eq!(whole["monthly"].as_array().unwrap().len(), 12);
        if year == 1990 {
            assert_eq!(whole["revenue"], "0.00");
            assert_eq!(whole["topCustomers"], json!([]));
        }
    }

    // Bad input is refused with a code, not a panic.
    let too_big = app
        .gql(
            PAGE_OF,
            json!({ "companyId": company_id, "first": 101 }),
            Some(token),
        )
        .await;
    assert_eq!(too_big.code(), "BAD_USER_INPUT");
    let bad_cursor = app
        .gql(
            PAGE_OF,
            json!({ "companyId": company_id, "after": "bm9wZQ" }),
            Some(token),
        )
        .await;
    assert_eq!(bad_cursor.code(), "BAD_USER_INPUT");
    let bad_money = app
        .gql(
            PAGE_OF,
            json!({ "companyId": company_id, "filter": { "minTotal": "1.005" } }),
            Some(token),
        )
        .await;
    assert_eq!(bad_money.code(), "BAD_USER_INPUT");
    let bad_year = app
        .gql(
            DASHBOARD,
            json!({ "companyId": company_id, "year": 99999 }),
            Some(token),
        )
        .await;
    assert_eq!(bad_year.code(), "BAD_USER_INPUT");
}

#[tokio::test]
async fn erp_contract_on_sqlite() {
    let app = TestApp::spawn_demo(INVOICES).await;
    let token = app.token("alice@acme.test", Some("acme")).await;
    contract(&app, "acme", &token).await;
}

/// The response keys of every JSON object in `text`, in the order written.
fn keys_in_order(text: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("\":") {
        let key_start = rest[..start].rfind('"').map_or(0, |i| i + 1);
        keys.push(rest[key_start..start].to_string());
        rest = &rest[start + 2..];
    }
    keys
}

#[tokio::test]
async fn fields_come_back_in_the_order_they_were_selected() {
    let app = TestApp::spawn_demo(INVOICES).await;
    let token = app.token("alice@acme.test", Some("acme")).await;
    let (company, _) = app.companies(&token).await.remove(0);
    // `partner` waits for a DataLoader and `total` does not; each dashboard
    // part waits for its own query. Both orders of each, as raw text.
    for (selection, expected) in [
        (
            "topCustomers(limit: 3) { partner { name id } total } overdue revenue",
            ["topCustomers", "partner", "name", "id", "total"],
        ),
        (
            "overdue topCustomers(limit: 3) { total partner { id name } } revenue",
            ["overdue", "topCustomers", "total", "partner", "id"],
        ),
    ] {
        let query =
            format!("query($c: ID!) {{ dashboard(companyId: $c, year: 2025) {{ {selection} }} }}");
        let text = app
            .client
            .post(app.url("/graphql"))
            .bearer_auth(&token)
            .json(&json!({ "query": query, "variables": { "c": company } }))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let keys = keys_in_order(&text);
        assert_eq!(&keys[..2], ["data", "dashboard"], "{text}");
        assert_eq!(&keys[2..7], expected, "{text}");
        assert_eq!(keys.last().map(String::as_str), Some("revenue"), "{text}");
    }
}

#[tokio::test]
async fn ids_from_another_tenant_are_not_found() {
    let app = TestApp::spawn_demo(INVOICES).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let bob = app.token("bob@globex.test", Some("globex")).await;
    let (acme_company, _) = app.companies(&alice).await.remove(0);
    let page = app
        .gql(
            INVOICE_PAGE,
            json!({ "companyId": acme_company }),
            Some(&alice),
        )
        .await;
    let node = page.assert_ok()["invoices"]["edges"][0]["node"].clone();

    for (query, variables) in [
        (
            "query($id: ID!) { invoice(id: $id) { number total } }",
            json!({ "id": node["id"] }),
        ),
        (
            "query($id: ID!) { partner(id: $id) { name } }",
            json!({ "id": node["partner"]["id"] }),
        ),
        (
            "query($id: ID!) { company(id: $id) { name } }",
            json!({ "id": acme_company }),
        ),
        (INVOICE_PAGE, json!({ "companyId": acme_company })),
        (
            DASHBOARD,
            json!({ "companyId": acme_company, "year": 2025 }),
        ),
    ] {
        let answer = app.gql(query, variables, Some(&bob)).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.code(), "NOT_FOUND", "{query}: {:#}", answer.body);
        assert!(
            answer.body["data"].is_null(),
            "no row for a foreign id: {:#}",
            answer.body
        );
    }
    // The same ids work for their own tenant; an id of the wrong type is not found.
    let own = app
        .gql(
            "query($id: ID!) { invoice(id: $id) { number } }",
            json!({ "id": node["id"] }),
            Some(&alice),
        )
        .await;
    assert_eq!(own.assert_ok()["invoice"]["number"], node["number"]);
    let wrong_kind = app
        .gql(
            "query($id: ID!) { invoice(id: $id) { number } }",
            json!({ "id": node["partner"]["id"] }),
            Some(&alice),
        )
        .await;
    assert_eq!(wrong_kind.code(), "NOT_FOUND");
}

#[tokio::test]
async fn platform_tokens_and_anonymous_callers_read_no_tenant_data() {
    let app = TestApp::spawn_demo(50).await;
    let root = app.token("root@tenantql.test", None).await;
    let answer = app
        .gql("{ companies { name } }", json!({}), Some(&root))
        .await;
    assert_eq!(answer.code(), "FORBIDDEN");
    assert!(answer.body["data"].is_null());
    let anonymous = app.gql("{ companies { name } }", json!({}), None).await;
    anonymous.assert_refused(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}

#[tokio::test]
async fn treasury_accounts_and_transactions() {
    let app = TestApp::spawn_demo(200).await;
    let token = app.token("alice@acme.test", Some("acme")).await;
    let answer = app
        .gql(
            "{ companies { treasuryAccounts { id kind openingBalance balance
                 transactions(first: 5) { edges { node { date amount } } pageInfo { hasNextPage endCursor } } } } }",
            json!({}),
            Some(&token),
        )
        .await;
    let data = answer.assert_ok();
    let accounts: Vec<&Json> = data["companies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["treasuryAccounts"].as_array().unwrap())
        .collect();
    assert_eq!(accounts.len(), 6);
    let account = accounts.iter().find(|a| a["kind"] == "CASH").unwrap();
    let id = account["id"].clone();
    // Balance = opening + every transaction, summed exactly over all pages.
    let mut sum = 0i64;
    let mut after = Json::Null;
    loop {
        let page = app
            .gql(
                "query($id: ID!, $after: String) { treasuryAccount(id: $id) { transactions(first: 50, after: $after) {
                   edges { node { amount } } pageInfo { hasNextPage endCursor } } } }",
                json!({ "id": id, "after": after }),
                Some(&token),
            )
            .await;
        let t = page.assert_ok()["treasuryAccount"]["transactions"].clone();
        sum += t["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| cents(&e["node"]["amount"]).0)
            .sum::<i64>();
        if !t["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = t["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(
        cents(&account["balance"]),
        cents(&account["openingBalance"]) + Cents(sum)
    );
}
