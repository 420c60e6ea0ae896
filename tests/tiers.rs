//! Billing tiers: free keys meet the built-in free table, paid keys their tier's table, learned
//! limits win over both, and a refusal names the model, the limit, its value, its source and when
//! a key frees up — on the Gemini and the OpenAI surface, without an upstream call.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use gemini_gateway::config::{KeyConfig, Tier};
use gemini_sim::{Sim, SimConfig};

const NATIVE: &str = "/v1beta/models/gemini-2.5-flash:generateContent";
const CHAT: &str =
    r#"{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"Hello there"}]}"#;

fn chat(h: &Harness) -> Resp {
    h.post_bearer("/v1/chat/completions", CHAT)
}

/// `n` requests taking turns on the Gemini and the OpenAI surface; each must answer 200.
fn both_surfaces_serve(h: &Harness, n: usize, what: &str) {
    for i in 0..n {
        let r = if i % 2 == 0 {
            h.post(NATIVE, GEN)
        } else {
            chat(h)
        };
        assert_eq!(r.status, 200, "{what} request {i}: {}", r.text());
    }
}

/// One key of project `proj` in `tier`, with the built-in table (or `file`) enforced.
fn gateway(tier: Tier, file: Option<std::path::PathBuf>, sim: SimConfig) -> Harness {
    let keys = vec![KeyConfig::in_project("k1", "proj").with_tier(tier)];
    Harness::start_with(Sim::new(sim), keys, |c| {
        c.model_limits.path = file;
        c.model_limits.enforce = true;
    })
}

#[test]
fn free_keys_meet_the_free_table_and_the_refusal_says_why_on_both_surfaces() {
    let h = gateway(Tier::Free, None, SimConfig::default());
    // the built-in free tier allows 5 requests a minute for gemini-2.5-flash
    both_surfaces_serve(&h, 5, "free");
    let native = h.post(NATIVE, GEN);
    assert_eq!(native.status, 429);
    let msg = native.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(native.json()["error"]["status"], "RESOURCE_EXHAUSTED");
    for part in [
        "out of quota for gemini-2.5-flash",
        "its RPM limit of 5 (the built-in table for tier free)",
        "A key frees up in ",
        " UTC).",
    ] {
        assert!(msg.contains(part), "{part:?} not in {msg:?}");
    }
    let ra: u64 = native.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=61).contains(&ra), "retry-after {ra}");
    assert!(msg.contains(&format!("frees up in {ra} s")), "{msg}");
    let openai = chat(&h);
    assert_eq!(openai.status, 429);
    let v = openai.json();
    assert_eq!(v["error"]["type"], "rate_limit_error", "{v}");
    let omsg = v["error"]["message"].as_str().unwrap();
    assert!(
        omsg.contains("its RPM limit of 5 (the built-in table for tier free)"),
        "{omsg}"
    );
    assert_eq!(h.sim.calls(), 5, "the refusals cost no upstream call");
}

#[test]
fn paid_keys_use_their_tiers_table_not_the_free_numbers() {
    for tier in [Tier::Tier1, Tier::Tier2, Tier::Tier3, Tier::Unlimited] {
        let h = gateway(tier, None, SimConfig::default());
        both_surfaces_serve(&h, 25, tier.as_str());
        assert_eq!(h.sim.calls(), 25, "{tier}");
        let l = h.state.pool.limits.get("proj", "gemini-2.5-flash");
        match tier {
            Tier::Unlimited => assert_eq!((l.rpm, l.rpd), (None, None)),
            _ => assert!(l.rpm.unwrap() >= 1000, "{tier}: {l:?}"),
        }
    }
}

#[test]
fn a_tier_from_the_operators_file_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("limits.yaml");
    std::fs::write(
        &file,
        "default: {rpm: 1, rpd: 1}\nmodels:\n  gemini-2.5-flash: {rpm: 1}\ntiers:\n  tier1:\n    models:\n      gemini-2.5-flash: {rpm: 2}\n",
    )
    .unwrap();
    let h = gateway(Tier::Tier1, Some(file), SimConfig::default());
    let l = h.state.pool.limits.get("proj", "gemini-2.5-flash");
    assert_eq!((l.rpm, l.rpd), (Some(2), None), "{l:?}");
    assert_eq!(
        h.post(NATIVE, GEN).status,
        200,
        "tier1 allows 2, not the free 1"
    );
    assert_eq!(chat(&h).status, 200);
    let r = chat(&h);
    assert_eq!(r.status, 429);
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("its RPM limit of 2 (the model limits file, tier tier1)"),
        "{msg}"
    );
    assert_eq!(h.sim.calls(), 2);
}

#[test]
fn a_limit_learned_from_googles_429_wins_over_the_tier_and_says_so() {
    let h = gateway(Tier::Tier1, None, sim_with_rpm(3));
    for _ in 0..3 {
        assert_eq!(h.post(NATIVE, GEN).status, 200);
    }
    assert_eq!(h.post(NATIVE, GEN).status, 429, "Google's own 429");
    assert_eq!(h.sim.calls(), 4);
    assert_eq!(
        h.state.pool.limits.get("proj", "gemini-2.5-flash").rpm,
        Some(3)
    );
    let r = chat(&h);
    assert_eq!(r.status, 429);
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("its RPM limit of 3 (learned from Google's 429 for this project)"),
        "{msg}"
    );
    assert_eq!(h.sim.calls(), 4, "cooling: no upstream call");
}
