//! Key failover through the simulator: every test asserts what the upstream received and how often.

mod common;
use common::*;
use gemini_gateway::upstream::Health;
use gemini_sim::{FaultAction, FaultRule, SimConfig};
use std::time::Duration;

const PATH: &str = "/v2/models/gemini-2.5-flash:generateContent";

fn fault(action: FaultAction, times: Option<u32>) -> FaultRule {
    FaultRule {
        key: None,
        model: None,
        times,
        action,
    }
}

fn keyed(key: &str, action: FaultAction, times: Option<u32>) -> FaultRule {
    FaultRule {
        key: Some(key.into()),
        model: None,
        times,
        action,
    }
}

#[test]
fn rate_limited_then_ok_on_next_key_two_calls() {
    let h = Harness::basic();
    h.sim.add_fault(fault(
        FaultAction::RateLimit {
            retry_delay_secs: 30,
        },
        Some(1),
    ));
    let r = h.post(PATH, GEN);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["candidates"][0]["content"]["parts"][0]["text"].is_string());
    assert_eq!(h.sim.calls(), 2);
    let reqs = h.sim.requests();
    assert_ne!(
        reqs[0].api_key, reqs[1].api_key,
        "second attempt must use another key"
    );
    assert_eq!(r.header("x-gateway-attempts"), Some("2"));
    // The 429'd key cools down for RetryInfo's 30 s: the next requests use only the other key.
    let limited = reqs[0].api_key.clone().unwrap();
    for _ in 0..6 {
        assert_eq!(h.post(PATH, GEN).status, 200);
    }
    assert_eq!(h.sim.calls_for_key(&limited), 1);
    assert_eq!(h.sim.calls(), 8);
}

#[test]
fn five_mib_body_fails_over_with_identical_body() {
    let h = Harness::basic();
    h.sim.add_fault(fault(
        FaultAction::RateLimit {
            retry_delay_secs: 10,
        },
        Some(1),
    ));
    let pad = "x".repeat(5 * 1024 * 1024);
    let body = format!(r#"{{"contents":[{{"role":"user","parts":[{{"text":"{pad}"}}]}}]}}"#);
    assert!(body.len() > 5 * 1024 * 1024);
    let r = h.post(PATH, &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let reqs = h.sim.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].body_len, body.len());
    assert_eq!(reqs[1].body_len, body.len());
    assert_eq!(reqs[0].body_sha256, reqs[1].body_sha256);
    assert_ne!(reqs[0].api_key, reqs[1].api_key);
}

#[test]
fn invalid_key_is_disabled_and_not_tried_again() {
    let sim = SimConfig {
        invalid_keys: vec!["bad-key".into()],
        ..SimConfig::default()
    };
    let h = Harness::start(sim, &["bad-key", "good-key"], |_| {});
    for _ in 0..6 {
        let r = h.post(PATH, GEN);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(
        h.sim.calls_for_key("bad-key"),
        1,
        "an invalid key is tried once, then never again"
    );
    assert_eq!(h.sim.calls_for_key("good-key"), 6);
    assert!(matches!(health_of(&h, "bad-key"), Health::Invalid { .. }));
}

#[test]
fn forbidden_key_is_disabled_too() {
    let sim = SimConfig {
        forbidden_keys: vec!["blocked".into()],
        ..SimConfig::default()
    };
    let h = Harness::start(sim, &["blocked", "good-key"], |_| {});
    for _ in 0..4 {
        assert_eq!(h.post(PATH, GEN).status, 200);
    }
    assert_eq!(h.sim.calls_for_key("blocked"), 1);
}

#[test]
fn client_400_is_passed_through_not_retried_key_not_penalised() {
    let h = Harness::basic();
    h.sim
        .add_fault(fault(FaultAction::Status { code: 400 }, Some(1)));
    let r = h.post(PATH, GEN);
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(
        v["error"]["status"], "INVALID_ARGUMENT",
        "Google's own envelope is passed through: {v}"
    );
    assert_eq!(h.sim.calls(), 1);
    assert!(all_active(&h));
    // 404 for an unknown model is the client's too
    let r = h.post("/v2/models/no-such-model:generateContent", GEN);
    assert_eq!(r.status, 404);
    assert_eq!(h.sim.calls(), 2);
}

#[test]
fn all_keys_cooling_gives_fast_429_with_retry_after_and_no_call() {
    let h = Harness::basic();
    h.sim.add_fault(fault(
        FaultAction::RateLimit {
            retry_delay_secs: 30,
        },
        None,
    ));
    let r = h.post(PATH, GEN);
    assert_eq!(r.status, 429);
    assert_eq!(h.sim.calls(), 2, "both keys tried once");
    assert_eq!(r.header("x-gateway-attempts"), Some("2"));
    let ra: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((29..=30).contains(&ra), "retry-after {ra}");
    let r = h.post(PATH, GEN);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("x-gateway-attempts"), Some("0"));
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("out of quota"),
        "the message names the cause: {msg}"
    );
    assert_eq!(
        h.sim.calls(),
        2,
        "no upstream call while every key cools down"
    );
    let ra: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&ra));
    assert_eq!(r.json()["error"]["status"], "RESOURCE_EXHAUSTED");
    // After the cooldown passes (clock advanced), keys are used again.
    h.sim.clear_faults();
    h.state.clock.advance(Duration::from_secs(31));
    assert_eq!(h.post(PATH, GEN).status, 200);
    assert_eq!(h.sim.calls(), 3);
}

