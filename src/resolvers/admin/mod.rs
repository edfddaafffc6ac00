//! The guarded admin API.
//!
//! - `platform`: tenants, their connections, keys and pools, and the whole audit
//!   log — platform admins only (`PlatformAdmin`).
//! - `members`: the members and audit log of the caller's own tenant — its admins
//!   only (`TenantAdmin`); the tenant is the token's, whatever the arguments say.
//! - `tenant_database`: tenant databases against the contract, and the rollout
//!   of tenantql's own objects in them — platform admins only.
//! - `api_keys`: the API keys of the caller's own tenant — its admins only.
//! - `documents`: publishing trusted documents — platform admins for any
//!   scope, a tenant's admins for their own tenant.
//! - `audit_log`: the audit rows as GraphQL types, shared by both.
mod api_keys;
mod audit_log;
mod documents;
mod members;
mod platform;
mod tenant_database;

pub use api_keys::{ApiKeyMutation, ApiKeyQuery};
pub use documents::DocumentsMutation;
pub use members::{TenantAdminMutation, TenantAdminQuery};
pub use platform::{PlatformMutation, PlatformQuery};
pub use tenant_database::{TenantDatabaseMutation, TenantDatabaseQuery};
