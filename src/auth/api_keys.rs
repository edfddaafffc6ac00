//! API keys for machine clients: `tqk_<key id>_<secret><checksum>`.
//!
//! The prefix and the checksum (CRC32 of everything before it, 6 base62
//! characters, GitHub's scheme) let a secret scanner or a support engineer
//! recognise a key offline and tell a typo from a revoked key without a
//! lookup. The key id finds the row; the secret (190 bits) is compared as its
//! SHA-256, in constant time. A key's row is reused for at most the context
//! cache's lifetime, the bound on how late a revocation made elsewhere applies.
use std::{sync::Arc, time::Duration};

use moka::sync::Cache;

use chrono::Utc;
use rand::{rngs::OsRng, Rng};
use secrecy::SecretString;
use subtle::ConstantTimeEq;

use crate::{
    control::{api_keys, entities::api_key, ControlPlane},
    digest::sha256_hex,
    error::AppError,
};

pub const PREFIX: &str = "tqk_";
const ID_LEN: usize = 12;
const SECRET_LEN: usize = 32;
const CHECKSUM_LEN: usize = 6;
/// The whole key's length: prefix, id, `_`, secret, checksum.
pub const KEY_LEN: usize = PREFIX.len() + ID_LEN + 1 + SECRET_LEN + CHECKSUM_LEN;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// A key's last use is written at most this often (per instance).
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// Keys whose rows (and last uses) are kept in this process at most.
const MAX_CACHED: u64 = 100_000;

/// A key just made: the key itself (shown once), its id and the stored hash.
pub struct NewKey {
    pub key: SecretString,
    pub id: String,
    pub secret_hash: String,
}

pub fn generate() -> NewKey {
    let mut rng = OsRng;
    let mut random = |n: usize| -> String {
        (0..n)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect()
    };
    let id = random(ID_LEN);
    let secret = random(SECRET_LEN);
    let body = format!("{PREFIX}{id}_{secret}");
    let key = format!("{body}{}", checksum(&body));
    NewKey {
        key: SecretString::from(key),
        secret_hash: secret_hash(&secret),
        id,
    }
}

/// Whether a bearer credential is meant as an API key (rather than a JWT).
pub fn is_api_key(token: &str) -> bool {
    token.starts_with(PREFIX)
}

/// A key's id and secret, once its shape and checksum hold.
#[derive(Debug, PartialEq, Eq)]
pub struct Presented<'a> {
    pub id: &'a str,
    secret: &'a str,
}

pub fn parse(key: &str) -> Result<Presented<'_>, AppError> {
    let malformed = AppError::Unauthenticated(
        "this is not a tenantql API key (tqk_<id>_<secret>): check that it was copied whole",
    );
    if key.len() != KEY_LEN || !key.is_ascii() || !key.starts_with(PREFIX) {
        return Err(malformed);
    }
    let (body, sum) = key.split_at(KEY_LEN - CHECKSUM_LEN);
    let rest = &body[PREFIX.len()..];
    let (id, secret) = rest.split_at(ID_LEN);
    let Some(secret) = secret.strip_prefix('_') else {
        return Err(malformed);
    };
    let base62 = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric());
    if !base62(id) || !base62(secret) || !base62(sum) {
        return Err(malformed);
    }
    if checksum(body) != sum {
        return Err(AppError::Unauthenticated(
            "the API key's checksum does not match: it was mistyped or altered",
        ));
    }
    Ok(Presented { id, secret })
}

