//! Treasury: bank and cash accounts, their transactions and balances.
use chrono::NaiveDate;

use super::{keyset, Cents};
use crate::{
    error::AppError,
    store::{Row, Sql, StoreError},
    tenancy::TenantDb,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreasuryAccount {
    pub id: i64,
    pub company_id: i64,
    pub name: String,
    /// `bank` or `cash`.
    pub kind: String,
    pub iban: Option<String>,
    pub opening_balance: Cents,
    /// Opening balance plus every transaction.
    pub balance: Cents,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreasuryTransaction {
    pub id: i64,
    pub account_id: i64,
    pub date: NaiveDate,
    pub amount: Cents,
    pub description: String,
}

impl TreasuryTransaction {
    pub fn cursor(&self) -> String {
        keyset::encode(&[&self.date.to_string(), &self.id.to_string()])
    }
}

fn account_from_row(row: &Row) -> Result<TreasuryAccount, StoreError> {
    let opening = Cents(row.int(5)?);
    Ok(TreasuryAccount {
        id: row.int(0)?,
        company_id: row.int(1)?,
        name: row.text(2)?,
        kind: row.text(3)?,
        iban: row.opt_text(4)?,
        opening_balance: opening,
        balance: opening + Cents(row.int_or_zero(6)?),
    })
}

/// `SELECT` of accounts with their balances, up to an open `WHERE `.
fn account_select(sql: &mut Sql) -> &mut Sql {
    sql.push("SELECT a.id, a.company_id, a.name, a.kind, a.iban, a.opening_balance_cents, (SELECT SUM(t.amount_cents) FROM ")
        .rel("treasury_transactions")
        .push(" t WHERE t.account_id = a.id) FROM ")
        .rel("treasury_accounts")
        .push(" a WHERE ")
}

pub async fn accounts_of_company(
    db: &TenantDb,
    company_id: i64,
) -> Result<Vec<TreasuryAccount>, AppError> {
    let mut sql = db.sql();
    account_select(&mut sql)
        .push("a.company_id = ")
        .bind(company_id)
        .push(" ORDER BY a.kind, a.name, a.id");
    super::fetch(db, &sql, account_from_row).await
}

pub async fn account(db: &TenantDb, id: i64) -> Result<Option<TreasuryAccount>, AppError> {
    let mut sql = db.sql();
    account_select(&mut sql).push("a.id = ").bind(id);
    Ok(super::fetch(db, &sql, account_from_row).await?.pop())
}

/// One page of an account's transactions, newest first, optionally within dates.
pub async fn transactions(
    db: &TenantDb,
    account_id: i64,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    after: Option<&str>,
    first: usize,
) -> Result<(Vec<TreasuryTransaction>, bool), AppError> {
    let mut sql = db.sql();
    sql.push("SELECT id, account_id, tx_date, amount_cents, description FROM ")
        .rel("treasury_transactions")
        .push(" WHERE account_id = ")
        .bind(account_id);
    if let Some(from) = from {
        sql.push(" AND tx_date >= ").bind(from);
    }
    if let Some(to) = to {
        sql.push(" AND tx_date <= ").bind(to);
    }
    if let Some(cursor) = after {
        keyset::push_after_date_id(&mut sql, "tx_date", cursor)?;
    }
    sql.push(" ORDER BY tx_date DESC, id DESC").limit(first + 1);
    let rows = super::fetch(db, &sql, |r| {
        Ok(TreasuryTransaction {
            id: r.int(0)?,
            account_id: r.int(1)?,
            date: r.date(2)?,
            amount: Cents(r.int(3)?),
            description: r.text(4)?,
        })
    })
    .await?;
    Ok(keyset::split_page(rows, first))
}
