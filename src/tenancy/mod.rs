//! Which tenant a request acts for, and everything tenant-scoped behind it.
pub mod context;
pub mod registry;
pub mod sealing;

pub use context::{ContextResolver, TenantContext, TenantRef};
