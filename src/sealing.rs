//! Sealing of tenant credentials and signing keys with XChaCha20-Poly1305.
//!
//! Stored form: `tqs1.<key id>.<base64url(nonce ‖ ciphertext)>`. The associated data
//! binds a ciphertext to its owner and field, so a sealed password copied into
//! another tenant's row (or into another column) fails to open instead of handing
//! that tenant someone else's secret. The key id lets a rotated master key keep
//! opening old rows while new seals use the current key.
use std::{fs, io::Write, path::Path};

use base64::{engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chacha20poly1305::{
    aead::{Aead, AeadCore, KeyInit, OsRng, Payload},
    XChaCha20Poly1305, XNonce,
};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const PREFIX: &str = "tqs1";
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;
const DEV_KEY_FILE: &str = "master.key";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed with master key `{0}`, which is not configured")]
    UnknownKey(String),
    #[error("sealed value does not open for this owner and field (wrong key, moved, or tampered)")]
    DoesNotOpen,
}

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("TENANTQL_MASTER_KEY must be 32 bytes encoded as base64 ({0})")]
    BadEncoding(String),
    #[error("cannot read or create the development master key at {path}: {source}")]
    DevKeyFile {
        path: String,
        source: std::io::Error,
    },
}

struct MasterKey {
    id: String,
    cipher: XChaCha20Poly1305,
    /// A key derived for keyed hashes (the audit log's document hash), so a
    /// hash cannot be checked against guesses without the master key.
    hash_key: Zeroizing<[u8; 32]>,
}

impl MasterKey {
    fn from_bytes(bytes: &[u8]) -> Result<Self, MasterKeyError> {
        if bytes.len() != KEY_LEN {
            return Err(MasterKeyError::BadEncoding(format!(
                "got {} bytes",
                bytes.len()
            )));
        }
        let digest = Sha256::new()
            .chain_update(b"tenantql master key id\0")
            .chain_update(bytes)
            .finalize();
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        let cipher = XChaCha20Poly1305::new_from_slice(bytes)
            .map_err(|_| MasterKeyError::BadEncoding("wrong length".into()))?;
        let hash_key = Zeroizing::new(
            Sha256::new()
                .chain_update(b"tenantql document hash key\0")
                .chain_update(bytes)
                .finalize()
                .into(),
        );
        Ok(MasterKey {
            id,
            cipher,
            hash_key,
        })
    }

    fn from_base64(encoded: &str) -> Result<Self, MasterKeyError> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(encoded.trim())
                .or_else(|_| URL_SAFE_NO_PAD.decode(encoded.trim()))
                .map_err(|e| MasterKeyError::BadEncoding(e.to_string()))?,
        );
        Self::from_bytes(&bytes)
    }
}

/// Seals and opens secrets with the current master key; opens with previous ones.
pub struct Sealer {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("key_id", &self.current.id)
            .finish_non_exhaustive()
    }
}

/// Where the master key came from, so start-up can warn about the dev default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    Configured,
    DevFileExisting,
    DevFileGenerated,
}

impl Sealer {
    /// The configured key, or the development key in `data_dir` (created on first use).
    pub fn load(
        configured: Option<&SecretString>,
        previous: Option<&SecretString>,
        data_dir: &Path,
    ) -> Result<(Self, KeySource), MasterKeyError> {
        let (current, source) = match configured {
            Some(key) => (
                MasterKey::from_base64(key.expose_secret())?,
                KeySource::Configured,
            ),
            None => load_or_create_dev_key(data_dir)?,
        };
        let previous = previous
            .map(|list| {
                list.expose_secret()
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(MasterKey::from_base64)
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        Ok((Sealer { current, previous }, source))
    }

    /// A sealer over one raw key; for tests and tools.
    pub fn from_key_bytes(bytes: &[u8]) -> Result<Self, MasterKeyError> {
        Ok(Sealer {
            current: MasterKey::from_bytes(bytes)?,
            previous: Vec::new(),
        })
    }

    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    /// The key for keyed hashes, derived from the current master key (a new
    /// master key starts a new series of hashes).
    pub fn hash_key(&self) -> [u8; 32] {
        *self.current.hash_key
    }

    pub fn seal(&self, owner: &str, field: &str, plaintext: &[u8]) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = associated_data(owner, field);
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        format!(
            "{PREFIX}.{}.{}",
            self.current.id,
            URL_SAFE_NO_PAD.encode(blob)
        )
    }

    pub fn seal_str(&self, owner: &str, field: &str, secret: &SecretString) -> String {
        self.seal(owner, field, secret.expose_secret().as_bytes())
    }

    pub fn open(
        &self,
        owner: &str,
        field: &str,
        sealed: &str,
    ) -> Result<SecretBox<Vec<u8>>, SealError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(PREFIX), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(SealError::Malformed);
        };
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == key_id)
            .ok_or_else(|| SealError::UnknownKey(key_id.to_string()))?;
        let blob = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SealError::Malformed)?;
        if blob.len() < NONCE_LEN {
            return Err(SealError::Malformed);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let aad = associated_data(owner, field);
        key.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(|plain| SecretBox::new(Box::new(plain)))
            .map_err(|_| SealError::DoesNotOpen)
    }

    pub fn open_string(
        &self,
        owner: &str,
        field: &str,
        sealed: &str,
    ) -> Result<SecretString, SealError> {
        let bytes = self.open(owner, field, sealed)?;
        let text = std::str::from_utf8(bytes.expose_secret()).map_err(|_| SealError::Malformed)?;
        Ok(SecretString::from(text.to_owned()))
    }
}

