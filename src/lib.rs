//! tenantql: a multi-tenant GraphQL API server.
//!
//! A request travels `server` → `auth` → `tenancy` → `schema` → `resolvers`;
//! the control plane (`control`) holds tenants, users, memberships and keys.
pub mod admin;
pub mod admission;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod contract;
pub mod control;
pub mod demo;
pub mod digest;
pub mod documents;
pub mod erp;
pub mod error;
pub mod live;
pub mod mail;
pub mod metrics;
pub mod origins;
pub mod paging;
pub mod persisted;
pub mod request_id;
pub mod resolvers;
pub mod schema;
pub mod sealing;
pub mod server;
pub mod share;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tenancy;
pub mod time_slice;
pub mod trusted;

pub use config::Config;
pub use error::{AppError, AppResult};
pub use server::Application;
