//! The dashboard of one company and year. Each part is loaded only if selected;
//! the five totals share one query.
use async_graphql::{Context, Object, SimpleObject};
use tokio::sync::OnceCell;

use super::{parties::PartnerNode, scope, shared, Money};
use crate::{
    erp::{self, dashboard::Totals},
    error::AppError,
};

pub struct DashboardNode {
    company_id: i64,
    year: i32,
    totals: OnceCell<Totals>,
}

impl DashboardNode {
    pub fn new(company_id: i64, year: i32) -> Self {
        DashboardNode {
            company_id,
            year,
            totals: OnceCell::new(),
        }
    }

    async fn totals(&self, ctx: &Context<'_>) -> async_graphql::Result<Totals> {
        let scope = scope(ctx)?;
        let totals = self
            .totals
            .get_or_try_init(|| {
                erp::dashboard::totals(&scope.db, self.company_id, self.year, scope.today)
            })
            .await?;
        Ok(*totals)
    }
}

#[derive(SimpleObject)]
pub struct MonthTotals {
    /// 1 = January.
    month: i32,
    revenue: Money,
    expenses: Money,
}

pub struct CustomerTotal {
    partner_id: i64,
    total: Money,
}

#[Object]
impl CustomerTotal {
    async fn partner(&self, ctx: &Context<'_>) -> async_graphql::Result<PartnerNode> {
        let partner = scope(ctx)?
            .loaders
            .partners
            .load_one(self.partner_id)
            .await
            .map_err(shared)?;
        Ok(PartnerNode(partner.ok_or(AppError::NotFound("partner"))?))
    }

    /// Invoiced in the year, VAT included.
    async fn total(&self) -> Money {
        self.total
    }
}

#[Object(name = "Dashboard")]
impl DashboardNode {
    async fn year(&self) -> i32 {
        self.year
    }

    /// Net sales invoiced in the year.
    async fn revenue(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Ok(Money(self.totals(ctx).await?.revenue))
    }

    /// Net purchases invoiced in the year.
    async fn expenses(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Ok(Money(self.totals(ctx).await?.expenses))
    }

    /// Still owed by customers on the year's sales invoices.
    async fn receivables(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Ok(Money(self.totals(ctx).await?.receivables))
    }

    /// Still owed to suppliers on the year's purchase invoices.
    async fn payables(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Ok(Money(self.totals(ctx).await?.payables))
    }

    /// The part of the receivables past its due date.
    async fn overdue(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Ok(Money(self.totals(ctx).await?.overdue))
    }

    /// Bank and cash balances at the end of the year (or today, for the current year).
    async fn cash(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        let scope = scope(ctx)?;
        let (_, year_end) = erp::dashboard::year_bounds(self.year)?;
        Ok(Money(
            erp::dashboard::cash(&scope.db, self.company_id, year_end.min(scope.today)).await?,
        ))
    }

    /// Twelve months, January first.
    async fn monthly(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<MonthTotals>> {
        let scope = scope(ctx)?;
        Ok(
            erp::dashboard::monthly(&scope.db, self.company_id, self.year)
                .await?
                .into_iter()
                .map(|m| MonthTotals {
                    month: m.month as i32,
                    revenue: Money(m.revenue),
                    expenses: Money(m.expenses),
                })
                .collect(),
        )
    }

    /// Customers with the highest invoiced totals in the year.
    async fn top_customers(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 5)] limit: i32,
    ) -> async_graphql::Result<Vec<CustomerTotal>> {
        let scope = scope(ctx)?;
        if !(1..=100).contains(&limit) {
            return Err(AppError::bad_input("limit", "limit must be between 1 and 100").into());
        }
        Ok(
            erp::dashboard::top_customers(&scope.db, self.company_id, self.year, limit as usize)
                .await?
                .into_iter()
                .map(|c| CustomerTotal {
                    partner_id: c.partner_id,
                    total: Money(c.total),
                })
                .collect(),
        )
    }
}
