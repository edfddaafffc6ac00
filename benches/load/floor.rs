//! The floor: the benchmark's two documents answered by a hand-written axum
//! handler, without GraphQL — the limit of this stack on this machine.
//!
//! It runs the statements tenantql runs (the same `erp` functions, through the
//! same pool manager, on the same stores; a page's three relations concurrently)
//! and writes byte-identical JSON (the benchmark compares before measuring). It
//! leaves out everything that is not statements, HTTP or JSON: no GraphQL
//! parsing or validation, no token signature check (the tenant is read from the
//! token's claims), no admission, limits, audit or metrics. Only the two
//! benchmark documents are understood; anything else is a 400.
use std::{collections::HashMap, sync::Arc};

use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tenantql::{
    config::Config,
    erp::{self, invoices::InvoiceFilter, Cents},
    error::AppError,
    request_id::RequestId,
    resolvers::erp::{IdCodec, Kind},
    state::Services,
    tenancy::{PoolManager, TenantDb, TenantRef},
};

use super::{DASHBOARD, INVOICE_PAGE};

struct Tenant {
    tenant: TenantRef,
    ids: IdCodec,
}

struct Floor {
    pools: Arc<PoolManager>,
    tenants: HashMap<String, Tenant>,
}

#[derive(Deserialize)]
struct Request {
    query: String,
    #[serde(default)]
    variables: Variables,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Variables {
    company_id: Option<String>,
    after: Option<String>,
    year: Option<i32>,
}

#[derive(Deserialize)]
struct Claims {
    tenant: Option<String>,
}

/// Serves the floor on `addr` over the data directory the benchmark prepared.
pub fn serve(addr: &str, dir: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = Config::with_data_dir(std::path::Path::new(dir));
        let (services, _) = Services::start(&config.control, &config.tokens, Default::default())
            .await
            .expect("control plane");
        let floor = Arc::new(Floor {
            tenants: tenants(&services).await,
            pools: services.pools.clone(),
        });
        let app = Router::new()
            .route("/graphql", post(answer))
            .with_state(floor);
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        axum::serve(listener, app).await.unwrap();
    });
}

async fn tenants(services: &Services) -> HashMap<String, Tenant> {
    tenantql::control::tenants::list(&services.control.db)
        .await
        .expect("tenants")
        .into_iter()
        .map(|row| {
            let tenant = TenantRef::from(row);
            let ids = IdCodec::for_tenant(&tenant.id);
            (tenant.slug.clone(), Tenant { tenant, ids })
        })
        .collect()
}

async fn answer(State(floor): State<Arc<Floor>>, headers: HeaderMap, body: Bytes) -> Response {
    let refuse = |status: StatusCode, why: &str| (status, why.to_string()).into_response();
    let Some(slug) = tenant_claim(&headers) else {
        return refuse(StatusCode::UNAUTHORIZED, "no tenant in the token");
    };
    let Some(tenant) = floor.tenants.get(&slug) else {
        return refuse(StatusCode::NOT_FOUND, "no such tenant");
    };
    let Ok(request) = serde_json::from_slice::<Request>(&body) else {
        return refuse(StatusCode::BAD_REQUEST, "not a GraphQL request");
    };
    let db = TenantDb::new(
        tenant.tenant.clone(),
        floor.pools.clone(),
        RequestId::generate(),
    );
    let vars = &request.variables;
    let company = match &vars.company_id {
        Some(id) => match tenant
            .ids
            .decode(Kind::Company, &async_graphql::ID(id.clone()))
        {
            Ok(company) => company,
            Err(_) => return refuse(StatusCode::NOT_FOUND, "no such company"),
        },
        None => return refuse(StatusCode::BAD_REQUEST, "companyId is required"),
    };
    let today = chrono::Utc::now().date_naive();
    let json = if request.query == INVOICE_PAGE {
        invoice_page(&db, &tenant.ids, company, vars.after.as_deref(), today).await
    } else if request.query == DASHBOARD {
        dashboard(&db, &tenant.ids, company, vars.year.unwrap_or(0), today).await
    } else {
        return refuse(StatusCode::BAD_REQUEST, "the floor knows two documents");
    };
    match json {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// The `tenant` claim of the bearer token, read without checking its signature.
fn tenant_claim(headers: &HeaderMap) -> Option<String> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?).ok()?;
    serde_json::from_slice::<Claims>(&payload).ok()?.tenant
}

#[derive(Serialize)]
struct Data<T> {
    data: T,
}

