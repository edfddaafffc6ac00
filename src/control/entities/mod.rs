//! sea-orm entities of the control plane. The tables come from `migration/`.
pub mod api_key;
pub mod audit_log;
pub mod control_meta;
pub mod invitation;
pub mod membership;
pub mod password_set_token;
pub mod revoked_token;
pub mod signing_key;
pub mod tenant;
pub mod tenant_database;
pub mod tenant_rollout;
pub mod tenant_rollout_result;
pub mod trusted_document;
pub mod user;
