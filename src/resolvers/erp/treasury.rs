//! Treasury accounts and their transactions as GraphQL objects.
use async_graphql::{connection::Connection, Context, Enum, Object, ID};

use super::{connection, scope, Date, Kind, Money};
use crate::erp::{self, keyset, treasury::TreasuryAccount, treasury::TreasuryTransaction};

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum AccountKind {
    Bank,
    Cash,
}

pub struct AccountNode(pub TreasuryAccount);

#[Object(name = "TreasuryAccount")]
impl AccountNode {
    async fn id(&self, ctx: &Context<'_>) -> async_graphql::Result<ID> {
        Ok(scope(ctx)?.ids.encode(Kind::Account, self.0.id))
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn kind(&self) -> AccountKind {
        if self.0.kind == "cash" {
            AccountKind::Cash
        } else {
            AccountKind::Bank
        }
    }

    async fn iban(&self) -> Option<&str> {
        self.0.iban.as_deref()
    }

    async fn opening_balance(&self) -> Money {
        Money(self.0.opening_balance)
    }

    /// Opening balance plus every transaction.
    async fn balance(&self) -> Money {
        Money(self.0.balance)
    }

    /// Newest first, optionally between two dates (inclusive).
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        from: Option<Date>,
        to: Option<Date>,
    ) -> async_graphql::Result<Connection<String, TransactionNode>> {
        let scope = scope(ctx)?;
        let first = keyset::page_size(first)?;
        let after = after
            .map(|c| scope.ids.decode_cursor(Kind::Transaction, &c))
            .transpose()?;
        let (rows, has_next) = erp::treasury::transactions(
            &scope.db,
            self.0.id,
            from.map(|d| d.0),
            to.map(|d| d.0),
            after.as_deref(),
            first,
        )
        .await?;
        Ok(connection(
            rows,
            has_next,
            |row| scope.ids.cursor(Kind::Transaction, &row.cursor()),
            TransactionNode,
        ))
    }
}

pub struct TransactionNode(pub TreasuryTransaction);

#[Object(name = "TreasuryTransaction")]
impl TransactionNode {
    async fn id(&self, ctx: &Context<'_>) -> async_graphql::Result<ID> {
        Ok(scope(ctx)?.ids.encode(Kind::Transaction, self.0.id))
    }

    async fn date(&self) -> Date {
        Date(self.0.date)
    }

    /// Positive for money in, negative for money out.
    async fn amount(&self) -> Money {
        Money(self.0.amount)
    }

    async fn description(&self) -> &str {
        &self.0.description
    }
}
