//! Where a request's document comes from, before anything reads it: a
//! published (trusted) document, an automatic persisted query, or the text the
//! client sent — as the caller's documents mode allows.
use async_graphql::Request;

use super::{limits, SchemaPolicy};
use crate::{
    auth::Role,
    control::entities::tenant::DocumentsMode,
    error::AppError,
    persisted::{self, Lookup},
    request_id::RequestMeta,
    state::Services,
    tenancy::TenantContext,
    trusted,
};

/// Where the request's document comes from, before anything reads it: a
/// published document by `documentId` (or by an APQ hash a published list
/// holds), an automatic persisted query, or the text sent — which the mode
/// (the tenant's, else the deployment's) may refuse (`require`) or log
/// (`log-unknown`). A refusal under `require` happens before the text is read.
///
/// APQ: only a signed-in caller registers, and only a text within the source
/// limits that parses, so an anonymous caller cannot fill the store. A request
/// is resolved once: calling this again does nothing.
pub async fn resolve_document(
    services: &Services,
    policy: &SchemaPolicy,
    request: &mut Request,
    caller: Option<&TenantContext>,
    meta: &RequestMeta,
) -> Result<(), AppError> {
    if request
        .data
        .contains_key(&std::any::TypeId::of::<DocumentResolved>())
    {
        return Ok(());
    }
    request.data.insert(DocumentResolved(None));
    let trusted = &services.trusted;
    let tenant_id = caller
        .and_then(|c| c.tenant.as_ref())
        .map(|t| t.id.as_str());
    let persisted_only_key = caller
        .and_then(|c| c.api_key.as_ref())
        .is_some_and(|key| key.persisted_only);
    let mode = match caller.and_then(|c| c.tenant.as_ref()) {
        _ if persisted_only_key => DocumentsMode::Require,
        Some(tenant) => tenant.documents_mode.unwrap_or(trusted.mode),
        None => trusted.mode,
    };
    let client = meta.client_name.as_deref();
    let published = |id: String| async move { trusted.find(tenant_id, client, &id).await };
    if let Some(id) = request.extensions.remove(trusted::DOCUMENT_ID) {
        if mode == DocumentsMode::Off {
            return Err(AppError::bad_input(
                "documentId",
                "published documents are off here (TENANTQL_PERSISTED_DOCUMENTS)",
            ));
        }
        if !request.query.is_empty() {
            return Err(AppError::bad_input(
                "documentId",
                "send a documentId or a query, not both",
            ));
        }
        let id = match id {
            async_graphql::Value::String(id) => trusted::canonical_id(&id),
            _ => None,
        }
        .ok_or_else(|| AppError::bad_input("documentId", "a document id is sha256:<64 hex>"))?;
        let body = published(id.clone()).await?;
        return use_published(request, id, body, &trusted.stats);
    }
    if mode != DocumentsMode::Off {
        if let Some(hash) = persisted::hash_only(request) {
            let id = format!("sha256:{hash}");
            let body = published(id.clone()).await?;
            if body.is_some() || mode == DocumentsMode::Require {
                request.extensions.remove(persisted::EXTENSION);
                return use_published(request, id, body, &trusted.stats);
            }
        }
    }
    if mode == DocumentsMode::Require {
        let admin = trusted.admins_free_form
            && caller.is_some_and(|c| {
                c.api_key.is_none() && matches!(c.role, Role::Admin | Role::PlatformAdmin)
            });
        if !admin {
            trusted::count(&trusted.stats.free_form_refused);
            return Err(AppError::PersistedDocumentRequired);
        }
    }
    if let Lookup::Register(hash) = services.persisted.resolve(request).await? {
        if caller.is_some()
            && limits::check_source(&request.query, &policy.limits).is_ok()
            && services.documents.parse(request).is_ok()
        {
            services.persisted.register(hash, &request.query).await;
        }
    }
    if mode == DocumentsMode::LogUnknown && !request.query.is_empty() {
        let id = trusted::document_id(&request.query);
        if published(id.clone()).await?.is_none() {
            trusted::count(&trusted.stats.unknown_free_form);
            tracing::warn!(
                document = %id,
                tenant = tenant_id.unwrap_or("-"),
                client = client.unwrap_or("-"),
                "a document that is not published ran (TENANTQL_PERSISTED_DOCUMENTS=log-unknown)"
            );
        }
    }
    Ok(())
}

/// Marks a request whose document was resolved (GET resolves before its
/// mutation check): request data, which no client can set.
pub struct DocumentResolved(Option<String>);

/// The published document's id a request ran by, once resolved (for its span).
pub fn published_id(request: &Request) -> Option<&str> {
    request
        .data
        .get(&std::any::TypeId::of::<DocumentResolved>())?
        .downcast_ref::<DocumentResolved>()?
        .0
        .as_deref()
}

/// Puts a published body into the request, or refuses an id no list holds.
fn use_published(
    request: &mut Request,
    id: String,
    body: Option<std::sync::Arc<str>>,
    stats: &trusted::TrustedStats,
) -> Result<(), AppError> {
    match body {
        Some(body) => {
            trusted::count(&stats.hits);
            request.query = body.to_string();
            request.data.insert(DocumentResolved(Some(id)));
            Ok(())
        }
        None => {
            trusted::count(&stats.not_in_list);
            Err(AppError::PersistedDocumentNotInList)
        }
    }
}
