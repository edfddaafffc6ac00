//! Publishing trusted documents: a manifest replaces the list of one scope (the
//! deployment, or a tenant) and client, audited, and applies on every instance.
use serde_json::json;

use crate::{
    audit::{commit_with, Actor, AuditEntry},
    control::{
        tenants,
        trusted_documents::{self, DEPLOYMENT_SCOPE},
    },
    error::AppError,
    state::Services,
    trusted::{self, MAX_CLIENT_NAME_CHARS, MAX_SCOPE_BYTES},
};

/// Client apps with a list of their own, per scope: bounds what one admin can store.
pub const MAX_CLIENT_LISTS: usize = 20;

/// What a publication left in place.
pub struct Published {
    /// The tenant's slug, or None for the deployment's list.
    pub tenant: Option<String>,
    /// "" for every client.
    pub client_name: String,
    pub documents: usize,
}

/// Replaces the list of `tenant` (None: the deployment's) for `client_name`
/// (None: every client) with the manifest's documents; an empty manifest
/// clears it.
pub async fn publish(
    services: &Services,
    actor: &Actor,
    tenant: Option<&str>,
    client_name: Option<&str>,
    manifest: &str,
) -> Result<Published, AppError> {
    let client_name = match client_name.map(str::trim).filter(|c| !c.is_empty()) {
        None => String::new(),
        Some(name) => trusted::client_name(name)
            .ok_or_else(|| {
                AppError::bad_input(
                    "clientName",
                    format!("a client name is 1-{MAX_CLIENT_NAME_CHARS} printable characters"),
                )
            })?
            .to_string(),
    };
    let documents = trusted::parse_manifest(manifest)
        .map_err(|e| AppError::bad_input("manifest", e.to_string()))?;
    let count = documents.len();
    let txn = services.control.begin_change().await?;
    let tenant = match tenant {
        Some(slug) => Some(tenants::get_by_slug(&txn, slug).await?),
        None => None,
    };
    let scope = tenant
        .as_ref()
        .map_or(DEPLOYMENT_SCOPE, |t| t.id.as_str())
        .to_string();
    let kept: usize = trusted_documents::of_scope(&txn, &scope)
        .await?
        .iter()
        .filter(|row| row.client_name != client_name)
        .map(|row| row.body.len())
        .sum();
    let published: usize = documents.iter().map(|(_, body)| body.len()).sum();
    if kept + published > MAX_SCOPE_BYTES {
        return Err(AppError::bad_input(
            "manifest",
            format!(
                "this scope's lists would hold {} bytes of documents, more than {MAX_SCOPE_BYTES}",
                kept + published
            ),
        ));
    }
    if !client_name.is_empty() && count > 0 {
        let others = trusted_documents::client_names(&txn, &scope).await?;
        if !others.contains(&client_name) && others.len() >= MAX_CLIENT_LISTS {
            return Err(AppError::Conflict(format!(
                "this scope already has lists for {MAX_CLIENT_LISTS} client names; clear one first"
            )));
        }
    }
    trusted_documents::replace(&txn, &scope, &client_name, documents).await?;
    let audit_scope = tenant.as_ref().map(|t| (t.id.as_str(), t.slug.as_str()));
    let target = tenant.as_ref().map_or("deployment", |t| t.slug.as_str());
    commit_with(
        txn,
        AuditEntry::change(actor, "documents.publish", audit_scope, target)
            .with_details(json!({ "clientName": client_name, "documents": count })),
    )
    .await?;
    services.trusted.published(&scope).await;
    Ok(Published {
        tenant: tenant.map(|t| t.slug),
        client_name,
        documents: count,
    })
}
