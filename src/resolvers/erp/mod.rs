//! The ERP reporting API: companies, partners, invoices, payments, treasury and
//! the dashboard, read from the caller's own tenant database only.
mod dashboard;
mod ids;
mod invoices;
mod loaders;
mod mutations;
mod parties;
mod scalars;
mod subscriptions;
mod treasury;

use async_graphql::{connection::Connection, Context, Object, ID};
use chrono::NaiveDate;

pub use ids::{IdCodec, Kind};
// What a compiled plan (`resolvers::compiled`) writes its answers with.
pub(crate) use invoices::{InvoiceKind, InvoiceNode, InvoiceStatus, PaymentNode};
pub use loaders::Loaders;
pub use mutations::ErpMutation;
pub(crate) use parties::{CompanyNode, PartnerKind, PartnerNode};
pub use scalars::{Date, Money};
pub use subscriptions::ErpSubscription;

use super::{connection, guards::Member, InOrder};
use crate::{erp, erp::keyset, error::AppError, tenancy::TenantDb};

/// Everything a request needs to read its tenant's ERP data. Built per request,
/// only for a caller whose token names a tenant.
pub struct ErpScope {
    pub db: TenantDb,
    /// Created by the first field that loads through them: many operations
    /// (`{ me }`, a dashboard, an idle subscription) never do.
    loaders: std::sync::OnceLock<Loaders>,
    pub ids: IdCodec,
    /// "Today" for overdue status, fixed for the whole request.
    pub today: NaiveDate,
}

impl ErpScope {
    pub fn new(db: TenantDb) -> Self {
        ErpScope {
            loaders: std::sync::OnceLock::new(),
            ids: IdCodec::for_tenant(&db.tenant.id),
            today: chrono::Utc::now().date_naive(),
            db,
        }
    }

    pub fn loaders(&self) -> &Loaders {
        self.loaders.get_or_init(|| Loaders::new(&self.db))
    }

    /// Drops the loaders' cached rows, if there are loaders yet.
    pub fn forget_loaded(&self) {
        if let Some(loaders) = self.loaders.get() {
            loaders.forget();
        }
    }
}

/// The request's tenant scope: UNAUTHENTICATED without a token, FORBIDDEN for a
/// platform token (which names no tenant).
pub(crate) fn scope<'a>(ctx: &Context<'a>) -> Result<&'a ErpScope, AppError> {
    let caller = super::caller(ctx)?;
    caller.tenant()?;
    ctx.data_opt::<ErpScope>()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("tenant request without an ERP scope")))
}

/// The company `id` names in the request's tenant; NOT_FOUND otherwise.
pub(crate) async fn company(
    scope: &ErpScope,
    id: &ID,
) -> async_graphql::Result<erp::companies::Company> {
    let row = scope.ids.decode(Kind::Company, id)?;
    let company = scope
        .loaders()
        .companies
        .load_one(row)
        .await
        .map_err(shared)?;
    Ok(company.ok_or(AppError::NotFound("company"))?)
}

/// The arguments of `invoices`, as its resolver and a compiled plan read them.
pub(crate) struct InvoicePageArguments {
    pub company_id: ID,
    pub first: Option<i32>,
    pub after: Option<String>,
    pub filter: Option<invoices::InvoiceFilter>,
}

/// The invoice page `arguments` ask for, with the `wanted` relations of its
/// rows.
pub(crate) async fn invoice_page(
    scope: &ErpScope,
    arguments: InvoicePageArguments,
    wanted: erp::invoice_page::Relations,
) -> Result<erp::invoice_page::Page, AppError> {
    let company = scope.ids.decode(Kind::Company, &arguments.company_id)?;
    let first = keyset::page_size(arguments.first)?;
    let filter = arguments
        .filter
        .map(|f| f.into_domain(&scope.ids))
        .transpose()?
        .unwrap_or_default();
    let after = arguments
        .after
        .map(|c| scope.ids.decode_cursor(Kind::Invoice, &c))
        .transpose()?;
    let query = erp::invoices::PageQuery {
        company_id: company,
        filter: &filter,
        today: scope.today,
        after: after.as_deref(),
        first,
    };
    erp::invoice_page::load(&scope.db, &query, wanted).await
}

/// A loader error shared by every field that waited on the batch.
pub(crate) fn shared(err: std::sync::Arc<AppError>) -> async_graphql::Error {
    async_graphql::Error::from(err)
}

