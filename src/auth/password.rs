//! argon2id password hashing, run off the async workers.
//!
//! Login must cost the same whether or not the email exists, so an unknown user is
//! checked against a dummy hash made with the same parameters.
use std::sync::OnceLock;

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use secrecy::{ExposeSecret, SecretString};

use crate::error::AppError;

pub const MIN_PASSWORD_LEN: usize = 8;
pub const MAX_PASSWORD_LEN: usize = 1024;

fn hasher() -> Argon2<'static> {
    // argon2id v19 with the crate's defaults (m = 19 MiB, t = 2, p = 1): OWASP's baseline.
    Argon2::default()
}

pub fn validate_new_password(password: &SecretString) -> Result<(), AppError> {
    let len = password.expose_secret().chars().count();
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&len) {
        return Err(AppError::bad_input(
            "password",
            format!("a password must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters"),
        ));
    }
    Ok(())
}

/// At most one argon2 computation per CPU at a time (each takes ~19 MiB and a
/// core for tens of milliseconds); the rest wait their turn, so sign-ins can
/// never crowd out the blocking pool or memory.
fn hashing_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        tokio::sync::Semaphore::new(cpus)
    })
}

/// Runs `work` on the blocking pool under a hashing permit.
async fn with_permit<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    let _permit = hashing_permits()
        .acquire()
        .await
        .map_err(AppError::internal)?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(AppError::internal)
}

/// Hashes a new password into a PHC string.
pub async fn hash(password: SecretString) -> Result<String, AppError> {
    validate_new_password(&password)?;
    with_permit(move || hash_blocking(password.expose_secret())).await?
}

fn hash_blocking(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::internal(anyhow::anyhow!("argon2 hashing failed: {e}")))
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_blocking("tenantql timing-parity dummy password").expect("hashing a constant works")
    })
}

/// Checks `password` against `stored`, or against the dummy hash when there is no
/// user, so both paths take the same time. Returns true only for a real match.
pub async fn verify(stored: Option<String>, password: SecretString) -> Result<bool, AppError> {
    with_permit(move || {
        let candidate = password.expose_secret().as_bytes();
        if candidate.len() > MAX_PASSWORD_LEN * 4 {
            // Still spend the same time: never let the length decide the latency.
            let _ = verify_blocking(dummy_hash(), b"");
            return false;
        }
        match stored {
            Some(hash) => verify_blocking(&hash, candidate),
            None => {
                let _ = verify_blocking(dummy_hash(), candidate);
                false
            }
        }
    })
    .await
}

fn verify_blocking(stored: &str, candidate: &[u8]) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => hasher().verify_password(candidate, &parsed).is_ok(),
        // An invited user who has not chosen a password yet (`UNUSABLE`): spend
        // the same time as a real check.
        Err(_) => {
            let _ = verify_blocking(dummy_hash(), candidate);
            false
        }
    }
}

/// The stored hash of a user who has no password yet: no candidate matches it.
pub const UNUSABLE: &str = "!unset";

/// Builds the dummy hash ahead of the first login so that login does not pay for it.
pub fn warm_up() {
    let _ = dummy_hash();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let stored = hash(SecretString::from("correct horse".to_string()))
            .await
            .unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify(
            Some(stored.clone()),
            SecretString::from("correct horse".to_string())
        )
        .await
        .unwrap());
        assert!(
            !verify(Some(stored), SecretString::from("wrong horse".to_string()))
                .await
                .unwrap()
        );
        assert!(
            !verify(None, SecretString::from("correct horse".to_string()))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn short_passwords_are_refused() {
        let err = hash(SecretString::from("short".to_string()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "BAD_USER_INPUT");
    }
}