/// Owner and field, length-prefixed so no two (owner, field) pairs share bytes.
fn associated_data(owner: &str, field: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(8 + owner.len() + field.len());
    aad.extend_from_slice(&(owner.len() as u32).to_be_bytes());
    aad.extend_from_slice(owner.as_bytes());
    aad.extend_from_slice(&(field.len() as u32).to_be_bytes());
    aad.extend_from_slice(field.as_bytes());
    aad
}

fn load_or_create_dev_key(data_dir: &Path) -> Result<(MasterKey, KeySource), MasterKeyError> {
    let path = data_dir.join(DEV_KEY_FILE);
    let io_err = |source| MasterKeyError::DevKeyFile {
        path: path.display().to_string(),
        source,
    };
    match fs::read_to_string(&path) {
        Ok(text) => Ok((MasterKey::from_base64(&text)?, KeySource::DevFileExisting)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(data_dir).map_err(io_err)?;
            let key = Zeroizing::new(XChaCha20Poly1305::generate_key(&mut OsRng));
            let encoded = Zeroizing::new(STANDARD.encode(key.as_slice()));
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&path).map_err(io_err)?;
            file.write_all(encoded.as_bytes()).map_err(io_err)?;
            Ok((
                MasterKey::from_bytes(key.as_slice())?,
                KeySource::DevFileGenerated,
            ))
        }
        Err(e) => Err(io_err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(byte: u8) -> Sealer {
        Sealer::from_key_bytes(&[byte; KEY_LEN]).unwrap()
    }

    #[test]
    fn round_trips_for_its_owner_and_field() {
        let s = sealer(7);
        let sealed = s.seal("tenant-a", "db_password", b"tiger");
        assert!(sealed.starts_with(&format!("tqs1.{}.", s.key_id())));
        let opened = s.open("tenant-a", "db_password", &sealed).unwrap();
        assert_eq!(opened.expose_secret().as_slice(), b"tiger");
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let s = sealer(7);
        assert_ne!(s.seal("t", "f", b"x"), s.seal("t", "f", b"x"));
    }

    #[test]
    fn moved_to_another_owner_or_field_does_not_open() {
        let s = sealer(7);
        let sealed = s.seal("tenant-a", "db_password", b"tiger");
        assert!(matches!(
            s.open("tenant-b", "db_password", &sealed),
            Err(SealError::DoesNotOpen)
        ));
        assert!(matches!(
            s.open("tenant-a", "ssh_key", &sealed),
            Err(SealError::DoesNotOpen)
        ));
    }

    #[test]
    fn tampering_is_detected() {
        let s = sealer(7);
        let mut sealed = s.seal("t", "f", b"secret").into_bytes();
        let last = sealed.len() - 2;
        sealed[last] = if sealed[last] == b'A' { b'B' } else { b'A' };
        let sealed = String::from_utf8(sealed).unwrap();
        assert!(s.open("t", "f", &sealed).is_err());
    }

    #[test]
    fn another_master_key_is_named_not_garbage() {
        let sealed = sealer(1).seal("t", "f", b"secret");
        match sealer(2).open("t", "f", &sealed) {
            Err(SealError::UnknownKey(id)) => assert_eq!(id, sealer(1).key_id()),
            other => panic!("expected UnknownKey, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn previous_keys_still_open_after_rotation() {
        let old = STANDARD.encode([1u8; KEY_LEN]);
        let new = STANDARD.encode([2u8; KEY_LEN]);
        let sealed = sealer(1).seal("t", "f", b"secret");
        let dir = tempfile::tempdir().unwrap();
        let (rotated, source) = Sealer::load(
            Some(&SecretString::from(new)),
            Some(&SecretString::from(old)),
            dir.path(),
        )
        .unwrap();
        assert_eq!(source, KeySource::Configured);
        assert!(rotated.open("t", "f", &sealed).is_ok());
        assert!(rotated.seal("t", "f", b"x").contains(rotated.key_id()));
    }

    #[test]
    fn dev_key_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (first, s1) = Sealer::load(None, None, dir.path()).unwrap();
        let (second, s2) = Sealer::load(None, None, dir.path()).unwrap();
        assert_eq!(
            (s1, s2),
            (KeySource::DevFileGenerated, KeySource::DevFileExisting)
        );
        assert_eq!(first.key_id(), second.key_id());
    }

    #[test]
    fn a_short_master_key_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let err = Sealer::load(
            Some(&SecretString::from("c2hvcnQ=".to_string())),
            None,
            dir.path(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("32 bytes"), "{err}");
    }
}
