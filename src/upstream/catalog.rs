//! The models the gateway knows, which alone get per-model state (scheduler windows, usage rows,
//! admin JSON, metric labels), and a short negative cache of models Google answered 404 for.
//!
//! Clients choose model names, so anything keyed by them must be bounded. A model is known when it
//! is in the limits table, in the upstream model list, in `openai.extra_models`, has counts stored
//! for today, or Google has answered it successfully (Google's own set is finite); at most
//! [`MAX_KNOWN`] names. Every other name is accounted under the one bucket [`OTHER`].

use crate::model::Resource;
use crate::sync::{lock, read, write};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// The bucket every model the gateway does not know is accounted under.
pub const OTHER: &str = "other";
/// Most model names known at once; names beyond it are accounted under [`OTHER`].
pub const MAX_KNOWN: usize = 256;
/// Most negative-cache entries (model × method Google answered 404 for).
const MAX_UNKNOWN: usize = 1024;
/// Longest upstream 404 message kept for a cached answer.
const MAX_MESSAGE: usize = 512;

/// Known models and recently refused ones.
pub struct ModelCatalog {
    known: RwLock<HashSet<Arc<str>>>,
    other: Arc<str>,
    unknown: Mutex<HashMap<Resource, (Instant, Arc<str>)>>,
    ttl: Duration,
}

impl ModelCatalog {
    /// A catalog whose 404s are remembered for `ttl` (zero: not at all).
    pub fn new(ttl: Duration) -> ModelCatalog {
        ModelCatalog {
            known: RwLock::new(HashSet::new()),
            other: OTHER.into(),
            unknown: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    /// Add a model to the known set (ignored once [`MAX_KNOWN`] names are known).
    pub fn know(&self, model: &str) {
        if model.is_empty() || model == OTHER || self.is_known(model) {
            return;
        }
        let mut k = write(&self.known);
        if k.len() < MAX_KNOWN {
            k.insert(model.into());
        }
    }

    pub fn is_known(&self, model: &str) -> bool {
        read(&self.known).contains(model)
    }

    /// Number of known models.
    pub fn len(&self) -> usize {
        read(&self.known).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name per-model state is kept under: the model itself when known, else [`OTHER`].
    pub fn bucket(&self, model: &str) -> Arc<str> {
        match read(&self.known).get(model) {
            Some(m) => m.clone(),
            None => self.other.clone(),
        }
    }

    /// The metric label for a request's model: its bucket, or `none` when it names no model.
    pub fn label(&self, model: Option<&str>) -> Arc<str> {
        match model {
            Some(m) => self.bucket(m),
            None => "none".into(),
        }
    }

    /// Remember that Google answered 404 for this resource, with its message.
    pub fn remember_not_found(&self, resource: &Resource, message: &str, now: Instant) {
        if self.ttl.is_zero() || resource.model().is_none() {
            return;
        }
        let mut cut = message.len().min(MAX_MESSAGE);
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut u = lock(&self.unknown);
        if u.len() >= MAX_UNKNOWN && !u.contains_key(resource) {
            u.retain(|_, (until, _)| *until > now);
            if u.len() >= MAX_UNKNOWN {
                let oldest = u
                    .iter()
                    .min_by_key(|(_, (t, _))| *t)
                    .map(|(r, _)| r.clone());
                if let Some(r) = oldest {
                    u.remove(&r);
                }
            }
        }
        u.insert(resource.clone(), (now + self.ttl, message[..cut].into()));
    }

    /// Google's 404 message for this resource, if it answered 404 less than `ttl` ago.
    pub fn not_found(&self, resource: &Resource, now: Instant) -> Option<Arc<str>> {
        if self.ttl.is_zero() {
            return None;
        }
        let mut u = lock(&self.unknown);
        match u.get(resource) {
            Some((until, msg)) if *until > now => Some(msg.clone()),
            Some(_) => {
                u.remove(resource);
                None
            }
            None => None,
        }
    }

    /// Entries in the negative cache (for tests and the admin API).
    pub fn not_found_len(&self) -> usize {
        lock(&self.unknown).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Method, ModelId};

    fn call(m: &str) -> Resource {
        Resource::Call(ModelId::parse(m).unwrap(), Method::GenerateContent)
    }

    #[test]
    fn unknown_models_share_one_bucket_and_the_known_set_is_bounded() {
        let c = ModelCatalog::new(Duration::from_secs(60));
        c.know("gemini-2.5-flash");
        assert_eq!(&*c.bucket("gemini-2.5-flash"), "gemini-2.5-flash");
        assert_eq!(&*c.bucket("invented-1"), OTHER);
        for i in 0..(MAX_KNOWN + 100) {
            c.know(&format!("m-{i}"));
        }
        assert_eq!(c.len(), MAX_KNOWN);
        assert_eq!(&*c.bucket(&format!("m-{}", MAX_KNOWN + 50)), OTHER);
        assert_eq!(&*c.label(None), "none");
    }

    #[test]
    fn not_found_is_remembered_for_its_ttl_per_model_and_method() {
        let c = ModelCatalog::new(Duration::from_secs(60));
        let t = Instant::now();
        c.remember_not_found(&call("nope"), "models/nope is not found", t);
        assert_eq!(
            c.not_found(&call("nope"), t + Duration::from_secs(59))
                .as_deref(),
            Some("models/nope is not found")
        );
        let other_method = Resource::Call(ModelId::parse("nope").unwrap(), Method::CountTokens);
        assert_eq!(c.not_found(&other_method, t), None);
        assert_eq!(
            c.not_found(&call("nope"), t + Duration::from_secs(61)),
            None
        );
        assert_eq!(c.not_found_len(), 0, "expired entries are dropped");
        let off = ModelCatalog::new(Duration::ZERO);
        off.remember_not_found(&call("nope"), "x", t);
        assert_eq!(off.not_found(&call("nope"), t), None);
    }

    #[test]
    fn negative_cache_is_bounded() {
        let c = ModelCatalog::new(Duration::from_secs(60));
        let t = Instant::now();
        for i in 0..(MAX_UNKNOWN + 500) {
            c.remember_not_found(&call(&format!("x{i}")), &"m".repeat(5000), t);
        }
        assert_eq!(c.not_found_len(), MAX_UNKNOWN);
        assert_eq!(
            c.not_found(&call(&format!("x{}", MAX_UNKNOWN + 499)), t)
                .map(|m| m.len()),
            Some(MAX_MESSAGE)
        );
    }
}
