//! Which tenant a request acts for, and everything tenant-scoped behind it.
pub mod breaker;
pub mod context;
pub mod db;
pub mod pools;
pub mod tunnel;

pub use context::{ApiKeyRef, ContextResolver, TenantContext, TenantRef, TokenRef};
pub use db::{TenantDb, Transaction};
pub use pools::PoolManager;
