//! IDs, cursors and Authorization headers from clients: decoded or refused,
//! never a panic, and never a row of two tenants.
#![no_main]
libfuzzer_sys::fuzz_target!(|text: &str| tenantql::server::fuzz::ids_and_tokens(text));
