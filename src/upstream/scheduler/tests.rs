//! Scheduler tests: choice, pre-checks, groups, faults, restore, scale.

use super::*;
use crate::upstream::classify::QuotaHit;

const M: &str = "test-model";

fn limits(yaml_entry: &str) -> Arc<Limits> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("l.yaml");
    std::fs::write(&p, format!("default: {{rpm: null, rpd: null, tpm_input: null, tpd_input: null}}\nmodels:\n  {M}: {yaml_entry}\n")).unwrap();
    let l = Arc::new(Limits::new(Some(p)).unwrap());
    std::mem::forget(dir);
    l
}

fn sched(keys: &[(&str, &str)], lim: Arc<Limits>) -> Scheduler {
    let cfg = FailoverConfig {
        backoff_min: Duration::ZERO,
        backoff_max: Duration::ZERO,
        ..FailoverConfig::default()
    };
    let keys: Vec<KeyConfig> = keys
        .iter()
        .map(|(k, p)| KeyConfig::in_project(k, p))
        .collect();
    Scheduler::new(&keys, cfg, lim).unwrap()
}

fn wall(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn key(p: Pick) -> usize {
    match p {
        Pick::Key(k) => k,
        other => panic!("expected a key, got {other:?}"),
    }
}

#[test]
fn least_recently_used_among_equals() {
    let s = sched(&[("a", "1"), ("b", "2"), ("c", "3")], limits("{}"));
    let (now, w) = (Instant::now(), Utc::now());
    let picks: Vec<usize> = (0..6).map(|_| key(s.pick(M, 10, &[], now, w))).collect();
    assert_eq!(&picks[..3], &picks[3..]);
    let mut first = picks[..3].to_vec();
    first.sort();
    assert_eq!(first, vec![0, 1, 2]);
}

#[test]
fn the_best_score_wins() {
    let s = sched(&[("a", "1"), ("b", "2")], limits("{rpd: 10}"));
    let (now, w) = (Instant::now(), Utc::now());
    // Group 1 already spent 5 of its 10 requests today (e.g. loaded from the store).
    s.preload_day(pacific::day_of(w), "1", M, 5, 0, 0);
    for _ in 0..4 {
        assert_eq!(
            key(s.pick(M, 1, &[], now, w)),
            1,
            "the fresher group is preferred"
        );
    }
    // now 5 vs 4 used: within 95%? 0.5 vs 0.6 — no; b still preferred
    assert_eq!(key(s.pick(M, 1, &[], now, w)), 1);
    // equal usage (5/5): both in the same tier, served LRU
    let a = key(s.pick(M, 1, &[], now, w));
    let b = key(s.pick(M, 1, &[], now, w));
    assert_ne!(a, b);
}

#[test]
fn rpm_precheck_skips_a_full_key_before_calling_it() {
    let s = sched(&[("a", "1")], limits("{rpm: 2}"));
    let (now, w) = (Instant::now(), Utc::now());
    key(s.pick(M, 1, &[], now, w));
    key(s.pick(M, 1, &[], now, w));
    match s.pick(M, 1, &[], now + Duration::from_secs(10), w) {
        Pick::Exhausted {
            retry_after: Some(d),
            ..
        } => assert!(
            d <= Duration::from_secs(51) && d >= Duration::from_secs(49),
            "{d:?}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.health(0, M, now + Duration::from_secs(10)),
        Health::Cooling {
            reason: "window_full",
            ..
        }
    ));
    assert_eq!(key(s.pick(M, 1, &[], now + Duration::from_secs(61), w)), 0);
}

#[test]
fn tpm_precheck_uses_the_estimate() {
    let s = sched(&[("a", "1"), ("b", "2")], limits("{tpm_input: 1000}"));
    let (now, w) = (Instant::now(), Utc::now());
    let k = key(s.pick(M, 600, &[], now, w));
    s.record_tokens(k, M, 600, 5, now, w);
    // the other key takes the next 600-token request; then neither fits
    let k2 = key(s.pick(M, 600, &[], now, w));
    assert_ne!(k, k2);
    s.record_tokens(k2, M, 600, 5, now, w);
    assert!(matches!(
        s.pick(M, 600, &[], now, w),
        Pick::Exhausted { .. }
    ));
    // a small request still fits
    assert!(matches!(
        s.pick(M, 300, &[], now + Duration::from_secs(61), w),
        Pick::Key(_)
    ));
    // a request larger than the whole budget is not blocked forever
    let s = sched(&[("a", "1")], limits("{tpm_input: 1000}"));
    assert!(matches!(s.pick(M, 5000, &[], now, w), Pick::Key(0)));
}

#[test]
fn rpd_parks_until_pacific_midnight_then_rolls_over() {
    let s = sched(&[("a", "1")], limits("{rpd: 1}"));
    let now = Instant::now();
    let w = wall("2026-01-15T20:00:00Z"); // noon PST
    key(s.pick(M, 1, &[], now, w));
    match s.pick(M, 1, &[], now, w) {
        Pick::Exhausted {
            retry_after: Some(d),
            ..
        } => assert_eq!(d, Duration::from_secs(12 * 3600)),
        other => panic!("{other:?}"),
    }
    let Health::Parked { until_wall, .. } = s.health(0, M, now) else {
        panic!()
    };
    assert_eq!(until_wall, wall("2026-01-16T08:00:00Z"));
    let later = now + Duration::from_secs(12 * 3600);
    assert_eq!(
        key(s.pick(M, 1, &[], later, wall("2026-01-16T08:00:01Z"))),
        0,
        "new Pacific day, fresh counts"
    );
}

#[test]
fn group_shares_one_quota() {
    let s = sched(
        &[("a", "proj"), ("b", "proj"), ("c", "other")],
        limits("{rpm: 2}"),
    );
    let (now, w) = (Instant::now(), Utc::now());
    let picks: Vec<usize> = (0..4).map(|_| key(s.pick(M, 1, &[], now, w))).collect();
    let proj = picks.iter().filter(|k| **k < 2).count();
    assert_eq!(
        proj, 2,
        "the project's two keys together get 2 requests a minute: {picks:?}"
    );
    assert!(matches!(s.pick(M, 1, &[], now, w), Pick::Exhausted { .. }));
}

#[test]
fn rate_limit_cools_the_whole_group_for_that_model_only() {
    let s = sched(
        &[("a", "proj"), ("b", "proj"), ("c", "other")],
        limits("{}"),
    );
    let (now, w) = (Instant::now(), Utc::now());
    s.report_fault(
        0,
        M,
        &Fault::RateLimited {
            retry_after: Duration::from_secs(30),
            quota: None,
        },
        now,
        w,
    );
    for _ in 0..3 {
        assert_eq!(key(s.pick(M, 1, &[], now, w)), 2);
    }
    assert!(matches!(
        s.pick("other-model", 1, &[0], now, w),
        Pick::Key(1)
    ));
}

#[test]
fn learned_quota_overrides_the_file_for_that_group() {
    let s = sched(&[("a", "proj"), ("c", "other")], limits("{rpm: 100}"));
    let (now, w) = (Instant::now(), Utc::now());
    let hit = QuotaHit {
        quota_id: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier".into(),
        quota_metric: None,
        quota_value: Some(5),
    };
    s.report_fault(
        0,
        M,
        &Fault::RateLimited {
            retry_after: Duration::from_secs(1),
            quota: Some(hit),
        },
        now,
        w,
    );
    assert_eq!(s.limits.get("proj", M).rpm, Some(5));
    assert_eq!(s.limits.get("other", M).rpm, Some(100));
}

#[test]
fn invalid_keys_leave_every_model_and_come_back_on_restore() {
    let s = sched(&[("a", "1"), ("b", "2")], limits("{}"));
    let (now, w) = (Instant::now(), Utc::now());
    key(s.pick(M, 1, &[], now, w));
    s.report_fault(
        0,
        M,
        &Fault::KeyInvalid {
            status: 400,
            reason: "API_KEY_INVALID".into(),
        },
        now,
        w,
    );
    for m in [M, "another"] {
        for _ in 0..3 {
            assert_eq!(key(s.pick(m, 1, &[], now, w)), 1);
        }
    }
    assert!(matches!(s.overall(0, now), Health::Invalid { .. }));
    assert_eq!(
        s.pick(M, 1, &[1], now, w),
        Pick::Exhausted {
            retry_after: None,
            why: Shortage {
                invalid: 1,
                tried: 1,
                ..Default::default()
            }
        }
    );
    s.restore(0, now);
    assert_eq!(key(s.pick(M, 1, &[1], now, w)), 0);
    assert_eq!(key(s.pick("another", 1, &[1], now, w)), 0);
}

#[test]
fn tried_keys_are_skipped_but_keep_their_place() {
    let s = sched(&[("a", "1"), ("b", "2"), ("c", "3")], limits("{}"));
    let (now, w) = (Instant::now(), Utc::now());
    let first = key(s.pick(M, 1, &[], now, w));
    let second = key(s.pick(M, 1, &[first], now, w));
    assert_ne!(first, second);
    assert_eq!(
        s.pick(M, 1, &[0, 1, 2], now, w),
        Pick::Exhausted {
            retry_after: None,
            why: Shortage {
                tried: 3,
                ..Default::default()
            }
        }
    );
}

#[test]
fn ten_thousand_keys_are_served_in_rotation() {
    let names: Vec<String> = (0..10_000).map(|i| format!("k{i}")).collect();
    let keys: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), n.as_str())).collect();
    let s = sched(&keys, limits("{rpm: 1000, rpd: 100000}"));
    let (now, w) = (Instant::now(), Utc::now());
    let mut seen = std::collections::HashSet::new();
    for _ in 0..10_000 {
        seen.insert(key(s.pick(M, 10, &[], now, w)));
    }
    assert_eq!(
        seen.len(),
        10_000,
        "every key used once before any is reused"
    );
    s.refresh(now, w);
    assert!(matches!(s.pick(M, 10, &[], now, w), Pick::Key(_)));
}

#[test]
fn score_weights_and_tpd_reads_its_own_limit() {
    let mut w = Windows::new(pacific::day_of(Utc::now()));
    w.day_input = 50;
    let lim = ModelLimits {
        tpd_input: Some(100),
        tpm_input: Some(1_000_000),
        ..Default::default()
    };
    // TPD term 0.5 × 0.3, TPM term 1.0 × 0.1 → (0.15 + 0.1) / 0.4
    assert!((score(&w, &lim, 0) - 0.625).abs() < 1e-9);
    assert_eq!(score(&w, &ModelLimits::default(), 0), 1.0);
}

