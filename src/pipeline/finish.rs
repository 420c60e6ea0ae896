//! The end of every request: the tokens Gemini reported fed back to the key scheduler, the stages'
//! end hooks, request metrics, and one access-log line.

use super::ctx::ReqCtx;
use super::stage::Done;
use super::Pipeline;

impl Pipeline {
    /// Runs exactly once per request, however it ended.
    pub fn finish(&self, ctx: &mut ReqCtx) {
        ctx.log.settle_usage();
        let st = &self.state;
        // Key selection's bookkeeping: the tokens spent, in the group's windows.
        if let (Some(u), Some(key), Some(route)) = (ctx.log.usage(), ctx.log.key(), &ctx.route) {
            if route.quota.counts {
                if let Some(bucket) = ctx.log.bucket() {
                    let (now, wall) = (st.clock.now(), st.clock.now_utc());
                    st.pool
                        .record_tokens(key, bucket, u.prompt, u.output(), now, wall);
                }
            }
        }
        let done = Done {
            client: &ctx.client,
            route: ctx.route.as_ref(),
            log: &ctx.log,
        };
        for (s, state) in self.stages.iter().zip(ctx.stages.iter_mut()) {
            s.on_finish(state, &done);
        }
        self.record_metrics(ctx);
        self.access_log(ctx);
    }

    /// Request counters and latency histograms; labels are bounded (known models only).
    fn record_metrics(&self, ctx: &ReqCtx) {
        let m = &self.state.metrics;
        let surface = ctx.surface.name;
        let route = ctx.route.as_ref().map_or("none", |r| r.label);
        let label;
        let model = match ctx.log.bucket() {
            Some(b) => b,
            None => {
                label = self
                    .state
                    .catalog
                    .label(ctx.route.as_ref().and_then(|r| r.model.as_deref()));
                &*label
            }
        };
        m.requests
            .with_label_values(&[
                surface,
                route,
                model,
                crate::metrics::status_class(ctx.log.status()),
            ])
            .inc();
        if let Some(e) = ctx.log.error() {
            m.errors
                .with_label_values(&[surface, e.kind().label()])
                .inc();
        }
        m.recent.record(
            self.state.clock.now_utc().into(),
            ctx.log.error().is_some(),
            ctx.log.attempts().len() as u64,
        );
        m.duration
            .with_label_values(&[surface])
            .observe(ctx.log.started().elapsed().as_secs_f64());
        if let (Some(first), Some(up)) = (ctx.log.first_byte(), ctx.log.upstream_ttfb()) {
            m.overhead
                .with_label_values(&[surface])
                .observe(first.saturating_sub(up).as_secs_f64());
        }
    }

    /// One line per request (target `access`: stdout and `access.log`); keys appear only as
    /// fingerprints, clients as credential ids.
    fn access_log(&self, ctx: &ReqCtx) {
        if !tracing::enabled!(target: crate::logging::ACCESS, tracing::Level::INFO) {
            return;
        }
        let log = &ctx.log;
        let attempts: Vec<String> = log
            .attempts()
            .iter()
            .map(|a| {
                let fp = self.state.pool.get(a.key).map_or("?", |k| k.fingerprint());
                match a.status {
                    Some(s) => format!("{fp}:{s}:{}", a.outcome),
                    None => format!("{fp}:{}", a.outcome),
                }
            })
            .collect();
        let usage = log.usage().unwrap_or_default();
        let key = log
            .key()
            .and_then(|k| self.state.pool.get(k))
            .map_or("-", |k| k.fingerprint());
        tracing::info!(
            target: crate::logging::ACCESS,
            ip = %ctx.client.ip.map_or_else(|| "-".to_string(), |i| i.to_string()),
            client = %ctx.client.id(),
            surface = %ctx.surface.name,
            route = %ctx.route.as_ref().map_or_else(|| "-".to_string(), |r| r.upstream.resource.to_string()),
            model = %log.bucket().unwrap_or("-"),
            status = log.status(),
            error = %log.error().map_or("-", |e| e.kind().label()),
            attempts = log.attempts().len(),
            tried = %attempts.join(","),
            key = %key,
            ttfb_ms = log.upstream_ttfb().map_or(-1, |d| d.as_millis() as i64),
            ms = log.started().elapsed().as_millis() as u64,
            bytes = log.bytes_out(),
            prompt_tokens = usage.prompt,
            output_tokens = usage.output(),
            cancelled = log.cancelled(),
            midstream_error = %log.midstream().unwrap_or("-"),
            "request"
        );
    }
}
