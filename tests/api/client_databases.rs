//! Databases tenantql does not own: a client's ERP database on PostgreSQL,
//! with the vendor's own tables, the contract as views and procedures over
//! them (sql/postgres/examples/), and a vendor application writing beside
//! tenantql; the contract check; write modes; and the rollout of tenantql's
//! own objects across many tenants.
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tenantql::{
    admin::tenant_database::{self, Outcome, RolloutRequest},
    audit::Actor,
    control::{
        entities::tenant::{BackendKind, WriteMode},
        tenants::{ContractPlacement, NewTenant, PoolLimits},
    },
    erp::seed::SQLITE_SCHEMA,
    store::{sqlite::SqliteSession, Connection, Sql, Value as StoreValue},
};

use crate::{
    erp::{self, INVOICE_PAGE},
    helpers::{
        add_postgres_tenant, add_vendor_tenant, fresh_postgres_database, migrate_tenant, ok,
        pg_superuser, postgres_url, register_tenant, tenantql, TestApp,
    },
    live::{self, pay, CREATE_INVOICE},
};

const CHECK: &str = r#"query($slug: String!) { checkTenantDatabase(slug: $slug) {
  ok contractVersion schema writeMode errors warnings ownVersion targetVersion
  objects { name kind foundAs ok findings { severity subject message } } } }"#;

const HEALTH: &str = r#"query($slug: String!) { tenant(slug: $slug) {
  health writeMode contractSchema contractFault { object at }
  database { schemaVersion targetVersion status attempt lastError features { name available reason } } } }"#;

fn int(value: &StoreValue) -> i64 {
    match value {
        StoreValue::Int(i) => *i,
        other => panic!("not an int: {other:?}"),
    }
}

/// One number from a superuser query.
async fn count(conn: &mut Connection, sql: &str) -> i64 {
    let rows = conn
        .query(&Sql::raw(conn.dialect(), sql), "test")
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    int(&rows[0].0[0])
}

/// Waits (at most `within`) for `task`; None if it has not finished by then.
async fn within<T>(within: Duration, task: &mut tokio::task::JoinHandle<T>) -> Option<T> {
    tokio::time::timeout(within, task)
        .await
        .ok()
        .map(|r| r.expect("task ran"))
}

/// Creates an invoice of `net` (no VAT) from the company to the partner.
async fn create_invoice(
    app: &TestApp,
    token: &str,
    company: &str,
    partner: &Value,
    net: &str,
) -> crate::helpers::Answer {
    let input = json!({ "input": { "companyId": company, "partnerId": partner, "kind": "SALE",
        "issueDate": "2026-11-02", "dueDate": "2026-12-02", "net": net, "vat": "0.00" } });
    app.gql(CREATE_INVOICE, input, Some(token)).await
}

