//! Per-request DataLoaders: a page of 100 invoices asks for its partners,
//! companies and payments in one query each, whatever the page size.
//!
//! A loader batches what arrives within its short delay, so on a busy machine a
//! page's fields could spill into two batches. The invoice list therefore
//! prefetches what its selection asks for, one query per relation, into the
//! loaders' per-request caches; the fields then read the cache. Round trips stay
//! at four, however busy the machine is, and no batching delay is paid.
use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};

use crate::{
    erp::{
        companies, companies::Company, invoices::Invoice, partners, partners::Partner, payments,
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

/// Which relations of an invoice list the query selects.
#[derive(Debug, Clone, Copy, Default)]
pub struct InvoiceRelations {
    pub partner: bool,
    pub company: bool,
    pub payments: bool,
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

    /// Loads the selected relations of a page of invoices: one query each,
    /// concurrently, straight into the loaders' caches (no batching delay).
    pub async fn prefetch(
        &self,
        db: &TenantDb,
        invoices: &[Invoice],
        wanted: InvoiceRelations,
    ) -> Result<(), AppError> {
        let distinct = |ids: Vec<i64>| -> Vec<i64> {
            let mut ids = ids;
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let partner_ids = distinct(invoices.iter().map(|i| i.partner_id).collect());
        let company_ids = distinct(invoices.iter().map(|i| i.company_id).collect());
        let invoice_ids: Vec<i64> = invoices.iter().map(|i| i.id).collect();
        let partners = async {
            if wanted.partner {
                self.partners
                    .feed_many(partners::by_ids(db, &partner_ids).await?)
                    .await;
            }
            Ok::<_, AppError>(())
        };
        let companies = async {
            if wanted.company {
                self.companies
                    .feed_many(companies::by_ids(db, &company_ids).await?)
                    .await;
            }
            Ok(())
        };
        let payments = async {
            if wanted.payments {
                self.payments
                    .feed_many(payments::by_invoice_ids(db, &invoice_ids).await?)
                    .await;
            }
            Ok(())
        };
        futures_util::try_join!(partners, companies, payments)?;
        Ok(())
    }
}
