//! A GraphQL document: source bounds, lexer/parser agreement, bounded walks.
#![no_main]
libfuzzer_sys::fuzz_target!(|text: &str| tenantql::schema::fuzz::document(text));
