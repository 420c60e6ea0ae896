//! Gemini API simulator: a Pingora service that speaks Google's wire format, with per-key quotas and scripted faults.
//!
//! The gateway's tests, benchmarks and demo mode run against this simulator instead of Google.
//! [`Sim`] is the handle: build it from a [`SimConfig`], turn it into a Pingora service with
//! [`Sim::service`], script failures with [`Sim::add_fault`], and inspect what arrived with
//! [`Sim::requests`] and the counters. The same controls are reachable over HTTP on the same port:
//! `POST /_sim/faults` (one [`FaultRule`] or an array), `GET`/`DELETE /_sim/faults`,
//! `GET /_sim/requests`, `GET /_sim/stats`, `POST /_sim/reset`.

mod calls;
mod catalog;
mod content;
mod fault;
mod instance;
mod quota;
mod server;
mod state;
pub mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use pingora::server::configuration::ServerConf;
use pingora::services::ServiceWithDependents;

pub use fault::{FaultAction, FaultRule};
pub use state::RecordedRequest;

/// How the simulator behaves. `Default` gives an open simulator: every key valid, no quota,
/// 4 SSE events per streamed answer, no delay, recording on, replies derived from the prompt.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Keys accepted. Empty = every key not listed in `invalid_keys`/`forbidden_keys` is valid.
    pub valid_keys: Vec<String>,
    /// Keys answered with 400 INVALID_ARGUMENT, `ErrorInfo.reason = API_KEY_INVALID`.
    pub invalid_keys: Vec<String>,
    /// Keys answered with 403 PERMISSION_DENIED (`API_KEY_SERVICE_BLOCKED`).
    pub forbidden_keys: Vec<String>,
    /// Default per-key, per-model quota (None = unlimited).
    pub quota: Option<Quota>,
    /// Per-key quota overriding `quota`.
    pub key_quotas: HashMap<String, Quota>,
    /// Number of SSE events (or JSON-array elements) per streamed text answer.
    pub stream_events: u32,
    /// Delay between streamed events.
    pub stream_interval: Duration,
    /// Record requests for [`Sim::requests`].
    pub record: bool,
    /// Fixed reply text; None = `Echo: <first 60 chars of the last user text>`.
    pub reply_text: Option<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            valid_keys: Vec::new(),
            invalid_keys: Vec::new(),
            forbidden_keys: Vec::new(),
            quota: None,
            key_quotas: HashMap::new(),
            stream_events: 4,
            stream_interval: Duration::ZERO,
            record: true,
            reply_text: None,
        }
    }
}

/// A quota enforced per (key, model), like Google's free tier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Quota {
    /// Requests per sliding 60 s window.
    pub rpm: Option<u32>,
    /// Prompt tokens per sliding 60 s window.
    pub tpm: Option<u64>,
    /// Requests per Pacific day (UTC-8, no DST), also cleared by [`Sim::reset`].
    pub rpd: Option<u32>,
}

/// Handle to one simulator: cheap to clone, all clones share the same state.
#[derive(Clone)]
pub struct Sim {
    shared: Arc<state::Shared>,
}

impl Sim {
    /// A new simulator with this configuration.
    pub fn new(cfg: SimConfig) -> Sim {
        Sim {
            shared: Arc::new(state::Shared::new(cfg)),
        }
    }

    /// A Pingora service answering on `addr` (a concrete `host:port`; pingora cannot report a
    /// bound `:0` port back). Add it with `server.add_boxed_service(sim.service(&conf, addr))`.
    pub fn service(&self, conf: &Arc<ServerConf>, addr: &str) -> Box<dyn ServiceWithDependents> {
        let mut svc = pingora::proxy::http_proxy_service_with_name(
            conf,
            server::SimProxy::new(self.shared.clone()),
            "gemini-sim",
        );
        svc.add_tcp(addr);
        Box::new(svc)
    }

    /// The same service over TLS on `addr`, with the PEM certificate chain and key at the given paths;
    /// `h2` offers HTTP/2 by ALPN (as Google does) besides HTTP/1.1.
    pub fn tls_service(
        &self,
        conf: &Arc<ServerConf>,
        addr: &str,
        cert_path: &str,
        key_path: &str,
        h2: bool,
    ) -> pingora::Result<Box<dyn ServiceWithDependents>> {
        let mut svc = pingora::proxy::http_proxy_service_with_name(
            conf,
            server::SimProxy::new(self.shared.clone()),
            "gemini-sim-tls",
        );
        let mut tls = pingora::listeners::tls::TlsSettings::intermediate(cert_path, key_path)?;
        if h2 {
            tls.enable_h2();
        }
        svc.add_tls_with_settings(addr, None, tls);
        Ok(Box::new(svc))
    }

    /// Append a fault rule (rules are checked in insertion order, the first match applies).
    pub fn add_fault(&self, rule: FaultRule) {
        self.shared.add_fault(rule);
    }

    /// Remove every fault rule.
    pub fn clear_faults(&self) {
        self.shared.clear_faults();
    }

    /// The fault rules still active (with their remaining `times`).
    pub fn faults(&self) -> Vec<FaultRule> {
        self.shared.faults()
    }

    /// Recorded requests on the Gemini API paths, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// Requests received on the Gemini API paths (not `/_sim/*`), whatever their outcome.
    pub fn calls(&self) -> usize {
        self.shared.calls()
    }

    /// Requests received on the Gemini API paths carrying this key.
    pub fn calls_for_key(&self, key: &str) -> usize {
        self.shared.calls_for_key(key)
    }

    /// Answers abandoned because the client went away before their end.
    pub fn cancelled(&self) -> usize {
        self.shared.cancelled()
    }

    /// Total SSE events / JSON-array elements written, all requests.
    pub fn events_sent(&self) -> usize {
        self.shared.events_sent()
    }

    /// Clear records, counters, faults and quota windows.
    pub fn reset(&self) {
        self.shared.reset();
    }
}