/// CRC32 of `body` in 6 base62 digits.
fn checksum(body: &str) -> String {
    let mut n = crc32fast::hash(body.as_bytes()) as u64;
    let mut digits = [b'0'; CHECKSUM_LEN];
    for digit in digits.iter_mut().rev() {
        *digit = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(digits.to_vec()).expect("base62 is ASCII")
}

fn secret_hash(secret: &str) -> String {
    sha256_hex(secret)
}

/// How long keys live, as the operator allows.
#[derive(Debug, Clone, Copy)]
pub struct KeyLifetimes {
    pub default_days: u32,
    pub max_days: u32,
}

impl Default for KeyLifetimes {
    fn default() -> Self {
        KeyLifetimes {
            default_days: 90,
            max_days: 365,
        }
    }
}

/// Checks presented keys against the control plane.
pub struct ApiKeys {
    pub lifetimes: KeyLifetimes,
    control: ControlPlane,
    ttl: Duration,
    rows: Cache<String, Arc<api_key::Model>>,
    /// Keys whose use was recorded in the last minute.
    touched: Cache<String, ()>,
}

impl ApiKeys {
    pub fn new(control: ControlPlane, ttl: Duration, lifetimes: KeyLifetimes) -> Self {
        ApiKeys {
            lifetimes,
            control,
            ttl,
            rows: Cache::builder()
                .max_capacity(MAX_CACHED)
                .time_to_live(ttl.max(Duration::from_millis(1)))
                .build(),
            touched: Cache::builder()
                .max_capacity(MAX_CACHED)
                .time_to_live(TOUCH_EVERY)
                .build(),
        }
    }

    /// The key's row when the key is genuine, live and not revoked. Its use is
    /// recorded (at most once a minute).
    pub async fn verify(&self, key: &str) -> Result<Arc<api_key::Model>, AppError> {
        let presented = parse(key)?;
        let invalid = AppError::Unauthenticated("this API key is not valid");
        let Some(row) = self.row(presented.id).await? else {
            return Err(invalid);
        };
        let presented_hash = secret_hash(presented.secret);
        if !bool::from(presented_hash.as_bytes().ct_eq(row.secret_hash.as_bytes())) {
            return Err(invalid);
        }
        if row.revoked_at.is_some() {
            return Err(AppError::Unauthenticated("this API key was revoked"));
        }
        if row.expires_at <= Utc::now() {
            return Err(AppError::Unauthenticated(
                "this API key expired: its tenant's admins can create a new one",
            ));
        }
        self.touch(&row.id);
        Ok(row)
    }

    async fn row(&self, id: &str) -> Result<Option<Arc<api_key::Model>>, AppError> {
        if let Some(row) = self.rows.get(id) {
            return Ok(Some(row));
        }
        let Some(row) = api_keys::find(&self.control.db, id).await? else {
            return Ok(None);
        };
        let row = Arc::new(row);
        if !self.ttl.is_zero() {
            self.rows.insert(id.to_string(), row.clone());
        }
        Ok(Some(row))
    }

    /// Records a use unless one was recorded in the last minute; never delays
    /// the request.
    fn touch(&self, id: &str) {
        if !self.touched.entry_by_ref(id).or_insert(()).is_fresh() {
            return;
        }
        let db = self.control.db.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            if let Err(err) = api_keys::touch(&db, &id, Utc::now()).await {
                tracing::warn!(error = %err.detail(), "recording an API key's last use failed");
            }
        });
    }

    /// Forgets cached rows after a change here: it applies at once.
    pub fn forget_all(&self) {
        self.rows.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn a_generated_key_parses_and_names_its_id() {
        let new = generate();
        let key = new.key.expose_secret();
        assert_eq!(key.len(), KEY_LEN);
        assert!(key.starts_with("tqk_"));
        let presented = parse(key).unwrap();
        assert_eq!(presented.id, new.id);
        assert_eq!(secret_hash(presented.secret), new.secret_hash);
        assert_ne!(generate().id, new.id);
    }

    #[test]
    fn a_changed_character_fails_the_checksum_and_odd_shapes_are_refused() {
        let new = generate();
        let key = new.key.expose_secret().to_string();
        let position = PREFIX.len() + ID_LEN + 5;
        let mut altered = key.clone().into_bytes();
        altered[position] = if altered[position] == b'a' {
            b'b'
        } else {
            b'a'
        };
        let altered = String::from_utf8(altered).unwrap();
        let message = |k: &str| parse(k).unwrap_err().public_message();
        assert!(
            message(&altered).contains("checksum"),
            "{}",
            message(&altered)
        );
        for odd in [
            "tqk_".to_string(),
            key[..KEY_LEN - 1].to_string(),
            format!("{key}x"),
            key.replace("tqk_", "tqx_"),
            key.replacen('_', "-", 2),
            "eyJhbGciOiJFZERTQSJ9.e30.sig".to_string(),
        ] {
            assert!(parse(&odd).is_err(), "{odd}");
            assert!(!message(&odd).contains("checksum"), "{odd}");
        }
    }

    #[test]
    fn the_checksum_is_six_base62_digits_of_crc32() {
        // Expected values from Python's zlib.crc32, written in the same digits.
        assert_eq!(checksum(""), "000000");
        assert_eq!(checksum("tqk_"), "4MBflh");
        assert_eq!(
            checksum("tqk_AAAAAAAAAAAA_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
            "3J7gRu"
        );
    }
}
