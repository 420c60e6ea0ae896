//! The usage report: per group × model usage against limits, pool capacity, the day's projection,
//! the 7-day average and advice on the number of keys. Logged periodically and served as JSON.

use crate::state::AppState;
use crate::upstream::{pacific, Health};
use chrono::{Duration as ChronoDuration, NaiveTime, TimeZone};
use chrono_tz::America::Los_Angeles;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Usage {
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupModel {
    pub group: String,
    pub keys: Vec<String>,
    pub model: String,
    pub minute_requests: u64,
    pub minute_input_tokens: u64,
    pub today: Usage,
    pub limits: crate::upstream::limits::ModelLimits,
    pub score: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelSummary {
    pub model: String,
    /// Groups with at least one usable key.
    pub active_groups: usize,
    /// Active groups × per-group daily limits (None = unlimited).
    pub capacity_requests_per_day: Option<u64>,
    pub capacity_input_tokens_per_day: Option<u64>,
    pub today: Usage,
    /// Today's usage extrapolated to the whole Pacific day.
    pub projected_today: Usage,
    pub avg_7d: Usage,
    /// Projected share of the binding daily capacity (0–1+), if any capacity is limited.
    pub utilisation: Option<f64>,
    pub advice: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub generated_at: String,
    pub pacific_day: String,
    pub day_elapsed: f64,
    pub keys_total: usize,
    pub keys_valid: usize,
    pub models: Vec<ModelSummary>,
    pub groups: Vec<GroupModel>,
    pub learned_limits: Vec<serde_json::Value>,
}

/// Advice from the projected utilisation (the seed's thresholds).
pub fn advice(util: Option<f64>, active: usize) -> String {
    match util {
        None => "no daily limit known for this model".into(),
        Some(u) if u > 0.95 => {
            let need = ((u * active as f64) / 0.8).ceil() as usize;
            format!(
                "critical: projected {:.0}% of capacity; add about {} key(s) from new projects",
                u * 100.0,
                need.saturating_sub(active).max(1)
            )
        }
        Some(u) if u > 0.80 => format!(
            "high: projected {:.0}% of capacity; consider adding keys",
            u * 100.0
        ),
        Some(u) if u < 0.30 && active > 1 => {
            let keep = ((u * active as f64) / 0.6).ceil().max(1.0) as usize;
            format!(
                "low: projected {:.0}% of capacity; {} key(s) would do",
                u * 100.0,
                keep
            )
        }
        Some(u) => format!("ok: projected {:.0}% of capacity", u * 100.0),
    }
}

/// Build the report now.
pub fn build(state: &AppState) -> Report {
    let now = state.clock.now();
    let wall = state.clock.now_utc();
    let day = pacific::day_of(wall);
    let start = Los_Angeles
        .from_local_datetime(&day.and_time(NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or(wall);
    let end = pacific::next_midnight(wall);
    let day_len = (end - start).num_seconds().max(1) as f64;
    let elapsed = ((wall - start).num_seconds().max(60) as f64 / day_len).min(1.0);

    let pool = &state.pool;
    let mut groups = Vec::new();
    let mut models: BTreeMap<String, (Usage, usize, Option<u64>, Option<u64>)> = BTreeMap::new();
    let mut group_keys: Vec<Vec<String>> = vec![Vec::new(); pool.groups().count()];
    for k in pool.iter() {
        group_keys[k.group].push(k.fingerprint().to_string());
    }
    for model in pool.quota_models() {
        for (g, name) in pool.groups().enumerate() {
            let Some((mr, mt, dr, di, dout)) = pool.usage(g, &model, now, wall) else {
                continue;
            };
            let limits = pool.limits.get(name, &model);
            let today = Usage {
                requests: dr,
                input_tokens: di,
                output_tokens: dout,
            };
            // capacity counts groups that can serve this model today: a usable key, not parked
            let active = pool.entries().any(|(i, k)| {
                k.group == g
                    && !matches!(
                        pool.health(i, &model, now),
                        Health::Invalid { .. } | Health::Parked { .. }
                    )
            });
            let e = models
                .entry(model.clone())
                .or_insert((Usage::default(), 0, Some(0), Some(0)));
            e.0.requests += dr;
            e.0.input_tokens += di;
            e.0.output_tokens += dout;
            if active {
                e.1 += 1;
                e.2 = e.2.zip(limits.rpd).map(|(a, b)| a + b);
                e.3 = e.3.zip(limits.tpd_input).map(|(a, b)| a + b);
            }
            groups.push(GroupModel {
                group: name.to_string(),
                keys: group_keys[g].clone(),
                model: model.clone(),
                minute_requests: mr,
                minute_input_tokens: mt,
                today,
                limits,
                score: pool.group_score(g, &model, now),
            });
        }
    }
    let history = state
        .store
        .range(day - ChronoDuration::days(7), day - ChronoDuration::days(1))
        .unwrap_or_default();
    let mut summaries = Vec::new();
    for (model, (today, active, cap_r, cap_t)) in models {
        // average over the days that have history (up to 7), not a fixed 7
        let mut avg = Usage::default();
        let mut days = std::collections::BTreeSet::new();
        for (d, _, _, c) in history.iter().filter(|(_, _, m, _)| *m == model) {
            days.insert(*d);
            avg.requests += c.requests;
            avg.input_tokens += c.input_tokens;
            avg.output_tokens += c.output_tokens;
        }
        let n = days.len().max(1) as u64;
        avg.requests /= n;
        avg.input_tokens /= n;
        avg.output_tokens /= n;
        let proj = |v: u64| (v as f64 / elapsed).round() as u64;
        let projected = Usage {
            requests: proj(today.requests),
            input_tokens: proj(today.input_tokens),
            output_tokens: proj(today.output_tokens),
        };
        let cap_r = cap_r.filter(|_| active > 0);
        let cap_t = cap_t.filter(|_| active > 0);
        let util = [
            cap_r
                .filter(|c| *c > 0)
                .map(|c| projected.requests as f64 / c as f64),
            cap_t
                .filter(|c| *c > 0)
                .map(|c| projected.input_tokens as f64 / c as f64),
        ]
        .into_iter()
        .flatten()
        .fold(None, |acc: Option<f64>, u| {
            Some(acc.map_or(u, |a| a.max(u)))
        });
        summaries.push(ModelSummary {
            advice: advice(util, active),
            model,
            active_groups: active,
            capacity_requests_per_day: cap_r,
            capacity_input_tokens_per_day: cap_t,
            today,
            projected_today: projected,
            avg_7d: avg,
            utilisation: util,
        });
    }
    Report {
        generated_at: wall.to_rfc3339(),
        pacific_day: day.to_string(),
        day_elapsed: elapsed,
        keys_total: pool.len(),
        keys_valid: pool.valid_count(),
        models: summaries,
        groups,
        learned_limits: pool
            .limits
            .learned()
            .into_iter()
            .map(|(g, m, k, v)| serde_json::json!({"group": g, "model": m, "limit": k.as_str(), "value": v}))
            .collect(),
    }
}

/// Write the report to the log at `level`.
pub fn log(report: &Report, level: tracing::Level) {
    macro_rules! emit {
        ($($arg:tt)*) => {
            match level {
                tracing::Level::ERROR => tracing::error!(target: "report", $($arg)*),
                tracing::Level::WARN => tracing::warn!(target: "report", $($arg)*),
                tracing::Level::DEBUG => tracing::debug!(target: "report", $($arg)*),
                tracing::Level::TRACE => tracing::trace!(target: "report", $($arg)*),
                _ => tracing::info!(target: "report", $($arg)*),
            }
        };
    }
    emit!(day = %report.pacific_day, keys = report.keys_total, valid = report.keys_valid, elapsed = format!("{:.0}%", report.day_elapsed * 100.0), "usage report");
    for m in &report.models {
        emit!(
            model = %m.model,
            active_groups = m.active_groups,
            requests_today = m.today.requests,
            projected = m.projected_today.requests,
            capacity_rpd = ?m.capacity_requests_per_day,
            input_tokens_today = m.today.input_tokens,
            avg_7d_requests = m.avg_7d.requests,
            advice = %m.advice,
            "usage report: model"
        );
    }
    for g in &report.groups {
        emit!(
            group = %g.group,
            model = %g.model,
            rpm = format!("{}/{}", g.minute_requests, g.limits.rpm.map_or("-".into(), |v| v.to_string())),
            tpm = format!("{}/{}", g.minute_input_tokens, g.limits.tpm_input.map_or("-".into(), |v| v.to_string())),
            rpd = format!("{}/{}", g.today.requests, g.limits.rpd.map_or("-".into(), |v| v.to_string())),
            tpd = format!("{}/{}", g.today.input_tokens, g.limits.tpd_input.map_or("-".into(), |v| v.to_string())),
            score = format!("{:.2}", g.score),
            "usage report: group"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_thresholds() {
        assert!(advice(Some(0.97), 4).starts_with("critical"));
        assert!(advice(Some(0.85), 4).starts_with("high"));
        assert!(advice(Some(0.5), 4).starts_with("ok"));
        assert!(advice(Some(0.1), 4).starts_with("low"));
        assert!(advice(Some(0.1), 1).starts_with("ok"));
        assert!(advice(None, 3).starts_with("no daily limit"));
    }
}
