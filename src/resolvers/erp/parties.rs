//! Companies and partners as GraphQL objects.
use async_graphql::{Context, Enum, Object, ID};

use super::{scope, treasury::AccountNode, Kind};
use crate::erp::{self, companies::Company, partners::Partner};

pub struct CompanyNode(pub Company);

#[Object(name = "Company")]
impl CompanyNode {
    async fn id(&self, ctx: &Context<'_>) -> async_graphql::Result<ID> {
        Ok(scope(ctx)?.ids.encode(Kind::Company, self.0.id))
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn tax_id(&self) -> &str {
        &self.0.tax_id
    }

    /// ISO 4217 code of the company's books.
    async fn currency(&self) -> &str {
        &self.0.currency
    }

    /// Bank and cash accounts with their current balances.
    async fn treasury_accounts(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<AccountNode>> {
        let scope = scope(ctx)?;
        Ok(erp::treasury::accounts_of_company(&scope.db, self.0.id)
            .await?
            .into_iter()
            .map(AccountNode)
            .collect())
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum PartnerKind {
    Customer,
    Supplier,
    Both,
}

impl From<PartnerKind> for erp::partners::PartnerKind {
    fn from(kind: PartnerKind) -> Self {
        match kind {
            PartnerKind::Customer => erp::partners::PartnerKind::Customer,
            PartnerKind::Supplier => erp::partners::PartnerKind::Supplier,
            PartnerKind::Both => erp::partners::PartnerKind::Both,
        }
    }
}

impl From<erp::partners::PartnerKind> for PartnerKind {
    fn from(kind: erp::partners::PartnerKind) -> Self {
        match kind {
            erp::partners::PartnerKind::Customer => PartnerKind::Customer,
            erp::partners::PartnerKind::Supplier => PartnerKind::Supplier,
            erp::partners::PartnerKind::Both => PartnerKind::Both,
        }
    }
}

pub struct PartnerNode(pub Partner);

#[Object(name = "Partner")]
impl PartnerNode {
    async fn id(&self, ctx: &Context<'_>) -> async_graphql::Result<ID> {
        Ok(scope(ctx)?.ids.encode(Kind::Partner, self.0.id))
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn tax_id(&self) -> &str {
        &self.0.tax_id
    }

    async fn kind(&self) -> PartnerKind {
        self.0.kind.into()
    }

    async fn city(&self) -> &str {
        &self.0.city
    }
}
