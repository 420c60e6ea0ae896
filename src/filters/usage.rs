//! Usage accounting stage: counts upstream attempts and the tokens Gemini reports in `usageMetadata`.

use crate::error::GatewayError;
use crate::pipeline::ctx::{ReqCtx, TokenUsage};
use crate::pipeline::{Attempt, Filter};
use crate::state::AppState;
use crate::upstream::Fault;
use bytes::Bytes;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Bytes of the answer kept to find the final `usageMetadata` (it is near the end, and cumulative in streams).
const TAIL: usize = 16 * 1024;

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

/// Most models counted per key; client-invented names beyond it are not counted (bounded memory).
const MAX_MODELS_PER_KEY: usize = 128;

/// In-memory usage per key index and model (looked up without allocating on the request path).
#[derive(Debug, Default)]
pub struct UsageCounters {
    inner: Mutex<HashMap<usize, HashMap<String, Counts>>>,
}

impl UsageCounters {
    fn update(&self, key: usize, model: &str, f: impl FnOnce(&mut Counts)) {
        let Ok(mut m) = self.inner.lock() else { return };
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
    pub fn get(&self, key: usize, model: &str) -> Counts {
        self.inner
            .lock()
            .ok()
            .and_then(|m| m.get(&key).and_then(|k| k.get(model)).copied())
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
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
    #[serde(default)]
    total_token_count: u64,
}

/// Find the last `usageMetadata` object in the tail of an answer.
pub fn last_usage(tail: &[u8]) -> Option<TokenUsage> {
    const NEEDLE: &[u8] = b"\"usageMetadata\"";
    let pos = tail.windows(NEEDLE.len()).rposition(|w| w == NEEDLE)?;
    let rest = &tail[pos + NEEDLE.len()..];
    let colon = rest.iter().position(|b| *b == b':')?;
    let mut it =
        serde_json::Deserializer::from_slice(&rest[colon + 1..]).into_iter::<UsageMetadata>();
    let u = it.next()?.ok()?;
    Some(TokenUsage {
        prompt: u.prompt_token_count,
        candidates: u.candidates_token_count,
        thoughts: u.thoughts_token_count,
        total: u.total_token_count,
    })
}

/// Keep the last `TAIL` bytes of the stream, with amortised copying.
fn keep_tail(tail: &mut Vec<u8>, chunk: &Bytes) {
    if chunk.len() >= TAIL {
        tail.clear();
        tail.extend_from_slice(&chunk[chunk.len() - TAIL..]);
        return;
    }
    tail.extend_from_slice(chunk);
    if tail.len() > 2 * TAIL {
        tail.drain(..tail.len() - TAIL);
    }
}

impl Filter for Usage {
    fn name(&self) -> &'static str {
        "usage"
    }

    fn on_attempt_done(&self, ctx: &mut ReqCtx, attempt: &Attempt, fault: Option<&Fault>) {
        let (Some(key), Some(model)) = (attempt.key, ctx.bucket.as_deref()) else {
            return;
        };
        self.state.usage.update(key, model, |c| {
            c.attempts += 1;
            if fault.is_none() {
                c.ok += 1;
            }
        });
    }

    fn on_response_chunk(
        &self,
        ctx: &mut ReqCtx,
        chunk: &mut Option<Bytes>,
        _end: bool,
    ) -> Result<(), GatewayError> {
        if let Some(c) = chunk {
            keep_tail(&mut ctx.tail, c);
        }
        Ok(())
    }

    fn on_finish(&self, ctx: &mut ReqCtx) {
        if !ctx.response_started || ctx.status >= 400 {
            return;
        }
        let Some(u) = last_usage(&ctx.tail) else {
            return;
        };
        ctx.usage = Some(u);
        ctx.tail = Vec::new();
        if let (Some(key), Some(model)) = (ctx.key, ctx.bucket.as_deref()) {
            let output = u.candidates + u.thoughts;
            self.state.usage.update(key, model, |c| {
                c.prompt_tokens += u.prompt;
                c.output_tokens += output;
            });
            let tokens = &self.state.metrics.tokens;
            tokens.with_label_values(&[model, "input"]).inc_by(u.prompt);
            tokens.with_label_values(&[model, "output"]).inc_by(output);
            if ctx.counts_quota {
                let (now, wall) = (self.state.clock.now(), self.state.clock.now_utc());
                self.state
                    .pool
                    .record_tokens(key, model, u.prompt, output, now, wall);
                if let Some(k) = self.state.pool.get(key) {
                    self.state.writer.record(crate::store::UsageDelta {
                        day: crate::upstream::pacific::day_of(wall),
                        group: self.state.pool.group_name(k.group).to_string(),
                        model: model.to_string(),
                        counts: crate::store::DayCounts {
                            requests: 0,
                            input_tokens: u.prompt,
                            output_tokens: output,
                        },
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_last_cumulative_usage_in_sse() {
        let sse = b"data: {\"candidates\": [],\"usageMetadata\": {\"promptTokenCount\": 5,\"candidatesTokenCount\": 1,\"totalTokenCount\": 6}}\r\n\r\n\
data: {\"candidates\": [],\"usageMetadata\": {\"promptTokenCount\": 5,\"candidatesTokenCount\": 9,\"totalTokenCount\": 20,\"thoughtsTokenCount\": 6},\"modelVersion\": \"m\"}\r\n\r\n";
        assert_eq!(
            last_usage(sse),
            Some(TokenUsage {
                prompt: 5,
                candidates: 9,
                thoughts: 6,
                total: 20
            })
        );
    }

    #[test]
    fn pretty_json_usage() {
        let j = b"{\n  \"candidates\": [],\n  \"usageMetadata\": {\n    \"promptTokenCount\": 11,\n    \"candidatesTokenCount\": 1,\n    \"totalTokenCount\": 46,\n    \"promptTokensDetails\": [{\"modality\": \"TEXT\", \"tokenCount\": 11}],\n    \"thoughtsTokenCount\": 34\n  },\n  \"modelVersion\": \"gemini-2.5-flash\"\n}\n";
        assert_eq!(
            last_usage(j),
            Some(TokenUsage {
                prompt: 11,
                candidates: 1,
                thoughts: 34,
                total: 46
            })
        );
        assert_eq!(last_usage(b"{\"embedding\": {}}"), None);
    }

    #[test]
    fn counters_are_bounded_per_key() {
        let c = UsageCounters::default();
        for i in 0..(MAX_MODELS_PER_KEY + 50) {
            c.update(0, &format!("invented-{i}"), |x| x.attempts += 1);
        }
        c.update(0, "invented-0", |x| x.attempts += 1);
        assert_eq!(c.get(0, "invented-0").attempts, 2);
        assert_eq!(
            c.get(0, &format!("invented-{}", MAX_MODELS_PER_KEY + 10))
                .attempts,
            0
        );
        assert_eq!(c.inner.lock().unwrap()[&0].len(), MAX_MODELS_PER_KEY);
    }

    #[test]
    fn tail_is_bounded() {
        let mut t = Vec::new();
        for _ in 0..100 {
            keep_tail(&mut t, &Bytes::from(vec![b'x'; 1000]));
        }
        assert!(t.len() <= 2 * TAIL);
        keep_tail(&mut t, &Bytes::from(vec![b'y'; TAIL + 5]));
        assert_eq!(t.len(), TAIL);
    }
}