#[test]
fn per_day_quota_parks_key_until_pacific_midnight() {
    let h = Harness::basic();
    h.sim.add_fault(fault(FaultAction::QuotaDay, Some(1)));
    assert_eq!(h.post(PATH, GEN).status, 200);
    let now = h.state.clock.now();
    let parked: Vec<Health> = h
        .state
        .pool
        .ids()
        .map(|i| h.state.pool.overall(i, now))
        .filter(|s| matches!(s, Health::Parked { .. }))
        .collect();
    assert_eq!(parked.len(), 1);
    let Health::Parked { until_wall, .. } = parked[0].clone() else {
        unreachable!()
    };
    let pt = until_wall.with_timezone(&chrono_tz::America::Los_Angeles);
    assert_eq!(
        pt.format("%H:%M:%S").to_string(),
        "00:00:00",
        "parked until Pacific midnight, got {pt}"
    );
}

#[test]
fn server_errors_move_to_next_key() {
    let h = Harness::start(SimConfig::default(), &["k1", "k2", "k3"], |_| {});
    h.sim
        .add_fault(fault(FaultAction::Status { code: 503 }, Some(2)));
    let r = h.post(PATH, GEN);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(h.sim.calls(), 3);
    let keys: std::collections::HashSet<_> =
        h.sim.requests().into_iter().map(|r| r.api_key).collect();
    assert_eq!(keys.len(), 3, "each attempt on a different key");
}

#[test]
fn attempts_are_capped() {
    let h = Harness::start(SimConfig::default(), &["k1", "k2", "k3", "k4"], |c| {
        c.failover.max_attempts = 2;
        c.failover.backoff_max = Duration::from_millis(2);
    });
    h.sim
        .add_fault(fault(FaultAction::Status { code: 500 }, None));
    let r = h.post(PATH, GEN);
    assert_eq!(r.status, 503);
    assert_eq!(h.sim.calls(), 2);
    assert_eq!(r.json()["error"]["status"], "UNAVAILABLE");
}

#[test]
fn hung_upstream_times_out_and_next_key_answers() {
    let h = Harness::start(SimConfig::default(), &["k1", "k2"], |c| {
        c.upstream.first_byte_timeout = Duration::from_millis(300);
        c.failover.backoff_max = Duration::from_millis(2);
    });
    h.sim.add_fault(fault(FaultAction::Hang, Some(1)));
    let t = std::time::Instant::now();
    let r = h.post(PATH, GEN);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(h.sim.calls(), 2);
    assert!(t.elapsed() < Duration::from_secs(4));
    // the hung upstream connection was closed by the gateway
    assert!(
        eventually(|| h.sim.cancelled() == 1),
        "cancelled={}",
        h.sim.cancelled()
    );
}

#[test]
fn connection_reset_moves_to_next_key() {
    let h = Harness::basic();
    h.sim.add_fault(fault(FaultAction::Reset, Some(1)));
    let r = h.post(PATH, GEN);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(h.sim.calls(), 2);
}

#[test]
fn streaming_fails_over_before_first_byte() {
    let h = Harness::basic();
    h.sim.add_fault(fault(
        FaultAction::RateLimit {
            retry_delay_secs: 5,
        },
        Some(1),
    ));
    let r = h.post(
        "/v2/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        GEN,
    );
    assert_eq!(r.status, 200);
    let events = sse_events(&r.body);
    assert_eq!(
        events.len(),
        4,
        "one clean stream, no duplicated chunks: {}",
        r.text()
    );
    let last: serde_json::Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(h.sim.calls(), 2);
}

#[test]
fn midstream_cut_ends_with_terminal_error_event() {
    let h = Harness::basic();
    h.sim
        .add_fault(fault(FaultAction::CutAfter { events: 2 }, Some(1)));
    let r = h.post(
        "/v2/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        GEN,
    );
    assert_eq!(r.status, 200);
    assert!(
        r.complete,
        "the client's stream ends properly, it does not hang or break"
    );
    let events = sse_events(&r.body);
    assert_eq!(events.len(), 3, "{}", r.text());
    let err: serde_json::Value = serde_json::from_str(&events[2]).unwrap();
    assert_eq!(err["error"]["code"], 502);
    assert!(r.text().ends_with("\r\n\r\n"));
    assert_eq!(h.sim.calls(), 1, "no retry once bytes reached the client");
}

