//! Invoices and their payments as GraphQL objects.
use async_graphql::{Context, Enum, InputObject, Object, ID};

use super::{
    parties::{CompanyNode, PartnerNode},
    scope, shared, Date, IdCodec, Kind, Money,
};
use crate::{
    erp::{self, invoices::Invoice, payments::Payment},
    error::AppError,
    resolvers::InOrder,
};

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum InvoiceKind {
    Sale,
    Purchase,
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum InvoiceStatus {
    /// Something is still due, before the due date.
    Open,
    Paid,
    /// Something is still due after the due date.
    Overdue,
}

impl From<InvoiceKind> for erp::invoices::InvoiceKind {
    fn from(kind: InvoiceKind) -> Self {
        match kind {
            InvoiceKind::Sale => erp::invoices::InvoiceKind::Sale,
            InvoiceKind::Purchase => erp::invoices::InvoiceKind::Purchase,
        }
    }
}

impl From<InvoiceStatus> for erp::invoices::InvoiceStatus {
    fn from(status: InvoiceStatus) -> Self {
        match status {
            InvoiceStatus::Open => erp::invoices::InvoiceStatus::Open,
            InvoiceStatus::Paid => erp::invoices::InvoiceStatus::Paid,
            InvoiceStatus::Overdue => erp::invoices::InvoiceStatus::Overdue,
        }
    }
}

impl From<erp::invoices::InvoiceKind> for InvoiceKind {
    fn from(kind: erp::invoices::InvoiceKind) -> Self {
        match kind {
            erp::invoices::InvoiceKind::Sale => InvoiceKind::Sale,
            erp::invoices::InvoiceKind::Purchase => InvoiceKind::Purchase,
        }
    }
}

impl From<erp::invoices::InvoiceStatus> for InvoiceStatus {
    fn from(status: erp::invoices::InvoiceStatus) -> Self {
        match status {
            erp::invoices::InvoiceStatus::Open => InvoiceStatus::Open,
            erp::invoices::InvoiceStatus::Paid => InvoiceStatus::Paid,
            erp::invoices::InvoiceStatus::Overdue => InvoiceStatus::Overdue,
        }
    }
}

/// Every given condition must hold.
#[derive(InputObject, Debug, Default)]
pub struct InvoiceFilter {
    pub status: Option<InvoiceStatus>,
    pub kind: Option<InvoiceKind>,
    pub partner_id: Option<ID>,
    /// Issued on or after this date.
    pub issued_from: Option<Date>,
    /// Issued on or before this date.
    pub issued_to: Option<Date>,
    /// Total at least this.
    pub min_total: Option<Money>,
    /// Total at most this.
    pub max_total: Option<Money>,
}

impl InvoiceFilter {
    pub fn into_domain(self, ids: &IdCodec) -> Result<erp::invoices::InvoiceFilter, AppError> {
        Ok(erp::invoices::InvoiceFilter {
            status: self.status.map(Into::into),
            kind: self.kind.map(Into::into),
            partner_id: self
                .partner_id
                .map(|id| ids.decode(Kind::Partner, &id))
                .transpose()?,
            issued_from: self.issued_from.map(|d| d.0),
            issued_to: self.issued_to.map(|d| d.0),
            min_total: self.min_total.map(|m| m.0),
            max_total: self.max_total.map(|m| m.0),
        })
    }
}

pub struct InvoiceNode(pub Invoice);

#[Object(name = "Invoice")]
impl InvoiceNode {
    async fn id(&self, ctx: &Context<'_>) -> async_graphql::Result<ID> {
        Ok(scope(ctx)?.ids.encode(Kind::Invoice, self.0.id))
    }

    /// The document number printed on the invoice.
    async fn number(&self) -> &str {
        &self.0.number
    }

    async fn kind(&self) -> InvoiceKind {
        self.0.kind.into()
    }

    async fn issue_date(&self) -> Date {
        Date(self.0.issue_date)
    }

    async fn due_date(&self) -> Date {
        Date(self.0.due_date)
    }

    /// Amount before VAT.
    async fn net(&self) -> Money {
        Money(self.0.net)
    }

    async fn vat(&self) -> Money {
        Money(self.0.vat)
    }

    /// Net plus VAT.
    async fn total(&self) -> Money {
        Money(self.0.total)
    }

    /// Sum of the payments so far.
    async fn paid(&self) -> Money {
        Money(self.0.paid)
    }

    /// Total minus paid.
    async fn balance(&self) -> Money {
        Money(self.0.balance())
    }

    async fn status(&self, ctx: &Context<'_>) -> async_graphql::Result<InvoiceStatus> {
        Ok(self.0.status(scope(ctx)?.today).into())
    }

    async fn partner(&self, ctx: &Context<'_>) -> async_graphql::Result<InOrder<PartnerNode>> {
        let partner = scope(ctx)?
            .loaders()
            .partners
            .load_one(self.0.partner_id)
            .await
            .map_err(shared)?;
        Ok(InOrder(PartnerNode(
            partner.ok_or(AppError::NotFound("partner"))?,
        )))
    }

    async fn company(&self, ctx: &Context<'_>) -> async_graphql::Result<InOrder<CompanyNode>> {
        let company = scope(ctx)?
            .loaders()
            .companies
            .load_one(self.0.company_id)
            .await
            .map_err(shared)?;
        Ok(InOrder(CompanyNode(
            company.ok_or(AppError::NotFound("company"))?,
        )))
    }

    /// Payments against this invoice, oldest first.
    async fn payments(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<InOrder<PaymentNode>>> {
        let payments = scope(ctx)?
            .loaders()
            .payments
            .load_one(self.0.id)
            .await
            .map_err(shared)?;
        Ok(payments
            .unwrap_or_default()
            .into_iter()
            .map(|payment| InOrder(PaymentNode(payment)))
            .collect())
    }
}

pub struct PaymentNode(pub Payment);

#[Object(name = "Payment")]
impl PaymentNode {
    async fn id(&self, ctx: &Context<'_>) -> async_graphql::Result<ID> {
        Ok(scope(ctx)?.ids.encode(Kind::Payment, self.0.id))
    }

    async fn date(&self) -> Date {
        Date(self.0.date)
    }

    async fn amount(&self) -> Money {
        Money(self.0.amount)
    }

    /// `transfer`, `card`, `direct_debit` or `cash`.
    async fn method(&self) -> &str {
        &self.0.method
    }
}
