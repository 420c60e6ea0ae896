//! Quota-aware scheduling, usage that survives restarts, key health over time, metrics and the
//! admin API — through the simulator, with the gateway's clock injected where days matter.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use gemini_gateway::config::{Config, KeyConfig};
use gemini_gateway::upstream::Health;
use gemini_sim::{FaultAction, FaultRule, Sim, SimConfig};
use std::time::Duration;

const PATH: &str = "/v2/models/gemini-2.5-flash:generateContent";

fn limits_file(dir: &tempfile::TempDir, entry: &str) -> std::path::PathBuf {
    let p = dir.path().join("limits.yaml");
    std::fs::write(
        &p,
        format!("default: {{rpm: null, rpd: null, tpm_input: null, tpd_input: null}}\nmodels:\n  gemini-2.5-flash: {entry}\n"),
    )
    .unwrap();
    p
}

/// A gateway with one key in project `proj-a` whose usage is stored in `db`.
fn start_on_store(db: &std::path::Path) -> Harness {
    let keys = vec![KeyConfig::in_project("k1", "proj-a")];
    Harness::start_with(Sim::new(SimConfig::default()), keys, |c| stored_in(c, db))
}

/// Usage kept in the SQLite file `db`, written every 20 ms.
fn stored_in(c: &mut Config, db: &std::path::Path) {
    c.store.path = Some(db.to_path_buf());
    c.store.flush_interval = Duration::from_millis(20);
}

fn admin_get(h: &Harness, path: &str) -> Resp {
    http(
        h.admin,
        "GET",
        path,
        &[("authorization", &format!("Bearer {ADMIN_KEY}"))],
        b"",
    )
}

#[test]
fn a_key_at_its_rpm_is_skipped_before_it_is_called() {
    let dir = tempfile::tempdir().unwrap();
    let limits = limits_file(&dir, "{rpm: 2}");
    let h = Harness::start(SimConfig::default(), &["k1", "k2"], |c| {
        c.model_limits.path = Some(limits)
    });
    for _ in 0..4 {
        assert_eq!(h.post(PATH, GEN).status, 200);
    }
    assert_eq!(h.sim.calls_for_key("k1"), 2);
    assert_eq!(h.sim.calls_for_key("k2"), 2);
    let r = h.post(PATH, GEN);
    assert_eq!(
        r.status, 429,
        "both keys are at their RPM: answered without calling upstream"
    );
    let ra: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=61).contains(&ra), "retry-after {ra}");
    assert_eq!(
        h.sim.calls(),
        4,
        "no call was spent on a key known to be full"
    );
    // countTokens does not spend generate quota
    assert_eq!(
        h.post("/v2/models/gemini-2.5-flash:countTokens", GEN)
            .status,
        200
    );
    // the window slides: a minute later the keys are used again
    h.state.clock.advance(Duration::from_secs(61));
    assert_eq!(h.post(PATH, GEN).status, 200);
}

#[test]
fn the_simulators_own_quota_429_is_learned_and_honoured() {
    // The file believes 100 RPM, Google (the simulator) enforces 3.
    let dir = tempfile::tempdir().unwrap();
    let limits = limits_file(&dir, "{rpm: 100}");
    let h = Harness::start(sim_with_rpm(3), &["only"], |c| {
        c.model_limits.path = Some(limits)
    });
    for _ in 0..3 {
        assert_eq!(h.post(PATH, GEN).status, 200);
    }
    let r = h.post(PATH, GEN);
    assert_eq!(r.status, 429);
    assert_eq!(h.sim.calls(), 4);
    // the learned limit (3) now overrides the file (100) for this project and model
    let group = h.state.pool.group_name(0).to_string();
    assert_eq!(
        h.state.pool.limits.get(&group, "gemini-2.5-flash").rpm,
        Some(3)
    );
    let v = admin_get(&h, "/api/keys").json();
    assert_eq!(v["learned_limits"][0]["limit"], "rpm");
    assert_eq!(v["learned_limits"][0]["value"], 3);
    // next request: still cooling per RetryInfo, no upstream call
    assert_eq!(h.post(PATH, GEN).status, 429);
    assert_eq!(h.sim.calls(), 4);
}

