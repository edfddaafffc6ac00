//! The request's handle on its tenant's database: borrow, run, count, give back.
use std::sync::Arc;

use super::{pools::PoolManager, TenantRef};
use crate::{
    error::AppError,
    request_id::RequestId,
    store::{Dialect, Row, Sql},
};

#[derive(Clone)]
pub struct TenantDb {
    pub tenant: TenantRef,
    pools: Arc<PoolManager>,
    request_id: RequestId,
}

impl TenantDb {
    pub fn new(tenant: TenantRef, pools: Arc<PoolManager>, request_id: RequestId) -> Self {
        TenantDb {
            tenant,
            pools,
            request_id,
        }
    }

    /// The SQL dialect of this tenant's backend.
    pub fn dialect(&self) -> Dialect {
        self.tenant.dialect()
    }

    /// Runs one statement: one round trip on one borrowed session.
    pub async fn query(&self, sql: &Sql) -> Result<Vec<Row>, AppError> {
        let mut conn = self.pools.acquire(&self.tenant).await?;
        self.pools.count_round_trip(&self.tenant);
        conn.query(sql, self.request_id.as_str())
            .await
            .map_err(|e| self.pools.failed(&self.tenant, e))
    }
}
