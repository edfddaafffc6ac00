//! The control plane's schema. Every change to it is a new migration here, never an
//! edit of one that has shipped: deployed control planes replay them in order.
pub use sea_orm_migration::prelude::*;

mod m20261123_000001_control_plane;
mod m20261129_000002_admin_and_audit;
mod m20261130_000003_revocations_and_limits;
mod m20261201_000004_tunnel_host_key;
mod m20261202_000005_invitations;
mod m20261203_000006_tenant_databases;
mod m20261204_000007_tenant_origins;
mod m20261204_000008_api_keys;
mod m20261204_000009_trusted_documents;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_control_plane::Migration),
            Box::new(m20261129_000002_admin_and_audit::Migration),
            Box::new(m20261130_000003_revocations_and_limits::Migration),
            Box::new(m20261201_000004_tunnel_host_key::Migration),
            Box::new(m20261202_000005_invitations::Migration),
            Box::new(m20261203_000006_tenant_databases::Migration),
            Box::new(m20261204_000007_tenant_origins::Migration),
            Box::new(m20261204_000008_api_keys::Migration),
            Box::new(m20261204_000009_trusted_documents::Migration),
        ]
    }
}
