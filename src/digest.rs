//! SHA-256 in lower-case hex: the stored form of one-time tokens and API key
//! secrets, and the name of a document (APQ hashes, trusted document ids); and
//! the HMAC key that document hashes are computed under.
use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// An HMAC-SHA-256 key, keyed once: its two padded blocks are hashed when it is
/// made, not again for every message (they are half the work of hashing a short
/// document).
#[derive(Clone)]
pub struct HmacKey(Hmac<Sha256>);

impl HmacKey {
    pub fn new(key: &[u8; 32]) -> Self {
        HmacKey(Hmac::new_from_slice(key).expect("HMAC takes any key length"))
    }

    /// A MAC under this key, ready for its message.
    pub fn mac(&self) -> Hmac<Sha256> {
        self.0.clone()
    }
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use hmac::Mac;

    use super::*;

    #[test]
    fn the_hash_is_sha256_in_lower_case_hex() {
        assert_eq!(
            sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    /// The key hashed once must MAC exactly as a key hashed for every message.
    #[test]
    fn a_key_made_once_macs_as_a_key_made_per_message() {
        let key = [0x0b; 32];
        let once = HmacKey::new(&key);
        for message in [&b""[..], b"Hi There", &[7u8; 200]] {
            let mut fresh = Hmac::<Sha256>::new_from_slice(&key).unwrap();
            fresh.update(message);
            let mut reused = once.mac();
            reused.update(message);
            assert_eq!(
                fresh.finalize().into_bytes(),
                reused.finalize().into_bytes()
            );
        }
    }
}
