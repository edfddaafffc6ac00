//! The shared, tenant-independent services one process runs with. Built once at
//! start-up; handed to the HTTP layer and to the schema as schema-wide data.
//! Nothing tenant-scoped lives here: that is per request (`TenantContext`).
use std::{sync::Arc, time::Duration};

use crate::{
    admission::{Admission, AdmissionSettings, FairShareSettings},
    audit::{AuditSettings, AuditSink},
    auth::{
        api_keys::{ApiKeys, KeyLifetimes},
        keys::Keyring,
        revocations::Revocations,
        sessions::Sessions,
        TokenService,
    },
    cache::{AnswerCache, CacheSettings},
    cluster::Cluster,
    config::{
        ControlPlaneConfig, TokenConfig, DEFAULT_CACHE_MAX_ENTRIES, DEFAULT_CACHE_TTL_SECS,
        DEFAULT_CONTEXT_CACHE_SECS, DEFAULT_MAX_CONCURRENT_OPERATIONS,
        DEFAULT_METRICS_TENANT_LABELS, DEFAULT_TENANT_MAX_CONCURRENT_OPERATIONS,
    },
    control::{entities::tenant::DocumentsMode, ControlPlane, StartupError},
    digest::HmacKey,
    documents::DocumentCache,
    live::{Live, LiveSettings},
    mail::{MailSettings, Mailer},
    metrics::Metrics,
    origins::{registry::OriginRegistry, OriginList},
    persisted::PersistedQueries,
    sealing::KeySource,
    tenancy::{
        pools::{PoolManager, PoolSettings},
        ContextResolver,
    },
    trusted::TrustedDocuments,
};

/// How the services behave; the server derives these from its configuration.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// How stale a cached key, verified token or tenant context may be.
    pub cache_ttl: Duration,
    pub pools: PoolSettings,
    pub metrics_tenant_labels: usize,
    pub audit: AuditSettings,
    pub live: LiveSettings,
    /// Redis shared by the instances; None runs everything in process.
    pub redis_url: Option<String>,
    /// SMTP for invitations; None: tenant admins cannot invite.
    pub mail: Option<MailSettings>,
    pub admission: AdmissionSettings,
    pub cache: CacheSettings,
    /// The deployment's allowed web origins (tenants add their own).
    pub origins: OriginList,
    pub api_key_lifetimes: KeyLifetimes,
    /// The deployment's trusted-documents mode, and whether admins may still
    /// send free-form documents under `require`.
    pub documents_mode: DocumentsMode,
    pub admins_free_form: bool,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        ServiceSettings {
            cache_ttl: Duration::from_secs(DEFAULT_CONTEXT_CACHE_SECS),
            pools: PoolSettings::default(),
            metrics_tenant_labels: DEFAULT_METRICS_TENANT_LABELS,
            audit: AuditSettings::default(),
            live: LiveSettings::default(),
            redis_url: None,
            mail: None,
            admission: AdmissionSettings {
                fair: FairShareSettings {
                    total: DEFAULT_MAX_CONCURRENT_OPERATIONS,
                    per_tenant: DEFAULT_TENANT_MAX_CONCURRENT_OPERATIONS,
                    backlog: crate::config::DEFAULT_TENANT_MAX_QUEUED_OPERATIONS,
                },
                tenant_rate: None,
                user_rate: None,
                sign_in_account: None,
                sign_in_address: None,
            },
            cache: CacheSettings {
                ttl: Duration::from_secs(DEFAULT_CACHE_TTL_SECS),
                max_entries: DEFAULT_CACHE_MAX_ENTRIES,
            },
            origins: OriginList::default(),
            api_key_lifetimes: KeyLifetimes::default(),
            documents_mode: DocumentsMode::Allow,
            admins_free_form: true,
        }
    }
}