#[derive(Serialize)]
struct InvoicesData {
    invoices: InvoiceConnection,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InvoiceConnection {
    edges: Vec<InvoiceEdge>,
    page_info: PageInfo,
}

#[derive(Serialize)]
struct InvoiceEdge {
    cursor: String,
    node: InvoiceJson,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InvoiceJson {
    id: String,
    number: String,
    kind: &'static str,
    issue_date: String,
    due_date: String,
    total: String,
    balance: String,
    status: &'static str,
    partner: PartnerJson,
    company: CompanyJson,
    payments: Vec<PaymentJson>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PartnerJson {
    id: String,
    name: String,
    tax_id: String,
}

#[derive(Serialize)]
struct CompanyJson {
    id: String,
    name: String,
}

#[derive(Serialize)]
struct PaymentJson {
    id: String,
    date: String,
    amount: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

fn missing(what: &'static str) -> AppError {
    AppError::NotFound(what)
}

/// `invoices(companyId, first: 100, after)` with the benchmark's selection.
async fn invoice_page(
    db: &TenantDb,
    ids: &IdCodec,
    company: i64,
    after: Option<&str>,
    today: NaiveDate,
) -> Result<Vec<u8>, AppError> {
    let filter = InvoiceFilter::default();
    // Cursors are sealed to their tenant and list, as tenantql hands them out.
    let after = after
        .map(|cursor| ids.decode_cursor(Kind::Invoice, cursor))
        .transpose()?;
    let query = erp::invoices::PageQuery {
        company_id: company,
        filter: &filter,
        today,
        after: after.as_deref(),
        first: 100,
    };
    let all = erp::invoice_page::Relations {
        partner: true,
        company: true,
        payments: true,
    };
    let erp::invoice_page::Page {
        invoices: rows,
        has_next,
        partners,
        companies,
        mut payments,
    } = erp::invoice_page::load(db, &query, all).await?;
    let money = |c: Cents| c.to_string();
    let mut edges = Vec::with_capacity(rows.len());
    for invoice in &rows {
        let partner = partners
            .get(&invoice.partner_id)
            .ok_or_else(|| missing("partner"))?;
        let owner = companies
            .get(&invoice.company_id)
            .ok_or_else(|| missing("company"))?;
        let node = InvoiceJson {
            id: ids.encode(Kind::Invoice, invoice.id).0,
            number: invoice.number.clone(),
            kind: match invoice.kind {
                erp::invoices::InvoiceKind::Sale => "SALE",
                erp::invoices::InvoiceKind::Purchase => "PURCHASE",
            },
            issue_date: invoice.issue_date.to_string(),
            due_date: invoice.due_date.to_string(),
            total: money(invoice.total),
            balance: money(invoice.balance()),
            status: match invoice.status(today) {
                erp::invoices::InvoiceStatus::Open => "OPEN",
                erp::invoices::InvoiceStatus::Paid => "PAID",
                erp::invoices::InvoiceStatus::Overdue => "OVERDUE",
            },
            partner: PartnerJson {
                id: ids.encode(Kind::Partner, partner.id).0,
                name: partner.name.clone(),
                tax_id: partner.tax_id.clone(),
            },
            company: CompanyJson {
                id: ids.encode(Kind::Company, owner.id).0,
                name: owner.name.clone(),
            },
            payments: payments
                .remove(&invoice.id)
                .unwrap_or_default()
                .into_iter()
                .map(|p| PaymentJson {
                    id: ids.encode(Kind::Payment, p.id).0,
                    date: p.date.to_string(),
                    amount: money(p.amount),
                })
                .collect(),
        };
        edges.push(InvoiceEdge {
            cursor: ids.cursor(Kind::Invoice, &invoice.cursor()),
            node,
        });
    }
    let end_cursor = edges.last().map(|e| e.cursor.clone());
    let body = Data {
        data: InvoicesData {
            invoices: InvoiceConnection {
                edges,
                page_info: PageInfo {
                    has_next_page: has_next,
                    end_cursor,
                },
            },
        },
    };
    Ok(serde_json::to_vec(&body).expect("plain data serializes"))
}

#[derive(Serialize)]
struct DashboardData {
    dashboard: DashboardJson,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DashboardJson {
    revenue: String,
    expenses: String,
    receivables: String,
    payables: String,
    overdue: String,
    monthly: Vec<MonthJson>,
    top_customers: Vec<CustomerJson>,
}

#[derive(Serialize)]
struct MonthJson {
    month: i32,
    revenue: String,
    expenses: String,
}

#[derive(Serialize)]
struct CustomerJson {
    partner: PartyJson,
    total: String,
}

#[derive(Serialize)]
struct PartyJson {
    id: String,
    name: String,
}

/// `dashboard(companyId, year)` with the benchmark's selection (top 5 customers).
async fn dashboard(
    db: &TenantDb,
    ids: &IdCodec,
    company: i64,
    year: i32,
    today: NaiveDate,
) -> Result<Vec<u8>, AppError> {
    erp::dashboard::year_bounds(year)?;
    let parts = erp::dashboard::Parts {
        totals: true,
        monthly: true,
        cash: false,
        top_customers: Some(erp::dashboard::TopCustomers {
            limit: 5,
            partners: true,
        }),
    };
    let loaded = erp::dashboard::load(db, company, year, today, parts).await?;
    let (Some(totals), Some(monthly), Some(top)) =
        (loaded.totals, loaded.monthly, loaded.top_customers)
    else {
        return Err(missing("dashboard part"));
    };
    let partners: std::collections::HashMap<i64, _> = top
        .partners
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let top = top.customers;
    let mut top_customers = Vec::with_capacity(top.len());
    for customer in &top {
        let partner = partners
            .get(&customer.partner_id)
            .ok_or_else(|| missing("partner"))?;
        top_customers.push(CustomerJson {
            partner: PartyJson {
                id: ids.encode(Kind::Partner, partner.id).0,
                name: partner.name.clone(),
            },
            total: customer.total.to_string(),
        });
    }
    let body = Data {
        data: DashboardData {
            dashboard: DashboardJson {
                revenue: totals.revenue.to_string(),
                expenses: totals.expenses.to_string(),
                receivables: totals.receivables.to_string(),
                payables: totals.payables.to_string(),
                overdue: totals.overdue.to_string(),
                monthly: monthly
                    .into_iter()
                    .map(|m| MonthJson {
                        month: m.month as i32,
                        revenue: m.revenue.to_string(),
                        expenses: m.expenses.to_string(),
                    })
                    .collect(),
                top_customers,
            },
        },
    };
    Ok(serde_json::to_vec(&body).expect("plain data serializes"))
}
