//! Minting and verifying tenantql's EdDSA tokens.
//!
//! Verification pins the algorithm to EdDSA (so `alg: none` and HS256-with-the-
//! public-key forgeries fail), requires every registered claim, checks `aud`,
//! `iss`, `exp` and `nbf`, and finally checks that the key named by `kid` belongs
//! to the tenant the token claims: one tenant's key can never vouch for another.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use jsonwebtoken::{errors::ErrorKind, Algorithm, Header, Validation};
use sha2::Digest;

use super::{
    claims::{Claims, Role},
    keys::{KeyOwner, Keyring},
    revocations::Revocations,
};
use crate::{config::TokenConfig, error::AppError};

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;
/// Longer than any token we mint; anything bigger is not ours.
const MAX_TOKEN_LEN: usize = 4096;
/// The longest lifetime the `token` command may mint.
pub const MAX_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

/// A freshly minted token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub claims: Claims,
}

impl IssuedToken {
    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.claims.exp as i64, 0).unwrap_or_default()
    }
}

/// For whom a token is minted.
#[derive(Debug, Clone)]
pub enum Audience<'a> {
    /// A member of a tenant, with the role of that membership.
    Tenant {
        tenant_id: &'a str,
        slug: &'a str,
        role: Role,
    },
    Platform,
}

/// Verified tokens kept at most; past this the cache starts over.
const MAX_VERIFIED: usize = 100_000;

pub struct TokenService {
    keyring: Arc<Keyring>,
    config: TokenConfig,
    validation: Validation,
    /// Tokens that verified recently, by SHA-256 of the token: checking an EdDSA
    /// signature costs ~45 µs, a hash ~1 µs. Kept no longer than the keyring's
    /// cache lifetime, and dropped whenever this process rotates a key.
    verified: Mutex<HashMap<[u8; 32], (Claims, Instant)>>,
    verified_ttl: Duration,
    revocations: Arc<Revocations>,
}

impl TokenService {
    pub fn new(
        keyring: Arc<Keyring>,
        config: TokenConfig,
        verified_ttl: Duration,
        revocations: Arc<Revocations>,
    ) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[&config.token_audience]);
        validation.set_issuer(&[&config.token_issuer]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "aud", "iss", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        TokenService {
            keyring,
            config,
            validation,
            verified: Mutex::new(HashMap::new()),
            verified_ttl,
            revocations,
        }
    }

    pub fn keyring(&self) -> &Arc<Keyring> {
        &self.keyring
    }

    pub fn default_ttl(&self) -> Duration {
        self.config.ttl()
    }

    pub async fn issue(
        &self,
        user_id: &str,
        audience: Audience<'_>,
        ttl: Duration,
    ) -> Result<IssuedToken, AppError> {
        if ttl.is_zero() || ttl > MAX_TTL {
            return Err(AppError::bad_input(
                "ttl",
                "token lifetime must be between 1 second and 90 days",
            ));
        }
        let (tenant_id, tenant, role) = match audience {
            Audience::Tenant {
                tenant_id,
                slug,
                role,
            } => (Some(tenant_id), Some(slug.to_string()), role),
            Audience::Platform => (None, None, Role::PlatformAdmin),
        };
        let key = self.keyring.signing_key(tenant_id).await?;
        let now = Utc::now().timestamp().max(0) as u64;
        let claims = Claims {
            sub: user_id.to_string(),
            tenant,
            role,
            exp: now + ttl.as_secs(),
            iat: now,
            nbf: now,
            aud: self.config.token_audience.clone(),
            iss: self.config.token_issuer.clone(),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding)
            .map_err(|e| AppError::internal(anyhow::anyhow!("signing a token: {e}")))?;
        Ok(IssuedToken { token, claims })
    }

    /// Forgets every verified token, so the next use of each is checked again.
    pub fn forget_verified(&self) {
        self.verified.lock().expect("verified tokens lock").clear();
    }

    /// Verified claims, or `Unauthenticated` saying briefly what was wrong.
    /// Verifies a token: signature, claims, and that it was not signed out.
    pub async fn verify(&self, token: &str) -> Result<Claims, AppError> {
        let claims = self.verify_unrevoked(token).await?;
        if self.revocations.is_revoked(&claims.jti) {
            return Err(AppError::Unauthenticated("the token was signed out"));
        }
        Ok(claims)
    }

    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    async fn verify_unrevoked(&self, token: &str) -> Result<Claims, AppError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(AppError::Unauthenticated("token is too long"));
        }
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        if !self.verified_ttl.is_zero() {
            let cache = self.verified.lock().expect("verified tokens lock");
            if let Some((claims, at)) = cache.get(&digest) {
                let now = Utc::now().timestamp().max(0) as u64;
                if at.elapsed() < self.verified_ttl && claims.exp + LEEWAY_SECS > now {
                    return Ok(claims.clone());
                }
            }
        }
        let claims = self.verify_signature_and_claims(token).await?;
        if !self.verified_ttl.is_zero() {
            let mut cache = self.verified.lock().expect("verified tokens lock");
            if cache.len() >= MAX_VERIFIED {
                cache.clear();
            }
            cache.insert(digest, (claims.clone(), Instant::now()));
        }
        Ok(claims)
    }

    async fn verify_signature_and_claims(&self, token: &str) -> Result<Claims, AppError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AppError::Unauthenticated("token is malformed"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(AppError::Unauthenticated("token algorithm is not accepted"));
        }
        let kid = header
            .kid
            .ok_or(AppError::Unauthenticated("token names no signing key"))?;
        let key = self
            .keyring
            .verifying_key(&kid)
            .await?
            .ok_or(AppError::Unauthenticated(
                "token is signed by an unknown key",
            ))?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &self.validation)
            .map_err(|e| {
                AppError::Unauthenticated(match e.kind() {
                    ErrorKind::ExpiredSignature => "token has expired",
                    ErrorKind::ImmatureSignature => "token is not valid yet",
                    ErrorKind::InvalidAudience => "token is for another audience",
                    ErrorKind::InvalidIssuer => "token is from another issuer",
                    ErrorKind::InvalidSignature => "token signature does not verify",
                    _ => "token is not valid",
                })
            })?
            .claims;
        let key_matches_claims = match (&key.owner, &claims.tenant) {
            (KeyOwner::Tenant { slug, .. }, Some(tenant)) => {
                slug == tenant && claims.role != Role::PlatformAdmin
            }
            (KeyOwner::Platform, None) => claims.role == Role::PlatformAdmin,
            _ => false,
        };
        if !key_matches_claims {
            return Err(AppError::Unauthenticated(
                "token is signed by a key that does not belong to its tenant",
            ));
        }
        Ok(claims)
    }
}
