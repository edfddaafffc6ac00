//! What the server does with raw input before GraphQL, as functions a fuzzer
//! (and the corpus replay in the tests) calls: each panics only when an
//! invariant breaks.
use async_graphql::ID;

use super::{caller::bearer_token, ws};
use crate::resolvers::erp::{IdCodec, Kind};

/// One `graphql-transport-ws` message as a client sends it: parsed into a
/// protocol message or refused with a close code in 4400–4499.
/// A `subscribe` message's document then goes the way of every document.
pub fn ws_message(text: &str) {
    match ws::parse(text) {
        Err(close) => assert!(
            (4400..4500).contains(&close.code()),
            "{close:?} for {text:?}"
        ),
        Ok(ws::ClientMessage::Subscribe { request, .. }) => {
            crate::schema::fuzz::document(&request.query)
        }
        Ok(_) => {}
    }
}

/// An `Authorization` header value: the bearer token is taken apart (scheme,
/// JWT header) without panicking, whatever it holds.
pub fn authorization(value: &str) {
    if let Some(token) = bearer_token(value) {
        assert!(!token.is_empty() && value.contains(token), "{value:?}");
        let _ = jsonwebtoken::decode_header(token);
    }
}

/// IDs and cursors from clients, and an `Authorization` value: decoded or
/// refused, never a panic, and never a row of two tenants.
pub fn ids_and_tokens(text: &str) {
    let acme = IdCodec::for_tenant("tenant-acme");
    let globex = IdCodec::for_tenant("tenant-globex");
    for kind in [Kind::Invoice, Kind::Partner, Kind::Transaction] {
        let id = ID(text.to_string());
        if acme.decode(kind, &id).is_ok() {
            assert!(
                globex.decode(kind, &id).is_err(),
                "an id of two tenants: {text:?}"
            );
        }
        if acme.decode_cursor(kind, text).is_ok() {
            assert!(
                globex.decode_cursor(kind, text).is_err(),
                "a cursor of two tenants: {text:?}"
            );
        }
    }
    authorization(text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::fuzz::corpus;

    #[test]
    fn the_fuzz_corpora_replay() {
        for input in corpus("ws_message") {
            ws_message(&String::from_utf8_lossy(&input));
        }
        for input in corpus("ids_and_tokens") {
            ids_and_tokens(&String::from_utf8_lossy(&input));
        }
    }
}
