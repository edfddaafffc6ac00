//! Who is calling: passwords, signing keys, tokens, and the login use cases.
pub mod api_keys;
pub mod claims;
pub mod keys;
pub mod password;
pub mod revocations;
pub mod sessions;
pub mod tokens;

pub use claims::{Claims, Role};
pub use tokens::{IssuedToken, TokenService};
