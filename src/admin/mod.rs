//! The operators' use cases: platform admins over tenants, keys and users
//! (`registry`), tenant admins over their own members (`members`). The guarded
//! GraphQL admin API and the CLI both call these; each change writes its audit
//! row in the same transaction.
pub mod api_keys;
pub mod documents;
pub mod members;
pub mod registry;
pub mod tenant_database;