#[test]
fn day_exhausted_key_is_parked_until_pacific_midnight_then_returns() {
    let h = Harness::start(SimConfig::default(), &["k1"], |_| {});
    h.sim.add_fault(FaultRule {
        key: None,
        model: None,
        times: Some(1),
        action: FaultAction::QuotaDay,
    });
    let r = h.post(PATH, GEN);
    assert_eq!(r.status, 429);
    let Health::Parked { until_wall, .. } = health_of(&h, "k1") else {
        panic!("{:?}", health_of(&h, "k1"))
    };
    let pt = until_wall.with_timezone(&chrono_tz::America::Los_Angeles);
    assert_eq!(pt.format("%H:%M").to_string(), "00:00");
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    let to_midnight = (until_wall - chrono::Utc::now()).num_seconds() as u64;
    assert!(
        wait.abs_diff(to_midnight) <= 2,
        "Retry-After {wait} is the time to Pacific midnight {to_midnight}"
    );
    // still parked an hour before midnight (if midnight is more than an hour away)
    assert_eq!(h.post(PATH, GEN).status, 429);
    assert_eq!(h.sim.calls(), 1);
    // the clock passes Pacific midnight: the key is back
    h.state.clock.advance(Duration::from_secs(to_midnight + 5));
    assert_eq!(h.post(PATH, GEN).status, 200);
    assert_eq!(h.sim.calls(), 2);
}

#[test]
fn a_restart_keeps_the_days_counts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");
    {
        let h = start_on_store(&db);
        for _ in 0..3 {
            assert_eq!(h.post(PATH, GEN).status, 200);
        }
        assert!(eventually(|| h
            .state
            .pool
            .usage(
                0,
                "gemini-2.5-flash",
                h.state.clock.now(),
                h.state.clock.now_utc()
            )
            .unwrap()
            .3
            > 0));
    } // gateway stopped; pending usage flushed
    let h = start_on_store(&db);
    assert_eq!(h.post(PATH, GEN).status, 200);
    let (_, _, day_requests, day_input, _) = h
        .state
        .pool
        .usage(
            0,
            "gemini-2.5-flash",
            h.state.clock.now(),
            h.state.clock.now_utc(),
        )
        .unwrap();
    assert_eq!(day_requests, 4, "3 before the restart + 1 after");
    assert!(day_input > 0);
    let v = admin_get(&h, "/api/keys").json();
    assert_eq!(v["keys"][0]["group"], "proj-a");
    assert_eq!(
        v["keys"][0]["models"]["gemini-2.5-flash"]["group_usage"]["today_requests"],
        4
    );
    let today = gemini_gateway::upstream::pacific::day_of(chrono::Utc::now());
    assert!(eventually(|| h.state.store.day(today).unwrap().iter().any(
        |(g, m, c)| g == "proj-a" && m == "gemini-2.5-flash" && c.requests == 4
    )));
    assert_eq!(h.state.store.pragma("journal_mode").unwrap(), "wal");
}

#[test]
fn startup_check_disables_invalid_keys_but_never_for_a_timeout() {
    let sim = Sim::new(SimConfig {
        invalid_keys: vec!["bad".into()],
        ..SimConfig::default()
    });
    sim.add_fault(FaultRule {
        key: Some("slow".into()),
        model: None,
        times: Some(1),
        action: FaultAction::Hang,
    });
    let h = Harness::start_with(sim, keys(&["good", "bad", "slow"]), |c| {
        c.key_health.startup_check = true;
        c.key_health.check_timeout = Duration::from_millis(300);
        c.key_health.revalidate_interval = Duration::from_secs(3600);
    });
    assert!(
        eventually(|| matches!(health_of(&h, "bad"), Health::Invalid { .. })),
        "invalid key found at startup"
    );
    assert_eq!(health_of(&h, "good"), Health::Active);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        health_of(&h, "slow"),
        Health::Active,
        "a timeout never disables a key"
    );
    // The inconclusive check of "slow" is repeated a second later; that one succeeds.
    let checks = |key: &str| {
        h.sim
            .requests()
            .iter()
            .filter(|r| {
                r.api_key.as_deref() == Some(key) && r.query.as_deref() == Some("pageSize=1")
            })
            .count()
    };
    assert!(eventually(|| checks("slow") == 2), "slow checked again");
    assert_eq!((checks("good"), checks("bad")), (1, 1));
    let reqs = h.sim.requests();
    assert!(reqs.iter().all(|r| r.path == "/v1beta/models"), "{reqs:?}");
    // Then one model-list fetch with a valid key (the names of real models).
    assert!(
        eventually(|| h.state.models.any().is_some()),
        "model list fetched after the check"
    );
    let lists: Vec<_> = h
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.query.as_deref() == Some("pageSize=1000"))
        .collect();
    assert_eq!(lists.len(), 1, "{lists:?}");
    assert_ne!(
        lists[0].api_key.as_deref(),
        Some("bad"),
        "never the invalid key"
    );
    assert!(h.state.catalog.is_known("gemini-2.5-pro"));
}