#[test]
fn stalled_stream_hits_the_read_timeout_and_ends_with_a_timeout_event() {
    let h = Harness::start(SimConfig::default(), &["k1", "k2"], |c| {
        c.upstream.read_timeout = Duration::from_millis(300);
        c.failover.backoff_max = Duration::from_millis(2);
    });
    // events 2 s apart: the first arrives, then the upstream goes quiet for longer than read_timeout
    h.sim.add_fault(fault(
        FaultAction::Stream {
            events: 3,
            interval_ms: 2000,
        },
        Some(1),
    ));
    let t = std::time::Instant::now();
    let r = h.post(
        "/v2/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        GEN,
    );
    assert_eq!(r.status, 200);
    assert!(r.complete, "the client's stream ends properly");
    assert!(
        t.elapsed() < Duration::from_millis(1900),
        "{:?}",
        t.elapsed()
    );
    let events = sse_events(&r.body);
    assert_eq!(events.len(), 2, "{}", r.text());
    let err: serde_json::Value = serde_json::from_str(&events[1]).unwrap();
    assert_eq!(err["error"]["code"], 504, "{err}");
    assert_eq!(h.sim.calls(), 1, "no retry once bytes reached the client");
    assert!(
        eventually(|| h.sim.cancelled() == 1),
        "the stalled upstream request was abandoned: cancelled={}",
        h.sim.cancelled()
    );
}

#[test]
fn midstream_cut_in_json_array_stream_closes_the_array_with_an_error() {
    let h = Harness::basic();
    h.sim
        .add_fault(fault(FaultAction::CutAfter { events: 1 }, Some(1)));
    let r = h.post("/v2/models/gemini-2.5-flash:streamGenerateContent", GEN);
    assert_eq!(r.status, 200);
    let v: serde_json::Value =
        serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()));
    let arr = v.as_array().unwrap();
    assert!(arr.last().unwrap().get("error").is_some());
}

#[test]
fn client_disconnect_cancels_upstream() {
    let h = Harness::basic();
    h.sim.add_fault(fault(
        FaultAction::Stream {
            events: 50,
            interval_ms: 100,
        },
        Some(1),
    ));
    {
        let mut r = send(
            h.addr,
            "POST",
            "/v2/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            &[
                ("x-goog-api-key", PASSWORD),
                ("content-type", "application/json"),
            ],
            GEN.as_bytes(),
        );
        let (status, _) = read_head(&mut r);
        assert_eq!(status, 200);
        let first = read_chunk(&mut r).unwrap().unwrap();
        assert!(first.starts_with(b"data: "));
    } // client connection dropped here
    assert!(
        eventually(|| h.sim.cancelled() == 1),
        "upstream not cancelled"
    );
    assert!(
        h.sim.events_sent() < 50,
        "upstream stopped early: {} events",
        h.sim.events_sent()
    );
    assert_eq!(h.sim.calls(), 1);
    // the key was not penalised for the client's departure
    assert!(all_active(&h));
}

#[test]
fn client_disconnect_while_waiting_for_first_byte_cancels_upstream() {
    let h = Harness::basic();
    h.sim.add_fault(fault(FaultAction::Hang, Some(1)));
    {
        let mut r = send(
            h.addr,
            "POST",
            PATH,
            &[("x-goog-api-key", PASSWORD)],
            GEN.as_bytes(),
        );
        assert!(eventually(|| h.sim.calls() == 1));
        r.get_mut().shutdown(std::net::Shutdown::Both).unwrap();
    }
    assert!(
        eventually(|| h.sim.cancelled() == 1),
        "upstream not cancelled"
    );
    assert!(all_active(&h));
}

#[test]
fn only_one_key_left_after_invalid_then_fast_503_when_none() {
    let sim = SimConfig {
        invalid_keys: vec!["bad-1".into(), "bad-2".into()],
        ..SimConfig::default()
    };
    let h = Harness::start(sim, &["bad-1", "bad-2"], |_| {});
    let r = h.post(PATH, GEN);
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(h.sim.calls(), 2);
    let r = h.post(PATH, GEN);
    assert_eq!(r.status, 503);
    assert_eq!(h.sim.calls(), 2);
}

