//! Ed25519 signing keys: one per tenant, one for the platform.
//!
//! Private keys are stored sealed (owner + kid as associated data) and opened only
//! when a token is minted. The keyring caches opened and public keys for a few
//! seconds: rotating a key through this process drops the cache at once, and other
//! processes see a rotation within the cache lifetime.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::Utc;
use ed25519_dalek::{pkcs8::EncodePrivateKey, SigningKey};
use jsonwebtoken::{DecodingKey, EncodingKey};
use rand::{rngs::OsRng, RngCore};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::{
    control::{entities::signing_key, tenants, ControlPlane},
    error::AppError,
    sealing::Sealer,
};

pub const ALGORITHM: &str = "EdDSA";
/// Owner name used as associated data for the platform key.
const PLATFORM_OWNER: &str = "platform";

/// Whose tokens a key signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOwner {
    Platform,
    Tenant { id: String, slug: String },
}

pub struct VerifyingKey {
    pub owner: KeyOwner,
    pub decoding: DecodingKey,
}

pub struct SigningKeyHandle {
    pub kid: String,
    pub encoding: EncodingKey,
}

struct Cached<T> {
    value: Arc<T>,
    loaded: Instant,
}

pub struct Keyring {
    control: ControlPlane,
    ttl: Duration,
    verifying: Mutex<HashMap<String, Cached<VerifyingKey>>>,
    /// Keyed by tenant id; `None` is the platform key.
    signing: Mutex<HashMap<Option<String>, Cached<SigningKeyHandle>>>,
}

fn owner_name(tenant_id: Option<&str>) -> &str {
    tenant_id.unwrap_or(PLATFORM_OWNER)
}

fn sealed_field(kid: &str) -> String {
    format!("signing_key:{kid}")
}

/// Creates and stores a new key for a tenant (`Some(id)`) or the platform (`None`).
pub async fn create(
    db: &impl ConnectionTrait,
    sealer: &Sealer,
    tenant_id: Option<&str>,
) -> Result<signing_key::Model, AppError> {
    let key = SigningKey::generate(&mut OsRng);
    let der = key
        .to_pkcs8_der()
        .map_err(|e| AppError::internal(anyhow::anyhow!("encoding a new Ed25519 key: {e}")))?;
    let mut kid_bytes = [0u8; 12];
    OsRng.fill_bytes(&mut kid_bytes);
    let kid = URL_SAFE_NO_PAD.encode(kid_bytes);
    let sealed = sealer.seal(owner_name(tenant_id), &sealed_field(&kid), der.as_bytes());
    let model = signing_key::ActiveModel {
        kid: Set(kid),
        tenant_id: Set(tenant_id.map(str::to_string)),
        algorithm: Set(ALGORITHM.into()),
        public_key: Set(URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes())),
        private_key_sealed: Set(sealed),
        created_at: Set(Utc::now()),
    };
    Ok(model.insert(db).await?)
}

/// Replaces every key of the owner with a fresh one: tokens the old keys signed
/// stop verifying (once the keyring's cache forgets them).
pub async fn replace(
    db: &impl ConnectionTrait,
    sealer: &Sealer,
    tenant_id: Option<&str>,
) -> Result<signing_key::Model, AppError> {
    delete_all(db, tenant_id).await?;
    create(db, sealer, tenant_id).await
}

/// Deletes every key of the owner: tokens they signed stop verifying.
pub async fn delete_all(
    db: &impl ConnectionTrait,
    tenant_id: Option<&str>,
) -> Result<u64, AppError> {
    let filter = match tenant_id {
        Some(id) => signing_key::Column::TenantId.eq(id),
        None => signing_key::Column::TenantId.is_null(),
    };
    Ok(signing_key::Entity::delete_many()
        .filter(filter)
        .exec(db)
        .await?
        .rows_affected)
}

fn decoding_key(public_key_b64: &str) -> Result<DecodingKey, AppError> {
    let bytes = URL_SAFE_NO_PAD.decode(public_key_b64).map_err(|e| {
        AppError::internal(anyhow::anyhow!("stored public key is not base64url: {e}"))
    })?;
    if bytes.len() != 32 {
        return Err(AppError::internal(anyhow::anyhow!(
            "stored Ed25519 public key has {} bytes",
            bytes.len()
        )));
    }
    Ok(DecodingKey::from_ed_der(&bytes))
}

impl Keyring {
    pub fn new(control: ControlPlane, ttl: Duration) -> Self {
        Keyring {
            control,
            ttl,
            verifying: Mutex::new(HashMap::new()),
            signing: Mutex::new(HashMap::new()),
        }
    }

