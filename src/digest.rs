//! SHA-256 in lower-case hex: the stored form of one-time tokens and API key
//! secrets, and the name of a document (APQ hashes, trusted document ids).
use sha2::{Digest, Sha256};

pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_hash_is_sha256_in_lower_case_hex() {
        assert_eq!(
            super::sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
