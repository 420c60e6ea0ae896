//! No secret (upstream key, client credential, admin key) appears in any log line — captured at
//! TRACE level for every crate, on stdout and in the log files (application, error, access) — nor
//! in responses or upstream URLs, across success and failure paths.

mod common;
use common::*;
use gemini_sim::{FaultAction, FaultRule, SimConfig};
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(b);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const UPSTREAM_GOOD: &str = "upstream-secret-good-9f8e7d";
const UPSTREAM_BAD: &str = "upstream-secret-bad-1a2b3c";

#[test]
fn no_secret_in_logs_responses_or_urls() {
    let buf = Buf::default();
    let writer = buf.clone();
    // SAFETY of the test: RUST_LOG=trace asks for everything; the gateway's logging must still redact.
    std::env::set_var("RUST_LOG", "trace");
    let log_dir = tempfile::tempdir().unwrap();
    let log_cfg = gemini_gateway::config::LogConfig {
        level: "trace".into(),
        dir: Some(log_dir.path().to_path_buf()),
        ..Default::default()
    };
    let (files, warning) = gemini_gateway::logfiles::open(&log_cfg);
    assert!(warning.is_none(), "{warning:?}");
    gemini_gateway::logging::init_with("trace", false, move || writer.clone(), files);

    let sim = SimConfig {
        invalid_keys: vec![UPSTREAM_BAD.into()],
        ..SimConfig::default()
    };
    let h = Harness::start(sim, &[UPSTREAM_BAD, UPSTREAM_GOOD], |_| {});
    let gen = "/v2/models/gemini-2.5-flash:generateContent";
    let stream = "/v2/models/gemini-2.5-flash:streamGenerateContent?alt=sse";
    let mut bodies = Vec::new();
    bodies.push(h.post(gen, GEN).body);
    h.sim.add_fault(FaultRule {
        key: None,
        model: None,
        times: Some(1),
        action: FaultAction::RateLimit {
            retry_delay_secs: 1,
        },
    });
    bodies.push(h.post(gen, GEN).body);
    h.sim.add_fault(FaultRule {
        key: None,
        model: None,
        times: Some(1),
        action: FaultAction::Status { code: 400 },
    });
    bodies.push(h.post(gen, GEN).body);
    h.sim.add_fault(FaultRule {
        key: None,
        model: None,
        times: Some(1),
        action: FaultAction::CutAfter { events: 1 },
    });
    bodies.push(h.post(stream, GEN).body);
    bodies.push(
        http(
            h.addr,
            "POST",
            &format!("{gen}?key={PASSWORD}"),
            &[],
            GEN.as_bytes(),
        )
        .body,
    );
    bodies.push(
        http(
            h.addr,
            "POST",
            gen,
            &[("authorization", &format!("Bearer {ADMIN_KEY}"))],
            GEN.as_bytes(),
        )
        .body,
    );
    bodies.push(
        http(
            h.addr,
            "POST",
            gen,
            &[("x-goog-api-key", "wrong-client-credential-77")],
            GEN.as_bytes(),
        )
        .body,
    );
    bodies.push(h.post(gen, "{broken").body);
    bodies.push(http(h.admin, "GET", "/readyz", &[], b"").body);
    h.sim.add_fault(FaultRule {
        key: None,
        model: None,
        times: None,
        action: FaultAction::RateLimit {
            retry_delay_secs: 30,
        },
    });
    bodies.push(h.post(gen, GEN).body);
    bodies.push(h.post(gen, GEN).body);
    drop(h);
    gemini_gateway::logfiles::flush();
    let mut files = String::new();
    for name in ["gemini-gateway.log", "error.log", "access.log"] {
        let text = std::fs::read_to_string(log_dir.path().join(name)).unwrap();
        assert!(!text.is_empty(), "{name} was written");
        files.push_str(&text);
    }
    let access = std::fs::read_to_string(log_dir.path().join("access.log")).unwrap();
    assert!(
        access.lines().all(|l| l.contains(" request ip=")),
        "{access}"
    );
    let errors = std::fs::read_to_string(log_dir.path().join("error.log")).unwrap();
    assert!(
        errors
            .lines()
            .all(|l| l.contains(" WARN ") || l.contains(" ERROR ")),
        "{errors}"
    );
    assert!(errors.contains("upstream key disabled"), "{errors}");

    // The simulator stands in for Google, which of course sees the upstream key: its lines are excluded.
    let captured = String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned() + &files;
    let logs: String = captured
        .lines()
        .filter(|l| !l.contains("gemini_sim") && !l.contains("gemini-sim"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(logs.contains("request"), "access log lines were captured");
    assert!(
        logs.contains("upstream key disabled"),
        "the invalid key was logged (by fingerprint)"
    );
    assert!(logs.contains("fp-"), "keys are referred to by fingerprint");
    for secret in [
        UPSTREAM_GOOD,
        UPSTREAM_BAD,
        PASSWORD,
        ADMIN_KEY,
        "wrong-client-credential-77",
    ] {
        assert!(!logs.contains(secret), "secret {secret:?} found in logs");
        for b in &bodies {
            assert!(
                !String::from_utf8_lossy(b).contains(secret),
                "secret {secret:?} found in a response"
            );
        }
    }
}