#[derive(Default)]
pub struct ErpQuery;

#[Object]
impl ErpQuery {
    /// The tenant's companies.
    #[graphql(guard = "Member")]
    async fn companies(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<parties::CompanyNode>> {
        let scope = scope(ctx)?;
        Ok(erp::companies::list(&scope.db)
            .await?
            .into_iter()
            .map(parties::CompanyNode)
            .collect())
    }

    #[graphql(guard = "Member")]
    async fn company(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<parties::CompanyNode> {
        Ok(parties::CompanyNode(company(scope(ctx)?, &id).await?))
    }

    /// Partners by name. `kind` CUSTOMER or SUPPLIER includes partners that are both.
    #[graphql(guard = "Member")]
    async fn partners(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        kind: Option<parties::PartnerKind>,
    ) -> async_graphql::Result<Connection<String, parties::PartnerNode>> {
        let scope = scope(ctx)?;
        let first = keyset::page_size(first)?;
        let after = after
            .map(|c| scope.ids.decode_cursor(Kind::Partner, &c))
            .transpose()?;
        let (rows, has_next) =
            erp::partners::page(&scope.db, kind.map(Into::into), after.as_deref(), first).await?;
        Ok(connection(
            rows,
            has_next,
            |row| scope.ids.cursor(Kind::Partner, &row.cursor()),
            parties::PartnerNode,
        ))
    }

    #[graphql(guard = "Member")]
    async fn partner(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<parties::PartnerNode> {
        let scope = scope(ctx)?;
        let row = scope.ids.decode(Kind::Partner, &id)?;
        let partner = scope
            .loaders()
            .partners
            .load_one(row)
            .await
            .map_err(shared)?;
        Ok(parties::PartnerNode(
            partner.ok_or(AppError::NotFound("partner"))?,
        ))
    }

    /// A company's invoices, newest first (issue date, then id), at most 100 a page.
    #[graphql(guard = "Member")]
    async fn invoices(
        &self,
        ctx: &Context<'_>,
        company_id: ID,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<invoices::InvoiceFilter>,
    ) -> async_graphql::Result<Connection<String, InOrder<invoices::InvoiceNode>>> {
        let scope = scope(ctx)?;
        let node = ctx.look_ahead().field("edges").field("node");
        let wanted = erp::invoice_page::Relations {
            partner: node.field("partner").exists(),
            company: node.field("company").exists(),
            payments: node.field("payments").exists(),
        };
        let arguments = InvoicePageArguments {
            company_id,
            first,
            after,
            filter,
        };
        let mut page = invoice_page(scope, arguments, wanted).await?;
        scope.loaders().feed_page(&mut page).await;
        Ok(connection(
            page.invoices,
            page.has_next,
            |row| scope.ids.cursor(Kind::Invoice, &row.cursor()),
            |row| InOrder(invoices::InvoiceNode(row)),
        ))
    }

    #[graphql(guard = "Member")]
    async fn invoice(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<invoices::InvoiceNode> {
        let scope = scope(ctx)?;
        let row = scope.ids.decode(Kind::Invoice, &id)?;
        let invoice = erp::invoices::by_id(&scope.db, row).await?;
        Ok(invoices::InvoiceNode(
            invoice.ok_or(AppError::NotFound("invoice"))?,
        ))
    }

    #[graphql(guard = "Member")]
    async fn treasury_account(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<treasury::AccountNode> {
        let scope = scope(ctx)?;
        let row = scope.ids.decode(Kind::Account, &id)?;
        let account = erp::treasury::account(&scope.db, row).await?;
        Ok(treasury::AccountNode(
            account.ok_or(AppError::NotFound("treasury account"))?,
        ))
    }

    /// Revenue, expenses, receivables, payables, overdue, cash, the monthly series
    /// and the top customers of one company for one calendar year.
    #[graphql(guard = "Member")]
    async fn dashboard(
        &self,
        ctx: &Context<'_>,
        company_id: ID,
        year: i32,
    ) -> async_graphql::Result<dashboard::DashboardNode> {
        let scope = scope(ctx)?;
        let company = scope.ids.decode(Kind::Company, &company_id)?;
        erp::dashboard::year_bounds(year)?;
        let parts = dashboard::parts_selected(&ctx.look_ahead());
        Ok(dashboard::DashboardNode::load(scope, company, year, parts).await?)
    }
}
