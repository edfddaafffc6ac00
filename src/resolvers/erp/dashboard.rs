//! The dashboard of one company and year. Each part is loaded only if selected;
//! the five totals share one query.
use std::sync::Arc;

use async_graphql::{Context, Object, SimpleObject};
use tokio::sync::OnceCell;

use super::{parties::PartnerNode, scope, shared, Money};
use crate::{
    erp::{
        self,
        dashboard::{Snapshot, Totals},
    },
    error::AppError,
    resolvers::InOrder,
};

pub struct DashboardNode {
    company_id: i64,
    year: i32,
    totals: OnceCell<Totals>,
    /// Everything precomputed (a live feed's answer): no field queries.
    snapshot: Option<Arc<Snapshot>>,
}

impl DashboardNode {
    pub fn new(company_id: i64, year: i32) -> Self {
        DashboardNode {
            company_id,
            year,
            totals: OnceCell::new(),
            snapshot: None,
        }
    }

    pub fn from_snapshot(company_id: i64, year: i32, snapshot: Arc<Snapshot>) -> Self {
        DashboardNode {
            company_id,
            year,
            totals: OnceCell::new_with(Some(snapshot.totals)),
            snapshot: Some(snapshot),
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
    async fn partner(&self, ctx: &Context<'_>) -> async_graphql::Result<InOrder<PartnerNode>> {
        let partner = scope(ctx)?
            .loaders()
            .partners
            .load_one(self.partner_id)
            .await
            .map_err(shared)?;
        Ok(InOrder(PartnerNode(
            partner.ok_or(AppError::NotFound("partner"))?,
        )))
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
        if let Some(snapshot) = &self.snapshot {
            return Ok(Money(snapshot.cash));
        }
        let scope = scope(ctx)?;
        let (_, year_end) = erp::dashboard::year_bounds(self.year)?;
        Ok(Money(
            erp::dashboard::cash(&scope.db, self.company_id, year_end.min(scope.today)).await?,
        ))
    }

    /// Twelve months, January first.
    async fn monthly(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<InOrder<MonthTotals>>> {
        let months = match &self.snapshot {
            Some(snapshot) => snapshot.monthly.clone(),
            None => {
                let scope = scope(ctx)?;
                erp::dashboard::monthly(&scope.db, self.company_id, self.year).await?
            }
        };
        Ok(months
            .into_iter()
            .map(|m| {
                InOrder(MonthTotals {
                    month: m.month as i32,
                    revenue: Money(m.revenue),
                    expenses: Money(m.expenses),
                })
            })
            .collect())
    }

    /// Customers with the highest invoiced totals in the year.
    async fn top_customers(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 5)] limit: i32,
    ) -> async_graphql::Result<Vec<InOrder<CustomerTotal>>> {
        let max = erp::dashboard::SNAPSHOT_TOP_CUSTOMERS;
        if !(1..=max as i32).contains(&limit) {
            return Err(
                AppError::bad_input("limit", format!("limit must be between 1 and {max}")).into(),
            );
        }
        let limit = limit as usize;
        let scope = scope(ctx)?;
        let customers: Vec<_> = match &self.snapshot {
            Some(snapshot) => snapshot.top_customers.iter().take(limit).copied().collect(),
            None => {
                erp::dashboard::top_customers(&scope.db, self.company_id, self.year, limit).await?
            }
        };
        if ctx.look_ahead().field("partner").exists() {
            // One query for the partners, straight into the loader's cache, as
            // the invoice list does: the loader's batching delay would leave
            // the operation's CPU slot idle.
            let ids: Vec<i64> = customers.iter().map(|c| c.partner_id).collect();
            scope
                .loaders()
                .partners
                .feed_many(erp::partners::by_ids(&scope.db, &ids).await?)
                .await;
        }
        Ok(customers
            .into_iter()
            .map(|c| {
                InOrder(CustomerTotal {
                    partner_id: c.partner_id,
                    total: Money(c.total),
                })
            })
            .collect())
    }
}
