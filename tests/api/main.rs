//! Integration tests: the real server on a random port, spoken to over HTTP.
//! One binary (linking is slow), one module per area.
mod helpers;

mod cli;
mod control_plane;
mod http;
mod login;
mod schema_file;
mod tokens;