    fn fresh<K: Eq + std::hash::Hash, T>(
        &self,
        map: &Mutex<HashMap<K, Cached<T>>>,
        key: &K,
    ) -> Option<Arc<T>> {
        let map = map.lock().expect("keyring cache lock");
        map.get(key)
            .filter(|c| c.loaded.elapsed() < self.ttl)
            .map(|c| c.value.clone())
    }

    fn remember<K: Eq + std::hash::Hash, T>(
        map: &Mutex<HashMap<K, Cached<T>>>,
        key: K,
        value: Arc<T>,
    ) {
        map.lock().expect("keyring cache lock").insert(
            key,
            Cached {
                value,
                loaded: Instant::now(),
            },
        );
    }

    /// The public key named by a token's `kid`, or `None` when no such key exists.
    pub async fn verifying_key(&self, kid: &str) -> Result<Option<Arc<VerifyingKey>>, AppError> {
        let kid = kid.to_string();
        if let Some(hit) = self.fresh(&self.verifying, &kid) {
            return Ok(Some(hit));
        }
        let Some(row) = signing_key::Entity::find_by_id(kid.as_str())
            .one(&self.control.db)
            .await?
        else {
            self.verifying
                .lock()
                .expect("keyring cache lock")
                .remove(&kid);
            return Ok(None);
        };
        let owner = match &row.tenant_id {
            None => KeyOwner::Platform,
            Some(id) => match tenants::find_by_id(&self.control.db, id).await? {
                Some(t) => KeyOwner::Tenant {
                    id: t.id,
                    slug: t.slug,
                },
                None => return Ok(None),
            },
        };
        let key = Arc::new(VerifyingKey {
            owner,
            decoding: decoding_key(&row.public_key)?,
        });
        Self::remember(&self.verifying, kid, key.clone());
        Ok(Some(key))
    }

    /// The newest key of a tenant (`Some(id)`) or of the platform, opened for signing.
    pub async fn signing_key(
        &self,
        tenant_id: Option<&str>,
    ) -> Result<Arc<SigningKeyHandle>, AppError> {
        let owner = tenant_id.map(str::to_string);
        if let Some(hit) = self.fresh(&self.signing, &owner) {
            return Ok(hit);
        }
        let filter = match tenant_id {
            Some(id) => signing_key::Column::TenantId.eq(id),
            None => signing_key::Column::TenantId.is_null(),
        };
        let row = signing_key::Entity::find()
            .filter(filter)
            .order_by_desc(signing_key::Column::CreatedAt)
            .one(&self.control.db)
            .await?
            .ok_or_else(|| {
                AppError::internal(anyhow::anyhow!(
                    "no signing key for {}",
                    owner_name(tenant_id)
                ))
            })?;
        let der = self
            .control
            .sealer
            .open(
                owner_name(tenant_id),
                &sealed_field(&row.kid),
                &row.private_key_sealed,
            )
            .map_err(|e| {
                AppError::internal(anyhow::anyhow!("opening signing key {}: {e}", row.kid))
            })?;
        let handle = Arc::new(SigningKeyHandle {
            kid: row.kid,
            encoding: EncodingKey::from_ed_der(der.expose_secret()),
        });
        Self::remember(&self.signing, owner, handle.clone());
        Ok(handle)
    }

    /// Creates the platform key on first start.
    pub async fn ensure_platform_key(&self) -> Result<(), AppError> {
        let exists = signing_key::Entity::find()
            .filter(signing_key::Column::TenantId.is_null())
            .one(&self.control.db)
            .await?
            .is_some();
        if !exists {
            create(&self.control.db, &self.control.sealer, None).await?;
        }
        Ok(())
    }

    /// Drops every cached key, so the next use reads the control plane.
    pub fn forget_all(&self) {
        self.verifying.lock().expect("keyring cache lock").clear();
        self.signing.lock().expect("keyring cache lock").clear();
    }

    /// The public half of every key, as a JSON Web Key Set.
    pub async fn jwks(&self) -> Result<serde_json::Value, AppError> {
        let rows = signing_key::Entity::find()
            .order_by_asc(signing_key::Column::Kid)
            .all(&self.control.db)
            .await?;
        let keys: Vec<_> = rows
            .into_iter()
            .map(|k| {
                json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "alg": ALGORITHM,
                    "use": "sig",
                    "kid": k.kid,
                    "x": k.public_key,
                })
            })
            .collect();
        Ok(json!({ "keys": keys }))
    }
}
