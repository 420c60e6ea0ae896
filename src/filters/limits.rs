//! Client limits stage: per-IP requests per minute and per Pacific day (`MAX_REQUESTS_PER_MINUTE`,
//! `MAX_REQUESTS_PER_DAY_PER_IP`); 429 with `Retry-After` when exceeded.

use crate::error::{ErrorKind, GatewayError};
use crate::pipeline::ctx::Client;
use crate::pipeline::stage::{Flow, Stage, StageState};
use crate::state::AppState;
use crate::upstream::pacific;
use chrono::NaiveDate;
use pingora::http::RequestHeader;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SHARDS: usize = 16;
/// Entries per shard before idle ones are dropped (bounds memory under many distinct IPs).
const MAX_PER_SHARD: usize = 8192;

#[derive(Debug, Clone, Copy)]
struct Window {
    minute_start: Instant,
    minute_count: u32,
    day: NaiveDate,
    day_count: u32,
}

/// The limits stage.
pub struct ClientLimits {
    state: Arc<AppState>,
    per_minute: u32,
    per_day: u32,
    shards: Vec<Mutex<HashMap<IpAddr, Window>>>,
}

impl ClientLimits {
    pub fn new(state: &Arc<AppState>) -> Self {
        let l = &state.config.limits;
        ClientLimits {
            state: state.clone(),
            per_minute: l.max_requests_per_minute,
            per_day: l.max_requests_per_day_per_ip,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Count one request from `ip`; `Err(retry_after)` if it is over a limit (then it is not counted).
    fn admit(
        &self,
        ip: IpAddr,
        now: Instant,
        wall: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), Duration> {
        let day = pacific::day_of(wall);
        let shard = &self.shards[shard_of(&ip)];
        let mut map = crate::sync::lock(shard);
        if map.len() >= MAX_PER_SHARD && !map.contains_key(&ip) {
            map.retain(|_, w| {
                now.duration_since(w.minute_start) < Duration::from_secs(60)
                    || (self.per_day > 0 && w.day == day)
            });
            if map.len() >= MAX_PER_SHARD {
                // Still full of active clients: evict an arbitrary one rather than grow without bound.
                if let Some(k) = map.keys().next().copied() {
                    map.remove(&k);
                }
            }
        }
        let w = map.entry(ip).or_insert(Window {
            minute_start: now,
            minute_count: 0,
            day,
            day_count: 0,
        });
        if now.duration_since(w.minute_start) >= Duration::from_secs(60) {
            w.minute_start = now;
            w.minute_count = 0;
        }
        if w.day != day {
            w.day = day;
            w.day_count = 0;
        }
        if self.per_minute > 0 && w.minute_count >= self.per_minute {
            return Err(Duration::from_secs(60).saturating_sub(now.duration_since(w.minute_start)));
        }
        if self.per_day > 0 && w.day_count >= self.per_day {
            let midnight = pacific::next_midnight(wall);
            return Err((midnight - wall)
                .to_std()
                .unwrap_or(Duration::from_secs(3600)));
        }
        w.minute_count += 1;
        w.day_count += 1;
        Ok(())
    }
}

fn shard_of(ip: &IpAddr) -> usize {
    let b = match ip {
        IpAddr::V4(v) => v.octets()[3] as usize,
        IpAddr::V6(v) => v.octets()[15] as usize,
    };
    b % SHARDS
}

impl Stage for ClientLimits {
    fn name(&self) -> &'static str {
        "limits"
    }

    fn on_request(
        &self,
        _state: &mut StageState,
        _req: &RequestHeader,
        client: &Client,
    ) -> Result<Flow, GatewayError> {
        if self.per_minute == 0 && self.per_day == 0 {
            return Ok(Flow::Continue);
        }
        let Some(ip) = client.ip else {
            return Ok(Flow::Continue);
        };
        match self.admit(ip, self.state.clock.now(), self.state.clock.now_utc()) {
            Ok(()) => Ok(Flow::Continue),
            Err(wait) => Err(GatewayError::new(
                ErrorKind::ClientRateLimited,
                "Too many requests from this client; slow down.",
            )
            .with_retry_after(Some(wait))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::state::AppState;

    fn limits(rpm: u32, rpd: u32) -> ClientLimits {
        let yaml = format!(
            "passwords: [p]\nkeys: [k]\nupstream: {{base_url: 'http://127.0.0.1:9'}}\nlimits: {{max_requests_per_minute: {rpm}, max_requests_per_day_per_ip: {rpd}}}\n"
        );
        let state = AppState::new(Config::from_yaml(&yaml).unwrap()).unwrap();
        ClientLimits::new(&state)
    }

    #[test]
    fn per_minute_window() {
        let l = limits(3, 0);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let t = Instant::now();
        let w = chrono::Utc::now();
        for _ in 0..3 {
            assert!(l.admit(ip, t, w).is_ok());
        }
        let wait = l.admit(ip, t + Duration::from_secs(10), w).unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(l.admit(other, t, w).is_ok());
        assert!(l.admit(ip, t + Duration::from_secs(61), w).is_ok());
    }

    #[test]
    fn per_day_resets_at_pacific_midnight() {
        let l = limits(0, 2);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let t = Instant::now();
        let w = chrono::DateTime::parse_from_rfc3339("2026-01-16T07:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert!(l.admit(ip, t, w).is_ok());
        assert!(l.admit(ip, t, w).is_ok());
        assert_eq!(l.admit(ip, t, w).unwrap_err(), Duration::from_secs(3600));
        let after = w + chrono::Duration::hours(1);
        assert!(l.admit(ip, t, after).is_ok());
    }

    #[test]
    fn bounded_memory() {
        let l = limits(10, 0);
        let t = Instant::now();
        let w = chrono::Utc::now();
        for i in 0..(SHARDS * MAX_PER_SHARD + 5000) as u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            let _ = l.admit(ip, t, w);
        }
        let total: usize = l.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(total <= SHARDS * MAX_PER_SHARD);
    }
}