#[test]
fn keyed_fault_hits_only_that_key() {
    let h = Harness::basic();
    h.sim.add_fault(keyed(
        "key-a",
        FaultAction::RateLimit {
            retry_delay_secs: 60,
        },
        None,
    ));
    for _ in 0..4 {
        assert_eq!(h.post(PATH, GEN).status, 200);
    }
    assert!(h.sim.calls_for_key("key-a") <= 1);
}

#[test]
fn google_down_is_503_unavailable_not_a_quota_429() {
    let h = Harness::start(SimConfig::default(), &["k1", "k2", "k3"], |_| {});
    h.sim
        .add_fault(fault(FaultAction::Status { code: 503 }, None));
    let mut statuses = Vec::new();
    for i in 0..12 {
        let r = h.post(PATH, GEN);
        statuses.push(r.status);
        assert_eq!(r.status, 503, "request {i}: {}", r.text());
        let v = r.json();
        assert_eq!(v["error"]["status"], "UNAVAILABLE", "{v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("failing") && !msg.contains("quota;"),
            "the message names the cause: {msg}"
        );
        let ra: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=5).contains(&ra), "retry-after {ra}");
        let attempts: usize = r.header("x-gateway-attempts").unwrap().parse().unwrap();
        assert_eq!(attempts, if i == 0 { 3 } else { 0 }, "request {i}");
    }
    assert_eq!(h.sim.calls(), 3, "cooling keys are not called again");
    // The OpenAI surface says the same in its own envelope.
    let r = http(
        h.addr,
        "POST",
        "/v1/chat/completions",
        &[
            ("authorization", &format!("Bearer {PASSWORD}")),
            ("content-type", "application/json"),
        ],
        br#"{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "server_error");
    assert!(r.header("retry-after").is_some());
    assert!(r.header("x-gateway-attempts").is_some());
}

/// `/readyz` on the admin port: its status and JSON body.
fn ready(h: &Harness) -> (u16, serde_json::Value, Option<String>) {
    let r = http(h.admin, "GET", "/readyz", &[], b"");
    (
        r.status,
        r.json(),
        r.header("retry-after").map(str::to_owned),
    )
}

#[test]
fn readiness_tells_whether_any_key_can_serve_now() {
    // Active: ready.
    let h = Harness::start(SimConfig::default(), &["k1", "k2"], |_| {});
    let (s, v, _) = ready(&h);
    assert_eq!((s, v["status"].as_str()), (200, Some("ready")), "{v}");
    // Every key cooling (429 with a retry delay): 503, why, and when the first comes back.
    h.sim.add_fault(fault(
        FaultAction::RateLimit {
            retry_delay_secs: 40,
        },
        None,
    ));
    assert_eq!(h.post(PATH, GEN).status, 429);
    let (s, v, retry) = ready(&h);
    assert_eq!(s, 503, "{v}");
    assert_eq!(v["states"]["cooling"], 2, "{v}");
    assert!(
        v["reason"].as_str().unwrap().contains("2 cooling down"),
        "{v}"
    );
    let secs = v["retry_after_seconds"].as_u64().unwrap();
    assert!((30..=40).contains(&secs), "{v}");
    assert!(v["next_key_at"].is_string() && retry.is_some());

    // Every key parked for the day.
    let h = Harness::start(SimConfig::default(), &["k1", "k2"], |_| {});
    h.sim.add_fault(fault(FaultAction::QuotaDay, None));
    assert_eq!(h.post(PATH, GEN).status, 429);
    let (s, v, _) = ready(&h);
    assert_eq!((s, v["states"]["parked"].as_u64()), (503, Some(2)), "{v}");
    assert!(
        v["retry_after_seconds"].as_u64().unwrap() > 60,
        "until Pacific midnight: {v}"
    );

    // Every key invalid: 503 with no time to come back.
    let h = Harness::start(SimConfig::default(), &["k1", "k2"], |_| {});
    h.sim.add_fault(fault(FaultAction::InvalidKey, None));
    let _ = h.post(PATH, GEN);
    let (s, v, retry) = ready(&h);
    assert_eq!((s, v["states"]["invalid"].as_u64()), (503, Some(2)), "{v}");
    assert!(v.get("next_key_at").is_none() && retry.is_none(), "{v}");

    // One key cooling, one active: ready, with one usable key.
    let h = Harness::start(SimConfig::default(), &["k1", "k2"], |_| {});
    h.sim.add_fault(keyed(
        "k1",
        FaultAction::RateLimit {
            retry_delay_secs: 40,
        },
        Some(1),
    ));
    for _ in 0..2 {
        // two requests: least recently used first, so k1 is asked by one of them
        assert_eq!(h.post(PATH, GEN).status, 200);
    }
    assert_eq!(h.sim.calls_for_key("k1"), 1);
    let (s, v, _) = ready(&h);
    assert_eq!((s, v["usable_keys"].as_u64()), (200, Some(1)), "{v}");
}
