//! The attempt log: what happened to a request upstream and on the way back. Written only by the
//! pipeline (the attempt loop and the answer writers); stages, metrics and the access log read it.

use crate::convert::TokenUsage;
use crate::error::GatewayError;
use crate::upstream::KeyId;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes of the answer kept to find the final `usageMetadata` (near the end; cumulative in streams).
const TAIL: usize = 16 * 1024;

/// One upstream attempt.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub key: KeyId,
    pub status: Option<u16>,
    /// `ok`, a [`crate::upstream::Fault::kind`], `cancelled` or `shutting_down`.
    pub outcome: &'static str,
}

/// What happened to one request.
#[derive(Debug)]
pub struct AttemptLog {
    /// When the request arrived.
    pub(super) started: Instant,
    pub(super) attempts: Vec<AttemptRecord>,
    /// The name the model's per-model state is kept under (itself when known, else `other`).
    pub(super) bucket: Option<Arc<str>>,
    /// Status sent to the client (0 until a response header went out).
    pub(super) status: u16,
    /// Response bytes reached the client: no retry is possible after that.
    pub(super) response_started: bool,
    /// The client went away before the answer was complete.
    pub(super) cancelled: bool,
    /// Why an answer that had started was ended early.
    pub(super) midstream: Option<&'static str>,
    pub(super) error: Option<GatewayError>,
    /// Last bytes of the upstream answer, bounded (for `usageMetadata`).
    pub(super) tail: Vec<u8>,
    pub(super) usage: Option<TokenUsage>,
    pub(super) bytes_out: u64,
    /// Upstream time to response header of the attempt that answered.
    pub(super) upstream_ttfb: Option<Duration>,
    /// Time from the request's start to the response header reaching the client.
    pub(super) first_byte: Option<Duration>,
}

impl Default for AttemptLog {
    fn default() -> Self {
        AttemptLog {
            started: Instant::now(),
            attempts: Vec::new(),
            bucket: None,
            status: 0,
            response_started: false,
            cancelled: false,
            midstream: None,
            error: None,
            tail: Vec::new(),
            usage: None,
            bytes_out: 0,
            upstream_ttfb: None,
            first_byte: None,
        }
    }
}

impl AttemptLog {
    /// When the request arrived.
    pub fn started(&self) -> Instant {
        self.started
    }
    pub fn attempts(&self) -> &[AttemptRecord] {
        &self.attempts
    }
    /// The key of the last attempt (the one that answered, on success).
    pub fn key(&self) -> Option<KeyId> {
        self.attempts.last().map(|a| a.key)
    }
    /// Keys tried so far.
    pub fn tried(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.attempts.iter().map(|a| a.key)
    }
    pub fn bucket(&self) -> Option<&str> {
        self.bucket.as_deref()
    }
    pub fn status(&self) -> u16 {
        self.status
    }
    pub fn response_started(&self) -> bool {
        self.response_started
    }
    pub fn cancelled(&self) -> bool {
        self.cancelled
    }
    pub fn midstream(&self) -> Option<&'static str> {
        self.midstream
    }
    pub fn error(&self) -> Option<&GatewayError> {
        self.error.as_ref()
    }
    /// Tokens Gemini reported for a successful answer.
    pub fn usage(&self) -> Option<TokenUsage> {
        self.usage
    }
    pub fn bytes_out(&self) -> u64 {
        self.bytes_out
    }
    pub fn upstream_ttfb(&self) -> Option<Duration> {
        self.upstream_ttfb
    }
    pub fn first_byte(&self) -> Option<Duration> {
        self.first_byte
    }
    /// Whether the request ended with a complete 2xx answer's bytes sent.
    pub fn succeeded(&self) -> bool {
        self.response_started && self.status < 400
    }

    /// Keep the last `TAIL` bytes of the upstream answer, with amortised copying.
    pub(super) fn keep_tail(&mut self, chunk: &[u8]) {
        let tail = &mut self.tail;
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

    /// The tokens of the answer, as a transform read them.
    pub(super) fn read_usage(&mut self, usage: TokenUsage) {
        self.usage = Some(usage);
    }

    /// The tokens of a complete answer: as a transform read them, else from the kept tail.
    pub(super) fn settle_usage(&mut self) {
        if !self.succeeded() {
            self.usage = None;
        } else if self.usage.is_none() {
            self.usage = crate::convert::last_usage(&self.tail);
        }
        self.tail = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_is_bounded() {
        let mut l = AttemptLog::default();
        for _ in 0..100 {
            l.keep_tail(&[b'x'; 1000]);
        }
        assert!(l.tail.len() <= 2 * TAIL);
        l.keep_tail(&vec![b'y'; TAIL + 5]);
        assert_eq!(l.tail.len(), TAIL);
    }
}