#[test]
fn an_invalid_key_is_revalidated_and_restored() {
    let h = Harness::start(SimConfig::default(), &["k1", "k2"], |c| {
        c.key_health.revalidate_interval = Duration::from_secs(1)
    });
    h.sim.add_fault(FaultRule {
        key: Some("k1".into()),
        model: None,
        times: None,
        action: FaultAction::InvalidKey,
    });
    for _ in 0..3 {
        assert_eq!(h.post(PATH, GEN).status, 200);
    }
    assert!(matches!(health_of(&h, "k1"), Health::Invalid { .. }));
    // still invalid at the next check: stays disabled
    std::thread::sleep(Duration::from_millis(1300));
    assert!(matches!(health_of(&h, "k1"), Health::Invalid { .. }));
    // Google accepts the key again (e.g. the API was re-enabled): the periodic check restores it
    h.sim.clear_faults();
    assert!(
        eventually(|| health_of(&h, "k1") == Health::Active),
        "key restored"
    );
    let before = h.sim.calls_for_key("k1");
    for _ in 0..4 {
        assert_eq!(h.post(PATH, GEN).status, 200);
    }
    assert!(
        h.sim.calls_for_key("k1") > before,
        "the restored key serves requests again"
    );
}

#[test]
fn metrics_have_the_expected_series_and_no_key_material() {
    let h = Harness::start(
        SimConfig::default(),
        &["secret-upstream-key-one", "secret-upstream-key-two"],
        |_| {},
    );
    h.sim.add_fault(FaultRule {
        key: None,
        model: None,
        times: Some(1),
        action: FaultAction::RateLimit {
            retry_delay_secs: 5,
        },
    });
    assert_eq!(h.post(PATH, GEN).status, 200);
    assert_eq!(
        h.post(
            "/v2/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            GEN
        )
        .status,
        200
    );
    assert_eq!(
        h.post("/v2/models/made-up-model-xyz:generateContent", GEN)
            .status,
        404
    );
    std::thread::sleep(Duration::from_millis(100));
    let r = http(h.admin, "GET", "/metrics", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = r.text();
    let series: Vec<(&str, f64)> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name, value.parse::<f64>().unwrap())
        })
        .collect();
    let get = |needle: &str| series.iter().find(|(n, _)| *n == needle).map(|(_, v)| *v);
    assert_eq!(
        get(
            r#"gemini_gateway_requests_total{model="gemini-2.5-flash",route="generateContent",status_class="2xx",surface="gemini"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        get(
            r#"gemini_gateway_requests_total{model="gemini-2.5-flash",route="streamGenerateContent",status_class="2xx",surface="gemini"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        get(
            r#"gemini_gateway_requests_total{model="other",route="generateContent",status_class="4xx",surface="gemini"}"#
        ),
        Some(1.0),
        "unknown model names are not labels"
    );
    assert_eq!(
        get(r#"gemini_gateway_upstream_attempts_total{outcome="rate_limited"}"#),
        Some(1.0)
    );
    assert_eq!(
        get(r#"gemini_gateway_upstream_attempts_total{outcome="ok"}"#),
        Some(2.0)
    );
    assert_eq!(
        get(r#"gemini_gateway_upstream_attempts_total{outcome="client_error"}"#),
        Some(1.0)
    );
    assert_eq!(get(r#"gemini_gateway_keys{state="cooling"}"#), Some(1.0));
    assert_eq!(get(r#"gemini_gateway_keys{state="active"}"#), Some(1.0));
    assert!(
        get(r#"gemini_gateway_tokens_total{direction="input",model="gemini-2.5-flash"}"#).unwrap()
            > 0.0
    );
    assert!(text.contains("gemini_gateway_overhead_seconds_bucket"));
    assert!(text.contains("gemini_gateway_upstream_ttfb_seconds_count 4"));
    assert!(!text.contains("made-up-model-xyz"));
    assert!(
        !text.contains("secret-upstream-key")
            && !text.contains(PASSWORD)
            && !text.contains(ADMIN_KEY)
    );
    // promtool (Debian's prometheus package; CI installs it) must find nothing to complain about
    promtool(&["check", "metrics"], Some(text.as_bytes()));
}

#[test]
fn admin_api_requires_an_admin_credential_and_shows_fingerprints_only() {
    let h = Harness::start(SimConfig::default(), &["secret-upstream-key-one"], |_| {});
    assert_eq!(h.post(PATH, GEN).status, 200);
    assert_eq!(http(h.admin, "GET", "/api/keys", &[], b"").status, 401);
    assert_eq!(
        http(
            h.admin,
            "GET",
            "/api/keys",
            &[("authorization", &format!("Bearer {PASSWORD}"))],
            b""
        )
        .status,
        403,
        "a user credential is known but not an administrator"
    );
    let r = admin_get(&h, "/api/keys");
    assert_eq!(r.status, 200);
    let v = r.json();
    assert!(v["keys"][0]["key"].as_str().unwrap().starts_with("fp-"));
    assert_eq!(v["keys"][0]["state"], "active");
    assert!(!r.text().contains("secret-upstream-key"));
    let r = admin_get(&h, "/api/report");
    assert_eq!(r.status, 200);
    let rep = r.json();
    let m = rep["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "gemini-2.5-flash")
        .unwrap();
    assert_eq!(m["today"]["requests"], 1);
    assert!(m["advice"].as_str().is_some());
    assert!(!r.text().contains("secret-upstream-key"));
}

#[test]
fn unusual_outcomes_are_counted_and_client_model_names_stay_bounded() {
    let h = Harness::basic();
    assert_eq!(http(h.addr, "POST", PATH, &[], GEN.as_bytes()).status, 401);
    for i in 0..200 {
        let r = h.post(&format!("/v2/models/invented-{i}:generateContent"), GEN);
        assert_eq!(r.status, 404);
    }
    assert!(
        h.state.pool.models().len() <= 129,
        "per-model state is capped: {}",
        h.state.pool.models().len()
    );
    std::thread::sleep(Duration::from_millis(100));
    let text = http(h.admin, "GET", "/metrics", &[], b"").text();
    assert!(
        text.contains(r#"gemini_gateway_errors_total{kind="unauthorized",surface="gemini"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"route="none""#));
    assert!(text
        .contains(r#"gemini_gateway_errors_total{kind="model_not_found",surface="gemini"} 200"#));
}

#[test]
fn usage_report_is_logged_at_the_configured_level() {
    let h = Harness::start(SimConfig::default(), &["k1"], |c| {
        c.report.interval_minutes = 30;
        c.report.level = tracing::Level::WARN;
    });
    assert_eq!(h.post(PATH, GEN).status, 200);
    let report = gemini_gateway::report::build(&h.state);
    let m = report
        .models
        .iter()
        .find(|m| m.model == "gemini-2.5-flash")
        .unwrap();
    assert_eq!(m.today.requests, 1);
    assert_eq!(m.active_groups, 1);
    assert!(m.projected_today.requests >= 1);
    assert_eq!(h.state.config.report.level, tracing::Level::WARN);
    let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let b2 = buf.clone();
    let sub = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || W(b2.clone()))
        .finish();
    tracing::subscriber::with_default(sub, || {
        gemini_gateway::report::log(&report, h.state.config.report.level)
    });
    let out = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
    assert!(
        out.contains("WARN")
            && out.contains("usage report: model")
            && out.contains("gemini-2.5-flash"),
        "{out}"
    );
    assert!(out.contains("rpd=\"1/-\""), "{out}");
}

struct W(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
impl std::io::Write for W {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn invented_model_names_share_one_bucket_and_404s_are_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");
    let keys = vec![
        KeyConfig::in_project("k1", "proj-a"),
        KeyConfig::in_project("k2", "proj-b"),
    ];
    let h = Harness::start_with(Sim::new(SimConfig::default()), keys, |c| stored_in(c, &db));
    let keys_before = admin_get(&h, "/api/keys").body.len();
    assert_eq!(h.post(PATH, GEN).status, 200);
    let openai = |model: &str| {
        h.post_bearer(
            "/v1/chat/completions",
            &serde_json::json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
                .to_string(),
        )
    };
    const N: usize = 300;
    for i in 0..N {
        assert_eq!(
            h.post(&format!("/v2/models/invented-{i}:generateContent"), GEN)
                .status,
            404
        );
        assert_eq!(openai(&format!("made-up-{i}")).status, 404);
    }
    assert_eq!(h.sim.calls(), 1 + 2 * N, "each new name is asked once");

    // Per-model state exists for the real model and the one `other` bucket only.
    let mut models = h.state.pool.quota_models();
    models.sort();
    assert_eq!(models, ["gemini-2.5-flash", "other"]);
    let keys = admin_get(&h, "/api/keys");
    let v = keys.json();
    for k in v["keys"].as_array().unwrap() {
        let names: Vec<&String> = k["models"].as_object().unwrap().keys().collect();
        assert!(names.len() <= 2, "{names:?}");
    }
    assert!(
        keys.body.len() < keys_before + 4096,
        "/api/keys grew from {keys_before} to {} bytes",
        keys.body.len()
    );
    let report = admin_get(&h, "/api/report").json();
    assert!(report["groups"].as_array().unwrap().len() <= 4, "{report}");
    assert!(report["models"].as_array().unwrap().len() <= 2, "{report}");
    let metrics = http(h.admin, "GET", "/metrics", &[], b"").text();
    assert!(
        !metrics.contains("invented-") && !metrics.contains("made-up-"),
        "model labels stay bounded"
    );
    assert!(metrics.contains(r#"model="other""#), "{metrics}");
    // The store holds one row per group for the real model and one for `other`, not one per name.
    h.state.writer.flush();
    let today = gemini_gateway::upstream::pacific::day_of(h.state.clock.now_utc());
    let rows = h.state.store.day(today).unwrap();
    assert!(rows.len() <= 4, "{rows:?}");
    assert!(rows
        .iter()
        .all(|(_, m, _)| m == "gemini-2.5-flash" || m == "other"));

    // Asked again, the same names get the 404 from memory: no key spent, no upstream call.
    let calls = h.sim.calls();
    for i in 0..50 {
        let r = h.post(&format!("/v2/models/invented-{i}:generateContent"), GEN);
        assert_eq!(r.status, 404);
        assert_eq!(r.header("x-gateway-attempts"), Some("0"));
        assert_eq!(r.json()["error"]["status"], "NOT_FOUND");
        let r = openai(&format!("made-up-{i}"));
        assert_eq!(r.status, 404);
        assert_eq!(r.json()["error"]["code"], "model_not_found");
    }
    assert_eq!(h.sim.calls(), calls);
    // Another method on the same name is a different question; after the TTL the name is asked again.
    assert_eq!(h.post("/v2/models/invented-1:countTokens", GEN).status, 404);
    assert_eq!(h.sim.calls(), calls + 1);
    h.state.clock.advance(Duration::from_secs(301));
    assert_eq!(
        h.post("/v2/models/invented-1:generateContent", GEN).status,
        404
    );
    assert_eq!(h.sim.calls(), calls + 2);
}

#[test]
fn after_a_restart_todays_usage_shows_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");
    {
        let h = start_on_store(&db);
        for _ in 0..3 {
            assert_eq!(h.post(PATH, GEN).status, 200);
        }
    }
    let h = start_on_store(&db);
    let keys = admin_get(&h, "/api/keys").json();
    let m = &keys["keys"][0]["models"]["gemini-2.5-flash"];
    assert_eq!(m["group_usage"]["today_requests"], 3, "{keys}");
    assert!(m["group_usage"]["today_input_tokens"].as_u64().unwrap() > 0);
    let report = admin_get(&h, "/api/report").json();
    let groups = report["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{report}");
    assert_eq!(groups[0]["model"], "gemini-2.5-flash");
    assert_eq!(groups[0]["today"]["requests"], 3);
    assert_eq!(report["models"][0]["today"]["requests"], 3, "{report}");
    assert_eq!(h.sim.calls(), 0);
}
