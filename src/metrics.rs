//! Prometheus metrics: low-cardinality labels only (route, known model — see
//! [`crate::upstream::catalog`] — status class, outcome); keys never appear except as counts by state.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// All gateway metrics, in their own registry.
pub struct Metrics {
    registry: Registry,
    /// `gemini_gateway_requests_total{surface, route, model, status_class}`
    pub requests: IntCounterVec,
    /// `gemini_gateway_upstream_attempts_total{outcome}`
    pub attempts: IntCounterVec,
    /// `gemini_gateway_errors_total{surface, kind}`: requests the gateway answered with an error, by cause.
    pub errors: IntCounterVec,
    /// `gemini_gateway_keys{state}` (set at scrape time)
    pub keys: IntGaugeVec,
    /// `gemini_gateway_tokens_total{model, direction}`
    pub tokens: IntCounterVec,
    /// `gemini_gateway_overhead_seconds{surface}`: time to the client's first byte minus the upstream's.
    pub overhead: HistogramVec,
    /// `gemini_gateway_upstream_ttfb_seconds`: upstream time to response header.
    pub upstream_ttfb: Histogram,
    /// `gemini_gateway_request_duration_seconds{surface}`: whole request.
    pub duration: HistogramVec,
    /// `gemini_gateway_log_lines_dropped_total`: log-file lines dropped because the writer fell
    /// behind (synced from the writers at scrape time).
    pub log_dropped: IntCounter,
    /// The last hour minute by minute, for the admin dashboard.
    pub recent: crate::recent::Recent,
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "gemini_gateway_requests_total",
                "Client requests by surface, route, model and status class.",
            ),
            &["surface", "route", "model", "status_class"],
        )?;
        let attempts = IntCounterVec::new(
            Opts::new(
                "gemini_gateway_upstream_attempts_total",
                "Upstream attempts by classified outcome.",
            ),
            &["outcome"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "gemini_gateway_errors_total",
                "Requests answered with an error, by surface and cause (auth, limits, no key, upstream, bad request, ...).",
            ),
            &["surface", "kind"],
        )?;
        let keys = IntGaugeVec::new(
            Opts::new(
                "gemini_gateway_keys",
                "Upstream keys by state (worst state over models).",
            ),
            &["state"],
        )?;
        let tokens = IntCounterVec::new(
            Opts::new(
                "gemini_gateway_tokens_total",
                "Tokens reported by Gemini's usageMetadata.",
            ),
            &["model", "direction"],
        )?;
        let fast = vec![
            0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
            0.25, 1.0,
        ];
        let overhead = HistogramVec::new(
            HistogramOpts::new(
                "gemini_gateway_overhead_seconds",
                "Time the gateway adds before the client's first byte.",
            )
            .buckets(fast),
            &["surface"],
        )?;
        let slow = vec![
            0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
        ];
        let upstream_ttfb = Histogram::with_opts(
            HistogramOpts::new(
                "gemini_gateway_upstream_ttfb_seconds",
                "Upstream time to response header.",
            )
            .buckets(slow.clone()),
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "gemini_gateway_request_duration_seconds",
                "Whole request duration.",
            )
            .buckets(slow),
            &["surface"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(attempts.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(keys.clone()))?;
        registry.register(Box::new(tokens.clone()))?;
        registry.register(Box::new(overhead.clone()))?;
        registry.register(Box::new(upstream_ttfb.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        let log_dropped = IntCounter::new(
            "gemini_gateway_log_lines_dropped_total",
            "Log-file lines dropped because the disk writer fell behind (requests never wait for it).",
        )?;
        registry.register(Box::new(log_dropped.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            attempts,
            errors,
            keys,
            tokens,
            overhead,
            upstream_ttfb,
            duration,
            log_dropped,
            recent: Default::default(),
        })
    }

    /// The text exposition format.
    pub fn render(&self) -> Vec<u8> {
        let dropped = crate::logfiles::dropped_lines();
        let counted = self.log_dropped.get();
        if dropped > counted {
            self.log_dropped.inc_by(dropped - counted);
        }
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

/// `2xx`, `4xx`, `5xx`, or `none` when no status was sent (client left).
pub fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new().unwrap();
        m.requests
            .with_label_values(&["gemini", "generateContent", "gemini-2.5-flash", "2xx"])
            .inc();
        m.upstream_ttfb.observe(0.2);
        let text = String::from_utf8(m.render()).unwrap();
        assert!(text.contains("gemini_gateway_requests_total{model=\"gemini-2.5-flash\",route=\"generateContent\",status_class=\"2xx\",surface=\"gemini\"} 1"));
        assert!(text.contains("# TYPE gemini_gateway_upstream_ttfb_seconds histogram"));
    }

    #[test]
    fn classes() {
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(0), "none");
    }
}
