//! Live ERP data over WebSocket: invoice events and recomputed dashboards of the
//! subscriber's own tenant. The tenant comes from the connection's verified
//! context; a company of another tenant is NOT_FOUND, as in every query.
use std::sync::{atomic::Ordering, Arc};

use async_graphql::{Context, Enum, Object, Subscription, ID};
use futures_util::{stream, Stream};
use tokio::sync::broadcast::error::RecvError;

use super::{
    dashboard::DashboardNode,
    invoices::{InvoiceNode, PaymentNode},
    scope, shared, ErpScope,
};
use crate::{
    erp,
    error::AppError,
    live::{self, InvoiceEvent},
    resolvers::{guards::Member, services},
};

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum InvoiceChange {
    /// A new invoice.
    Created,
    /// A payment was recorded against it.
    Paid,
    /// Any other change to the invoice row.
    Changed,
}

impl From<live::InvoiceChange> for InvoiceChange {
    fn from(change: live::InvoiceChange) -> Self {
        match change {
            live::InvoiceChange::Created => InvoiceChange::Created,
            live::InvoiceChange::Paid => InvoiceChange::Paid,
            live::InvoiceChange::Changed => InvoiceChange::Changed,
        }
    }
}

pub struct InvoiceEventNode(Arc<InvoiceEvent>);

/// What happened to an invoice, with the invoice as it is after the change.
#[Object(name = "InvoiceEvent")]
impl InvoiceEventNode {
    async fn change(&self) -> InvoiceChange {
        self.0.change.into()
    }

    async fn invoice(&self) -> InvoiceNode {
        InvoiceNode(self.0.invoice.clone())
    }

    /// The payment, for a PAID event.
    async fn payment(&self) -> Option<PaymentNode> {
        self.0.payment.clone().map(PaymentNode)
    }
}

#[derive(Default)]
pub struct ErpSubscription;

/// The row id of `company_id`, which must name a company of the caller's tenant.
async fn existing_company(ctx: &Context<'_>, company_id: &ID) -> async_graphql::Result<i64> {
    Ok(super::company(scope(ctx)?, company_id).await?.id)
}

#[Subscription]
impl ErpSubscription {
    /// Invoices of one company as they are created, paid or changed.
    #[graphql(guard = "Member")]
    async fn invoice_events<'a>(
        &self,
        ctx: &Context<'a>,
        company_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<InvoiceEventNode>> + 'a>
    {
        let company = existing_company(ctx, &company_id).await?;
        let scope = scope(ctx)?;
        let live = &services(ctx).live;
        let tenant_id = &scope.db.tenant.id;
        let slot = live.open_subscription(tenant_id)?;
        let events = live.events.subscribe(tenant_id);
        live.watch_changes(scope.db.clone());
        let state = EventStream {
            events,
            company,
            scope,
            stats: live.stats.clone(),
            buffer: live.settings().event_buffer,
            _slot: slot,
            ended: false,
        };
        Ok(stream::unfold(state, EventStream::next))
    }

    /// The dashboard of one company and year, sent when subscribing and again
    /// after changes, at most once per second (every subscriber of the same
    /// dashboard gets the same computation).
    #[graphql(guard = "Member")]
    async fn dashboard_updated<'a>(
        &self,
        ctx: &Context<'a>,
        company_id: ID,
        year: i32,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<DashboardNode>> + 'a> {
        erp::dashboard::year_bounds(year)?;
        let company = existing_company(ctx, &company_id).await?;
        let scope = scope(ctx)?;
        let live = &services(ctx).live;
        let slot = live.open_subscription(&scope.db.tenant.id)?;
        let feed = live
            .dashboards
            .watch(scope.db.clone(), &live.events, company, year);
        live.watch_changes(scope.db.clone());
        let mut updates = feed.updates();
        // The current snapshot, if one is computed already, is the first answer.
        updates.mark_changed();
        let state = (feed, updates, slot);
        Ok(stream::unfold(
            state,
            move |(feed, mut updates, slot)| async move {
                loop {
                    updates.changed().await.ok()?;
                    let latest = updates.borrow_and_update().clone();
                    let item = match latest {
                        None => continue,
                        Some(Ok(snapshot)) => {
                            Ok(DashboardNode::from_snapshot(company, year, snapshot))
                        }
                        Some(Err(err)) => Err(shared(err)),
                    };
                    return Some((item, (feed, updates, slot)));
                }
            },
        ))
    }
}

struct EventStream<'a> {
    events: live::events::TenantEvents,
    company: i64,
    scope: &'a ErpScope,
    stats: Arc<live::LiveStats>,
    buffer: usize,
    _slot: live::SubscriptionSlot,
    ended: bool,
}

impl<'a> EventStream<'a> {
    async fn next(mut self) -> Option<(async_graphql::Result<InvoiceEventNode>, Self)> {
        if self.ended {
            return None;
        }
        loop {
            match self.events.recv().await {
                Ok(event) if event.invoice.company_id == self.company => {
                    let _delivery =
                        crate::telemetry::delivery_span(event.cause.as_deref()).entered();
                    // Each event reads current rows, not what an earlier one cached.
                    self.scope.forget_loaded();
                    return Some((Ok(InvoiceEventNode(event)), self));
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => {
                    self.stats.slow_consumers.fetch_add(1, Ordering::Relaxed);
                    self.ended = true;
                    let err = AppError::SlowConsumer(self.buffer);
                    return Some((Err(err.into()), self));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}
