//! Per-request DataLoaders: a page of 100 invoices asks for its partners,
//! companies and payments in one query each, whatever the page size.
use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::{DataLoader, Loader};

use crate::{
    erp::{companies, companies::Company, partners, partners::Partner, payments, payments::Payment},
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
        payments::by_invoice_ids(&self.0, keys).await.map_err(Arc::new)
    }
}

pub struct Loaders {
    pub partners: DataLoader<PartnerLoader>,
    pub companies: DataLoader<CompanyLoader>,
    pub payments: DataLoader<PaymentsLoader>,
}

impl Loaders {
    pub fn new(db: &TenantDb) -> Self {
        Loaders {
            partners: DataLoader::new(PartnerLoader(db.clone()), tokio::spawn),
            companies: DataLoader::new(CompanyLoader(db.clone()), tokio::spawn),
            payments: DataLoader::new(PaymentsLoader(db.clone()), tokio::spawn),
        }
    }
}
