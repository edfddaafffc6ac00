//! ERP writes by members: payments and invoices, each one transaction on the
//! caller's tenant database, published to that tenant's subscribers once it
//! has committed.
use async_graphql::{Context, InputObject, Object, SimpleObject, ID};

use super::{
    invoices::{InvoiceKind, InvoiceNode, PaymentNode},
    scope, Date, Kind, Money,
};
use crate::{
    erp::{self, invoices::NewInvoice, payments::NewPayment},
    live::{InvoiceChange, InvoiceEvent},
    resolvers::{guards::Member, services},
};

#[derive(InputObject)]
pub struct CreateInvoiceInput {
    pub company_id: ID,
    pub partner_id: ID,
    pub kind: InvoiceKind,
    pub issue_date: Date,
    pub due_date: Date,
    /// Before VAT; greater than 0.
    pub net: Money,
    #[graphql(default_with = "Money(erp::Cents(0))")]
    pub vat: Money,
}

#[derive(SimpleObject)]
pub struct PaymentRecorded {
    pub payment: PaymentNode,
    /// The invoice after the payment.
    pub invoice: InvoiceNode,
}

#[derive(Default)]
pub struct ErpMutation;

#[Object]
impl ErpMutation {
    /// Records a payment against an invoice: more than 0, at most its balance,
    /// not dated before the invoice. `method`: transfer (when not given), card,
    /// direct_debit or cash.
    #[graphql(guard = "Member")]
    async fn record_payment(
        &self,
        ctx: &Context<'_>,
        invoice_id: ID,
        amount: Money,
        date: Date,
        method: Option<String>,
    ) -> async_graphql::Result<PaymentRecorded> {
        let scope = scope(ctx)?;
        let new = NewPayment {
            invoice_id: scope.ids.decode(Kind::Invoice, &invoice_id)?,
            amount: amount.0,
            date: date.0,
            method: method.unwrap_or_else(|| "transfer".into()),
        };
        let (invoice, payment) = erp::payments::record(&scope.db, &new).await?;
        services(ctx)
            .live
            .committed(
                &scope.db.tenant.id,
                InvoiceEvent {
                    change: InvoiceChange::Paid,
                    invoice: invoice.clone(),
                    payment: Some(payment.clone()),
                    cause: crate::telemetry::current_traceparent(),
                },
            )
            .await;
        Ok(PaymentRecorded {
            payment: PaymentNode(payment),
            invoice: InvoiceNode(invoice),
        })
    }

    /// Creates an invoice; its number is the next of its series
    /// (`S<company>-<year>-000001` for sales, `P…` for purchases).
    #[graphql(guard = "Member")]
    async fn create_invoice(
        &self,
        ctx: &Context<'_>,
        input: CreateInvoiceInput,
    ) -> async_graphql::Result<InvoiceNode> {
        let scope = scope(ctx)?;
        let new = NewInvoice {
            company_id: scope.ids.decode(Kind::Company, &input.company_id)?,
            partner_id: scope.ids.decode(Kind::Partner, &input.partner_id)?,
            kind: input.kind.into(),
            issue_date: input.issue_date.0,
            due_date: input.due_date.0,
            net: input.net.0,
            vat: input.vat.0,
        };
        let invoice = erp::invoices::create(&scope.db, &new).await?;
        services(ctx)
            .live
            .committed(
                &scope.db.tenant.id,
                InvoiceEvent {
                    change: InvoiceChange::Created,
                    invoice: invoice.clone(),
                    payment: None,
                    cause: crate::telemetry::current_traceparent(),
                },
            )
            .await;
        Ok(InvoiceNode(invoice))
    }
}
