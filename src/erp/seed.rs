//! Deterministic demo data: the same tenant slug and plan always give the same rows.
//!
//! Per tenant: 3 companies, 500 partners, N invoices over the 24 months ending at
//! `until`, 0–3 payments per invoice (1.5 on average), a bank and a cash account
//! per company, a bank transaction per payment and petty-cash spending.
use chrono::{Datelike, Days, NaiveDate};

use crate::store::{sqlite::SqliteSession, Connection, Dialect, Sql, StoreError, Value};

pub const DEFAULT_INVOICES: usize = 20_000;
pub const PARTNERS: usize = 500;
pub const COMPANIES: usize = 3;
/// Rows per INSERT statement.
const BATCH: usize = 200;

#[derive(Debug, Clone, Copy)]
pub struct SeedPlan {
    pub invoices: usize,
    /// Last day of the 24 generated months.
    pub until: NaiveDate,
}

impl SeedPlan {
    pub fn new(invoices: usize) -> Self {
        SeedPlan {
            invoices,
            until: NaiveDate::from_ymd_opt(2026, 10, 31).expect("a valid date"),
        }
    }

    fn start(&self) -> NaiveDate {
        let first_of_month = self.until.with_day(1).expect("day 1 exists");
        first_of_month
            .checked_sub_months(chrono::Months::new(23))
            .expect("24 months back is a valid date")
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeedCounts {
    pub companies: usize,
    pub partners: usize,
    pub invoices: usize,
    pub payments: usize,
    pub accounts: usize,
    pub transactions: usize,
}

pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
    pub rows: Vec<Vec<Value>>,
}

/// Rows per table, in insert order (parents before children).
pub struct Dataset {
    pub tables: Vec<Table>,
}

impl Dataset {
    pub fn counts(&self) -> SeedCounts {
        let n = |name: &str| {
            self.tables
                .iter()
                .find(|t| t.name == name)
                .map_or(0, |t| t.rows.len())
        };
        SeedCounts {
            companies: n("companies"),
            partners: n("partners"),
            invoices: n("invoices"),
            payments: n("payments"),
            accounts: n("treasury_accounts"),
            transactions: n("treasury_transactions"),
        }
    }
}

/// SplitMix64: tiny, fast, and the same on every platform.
struct Rng(u64);

impl Rng {
    fn for_tenant(slug: &str) -> Rng {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for b in slug.bytes() {
            seed = (seed ^ b as u64).wrapping_mul(0x0100_0000_01B3);
        }
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const NAME_HEADS: &[&str] = &[
    "Alder", "Birch", "Cobalt", "Delta", "Ember", "Falcon", "Granite", "Harbor", "Iris", "Juniper",
    "Kestrel", "Lumen", "Maple", "Nimbus", "Orchid", "Pioneer", "Quartz", "Raven", "Summit",
    "Tidal", "Umber", "Vertex", "Willow", "Xenon", "Yarrow", "Zephyr",
];
const NAME_TAILS: &[&str] = &[
    "Logistics",
    "Foods",
    "Textiles",
    "Metals",
    "Systems",
    "Pharma",
    "Energy",
    "Motors",
    "Media",
    "Farms",
    "Tools",
    "Labs",
    "Retail",
    "Builders",
    "Optics",
    "Marine",
    "Paper",
    "Glass",
    "Foundry",
];
const LEGAL_FORMS: &[&str] = &["GmbH", "Ltd", "SA", "Inc", "SRL", "BV", "AG", "Oy"];
const CITIES: &[&str] = &[
    "Berlin", "Lyon", "Porto", "Turin", "Ghent", "Krakow", "Brno", "Malmo", "Leeds", "Cluj",
    "Graz", "Bilbao",
];
const VAT_RATES_PERMILLE: &[i64] = &[190, 190, 190, 70, 0];
const DUE_DAYS: &[u64] = &[15, 30, 30, 45, 60];

fn title(slug: &str) -> String {
    let mut chars = slug.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Generates the tenant's rows; nothing is written.
pub fn generate(slug: &str, plan: SeedPlan) -> Dataset {
    let mut rng = Rng::for_tenant(slug);
    let start = plan.start();
    let days = (plan.until - start).num_days().max(1) as u64 + 1;
    let name = title(slug);

    let companies: Vec<Vec<Value>> = ["Holdings", "Retail", "Services"]
        .iter()
        .take(COMPANIES)
        .enumerate()
        .map(|(i, suffix)| {
            vec![
                Value::Int(i as i64 + 1),
                Value::from(format!("{name} {suffix}")),
                Value::from(format!("EU{:09}", rng.below(1_000_000_000))),
                Value::from("EUR"),
            ]
        })
        .collect();

    let mut customers = Vec::new();
    let mut suppliers = Vec::new();
    let partners: Vec<Vec<Value>> = (1..=PARTNERS as i64)
        .map(|id| {
            let kind = match rng.below(10) {
                0..=5 => "customer",
                6..=8 => "supplier",
                _ => "both",
            };
            if kind != "supplier" {
                customers.push(id);
            }
            if kind != "customer" {
                suppliers.push(id);
            }
            vec![
                Value::Int(id),
                Value::from(format!(
                    "{} {} {}",
                    rng.pick(NAME_HEADS),
                    rng.pick(NAME_TAILS),
                    rng.pick(LEGAL_FORMS)
                )),
                Value::from(format!("VAT{:010}", rng.below(10_000_000_000))),
                Value::from(kind),
                Value::from(*rng.pick(CITIES)),
            ]
        })
        .collect();

    let accounts: Vec<Vec<Value>> = (0..COMPANIES as i64)
        .flat_map(|c| {
            let bank = vec![
                Value::Int(c * 2 + 1),
                Value::Int(c + 1),
                Value::from("Main bank account"),
                Value::from("bank"),
                Value::from(format!("DE{:020}", rng.below(u64::MAX / 2))),
                Value::Int(5_000_000 + rng.below(20_000_000) as i64),
            ];
            let cash = vec![
                Value::Int(c * 2 + 2),
                Value::Int(c + 1),
                Value::from("Petty cash"),
                Value::from("cash"),
                Value::Null,
                Value::Int(800_000 + rng.below(400_000) as i64),
            ];
            [bank, cash]
        })
        .collect();

    let mut invoices = Vec::with_capacity(plan.invoices);
    let mut payments = Vec::with_capacity(plan.invoices * 3 / 2);
    let mut transactions = Vec::with_capacity(plan.invoices * 3 / 2);
    let mut sequence = [[0u32; 2]; COMPANIES];
    for id in 1..=plan.invoices as i64 {
        let company = rng.below(COMPANIES as u64) as usize;
        let sale = rng.below(10) < 7;
        let partner = if sale {
            *rng.pick(&customers)
        } else {
            *rng.pick(&suppliers)
        };
        let issue = start + Days::new(rng.below(days));
        let due = issue + Days::new(*rng.pick(DUE_DAYS));
        let net = 5_000 + rng.below(2_000_000) as i64;
        let vat = (net * rng.pick(VAT_RATES_PERMILLE) + 500) / 1000;
        let total = net + vat;
        sequence[company][sale as usize] += 1;
        let number = format!(
            "{}{}-{}-{:06}",
            if sale { "S" } else { "P" },
            company + 1,
            issue.year(),
            sequence[company][sale as usize]
        );
        // 0-3 payments: 20%, 30%, 30%, 20% (mean 1.5).
        let count = match rng.below(10) {
            0..=1 => 0,
            2..=4 => 1,
            5..=7 => 2,
            _ => 3,
        };
        let settle = if count == 0 {
            0
        } else if rng.below(10) < 7 {
            total
        } else {
            total * (50 + rng.below(40) as i64) / 100
        };
        let mut paid = 0;
        for n in 0..count {
            let amount = if n + 1 == count {
                settle - paid
            } else {
                settle / count
            };
            let date = issue + Days::new(rng.below(75));
            if date > plan.until || amount <= 0 {
                continue;
            }
            paid += amount;
            let payment_id = payments.len() as i64 + 1;
            payments.push(vec![
                Value::Int(payment_id),
                Value::Int(id),
                Value::Date(date),
                Value::Int(amount),
                Value::from(*rng.pick(super::payments::METHODS)),
            ]);
            transactions.push(vec![
                Value::Int(transactions.len() as i64 + 1),
                Value::Int(company as i64 * 2 + 1),
                Value::Date(date),
                Value::Int(if sale { amount } else { -amount }),
                Value::from(format!("Payment {number}")),
                Value::Int(payment_id),
            ]);
        }
        invoices.push(vec![
            Value::Int(id),
            Value::Int(company as i64 + 1),
            Value::Int(partner),
            Value::from(number),
            Value::from(if sale { "sale" } else { "purchase" }),
            Value::Date(issue),
            Value::Date(due),
            Value::Int(net),
            Value::Int(vat),
            Value::Int(total),
            Value::Int(paid),
        ]);
    }
    // Petty cash: a few small expenses per company and month.
    for company in 0..COMPANIES as i64 {
        let mut month = start;
        while month <= plan.until {
            for _ in 0..4 {
                let date = month + Days::new(rng.below(28));
                if date > plan.until {
                    continue;
                }
                transactions.push(vec![
                    Value::Int(transactions.len() as i64 + 1),
                    Value::Int(company * 2 + 2),
                    Value::Date(date),
                    Value::Int(-(500 + rng.below(15_000) as i64)),
                    Value::from("Office supplies"),
                    Value::Null,
                ]);
            }
            month = month
                .checked_add_months(chrono::Months::new(1))
                .expect("valid month");
        }
    }

    let table = |name, columns, rows| Table {
        name,
        columns,
        rows,
    };
    Dataset {
        tables: vec![
            table(
                "companies",
                &["id", "name", "tax_id", "currency"],
                companies,
            ),
            table(
                "partners",
                &["id", "name", "tax_id", "kind", "city"],
                partners,
            ),
            table(
                "invoices",
                &[
                    "id",
                    "company_id",
                    "partner_id",
                    "doc_number",
                    "kind",
                    "issue_date",
                    "due_date",
                    "net_cents",
                    "vat_cents",
                    "total_cents",
                    "paid_cents",
                ],
                invoices,
            ),
            table("payments", super::payments::COLUMNS, payments),
            table(
                "treasury_accounts",
                &[
                    "id",
                    "company_id",
                    "name",
                    "kind",
                    "iban",
                    "opening_balance_cents",
                ],
                accounts,
            ),
            table(
                "treasury_transactions",
                super::payments::TRANSACTION_COLUMNS,
                transactions,
            ),
        ],
    }
}

/// Replaces the store's ERP rows with `dataset`, in one transaction.
pub async fn write(conn: &mut Connection, dataset: &Dataset) -> Result<SeedCounts, StoreError> {
    let dialect = conn.dialect();
    conn.begin().await?;
    for table in dataset.tables.iter().rev() {
        let delete = format!("DELETE FROM {}", table.name);
        conn.execute(&Sql::raw(dialect, &delete)).await?;
    }
    for table in &dataset.tables {
        for chunk in table.rows.chunks(BATCH) {
            conn.execute(&Sql::insert_rows(dialect, table.name, table.columns, chunk))
                .await?;
        }
    }
    conn.commit().await?;
    Ok(dataset.counts())
}

/// The embedded store's schema.
pub const SQLITE_SCHEMA: &str = include_str!("../../sql/sqlite/erp_schema.sql");
pub const POSTGRES_SCHEMA: &str = include_str!("../../sql/postgres/erp_schema.sql");

/// The schema script the seeder applies itself; an Oracle schema is its DBA's
/// to create (`sql/oracle/`).
fn schema_script(dialect: Dialect) -> Option<&'static str> {
    match dialect {
        Dialect::Sqlite => Some(SQLITE_SCHEMA),
        Dialect::Postgres => Some(POSTGRES_SCHEMA),
        Dialect::Oracle => None,
    }
}

/// Fills a tenant's store with its demo data: creates the tables where the
/// seeder may, replaces the rows, then brings tenantql's own objects (change
/// log, sequences, triggers) to the target version and empties the change
/// log, so loading the data announces nothing. The version it reached.
pub async fn seed(
    conn: &mut Connection,
    slug: &str,
    plan: SeedPlan,
) -> Result<(SeedCounts, u32), StoreError> {
    let dialect = conn.dialect();
    let schema = schema_script(dialect);
    if let Some(schema) = schema {
        conn.execute_script(schema).await?;
    }
    let counts = write(conn, &generate(slug, plan)).await?;
    let (_, version) = crate::contract::migrations::migrate(conn, true)
        .await
        .map_err(|e| StoreError::Query(e.to_string()))?;
    if schema.is_some() {
        conn.execute(&Sql::raw(dialect, "DELETE FROM tenantql_changes"))
            .await?;
        // Fresh statistics, so the planner knows which index covers which query.
        conn.execute(&Sql::raw(dialect, "ANALYZE")).await?;
        if dialect == Dialect::Sqlite {
            // Index sizes only: with STAT4 histograms (the bundled SQLite has
            // them) every statement whose bound values could change its plan is
            // parsed and planned again on each execution (`sqlite3Reprepare`,
            // ~8 % of the invoice page's CPU), for the same plans here.
            conn.try_execute(&Sql::raw(dialect, "DELETE FROM sqlite_stat4"))
                .await;
        }
    }
    Ok((counts, version))
}

/// The vendor-like example of a client's ERP database on PostgreSQL
/// (`sql/postgres/examples/`), in the order a DBA applies it: the vendor's
/// schema, the contract views, the write procedures; then the demo data loader
/// and the vendor's change triggers.
pub const POSTGRES_VENDOR_EXAMPLE: [&str; 3] = [
    include_str!("../../sql/postgres/examples/01_vendor_erp.sql"),
    include_str!("../../sql/postgres/examples/02_contract_views.sql"),
    include_str!("../../sql/postgres/examples/03_contract_procedures.sql"),
];
pub const POSTGRES_VENDOR_DEMO_DATA: &str =
    include_str!("../../sql/postgres/examples/05_load_demo_data.sql");
pub const POSTGRES_VENDOR_TRIGGERS: &str =
    include_str!("../../sql/postgres/examples/04_change_triggers.sql");
/// The same for an SQLite file (`sql/sqlite/examples/`): vendor tables and
/// views only (SQLite has no procedures: such a tenant is read-only).
pub const SQLITE_VENDOR_EXAMPLE: [&str; 2] = [
    include_str!("../../sql/sqlite/examples/01_vendor_erp.sql"),
    include_str!("../../sql/sqlite/examples/02_contract_views.sql"),
];
pub const SQLITE_VENDOR_DEMO_DATA: &str =
    include_str!("../../sql/sqlite/examples/05_load_demo_data.sql");

/// Builds the vendor-like example in an empty PostgreSQL database or SQLite
/// file, as its owner: the vendor's tables holding the tenant's demo data (the
/// same rows `seed` would write into tenantql's own tables) and the contract
/// as views (PostgreSQL: in `erp_contract`, with its write procedures).
/// PostgreSQL's triggers come after tenantql's own objects are migrated
/// (`POSTGRES_VENDOR_TRIGGERS`).
pub async fn load_vendor_example(
    conn: &mut Connection,
    slug: &str,
    plan: SeedPlan,
) -> Result<SeedCounts, StoreError> {
    let dialect = conn.dialect();
    let (schema, vendor, load, contract): (_, _, _, &[&str]) = match dialect {
        Dialect::Postgres => (
            POSTGRES_SCHEMA,
            POSTGRES_VENDOR_EXAMPLE[0],
            POSTGRES_VENDOR_DEMO_DATA,
            &POSTGRES_VENDOR_EXAMPLE[1..],
        ),
        Dialect::Sqlite => (
            SQLITE_SCHEMA,
            SQLITE_VENDOR_EXAMPLE[0],
            SQLITE_VENDOR_DEMO_DATA,
            &SQLITE_VENDOR_EXAMPLE[1..],
        ),
        Dialect::Oracle => {
            return Err(StoreError::Query(
                "the Oracle example is applied with SQL*Plus (docker/oracle-init/)".into(),
            ))
        }
    };
    conn.execute_script(schema).await?;
    let counts = write(conn, &generate(slug, plan)).await?;
    conn.execute_script(vendor).await?;
    conn.execute_script(load).await?;
    for script in contract {
        conn.execute_script(script).await?;
    }
    // Statistics (and on PostgreSQL the visibility map, so the covering
    // indexes serve index-only scans).
    let analyze = match dialect {
        Dialect::Postgres => "VACUUM ANALYZE",
        _ => "ANALYZE",
    };
    conn.execute(&Sql::raw(dialect, analyze)).await?;
    Ok(counts)
}

/// Creates (or re-creates) a SQLite store at `path` filled with the tenant's demo data.
pub async fn seed_sqlite(
    path: &str,
    slug: &str,
    plan: SeedPlan,
) -> Result<(SeedCounts, u32), StoreError> {
    let session = SqliteSession::create(path).await?;
    seed(&mut Connection::Sqlite(session), slug, plan).await
}

/// The dataset as a SQL*Plus script of plain INSERTs (see `sql/oracle/erp_seed.sql`).
pub fn oracle_script(dataset: &Dataset) -> String {
    let mut out = String::from(
        "-- Generated by `tenantql demo seed-sql`: deterministic demo data for sql/oracle/erp_schema.sql.\n\
         SET DEFINE OFF\nSET FEEDBACK OFF\n",
    );
    for table in dataset.tables.iter().rev() {
        out.push_str(&format!("DELETE FROM {};\n", table.name));
    }
    for table in &dataset.tables {
        let columns = table.columns.join(", ");
        for row in &table.rows {
            let values: Vec<String> = row.iter().map(oracle_literal).collect();
            out.push_str(&format!(
                "INSERT INTO {} ({columns}) VALUES ({});\n",
                table.name,
                values.join(", ")
            ));
        }
        out.push_str("COMMIT;\n");
    }
    out
}

fn oracle_literal(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Int(v) => v.to_string(),
        Value::Text(t) => format!("'{}'", t.replace('\'', "''")),
        Value::Date(d) => format!("DATE '{}'", d.format("%Y-%m-%d")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_shaped_as_promised() {
        let plan = SeedPlan::new(2_000);
        let a = generate("acme", plan);
        let b = generate("acme", plan);
        let other = generate("globex", plan);
        assert_eq!(
            a.tables[2].rows, b.tables[2].rows,
            "same slug, same invoices"
        );
        assert_ne!(
            a.tables[2].rows, other.tables[2].rows,
            "another slug, other data"
        );
        let counts = a.counts();
        assert_eq!(
            (counts.companies, counts.partners, counts.invoices),
            (3, 500, 2_000)
        );
        let per_invoice = counts.payments as f64 / counts.invoices as f64;
        assert!(
            (1.2..1.6).contains(&per_invoice),
            "{per_invoice} payments per invoice"
        );
        assert_eq!(counts.accounts, 6);
    }

    #[test]
    fn paid_amounts_match_payments_exactly() {
        let data = generate("acme", SeedPlan::new(500));
        let mut paid = std::collections::HashMap::new();
        for p in &data.tables[3].rows {
            let (Value::Int(invoice), Value::Int(amount)) = (&p[1], &p[3]) else {
                panic!()
            };
            *paid.entry(*invoice).or_insert(0i64) += amount;
        }
        for inv in &data.tables[2].rows {
            let (Value::Int(id), Value::Int(total), Value::Int(recorded)) =
                (&inv[0], &inv[9], &inv[10])
            else {
                panic!()
            };
            assert_eq!(*recorded, paid.get(id).copied().unwrap_or(0));
            assert!(recorded <= total);
        }
    }

    #[test]
    fn oracle_script_quotes_and_dates() {
        let data = generate("acme", SeedPlan::new(3));
        let script = oracle_script(&data);
        assert!(script.contains("INSERT INTO invoices (id, company_id"));
        assert!(script.contains("DATE '20"));
        assert_eq!(oracle_literal(&Value::from("O'Brien")), "'O''Brien'");
    }

    #[tokio::test]
    async fn a_seeded_sqlite_store_keeps_index_sizes_but_no_histograms() {
        let dir = std::env::temp_dir().join(format!("tenantql-seed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("acme.db").display().to_string();
        seed_sqlite(&path, "acme", SeedPlan::new(200))
            .await
            .unwrap();
        let mut session = Connection::Sqlite(SqliteSession::open(&path).await.unwrap());
        let count =
            |table: &str| Sql::raw(Dialect::Sqlite, &format!("SELECT COUNT(*) FROM {table}"));
        let stat1 = session.query(&count("sqlite_stat1"), "test").await.unwrap();
        let stat4 = session.query(&count("sqlite_stat4"), "test").await.unwrap();
        assert!(
            stat1[0].int(0).unwrap() > 0,
            "the planner keeps index sizes"
        );
        assert_eq!(
            stat4[0].int(0).unwrap(),
            0,
            "no histograms: no re-preparing"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
