//! Usage accounting stage: per key × model counters since start (attempts, successes, tokens),
//! token metrics, and the day's counts persisted to the store (batched) so they survive restarts.

use crate::pipeline::log::{AttemptLog, AttemptRecord};
use crate::pipeline::route::Route;
use crate::pipeline::stage::{Done, Stage, StageState};
use crate::state::AppState;
use crate::store::{DayCounts, UsageDelta};
use crate::upstream::{pacific, KeyId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Counters for one key × model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Upstream requests sent.
    pub attempts: u64,
    /// Attempts that succeeded.
    pub ok: u64,
    pub prompt_tokens: u64,
    pub output_tokens: u64,
}

/// Most models counted per key (a defence behind the model catalog, which already folds unknown
/// names into `other`).
const MAX_MODELS_PER_KEY: usize = 128;

/// In-memory usage per key and model (looked up without allocating on the request path).
#[derive(Debug, Default)]
pub struct UsageCounters {
    inner: Mutex<HashMap<KeyId, HashMap<String, Counts>>>,
}

impl UsageCounters {
    fn update(&self, key: KeyId, model: &str, f: impl FnOnce(&mut Counts)) {
        let mut m = crate::sync::lock(&self.inner);
        let per_key = m.entry(key).or_default();
        if let Some(c) = per_key.get_mut(model) {
            f(c);
        } else if per_key.len() < MAX_MODELS_PER_KEY {
            let mut c = Counts::default();
            f(&mut c);
            per_key.insert(model.to_string(), c);
        }
    }

    /// Counts for one key and model.
    pub fn get(&self, key: KeyId, model: &str) -> Counts {
        crate::sync::lock(&self.inner)
            .get(&key)
            .and_then(|k| k.get(model))
            .copied()
            .unwrap_or_default()
    }
}

/// The usage stage.
pub struct Usage {
    state: Arc<AppState>,
}

impl Usage {
    pub fn new(state: &Arc<AppState>) -> Self {
        Usage {
            state: state.clone(),
        }
    }

    /// Persist a day delta for the key's group (batched by the writer, never per request).
    fn persist(&self, key: KeyId, model: &str, counts: DayCounts) {
        let st = &self.state;
        if let Some(k) = st.pool.get(key) {
            st.writer.record(UsageDelta {
                day: pacific::day_of(st.clock.now_utc()),
                group: st.pool.group_name(k.group).to_string(),
                model: model.to_string(),
                counts,
            });
        }
    }
}

impl Stage for Usage {
    fn name(&self) -> &'static str {
        "usage"
    }

    fn on_attempt(
        &self,
        _state: &mut StageState,
        attempt: &AttemptRecord,
        route: &Route,
        log: &AttemptLog,
    ) {
        let Some(model) = log.bucket() else {
            return;
        };
        self.state.usage.update(attempt.key, model, |c| {
            c.attempts += 1;
            if attempt.outcome == "ok" {
                c.ok += 1;
            }
        });
        if route.quota.counts {
            self.persist(
                attempt.key,
                model,
                DayCounts {
                    requests: 1,
                    ..DayCounts::default()
                },
            );
        }
    }

    fn on_finish(&self, _state: &mut StageState, done: &Done<'_>) {
        let log = done.log;
        let (Some(u), Some(key), Some(model)) = (log.usage(), log.key(), log.bucket()) else {
            return;
        };
        let output = u.output();
        self.state.usage.update(key, model, |c| {
            c.prompt_tokens += u.prompt;
            c.output_tokens += output;
        });
        let tokens = &self.state.metrics.tokens;
        tokens.with_label_values(&[model, "input"]).inc_by(u.prompt);
        tokens.with_label_values(&[model, "output"]).inc_by(output);
        if done.route.is_some_and(|r| r.quota.counts) {
            self.persist(
                key,
                model,
                DayCounts {
                    requests: 0,
                    input_tokens: u.prompt,
                    output_tokens: output,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_bounded_per_key() {
        let c = UsageCounters::default();
        let k = KeyId::new(0);
        for i in 0..(MAX_MODELS_PER_KEY + 50) {
            c.update(k, &format!("invented-{i}"), |x| x.attempts += 1);
        }
        c.update(k, "invented-0", |x| x.attempts += 1);
        assert_eq!(c.get(k, "invented-0").attempts, 2);
        assert_eq!(
            c.get(k, &format!("invented-{}", MAX_MODELS_PER_KEY + 10))
                .attempts,
            0
        );
        assert_eq!(c.inner.lock().unwrap()[&k].len(), MAX_MODELS_PER_KEY);
    }
}
