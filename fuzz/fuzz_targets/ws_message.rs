//! A graphql-transport-ws message, and the document of a `subscribe`.
#![no_main]
libfuzzer_sys::fuzz_target!(|text: &str| tenantql::server::fuzz::ws_message(text));