#[tokio::test]
async fn the_erp_contract_holds_through_a_clients_views_and_procedures_on_postgres() {
    if postgres_url().is_none() {
        return;
    }
    let app = TestApp::spawn_demo_with(20, |c| c.server.change_poll_ms = 100).await;
    let connect = add_vendor_tenant(&app, "north", erp::INVOICES, WriteMode::Procedures).await;
    let root = app.platform_admin("ops@tenantql.test").await;

    // The check finds everything, granted as the write mode needs.
    let check = app
        .gql(CHECK, json!({ "slug": "north" }), Some(&root))
        .await;
    let check = check.assert_ok()["checkTenantDatabase"].clone();
    assert_eq!(check["ok"], true, "{check:#}");
    assert_eq!(check["errors"], 0, "{check:#}");
    assert_eq!(check["warnings"], 0, "{check:#}");
    assert_eq!(check["schema"], "erp_contract");
    assert_eq!(check["writeMode"], "PROCEDURES");
    assert_eq!(check["ownVersion"], check["targetVersion"]);
    let found: Vec<(&str, &str)> = check["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["name"].as_str().unwrap(), o["foundAs"].as_str().unwrap()))
        .collect();
    assert!(found.contains(&("invoices", "view")), "{found:?}");
    assert!(found.contains(&("tenantql_record_payment", "function")));

    // The whole contract suite, unchanged, through the views.
    let token = app.token("alice@acme.test", Some("north")).await;
    erp::contract(&app, "north", &token).await;

    // Payments go through the client's procedure, which locks the row and
    // refuses an overpayment: concurrent payments never overpay.
    let companies = app.companies(&token).await;
    let company = companies[0].0.clone();
    live::concurrent_payments_never_overpay(&app, &token, &company).await;

    // An invoice created through the procedure carries the vendor's number.
    let partner = app.first_partner(&token).await;
    let created = create_invoice(&app, &token, &company, &partner, "100.00").await;
    let created = created.assert_ok()["createInvoice"].clone();
    assert!(
        created["number"].as_str().unwrap().starts_with("ARI-2026-"),
        "{created}"
    );
    assert_eq!(created["total"], "100.00");
    let mut dba = pg_superuser(&connect).await;
    assert_eq!(
        count(
            &mut dba,
            "SELECT COUNT(*) FROM erp_vendor.documents WHERE posted_by <> 'migration'"
        )
        .await,
        1,
        "the vendor's table holds the new invoice"
    );

    // A row the vendor's application changes reaches subscribers, through its
    // triggers and tenantql's change log.
    let mut ws = app.ws(&token).await;
    ws.subscribe("a", live::EVENTS, json!({ "companyId": company }))
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut settle = Sql::new(tenantql::store::Dialect::Postgres);
    settle
        .push(
            "UPDATE erp_vendor.documents SET amount_settled = amount_gross WHERE doc_id = \
             (SELECT MIN(d.doc_id) FROM erp_vendor.documents d JOIN erp_vendor.parties p \
              ON p.party_id = d.entity_id WHERE p.legal_name = ",
        )
        .bind(companies[0].1.as_str())
        .push(" AND d.amount_settled < d.amount_gross)");
    let paid = dba.execute(&settle).await.unwrap();
    assert_eq!(paid, 1);
    live::changed_and_paid(&mut ws, "a").await;
}

#[tokio::test]
async fn a_vendor_application_and_tenantql_write_side_by_side_on_postgres() {
    if postgres_url().is_none() {
        return;
    }
    let app = TestApp::spawn_demo(20).await;
    let connect = add_vendor_tenant(&app, "north", 300, WriteMode::Procedures).await;
    let token = app.token("alice@acme.test", Some("north")).await;
    let company = app.companies(&token).await[0].0.clone();
    let open = live::unpaid(&app, &token, &company).await;
    assert!(open.len() >= 30, "enough open invoices");

    // The vendor's application inserts invoices and settlements with its own
    // sequences while tenantql records payments through the procedure.
    let vendor = {
        let connect = connect.clone();
        tokio::spawn(async move {
            let mut erp = pg_superuser(&connect).await;
            for i in 0..40 {
                let mut insert = Sql::new(tenantql::store::Dialect::Postgres);
                insert
                    .push(
                        "WITH d AS (INSERT INTO erp_vendor.documents (entity_id, party_id, doc_no, doc_type, \
                         doc_date, due_at, amount_net, amount_tax, amount_gross, posted_by) \
                         SELECT MIN(party_id), (SELECT MIN(party_id) FROM erp_vendor.parties WHERE party_type = 'C'), ",
                    )
                    .bind(format!("VEND-{i}"))
                    .push(
                        ", 'ARI', now(), now() + interval '30 days', 10, 2, 12, 'vendor-app' \
                         FROM erp_vendor.parties WHERE party_type = 'O' RETURNING doc_id) \
                         INSERT INTO erp_vendor.settlements (doc_id, settled_on, amount, channel) \
                         SELECT doc_id, now(), 5, 'TRF' FROM d",
                    );
                erp.execute(&insert).await.expect("the vendor's insert");
            }
        })
    };
    let mut payments = Vec::new();
    for (invoice, issued, _) in open.iter().take(30) {
        payments.push(pay(&app, &token, invoice, "1.00", issued));
    }
    let answers = futures_util::future::join_all(payments).await;
    vendor.await.expect("the vendor application finished");
    for answer in &answers {
        answer.assert_ok();
    }
    let ids: std::collections::HashSet<&str> = answers
        .iter()
        .map(|a| {
            a.body["data"]["recordPayment"]["payment"]["id"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(ids.len(), 30, "every payment has its own id");
    let mut dba = pg_superuser(&connect).await;
    assert_eq!(
        count(
            &mut dba,
            "SELECT COUNT(*) FROM erp_vendor.documents WHERE posted_by = 'vendor-app'"
        )
        .await,
        40
    );
    assert_eq!(
        count(
            &mut dba,
            "SELECT COUNT(*) FROM erp_vendor.settlements WHERE settlement_id >= 10000"
        )
        .await,
        70,
        "40 of the vendor's and 30 of tenantql's, from one sequence"
    );

    // A vendor transaction holding one invoice's row stalls only that invoice.
    let (held, held_issued, _) = open[35].clone();
    let (free, free_issued, _) = open[36].clone();
    let held_number = app
        .gql(
            "query($id: ID!) { invoice(id: $id) { number } }",
            json!({ "id": held }),
            Some(&token),
        )
        .await
        .assert_ok()["invoice"]["number"]
        .as_str()
        .unwrap()
        .to_string();
    let mut erp = pg_superuser(&connect).await;
    erp.begin().await.unwrap();
    let mut lock = Sql::new(tenantql::store::Dialect::Postgres);
    lock.push("UPDATE erp_vendor.documents SET posted_by = 'vendor-app' WHERE doc_no = ")
        .bind(held_number);
    assert_eq!(erp.execute(&lock).await.unwrap(), 1);
    let started = Instant::now();
    pay(&app, &token, &free, "1.00", &free_issued)
        .await
        .assert_ok();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "another invoice's payment waited {:?}",
        started.elapsed()
    );
    let mut waiting = {
        let request = app
            .client
            .post(format!("http://{}/graphql", app.addr))
            .bearer_auth(&token)
            .json(&json!({ "query": live::RECORD_PAYMENT,
                "variables": { "invoiceId": held, "amount": "1.00", "date": held_issued } }));
        tokio::spawn(async move {
            let response = request.send().await.expect("request sent");
            response.json::<Value>().await.expect("a JSON answer")
        })
    };
    assert!(
        within(Duration::from_millis(700), &mut waiting)
            .await
            .is_none(),
        "the held invoice's payment waits for the vendor's transaction"
    );
    erp.commit().await.unwrap();
    let answer = within(Duration::from_secs(10), &mut waiting)
        .await
        .expect("the payment goes on once the vendor commits");
    assert!(answer["errors"].is_null(), "{answer:#}");
}

#[tokio::test]
async fn writes_into_tenantqls_own_tables_lock_only_their_rows_on_postgres() {
    if postgres_url().is_none() {
        return;
    }
    let app = TestApp::spawn_demo(20).await;
    let connect = add_postgres_tenant(&app, "north", 300, None).await;
    let token = app.token("alice@acme.test", Some("north")).await;
    let company = app.companies(&token).await[0].0.clone();
    let partner = app.first_partner(&token).await;
    let open = live::unpaid(&app, &token, &company).await;
    let (free, free_issued, _) = open[1].clone();

    // Another program holds one invoice's row (and inserts a payment) in an
    // open transaction: a table lock would stall every write; row locks do not.
    let mut other = pg_superuser(&connect).await;
    other.begin().await.unwrap();
    assert_eq!(
        other
            .execute(&Sql::raw(
                tenantql::store::Dialect::Postgres,
                "UPDATE invoices SET paid_cents = paid_cents WHERE id = (SELECT MIN(id) FROM invoices WHERE paid_cents < total_cents)"
            ))
            .await
            .unwrap(),
        1
    );
    let started = Instant::now();
    pay(&app, &token, &free, "1.00", &free_issued)
        .await
        .assert_ok();
    create_invoice(&app, &token, &company, &partner, "10.00")
        .await
        .assert_ok();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "writes waited {:?} on another transaction's row",
        started.elapsed()
    );
    other.commit().await.unwrap();

    // Invoices created at once are numbered without gaps or repeats (ids from
    // the sequence, numbers guarded by their unique key).
    let mut creates = Vec::new();
    for _ in 0..8 {
        creates.push(create_invoice(&app, &token, &company, &partner, "1.00"));
    }
    let created = futures_util::future::join_all(creates).await;
    let mut numbers: Vec<String> = created
        .iter()
        .map(|a| {
            a.assert_ok()["createInvoice"]["number"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 8, "{numbers:?}");
    let mut dba = pg_superuser(&connect).await;
    let next = count(&mut dba, "SELECT last_value FROM invoices_id_seq").await;
    let max = count(&mut dba, "SELECT MAX(id) FROM invoices").await;
    assert_eq!(next, max, "ids come from the sequence");
}

#[tokio::test]
async fn a_dropped_view_column_is_named_and_only_that_tenant_fails_on_postgres() {
    if postgres_url().is_none() {
        return;
    }
    let app = TestApp::spawn_demo(20).await;
    let connect = add_vendor_tenant(&app, "north", 200, WriteMode::ReadOnly).await;
    let root = app.platform_admin("ops@tenantql.test").await;
    let north = app.token("alice@acme.test", Some("north")).await;
    let acme = app.token("alice@acme.test", Some("acme")).await;
    let north_company = app.companies(&north).await[0].0.clone();
    let acme_company = app.companies(&acme).await[0].0.clone();
    app.gql(
        INVOICE_PAGE,
        json!({ "companyId": north_company }),
        Some(&north),
    )
    .await
    .assert_ok();

    // The DBA replaces the invoices view without vat_cents.
    pg_superuser(&connect)
        .await
        .execute_script(
            "DROP VIEW erp_contract.invoices; \
             CREATE VIEW erp_contract.invoices AS SELECT d.doc_id AS id, d.entity_id AS company_id, \
             d.party_id AS partner_id, d.doc_no AS doc_number, \
             CASE d.doc_type WHEN 'ARI' THEN 'sale' ELSE 'purchase' END AS kind, \
             CAST(d.doc_date AS DATE) AS issue_date, CAST(d.due_at AS DATE) AS due_date, \
             CAST(d.amount_net * 100 AS BIGINT) AS net_cents, \
             CAST(d.amount_gross * 100 AS BIGINT) AS total_cents, \
             CAST(d.amount_settled * 100 AS BIGINT) AS paid_cents FROM erp_vendor.documents d; \
             DO $$ BEGIN EXECUTE format('GRANT SELECT ON erp_contract.invoices TO %I', current_database() || '_reader'); END $$",
        )
        .await
        .unwrap();

    // That tenant answers a clear code; the other tenant answers.
    let broken = app
        .gql(
            INVOICE_PAGE,
            json!({ "companyId": north_company }),
            Some(&north),
        )
        .await;
    assert_eq!(broken.code(), "TENANT_CONTRACT_BROKEN", "{:#}", broken.body);
    let message = broken.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("tenantql tenant check north"), "{message}");
    assert!(
        !message.contains("vat_cents") && !message.contains("erp_"),
        "{message}"
    );
    app.gql(
        INVOICE_PAGE,
        json!({ "companyId": acme_company }),
        Some(&acme),
    )
    .await
    .assert_ok();
    // Its companies (which need no invoice) still answer.
    assert_eq!(app.companies(&north).await.len(), 3);

    // Operators see what broke, in the tenant's health and in the check.
    let health = app
        .gql(HEALTH, json!({ "slug": "north" }), Some(&root))
        .await;
    let health = health.assert_ok()["tenant"].clone();
    assert_eq!(health["health"], "CONTRACT_BROKEN", "{health:#}");
    assert!(
        health["contractFault"]["object"]
            .as_str()
            .unwrap()
            .contains("vat_cents"),
        "{health:#}"
    );
    let check = app
        .gql(CHECK, json!({ "slug": "north" }), Some(&root))
        .await;
    let check = check.assert_ok()["checkTenantDatabase"].clone();
    assert_eq!(check["ok"], false);
    assert_eq!(check["errors"], 1, "{check:#}");
    let invoices = check["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "invoices")
        .unwrap();
    assert_eq!(invoices["ok"], false);
    assert_eq!(invoices["findings"][0]["subject"], "vat_cents");
    assert_eq!(invoices["findings"][0]["message"], "missing");
    let test = app
        .gql(
            "mutation($slug: String!) { testTenantConnection(slug: $slug) { reachable hops { name reachable reason } } }",
            json!({ "slug": "north" }),
            Some(&root),
        )
        .await;
    let hops = test.assert_ok()["testTenantConnection"]["hops"].clone();
    assert_eq!(hops[1]["name"], "schema", "{hops:#}");
    assert_eq!(hops[1]["reason"], "invoices.vat_cents: missing");

    // The command line says the same and fails.
    let data_dir = app.config.control.data_dir.clone();
    let out = tenantql(&data_dir, &["tenant", "check", "north"], None);
    assert!(!out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("invoices"), "{printed}");
    assert!(printed.contains("error: vat_cents: missing"), "{printed}");

    // Fixed, checked: the fault is cleared and the tenant answers again.
    let mut dba = pg_superuser(&connect).await;
    dba.execute_script("DROP VIEW erp_contract.invoices")
        .await
        .unwrap();
    dba.execute_script(tenantql::erp::seed::POSTGRES_VENDOR_EXAMPLE[1])
        .await
        .unwrap();
    let check = app
        .gql(CHECK, json!({ "slug": "north" }), Some(&root))
        .await;
    assert_eq!(check.assert_ok()["checkTenantDatabase"]["ok"], true);
    let health = app
        .gql(HEALTH, json!({ "slug": "north" }), Some(&root))
        .await;
    assert!(health.assert_ok()["tenant"]["contractFault"].is_null());
    app.gql(
        INVOICE_PAGE,
        json!({ "companyId": north_company }),
        Some(&north),
    )
    .await
    .assert_ok();
}

#[tokio::test]
async fn read_only_and_procedures_tenants_never_write_a_table() {
    let app = TestApp::spawn_demo(50).await;
    let root = app.platform_admin("ops@tenantql.test").await;
    // acme made read-only by its operator.
    app.gql(
        "mutation { updateTenant(slug: \"acme\", input: { writeMode: READ_ONLY }) { writeMode } }",
        json!({}),
        Some(&root),
    )
    .await
    .assert_ok();
    let acme = app.tenant_ref("acme").await;
    let store = tenantql::control::tenants::get_by_slug(&app.services.control.db, "acme")
        .await
        .unwrap()
        .connect_string;
    let rows = |path: String| async move {
        let mut conn = Connection::Sqlite(SqliteSession::open(&path).await.unwrap());
        let mut total = 0;
        for table in ["invoices", "payments", "treasury_transactions"] {
            total += count(&mut conn, &format!("SELECT COUNT(*) FROM {table}")).await;
        }
        total
            + count(
                &mut conn,
                "SELECT COALESCE(SUM(paid_cents), 0) FROM invoices",
            )
            .await
    };
    let before = rows(store.clone()).await;
    assert_eq!(acme.write_mode, WriteMode::ReadOnly);
    for (email, role) in [("alice@acme.test", "admin"), ("carol@acme.test", "member")] {
        let token = app.token(email, Some("acme")).await;
        let company = app.companies(&token).await[0].0.clone();
        let partner = app.first_partner(&token).await;
        let (invoice, issued, _) = live::unpaid(&app, &token, &company).await[0].clone();
        let paid = pay(&app, &token, &invoice, "1.00", &issued).await;
        assert_eq!(paid.code(), "TENANT_READ_ONLY", "{role}: {:#}", paid.body);
        let created = create_invoice(&app, &token, &company, &partner, "1.00").await;
        assert_eq!(
            created.code(),
            "TENANT_READ_ONLY",
            "{role}: {:#}",
            created.body
        );
        // Reads go on.
        app.gql(INVOICE_PAGE, json!({ "companyId": company }), Some(&token))
            .await
            .assert_ok();
    }
    assert_eq!(rows(store).await, before, "no write reached a table");

    // A procedures tenant on a client's database: tenantql's account holds no
    // privilege on any table, so a write can reach the ERP only through the
    // client's procedures; read-only refuses before calling them.
    if postgres_url().is_none() {
        return;
    }
    let connect = add_vendor_tenant(&app, "north", 100, WriteMode::Procedures).await;
    let mut dba = pg_superuser(&connect).await;
    let role = format!("{}_app", connect.rsplit('/').next().unwrap());
    let writable = count(
        &mut dba,
        &format!(
            "SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname IN ('erp_vendor', 'erp_contract') AND c.relkind IN ('r', 'v') \
             AND (has_table_privilege('{role}', c.oid, 'INSERT') OR has_table_privilege('{role}', c.oid, 'UPDATE') \
                  OR has_table_privilege('{role}', c.oid, 'DELETE'))"
        ),
    )
    .await;
    assert_eq!(writable, 0, "tenantql's account may write no table");
    app.gql(
        "mutation { updateTenant(slug: \"north\", input: { writeMode: READ_ONLY }) { writeMode } }",
        json!({}),
        Some(&root),
    )
    .await
    .assert_ok();
    let north = app.token("alice@acme.test", Some("north")).await;
    let company = app.companies(&north).await[0].0.clone();
    let (invoice, issued, _) = live::unpaid(&app, &north, &company).await[0].clone();
    let settled = count(&mut dba, "SELECT COUNT(*) FROM erp_vendor.settlements").await;
    let paid = pay(&app, &north, &invoice, "1.00", &issued).await;
    assert_eq!(paid.code(), "TENANT_READ_ONLY", "{:#}", paid.body);
    assert_eq!(
        count(&mut dba, "SELECT COUNT(*) FROM erp_vendor.settlements").await,
        settled
    );
    // A procedure's refusal by the convention reaches the caller as BAD_USER_INPUT,
    // in its own words.
    app.gql(
        "mutation { updateTenant(slug: \"north\", input: { writeMode: PROCEDURES }) { writeMode } }",
        json!({}),
        Some(&root),
    )
    .await
    .assert_ok();
    dba.execute_script(
        "CREATE OR REPLACE FUNCTION erp_contract.tenantql_record_payment(p_invoice_id BIGINT, \
         p_amount_cents BIGINT, p_payment_date DATE, p_method TEXT) \
         RETURNS BIGINT LANGUAGE plpgsql AS $$ BEGIN \
         RAISE EXCEPTION 'the period is closed' USING ERRCODE = 'TQ409'; END $$",
    )
    .await
    .unwrap();
    let refused = pay(&app, &north, &invoice, "1.00", &issued).await;
    assert_eq!(refused.code(), "CONFLICT", "{:#}", refused.body);
    assert_eq!(refused.body["errors"][0]["message"], "the period is closed");
}

/// An empty SQLite store with the ERP tables (as `tenant add` leaves one
/// before data arrives), registered as a tenant.
async fn empty_sqlite_tenant(app: &TestApp, slug: &str) -> String {
    let path = app
        .config
        .control
        .data_dir
        .join(format!("{slug}.db"))
        .display()
        .to_string();
    let mut conn = Connection::Sqlite(SqliteSession::create(&path).await.unwrap());
    conn.execute_script(SQLITE_SCHEMA).await.unwrap();
    register_tenant(app, plain_tenant(slug, BackendKind::Sqlite, &path, None)).await;
    path
}

fn plain_tenant(slug: &str, backend: BackendKind, connect: &str, user: Option<&str>) -> NewTenant {
    NewTenant {
        slug: slug.into(),
        display_name: slug.into(),
        backend,
        connect_string: connect.into(),
        db_username: user.map(str::to_string),
        db_password: None,
        pool: PoolLimits::default(),
        tunnel: None,
        contract: ContractPlacement::default(),
        allowed_origins: Vec::new(),
    }
}

fn request(dry_run: bool, concurrency: usize, canary: Option<usize>) -> RolloutRequest {
    RolloutRequest {
        slugs: Vec::new(),
        dry_run,
        concurrency,
        canary,
    }
}

/// Each tenant's `(version, status, lastError)` as the API shows it.
async fn database_states(app: &TestApp, root: &str) -> Vec<(String, i64, String, Option<String>)> {
    let answer = app
        .gql(
            "{ tenants(first: 100) { edges { node { slug database { schemaVersion status lastError } } } } }",
            json!({}),
            Some(root),
        )
        .await;
    answer.assert_ok()["tenants"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let node = &e["node"];
            (
                node["slug"].as_str().unwrap().to_string(),
                node["database"]["schemaVersion"].as_i64().unwrap(),
                node["database"]["status"].as_str().unwrap().to_string(),
                node["database"]["lastError"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[tokio::test]
async fn migrations_roll_out_across_fifty_sqlite_tenants() {
    let app = TestApp::spawn().await;
    app.add_user("alice@acme.test", &[]).await;
    let root = app.platform_admin("ops@tenantql.test").await;
    let mut stores = Vec::new();
    for i in 0..50 {
        stores.push(empty_sqlite_tenant(&app, &format!("client-{i:02}")).await);
    }
    // One store lacks the invoices table the triggers go on.
    let broken = "client-17";
    let mut conn = Connection::Sqlite(SqliteSession::open(&stores[17]).await.unwrap());
    conn.execute_script(
        "DROP TABLE treasury_transactions; DROP TABLE payments; DROP TABLE invoices",
    )
    .await
    .unwrap();

    // A dry run plans both steps everywhere and changes nothing.
    let data_dir = app.config.control.data_dir.clone();
    let planned = ok(tenantql(
        &data_dir,
        &["tenant", "migrate", "--all", "--dry-run"],
        None,
    ));
    assert!(planned.contains("(dry run)"), "{planned}");
    assert_eq!(planned.matches("planned   0 -> 2").count(), 50, "{planned}");
    assert!(planned.contains("steps: 1 change_log, 2 own_tables"));
    assert_eq!(database_states(&app, &root).await[0].1, 0);

    // Two runs at once: the lease gives each tenant to one of them.
    let actor = Actor::cli("test");
    let (first, second) = tokio::join!(
        tenant_database::migrate(&app.services, &actor, request(false, 8, None)),
        tenant_database::migrate(&app.services, &actor, request(false, 8, None)),
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    for (a, b) in first.tenants.iter().zip(&second.tenants) {
        assert_eq!(a.slug, b.slug);
        let migrated = [a, b]
            .iter()
            .filter(|o| o.outcome == Outcome::Migrated)
            .count();
        if a.slug == broken {
            assert!(a.outcome == Outcome::Failed || b.outcome == Outcome::Failed);
            assert_eq!(migrated, 0);
        } else {
            assert_eq!(migrated, 1, "{a:?} {b:?}");
        }
    }
    let mut store = Connection::Sqlite(SqliteSession::open(&stores[3]).await.unwrap());
    assert_eq!(
        count(&mut store, "SELECT COUNT(*) FROM tenantql_schema_version").await,
        2
    );

    // 49 at the target, one failed with its error; the others untouched by it.
    let states = database_states(&app, &root).await;
    assert_eq!(states.len(), 50);
    for (slug, version, status, error) in &states {
        if slug == broken {
            assert_eq!((*version, status.as_str()), (1, "FAILED"));
            let error = error.as_deref().unwrap();
            assert!(
                error.contains("step 2 (own_tables)") && error.contains("invoices"),
                "{error}"
            );
        } else {
            assert_eq!((*version, status.as_str()), (2, "CURRENT"), "{slug}");
        }
    }

    // Fixed, and run again: only the one not at the target is migrated.
    conn.execute_script(SQLITE_SCHEMA).await.unwrap();
    let again = ok(tenantql(
        &data_dir,
        &["tenant", "migrate", "--all", "--concurrency", "16"],
        None,
    ));
    assert!(again.contains(": completed"), "{again}");
    assert_eq!(again.matches(" migrated ").count(), 1, "{again}");
    assert_eq!(again.matches(" current ").count(), 49, "{again}");
    assert!(database_states(&app, &root)
        .await
        .iter()
        .all(|(_, version, status, _)| *version == 2 && status == "CURRENT"));
    let shown = ok(tenantql(&data_dir, &["tenant", "show", broken], None));
    assert!(
        shown.contains("tenantql's objects at version 2 of 2, current (attempt 0"),
        "{shown}"
    );
    let listed = ok(tenantql(&data_dir, &["tenant", "list"], None));
    let line = listed.lines().find(|l| l.starts_with(broken)).unwrap();
    assert_eq!(line.split_whitespace().nth(3), Some("tables"), "{line}");
    assert_eq!(line.split_whitespace().nth(4), Some("2"), "{line}");

    // A rollout naming a tenant that does not exist runs for none.
    let unknown = tenant_database::migrate(
        &app.services,
        &actor,
        RolloutRequest {
            slugs: vec![broken.into(), "no-such-client".into()],
            ..request(false, 1, None)
        },
    )
    .await
    .unwrap_err();
    assert_eq!(unknown.code(), "NOT_FOUND");

    // The rollouts are on record with every tenant's outcome.
    let rollouts = tenantql::control::tenant_databases::results(
        &app.services.control.db,
        first.id.as_deref().unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(rollouts.len(), 50);
}

#[tokio::test]
async fn migrations_roll_out_across_fifty_postgres_tenants() {
    let Some(base) = postgres_url() else {
        return;
    };
    let app = TestApp::spawn().await;
    app.add_user("alice@acme.test", &[]).await;
    let root = app.platform_admin("ops@tenantql.test").await;
    let mut databases = Vec::new();
    for i in 0..50 {
        let url = fresh_postgres_database(&base).await;
        let (user, connect) = url
            .strip_prefix("postgres://")
            .unwrap()
            .split_once('@')
            .unwrap();
        let mut dba = pg_superuser(connect).await;
        // The first tenant in slug order has no invoices table.
        let schema = if i == 0 {
            "CREATE TABLE companies (id BIGINT PRIMARY KEY)"
        } else {
            tenantql::erp::seed::POSTGRES_SCHEMA
        };
        dba.execute_script(schema).await.unwrap();
        let slug = format!("pg-{i:02}");
        register_tenant(
            &app,
            plain_tenant(&slug, BackendKind::Postgres, connect, Some(user)),
        )
        .await;
        databases.push(connect.to_string());
    }
    let actor = Actor::cli("test");

    // Before migrating, the check says the id sequences are missing.
    let before = tenant_database::check(&app.services, &actor, "pg-10")
        .await
        .unwrap();
    assert_eq!(before.errors(), 3, "{before:#?}");
    assert!(before
        .first_error()
        .unwrap()
        .starts_with("invoices.invoices_id_seq: the sequence"));

    // A canary of 3 that includes the broken tenant stops the rollout.
    let stopped = tenant_database::migrate(&app.services, &actor, request(false, 4, Some(3)))
        .await
        .unwrap();
    assert_eq!(stopped.status, "stopped");
    assert_eq!(stopped.count(Outcome::Failed), 1);
    assert_eq!(stopped.count(Outcome::Migrated), 2);
    assert_eq!(stopped.count(Outcome::Skipped), 47);
    let mut untouched = pg_superuser(&databases[10]).await;
    assert_eq!(
        count(
            &mut untouched,
            "SELECT COUNT(*) FROM pg_tables WHERE tablename = 'tenantql_schema_version'"
        )
        .await,
        0,
        "a skipped tenant is left alone"
    );

    // Without a canary, one failure stops nobody else.
    let run = tenant_database::migrate(&app.services, &actor, request(false, 8, None))
        .await
        .unwrap();
    assert_eq!(run.status, "failed");
    assert_eq!(run.count(Outcome::Failed), 1);
    assert_eq!(run.count(Outcome::Migrated), 47);
    assert_eq!(run.count(Outcome::Current), 2);
    let failed = run
        .tenants
        .iter()
        .find(|t| t.outcome == Outcome::Failed)
        .unwrap();
    assert_eq!(failed.slug, "pg-00");
    assert!(
        failed.error.as_deref().unwrap().contains("invoices"),
        "{failed:?}"
    );
    // Sequences start past the data, triggers are in place.
    let mut migrated = pg_superuser(&databases[10]).await;
    assert_eq!(
        count(
            &mut migrated,
            "SELECT COUNT(*) FROM pg_trigger WHERE tgname LIKE 'tenantql_%'"
        )
        .await,
        2
    );
    let states = database_states(&app, &root).await;
    assert_eq!(states.iter().filter(|s| s.1 == 2).count(), 49);

    // A runner outside this control plane holding the database's advisory
    // lock keeps this one off it.
    let mut other_runner = pg_superuser(&databases[0]).await;
    count(
        &mut other_runner,
        &format!(
            "SELECT CASE WHEN pg_try_advisory_lock({}) THEN 1 ELSE 0 END",
            tenantql::contract::migrations::ADVISORY_LOCK
        ),
    )
    .await;
    let held = migrate_tenant(&app, "pg-00").await;
    assert_eq!(held.tenants[0].outcome, Outcome::Failed);
    assert!(
        held.tenants[0]
            .error
            .as_deref()
            .unwrap()
            .contains("another migration holds this database"),
        "{held:#?}"
    );
    drop(other_runner);

    // Fixed and run again: it completes.
    pg_superuser(&databases[0])
        .await
        .execute_script(tenantql::erp::seed::POSTGRES_SCHEMA)
        .await
        .unwrap();
    let done = tenant_database::migrate(&app.services, &actor, request(false, 8, None))
        .await
        .unwrap();
    assert_eq!(done.status, "completed", "{done:#?}");
    let after = tenant_database::check(&app.services, &actor, "pg-10")
        .await
        .unwrap();
    assert_eq!(after.errors(), 0, "{after:#?}");
    assert_eq!(done.count(Outcome::Migrated), 1);
    assert_eq!(done.count(Outcome::Current), 49);
}

#[tokio::test]
async fn a_tenant_behind_the_change_log_version_serves_reads_and_says_live_changes_are_degraded() {
    let app = TestApp::spawn().await;
    app.add_user("alice@acme.test", &[]).await;
    let root = app.platform_admin("ops@tenantql.test").await;
    let path = empty_sqlite_tenant(&app, "fresh").await;
    let mut conn = Connection::Sqlite(SqliteSession::open(&path).await.unwrap());
    conn.execute_script("INSERT INTO companies VALUES (1, 'Fresh Holdings', 'X1', 'EUR')")
        .await
        .unwrap();
    let health = app
        .gql(HEALTH, json!({ "slug": "fresh" }), Some(&root))
        .await;
    let database = health.assert_ok()["tenant"]["database"].clone();
    assert_eq!(database["schemaVersion"], 0);
    assert_eq!(database["features"][0]["name"], "liveChanges");
    assert_eq!(database["features"][0]["available"], false);
    assert!(database["features"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("tenantql tenant migrate"));
    let token = app.token("alice@acme.test", Some("fresh")).await;
    assert_eq!(app.companies(&token).await.len(), 1, "reads are served");
    // A subscription is accepted and the server stays up (no change log to poll).
    let company = app.companies(&token).await[0].0.clone();
    let mut ws = app.ws(&token).await;
    ws.subscribe("a", live::EVENTS, json!({ "companyId": company }))
        .await;
    ws.assert_silent(Duration::from_millis(300)).await;
    // Migrated, the feature is available.
    ok(tenantql(
        &app.config.control.data_dir,
        &["tenant", "migrate", "fresh"],
        None,
    ));
    let health = app
        .gql(HEALTH, json!({ "slug": "fresh" }), Some(&root))
        .await;
    let database = health.assert_ok()["tenant"]["database"].clone();
    assert_eq!(database["schemaVersion"], 2);
    assert_eq!(database["features"][0]["available"], true);
}

#[tokio::test]
async fn the_erp_contract_holds_through_views_over_a_vendors_sqlite_tables() {
    let app = TestApp::spawn_demo(20).await;
    let path = app
        .config
        .control
        .data_dir
        .join("vendor.db")
        .display()
        .to_string();
    let mut conn = Connection::Sqlite(SqliteSession::create(&path).await.unwrap());
    tenantql::erp::seed::load_vendor_example(
        &mut conn,
        "south",
        tenantql::erp::seed::SeedPlan::new(erp::INVOICES),
    )
    .await
    .unwrap();
    register_tenant(
        &app,
        NewTenant {
            contract: ContractPlacement {
                schema: None,
                write_mode: WriteMode::ReadOnly,
            },
            ..plain_tenant("south", BackendKind::Sqlite, &path, None)
        },
    )
    .await;
    let actor = Actor::cli("test");
    let rollout = migrate_tenant(&app, "south").await;
    assert_eq!(rollout.status, "completed", "{rollout:#?}");
    // Only tenantql's change log: the views get no triggers.
    assert!(!rollout.tenants[0].steps[1].applies);
    let report = tenant_database::check(&app.services, &actor, "south")
        .await
        .unwrap();
    assert!(report.ok(), "{report:#?}");
    assert!(report
        .objects
        .iter()
        .all(|o| o.found_as.as_deref() == Some("view")));

    let token = app.token("alice@acme.test", Some("south")).await;
    erp::contract(&app, "south", &token).await;
    let company = app.companies(&token).await[0].0.clone();
    let (invoice, issued, _) = live::unpaid(&app, &token, &company).await[0].clone();
    assert_eq!(
        pay(&app, &token, &invoice, "1.00", &issued).await.code(),
        "TENANT_READ_ONLY"
    );
}
