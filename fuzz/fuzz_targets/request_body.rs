//! A POST body: JSON, batches, variables and extensions, then each document.
#![no_main]
libfuzzer_sys::fuzz_target!(|bytes: &[u8]| tenantql::schema::fuzz::request_body(bytes));
