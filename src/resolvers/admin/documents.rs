//! Publishing trusted documents: platform admins for the deployment or any
//! tenant, a tenant's admins for their own tenant (the tenant is the token's).
use async_graphql::{Context, Object, SimpleObject};

use crate::{
    admin::documents::{self, Published},
    resolvers::{
        actor, caller,
        guards::{PlatformAdmin, TenantAdmin},
        services,
    },
};

/// What a publication of trusted documents left in place.
#[derive(SimpleObject)]
pub struct PublishedDocuments {
    /// The tenant's slug; null for the deployment's list.
    pub tenant: Option<String>,
    /// Empty for every client.
    pub client_name: String,
    pub documents: i32,
}

impl From<Published> for PublishedDocuments {
    fn from(published: Published) -> Self {
        PublishedDocuments {
            tenant: published.tenant,
            client_name: published.client_name,
            documents: published.documents as i32,
        }
    }
}

#[derive(Default)]
pub struct DocumentsMutation;

#[Object]
impl DocumentsMutation {
    /// Publishes a manifest of trusted documents (Apollo's persisted query list,
    /// or an object of `sha256:<hex>` → document) for the deployment, or for
    /// `tenant`, for every client or only `clientName` (`graphql-client-name`).
    /// It replaces that list, on every instance; an empty manifest clears it.
    #[graphql(guard = "PlatformAdmin")]
    async fn publish_trusted_documents(
        &self,
        ctx: &Context<'_>,
        manifest: String,
        tenant: Option<String>,
        client_name: Option<String>,
    ) -> async_graphql::Result<PublishedDocuments> {
        let published = documents::publish(
            services(ctx),
            &actor(ctx),
            tenant.as_deref(),
            client_name.as_deref(),
            &manifest,
        )
        .await?;
        Ok(published.into())
    }

    /// The same for the caller's own tenant, by its admins: its apps' published
    /// documents, beside the deployment's.
    #[graphql(guard = "TenantAdmin")]
    async fn publish_tenant_documents(
        &self,
        ctx: &Context<'_>,
        manifest: String,
        client_name: Option<String>,
    ) -> async_graphql::Result<PublishedDocuments> {
        let tenant = caller(ctx)?.tenant()?;
        let published = documents::publish(
            services(ctx),
            &actor(ctx),
            Some(&tenant.slug),
            client_name.as_deref(),
            &manifest,
        )
        .await?;
        Ok(published.into())
    }
}
