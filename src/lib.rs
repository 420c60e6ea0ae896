//! gemini-gateway: many Gemini API keys behind one endpoint, on Cloudflare Pingora.

pub mod admin;
pub mod clock;
pub mod config;
pub mod context;
pub mod convert;
pub mod credentials;
pub mod demo;
pub mod drain;
pub mod error;
pub mod filters;
pub mod logfiles;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod pipeline;
pub mod recent;
pub mod report;
pub mod secret;
pub mod server;
pub mod state;
pub mod store;
pub mod surfaces;
pub mod sync;
pub mod upstream;
