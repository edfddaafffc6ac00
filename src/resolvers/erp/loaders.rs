//! Per-request DataLoaders: a page of 100 invoices asks for its partners,
//! companies and payments in one query each, whatever the page size.
//!
//! A loader batches what arrives within its short delay, so on a busy machine a
//! page's fields could spill into two batches. The invoice list therefore loads
//! what its selection asks for with the page itself (`erp::invoice_page`, one
//! round-trip stage) into the loaders' per-request caches; the fields then read
//! the cache, and no batching delay is paid.
use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};

use crate::{
    erp::{
        companies, companies::Company, invoice_page, partners, partners::Partner, payments,
        payments::Payment,
    },
    error::AppError,
    tenancy::TenantDb,
};

pub struct PartnerLoader(TenantDb);
pub struct CompanyLoader(TenantDb);
pub struct PaymentsLoader(TenantDb);

impl Loader<i64> for PartnerLoader {
    type Value = Partner;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Partner>, Self::Error> {
        partners::by_ids(&self.0, keys).await.map_err(Arc::new)
    }
}

impl Loader<i64> for CompanyLoader {
    type Value = Company;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Company>, Self::Error> {
        companies::by_ids(&self.0, keys).await.map_err(Arc::new)
    }
}

impl Loader<i64> for PaymentsLoader {
    type Value = Vec<Payment>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Vec<Payment>>, Self::Error> {
        payments::by_invoice_ids(&self.0, keys)
            .await
            .map_err(Arc::new)
    }
}

pub struct Loaders {
    pub partners: DataLoader<PartnerLoader, HashMapCache>,
    pub companies: DataLoader<CompanyLoader, HashMapCache>,
    pub payments: DataLoader<PaymentsLoader, HashMapCache>,
}

impl Loaders {
    /// Drops every cached row, so the next loads read the database again (a
    /// subscription does this per event: its loaders live as long as it does).
    pub fn forget(&self) {
        self.partners.clear::<i64>();
        self.companies.clear::<i64>();
        self.payments.clear::<i64>();
    }

    pub fn new(db: &TenantDb) -> Self {
        Loaders {
            partners: DataLoader::with_cache(
                PartnerLoader(db.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
            companies: DataLoader::with_cache(
                CompanyLoader(db.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
            payments: DataLoader::with_cache(
                PaymentsLoader(db.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
        }
    }

    /// Takes the relations an invoice page loaded with its rows into the
    /// loaders' caches, so its fields read them without a batching delay.
    pub async fn feed_page(&self, page: &mut invoice_page::Page) {
        self.partners
            .feed_many(std::mem::take(&mut page.partners))
            .await;
        self.companies
            .feed_many(std::mem::take(&mut page.companies))
            .await;
        self.payments
            .feed_many(std::mem::take(&mut page.payments))
            .await;
    }
}
