//! The request's handle on its tenant's database: borrow, run, count, give back.
use std::sync::Arc;

use super::{
    pools::{PoolManager, PooledConnection},
    TenantRef,
};
use tracing::Instrument;

use crate::{
    error::AppError,
    request_id::RequestId,
    store::{Dialect, Row, Sql},
    telemetry::TRACE_TARGET,
};

/// One tenant-database statement's span: the backend, the statement's shape
/// (never a bound value) and how long the pool made it wait.
fn statement_span(dialect: Dialect, sql: &Sql) -> tracing::Span {
    let span = tracing::info_span!(
        target: TRACE_TARGET,
        "db",
        otel.name = tracing::field::Empty,
        otel.kind = "client",
        db.system.name = dialect.system_name(),
        db.query.summary = tracing::field::Empty,
        tenantql.pool.wait_ms = tracing::field::Empty,
    );
    if !span.is_disabled() {
        let summary = sql.summary();
        span.record("otel.name", summary.as_str());
        span.record("db.query.summary", summary.as_str());
    }
    span
}

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

    /// A new statement over this tenant's contract relations.
    pub fn sql(&self) -> Sql {
        Sql::in_schema(self.dialect(), self.tenant.contract_schema.clone())
    }

    /// Runs one statement: one round trip on one borrowed session. First a
    /// yield point: an embedded store answers within the poll, and a tenant
    /// with less CPU used than this one may be waiting (`crate::share`). A
    /// long statement of an embedded store pauses at its checkpoints for one.
    pub async fn query(&self, sql: &Sql) -> Result<Vec<Row>, AppError> {
        crate::share::yield_point().await;
        async {
            let mut conn = self.acquire().await?;
            self.pools.count_round_trip(&self.tenant);
            conn.query_pausing(
                sql,
                self.request_id.as_str(),
                &crate::share::OperationPauses,
            )
            .await
            .map_err(|e| self.pools.failed(&self.tenant, e))
        }
        .instrument(statement_span(self.dialect(), sql))
        .await
    }

    /// A session from the tenant's pool; the wait is on the statement's span.
    async fn acquire(&self) -> Result<PooledConnection, AppError> {
        let waited = std::time::Instant::now();
        let conn = self.pools.acquire(&self.tenant).await;
        tracing::Span::current().record(
            "tenantql.pool.wait_ms",
            waited.elapsed().as_secs_f64() * 1000.0,
        );
        conn
    }

    /// Runs one statement over tenantql's own objects in the tenant database
    /// (the change log): `None` when they are not there (the database is
    /// behind the version that creates them), which says nothing about the
    /// client's contract.
    pub async fn query_own(&self, sql: &Sql) -> Result<Option<Vec<Row>>, AppError> {
        async {
            let mut conn = self.acquire().await?;
            self.pools.count_round_trip(&self.tenant);
            match conn.query(sql, self.request_id.as_str()).await {
                Ok(rows) => Ok(Some(rows)),
                Err(crate::store::StoreError::Contract { .. }) => Ok(None),
                Err(e) => Err(self.pools.failed(&self.tenant, e)),
            }
        }
        .instrument(statement_span(self.dialect(), sql))
        .await
    }
}

impl TenantDb {
    /// Starts a write transaction on one borrowed session. Dropped without
    /// `commit`, the session is closed instead of going back to the pool, which
    /// rolls the work back in every backend.
    pub async fn begin(&self) -> Result<Transaction<'_>, AppError> {
        let mut conn = self.pools.acquire(&self.tenant).await?;
        self.pools.count_round_trip(&self.tenant);
        conn.begin()
            .await
            .map_err(|e| self.pools.failed(&self.tenant, e))?;
        Ok(Transaction {
            db: self,
            conn: Some(conn),
        })
    }
}

/// A write in progress on one tenant session.
pub struct Transaction<'a> {
    db: &'a TenantDb,
    conn: Option<PooledConnection>,
}

impl Transaction<'_> {
    pub fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    /// A new statement over the tenant's contract relations.
    pub fn sql(&self) -> Sql {
        self.db.sql()
    }

    fn session(&mut self) -> &mut PooledConnection {
        self.conn
            .as_mut()
            .expect("a transaction holds its session until it ends")
    }

    pub async fn query(&mut self, sql: &Sql) -> Result<Vec<Row>, AppError> {
        let db = self.db;
        db.pools.count_round_trip(&db.tenant);
        let request_id = db.request_id.as_str();
        let span = statement_span(db.dialect(), sql);
        self.session()
            .query(sql, request_id)
            .instrument(span)
            .await
            .map_err(|e| db.pools.failed(&db.tenant, e))
    }

    pub async fn execute(&mut self, sql: &Sql) -> Result<u64, AppError> {
        let db = self.db;
        db.pools.count_round_trip(&db.tenant);
        let span = statement_span(db.dialect(), sql);
        self.session()
            .execute(sql)
            .instrument(span)
            .await
            .map_err(|e| db.pools.failed(&db.tenant, e))
    }

    /// Runs an insert guarded by a unique key: `false` when a concurrent writer
    /// took the key (the transaction must then be started again).
    pub async fn execute_unique(&mut self, sql: &Sql) -> Result<bool, AppError> {
        let db = self.db;
        db.pools.count_round_trip(&db.tenant);
        let span = statement_span(db.dialect(), sql);
        match self.session().execute(sql).instrument(span).await {
            Ok(_) => Ok(true),
            Err(crate::store::StoreError::Duplicate(_)) => Ok(false),
            Err(e) => Err(db.pools.failed(&db.tenant, e)),
        }
    }

    /// Calls a client procedure that returns the id of the row it wrote.
    pub async fn call_returning_id(&mut self, sql: &Sql) -> Result<i64, AppError> {
        let db = self.db;
        db.pools.count_round_trip(&db.tenant);
        let span = statement_span(db.dialect(), sql);
        self.session()
            .call_returning_id(sql)
            .instrument(span)
            .await
            .map_err(|e| db.pools.failed(&db.tenant, e))
    }

    /// Runs a statement whose failure the write can live with (it is not
    /// counted against the tenant's database); whether it succeeded.
    pub async fn try_execute(&mut self, sql: &Sql) -> bool {
        self.db.pools.count_round_trip(&self.db.tenant);
        self.session().try_execute(sql).await
    }

    pub async fn commit(mut self) -> Result<(), AppError> {
        let db = self.db;
        db.pools.count_round_trip(&db.tenant);
        let result = self.session().commit().await;
        match result {
            Ok(()) => {
                // Committed: the session is clean and may serve the next request.
                drop(self.conn.take());
                Ok(())
            }
            Err(e) => Err(db.pools.failed(&db.tenant, e)),
        }
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Not committed: detach the session from its pool and close it.
            drop(deadpool::managed::Object::take(conn));
        }
    }
}
