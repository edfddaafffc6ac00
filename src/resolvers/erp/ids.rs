//! Opaque IDs that carry their type and their tenant.
//!
//! Each tenant's database numbers its rows from 1, so a bare number would name a
//! row in every tenant. An ID here is `base64url(kind:tenant-tag:row)`; one whose
//! kind or tenant tag does not match the request is NOT_FOUND, exactly like an ID
//! that never existed. List cursors are bound the same way: the store's keyset
//! cursor inside `base64url(c<kind>:tenant-tag:cursor)`.
use async_graphql::ID;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use sha2::{Digest, Sha256};

use crate::{error::AppError, paging::bad_cursor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Company,
    Partner,
    Invoice,
    Payment,
    Account,
    Transaction,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Company => "co",
            Kind::Partner => "pa",
            Kind::Invoice => "in",
            Kind::Payment => "py",
            Kind::Account => "ta",
            Kind::Transaction => "tx",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Kind::Company => "company",
            Kind::Partner => "partner",
            Kind::Invoice => "invoice",
            Kind::Payment => "payment",
            Kind::Account => "treasury account",
            Kind::Transaction => "treasury transaction",
        }
    }
}

/// Encodes and decodes IDs for one tenant; built once per request.
#[derive(Debug, Clone)]
pub struct IdCodec {
    tag: String,
}

impl IdCodec {
    pub fn for_tenant(tenant_id: &str) -> Self {
        let digest = Sha256::new()
            .chain_update(b"tenantql id tag\0")
            .chain_update(tenant_id)
            .finalize();
        IdCodec {
            tag: digest[..6].iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    pub fn encode(&self, kind: Kind, row: i64) -> ID {
        ID(URL_SAFE_NO_PAD.encode(format!("{}:{}:{row}", kind.prefix(), self.tag)))
    }

    pub fn decode(&self, kind: Kind, id: &ID) -> Result<i64, AppError> {
        let not_found = || AppError::NotFound(kind.noun());
        let bytes = URL_SAFE_NO_PAD
            .decode(id.as_str())
            .map_err(|_| not_found())?;
        let text = std::str::from_utf8(&bytes).map_err(|_| not_found())?;
        let mut parts = text.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(prefix), Some(tag), Some(row)) if prefix == kind.prefix() && tag == self.tag => {
                row.parse().map_err(|_| not_found())
            }
            _ => Err(not_found()),
        }
    }
}

impl IdCodec {
    /// A list cursor of this tenant: the store's keyset cursor for rows of `kind`.
    pub fn cursor(&self, kind: Kind, inner: &str) -> String {
        URL_SAFE_NO_PAD.encode(format!("c{}:{}:{inner}", kind.prefix(), self.tag))
    }

    /// The store's cursor inside `cursor`. Another tenant's cursor is NOT_FOUND,
    /// like a foreign ID; anything that is no cursor of this list is BAD_USER_INPUT.
    pub fn decode_cursor(&self, kind: Kind, cursor: &str) -> Result<String, AppError> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad_cursor())?;
        let text = String::from_utf8(bytes).map_err(|_| bad_cursor())?;
        let mut parts = text.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(prefix), Some(tag), Some(inner))
                if prefix.strip_prefix('c') == Some(kind.prefix()) =>
            {
                if tag == self.tag {
                    Ok(inner.to_string())
                } else {
                    Err(AppError::NotFound("cursor"))
                }
            }
            _ => Err(bad_cursor()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_belong_to_their_tenant_and_kind() {
        let acme = IdCodec::for_tenant("tenant-acme");
        let globex = IdCodec::for_tenant("tenant-globex");
        let id = acme.encode(Kind::Invoice, 42);
        assert_eq!(acme.decode(Kind::Invoice, &id).unwrap(), 42);
        assert_eq!(
            globex.decode(Kind::Invoice, &id).unwrap_err().code(),
            "NOT_FOUND"
        );
        assert_eq!(
            acme.decode(Kind::Partner, &id).unwrap_err().code(),
            "NOT_FOUND"
        );
        assert_eq!(
            acme.decode(Kind::Invoice, &ID("42".into()))
                .unwrap_err()
                .code(),
            "NOT_FOUND"
        );
        assert!(!id.as_str().contains("42"), "opaque");
    }

    #[test]
    fn cursors_belong_to_their_tenant_and_list() {
        let acme = IdCodec::for_tenant("tenant-acme");
        let globex = IdCodec::for_tenant("tenant-globex");
        let cursor = acme.cursor(Kind::Partner, "QWNtZQ");
        assert_eq!(
            acme.decode_cursor(Kind::Partner, &cursor).unwrap(),
            "QWNtZQ"
        );
        let code =
            |codec: &IdCodec, kind, text: &str| codec.decode_cursor(kind, text).unwrap_err().code();
        assert_eq!(code(&globex, Kind::Partner, &cursor), "NOT_FOUND");
        assert_eq!(code(&acme, Kind::Invoice, &cursor), "BAD_USER_INPUT");
        assert_eq!(code(&acme, Kind::Partner, "QWNtZQ"), "BAD_USER_INPUT");
        assert_eq!(code(&acme, Kind::Partner, "%%%"), "BAD_USER_INPUT");
    }
}
