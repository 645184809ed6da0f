//! regscan: a security scanning dispatcher for OCI registries.
//!
//! The layers, bottom up (each module's docs say more):
//!
//! - [`config`]: the TOML file and environment overrides;
//! - [`registry`]: the OCI distribution client (the only code that talks to registries);
//! - [`store`]: the results database (SQLite or PostgreSQL, through sqlx);
//! - [`queue`]: the durable job queue (a table in the database, or RabbitMQ);
//! - [`scan`]: the pipeline — fetch, resolve, plan, run the scanner, match advisories, store;
//! - [`sandbox`]: the child process every scan runs in, and its protocol;
//! - [`worker`]: queue consumers running the pipeline;
//! - [`http`]: webhooks, the query API, the web listing, OpenAPI, health and metrics;
//! - [`notify`]: scan-completed CloudEvents to webhooks and RabbitMQ;
//! - [`cli`]: the `regscan` command line.
//!
//! Scanners live in their own crates under `scanners/`; [`scanners::registered`] is the one
//! place they are wired in.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod http;
pub mod notify;
pub mod queue;
pub mod registry;
pub mod report;
pub mod sandbox;
pub mod scan;
pub mod scanners;
pub mod store;
pub mod telemetry;
pub mod time;
pub mod worker;
