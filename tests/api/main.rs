//! Integration tests: the real server on a random port, spoken to over HTTP.
//! One binary (linking is slow), one module per area.
mod helpers;

mod admin;
mod admission;
mod api_keys;
mod audit;
mod browser;
mod cache;
mod cli;
mod client_databases;
mod compiled;
mod compose;
mod control_plane;
mod cors;
mod erp;
mod graphiql;
mod hostile;
mod http;
mod invitations;
mod limits;
mod live;
mod login;
mod metrics;
mod oracle;
mod persisted;
mod pools;
mod schema_file;
mod services;
mod tokens;
mod traces;
mod trusted_documents;
mod tunnels;