#[derive(Clone)]
pub struct Services {
    pub control: ControlPlane,
    pub tokens: Arc<TokenService>,
    /// Machine clients' API keys.
    pub api_keys: Arc<ApiKeys>,
    pub contexts: Arc<ContextResolver>,
    pub sessions: Arc<Sessions>,
    pub pools: Arc<PoolManager>,
    pub metrics: Arc<Metrics>,
    pub audit: Arc<AuditSink>,
    pub live: Arc<Live>,
    pub cluster: Cluster,
    pub admission: Arc<Admission>,
    pub cache: Arc<AnswerCache>,
    /// Parsed documents by their text (no tenant data).
    pub documents: Arc<DocumentCache>,
    /// Sends invitations; None when no SMTP relay is configured.
    pub mailer: Option<Arc<Mailer>>,
    /// The web origins allowed to call from a browser.
    pub origins: Arc<OriginRegistry>,
    /// Automatic persisted queries' texts by hash (no tenant data).
    pub persisted: Arc<PersistedQueries>,
    /// Published operations and the modes that decide what else runs.
    pub trusted: Arc<TrustedDocuments>,
}

impl Services {
    /// Opens (and migrates) the control plane and wires the services over it.
    pub async fn start(
        control_cfg: &ControlPlaneConfig,
        token_cfg: &TokenConfig,
        settings: ServiceSettings,
    ) -> Result<(Self, KeySource), StartupError> {
        let mailer = match &settings.mail {
            Some(mail) => Some(Arc::new(Mailer::new(mail)?)),
            None => None,
        };
        let (control, key_source) = ControlPlane::open(control_cfg).await?;
        let hash_key = control.sealer.hash_key();
        let cache_ttl = settings.cache_ttl;
        let keyring = Arc::new(Keyring::new(control.clone(), cache_ttl));
        let cluster = match &settings.redis_url {
            Some(url) => Cluster::with_redis(url)?,
            None => Cluster::local(),
        };
        let revocations = Revocations::start(control.clone(), cluster.clone(), cache_ttl)
            .await
            .map_err(StartupError::Connect)?;
        let tokens = Arc::new(TokenService::new(
            keyring,
            token_cfg.clone(),
            cache_ttl,
            revocations,
        ));
        let contexts = Arc::new(ContextResolver::new(control.clone(), cache_ttl));
        let api_keys = Arc::new(ApiKeys::new(
            control.clone(),
            cache_ttl,
            settings.api_key_lifetimes,
        ));
        let origins = OriginRegistry::start(
            settings.origins,
            control.clone(),
            cluster.clone(),
            cache_ttl,
        )
        .await
        .map_err(StartupError::Connect)?;
        let sessions = Arc::new(Sessions::new(control.clone(), tokens.clone()));
        let pools = PoolManager::start(control.clone(), settings.pools);
        let audit = AuditSink::start(
            control.db.clone(),
            control.sqlite_file.clone(),
            settings.audit,
        );
        let cache = AnswerCache::new(settings.cache, cluster.clone());
        let trusted = TrustedDocuments::start(
            settings.documents_mode,
            settings.admins_free_form,
            control.clone(),
            cluster.clone(),
            cache_ttl,
        );
        Ok((
            Services {
                control,
                tokens,
                api_keys,
                contexts,
                sessions,
                pools,
                metrics: Arc::new(Metrics::new(settings.metrics_tenant_labels)),
                audit,
                live: Live::new(settings.live, &cluster, cache.clone()),
                admission: Arc::new(Admission::new(settings.admission, cluster.clone())),
                cache,
                persisted: Arc::new(PersistedQueries::new(cluster.clone())),
                trusted,
                cluster,
                documents: Arc::new(DocumentCache::new(HmacKey::new(&hash_key))),
                mailer,
                origins,
            },
            key_source,
        ))
    }

    /// Forgets every cached answer about tenants, members and keys in this
    /// process, after an admin change: the change applies here at once (other
    /// instances see it within the cache lifetime).
    pub fn forget_cached_answers(&self) {
        self.contexts.forget_all();
        self.api_keys.forget_all();
        self.tokens.keyring().forget_all();
        self.tokens.forget_verified();
    }
}
