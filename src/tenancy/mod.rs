//! Which tenant a request acts for, and everything tenant-scoped behind it.
pub mod breaker;
pub mod context;
pub mod db;
pub mod members;
pub mod pools;
pub mod registry;
pub mod sealing;

pub use context::{ContextResolver, TenantContext, TenantRef};
pub use db::TenantDb;
pub use pools::PoolManager;
