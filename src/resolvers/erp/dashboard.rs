//! The dashboard of one company and year. Each part is loaded only if selected,
//! all of them before the fields run (`erp::dashboard::load`: one round-trip
//! stage); the five totals share the months' statement.
use std::sync::Arc;

use async_graphql::{Context, Lookahead, Object, SimpleObject, Value};
use tokio::sync::OnceCell;

use super::{parties::PartnerNode, scope, shared, ErpScope, Money};
use crate::{
    erp::{
        self,
        dashboard::{Parts, Snapshot, TopCustomers, Totals, SNAPSHOT_TOP_CUSTOMERS},
    },
    error::AppError,
    resolvers::InOrder,
};

/// `topCustomers` without a `limit`.
const DEFAULT_TOP_CUSTOMERS: i32 = 5;

/// The parts of the dashboard a selection reads, found before any is loaded so
/// that all of them come in one round-trip stage. Look-ahead ignores `@skip`
/// and `@include`: a part it finds may go unused, none is missed. A
/// `topCustomers` whose `limit` is not valid is left out; its field reports it.
pub fn parts_selected(selection: &Lookahead<'_>) -> Parts {
    let totals = ["revenue", "expenses", "receivables", "payables", "overdue"]
        .iter()
        .any(|name| selection.field(name).exists());
    let mut top: Option<TopCustomers> = None;
    for field in selection.field("topCustomers").selection_fields() {
        let Ok(arguments) = field.arguments() else {
            continue;
        };
        let limit = match arguments.iter().find(|(name, _)| name.as_str() == "limit") {
            None => Some(i64::from(DEFAULT_TOP_CUSTOMERS)),
            Some((_, Value::Number(n))) => n.as_i64(),
            Some(_) => None,
        };
        let Some(limit) = limit
            .filter(|l| (1..=SNAPSHOT_TOP_CUSTOMERS as i64).contains(l))
            .map(|l| l as usize)
        else {
            continue;
        };
        let partners = Lookahead::from(field).field("partner").exists();
        top = Some(match top {
            Some(t) => TopCustomers {
                limit: t.limit.max(limit),
                partners: t.partners || partners,
            },
            None => TopCustomers { limit, partners },
        });
    }
    Parts {
        totals,
        monthly: selection.field("monthly").exists(),
        cash: selection.field("cash").exists(),
        top_customers: top,
    }
}

pub struct DashboardNode {
    company_id: i64,
    year: i32,
    /// The parts loaded before the fields ran (by the query's look-ahead, or a
    /// live feed's snapshot of them all).
    loaded: Arc<Snapshot>,
    /// Whether the top customers' partners are in the request's loader already.
    top_partners_fed: bool,
    /// A part the look-ahead did not load, loaded by the first field that needs it.
    rest: OnceCell<Snapshot>,
}

impl DashboardNode {
    /// Loads what `parts` names; the top customers' partners go to the loader.
    pub async fn load(
        scope: &ErpScope,
        company_id: i64,
        year: i32,
        parts: Parts,
    ) -> Result<Self, AppError> {
        let mut loaded =
            erp::dashboard::load(&scope.db, company_id, year, scope.today, parts).await?;
        let partners = loaded
            .top_customers
            .as_mut()
            .and_then(|top| top.partners.take());
        let top_partners_fed = partners.is_some();
        if let Some(partners) = partners {
            scope
                .loaders()
                .partners
                .feed_many(partners.into_iter().map(|p| (p.id, p)))
                .await;
        }
        Ok(DashboardNode {
            company_id,
            year,
            loaded: Arc::new(loaded),
            top_partners_fed,
            rest: OnceCell::new(),
        })
    }

    pub fn from_snapshot(company_id: i64, year: i32, snapshot: Arc<Snapshot>) -> Self {
        DashboardNode {
            company_id,
            year,
            loaded: snapshot,
            top_partners_fed: false,
            rest: OnceCell::new(),
        }
    }

    /// Totals, months and cash together, for the first field whose part the
    /// look-ahead did not load: one statement, at most once per node.
    async fn rest(&self, ctx: &Context<'_>) -> async_graphql::Result<&Snapshot> {
        let scope = scope(ctx)?;
        let parts = Parts {
            totals: true,
            monthly: true,
            cash: true,
            top_customers: None,
        };
        Ok(self
            .rest
            .get_or_try_init(|| {
                erp::dashboard::load(&scope.db, self.company_id, self.year, scope.today, parts)
            })
            .await?)
    }

    async fn totals(&self, ctx: &Context<'_>) -> async_graphql::Result<Totals> {
        match self.loaded.totals {
            Some(totals) => Ok(totals),
            None => Ok(self.rest(ctx).await?.totals.unwrap_or_default()),
        }
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
        let cash = match self.loaded.cash {
            Some(cash) => cash,
            None => self.rest(ctx).await?.cash.unwrap_or_default(),
        };
        Ok(Money(cash))
    }

    /// Twelve months, January first.
    async fn monthly(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<InOrder<MonthTotals>>> {
        let months = match &self.loaded.monthly {
            Some(months) => months,
            None => self.rest(ctx).await?.monthly.as_deref().unwrap_or_default(),
        };
        Ok(months
            .iter()
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
        #[graphql(default_with = "DEFAULT_TOP_CUSTOMERS")] limit: i32,
    ) -> async_graphql::Result<Vec<InOrder<CustomerTotal>>> {
        let max = SNAPSHOT_TOP_CUSTOMERS;
        if !(1..=max as i32).contains(&limit) {
            return Err(
                AppError::bad_input("limit", format!("limit must be between 1 and {max}")).into(),
            );
        }
        let limit = limit as usize;
        let scope = scope(ctx)?;
        let loaded = self
            .loaded
            .top_customers
            .as_ref()
            .filter(|top| top.limit >= limit);
        let (customers, partners_fed): (Vec<_>, bool) = match loaded {
            Some(top) => (
                top.customers.iter().take(limit).copied().collect(),
                self.top_partners_fed,
            ),
            None => {
                let parts = Parts {
                    top_customers: Some(TopCustomers {
                        limit,
                        partners: false,
                    }),
                    ..Parts::default()
                };
                let loaded =
                    erp::dashboard::load(&scope.db, self.company_id, self.year, scope.today, parts)
                        .await?;
                let customers = loaded.top_customers.map(|t| t.customers);
                (customers.unwrap_or_default(), false)
            }
        };
        if !partners_fed && ctx.look_ahead().field("partner").exists() {
            // One query for the partners, straight into the loader's cache: the
            // loader's batching delay would leave the operation's CPU slot idle.
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
