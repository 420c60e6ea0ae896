//! Micro-benchmark of key selection: CPU per pick (with its usage accounting) for pools of 10 and
//! 10,000 keys, each its own project, under free-tier-like limits that are never reached.
//! Run: cargo run --release --example scheduler_bench
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gemini_gateway::config::{FailoverConfig, KeyConfig};
use gemini_gateway::upstream::limits::Limits;
use gemini_gateway::upstream::{Pick, Scheduler};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// CPU time of this process (user + system), from /proc/self/stat, in clock ticks of 10 ms.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn run(n: usize, picks: usize, limits: &Arc<Limits>) -> (f64, f64) {
    let keys: Vec<KeyConfig> = (0..n)
        .map(|i| KeyConfig::in_project(&format!("bench-key-{i}"), &format!("p{i}")))
        .collect();
    let cfg = FailoverConfig {
        backoff_min: Duration::ZERO,
        backoff_max: Duration::ZERO,
        ..FailoverConfig::default()
    };
    let s = Scheduler::new(&keys, cfg, limits.clone()).unwrap();
    let wall = chrono::Utc::now();
    let t0 = Instant::now();
    // warm up: create the model state, touch every key once
    for _ in 0..n.max(1000) {
        let _ = s.pick("gemini-2.5-flash", 100, &[], Instant::now(), wall);
    }
    let setup = t0.elapsed();
    let c0 = cpu_ticks();
    let w0 = Instant::now();
    let mut refreshed = Instant::now();
    for i in 0..picks {
        let now = Instant::now();
        match s.pick("gemini-2.5-flash", 100, &[], now, wall) {
            Pick::Key(k) => s.record_tokens(k, "gemini-2.5-flash", 100, 20, now, wall),
            Pick::Exhausted { .. } => panic!("exhausted at pick {i}"),
        }
        // the background re-tiering runs every 2 s in the gateway; include its cost here
        if refreshed.elapsed() >= Duration::from_secs(2) {
            s.refresh(now, wall);
            refreshed = now;
        }
    }
    let wall_ns = w0.elapsed().as_nanos() as f64 / picks as f64;
    let cpu_ns = (cpu_ticks() - c0) as f64 * 10_000_000.0 / picks as f64;
    println!("{n:>6} keys: setup {setup:>10.2?}, {wall_ns:>7.0} ns wall / pick, {cpu_ns:>7.0} ns CPU / pick");
    (wall_ns, cpu_ns)
}

fn main() {
    // Limits far above what the run spends, so every pick goes through the full pre-check.
    let dir = std::env::temp_dir().join(format!("sched-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("limits.yaml");
    std::fs::write(
        &path,
        "default: {rpm: 100000000, rpd: 1000000000, tpm_input: 100000000000, tpd_input: null}\nmodels:\n  gemini-2.5-flash: {}\n",
    )
    .unwrap();
    let limits = Arc::new(Limits::new(Some(path)).unwrap());
    let picks = 2_000_000;
    let mut small = Vec::new();
    let mut large = Vec::new();
    for _ in 0..3 {
        small.push(run(10, picks, &limits));
        large.push(run(10_000, picks, &limits));
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let (mut sw, mut sc): (Vec<f64>, Vec<f64>) = small.into_iter().unzip();
    let (mut lw, mut lc): (Vec<f64>, Vec<f64>) = large.into_iter().unzip();
    let (sw, sc, lw, lc) = (med(&mut sw), med(&mut sc), med(&mut lw), med(&mut lc));
    println!("median of 3: 10 keys {sw:.0} ns wall / {sc:.0} ns CPU; 10,000 keys {lw:.0} ns wall / {lc:.0} ns CPU");
    println!(
        "ratio 10,000 / 10 keys: wall {:.2}x, CPU {:.2}x (target <= 1.1x)",
        lw / sw,
        lc / sc
    );
    let _ = std::fs::remove_dir_all(dir);
}
