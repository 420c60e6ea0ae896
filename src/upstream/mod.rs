//! Everything about talking to Gemini: the client, the key pool, the failure classifier, Pacific days.

pub mod catalog;
pub mod classify;
pub mod client;
pub mod estimate;
pub mod health;
pub mod holds;
pub mod limits;
pub mod models;
pub mod pacific;
pub mod retry;
pub mod scheduler;
pub mod tiers;

pub use classify::{classify, classify_transport, Fault};
pub use client::UpstreamClient;
pub use scheduler::{Health, KeyId, Pick, PoolKey, Scheduler, Shortage, HELD_REASON};
