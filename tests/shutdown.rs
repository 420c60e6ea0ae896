//! SIGTERM on the real binary: open requests get `shutdown.grace_period`, streams still open then
//! end with the surface's terminal error event and are logged, usage is written, the store is
//! checkpointed, and the process exits as soon as it is drained.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use gemini_sim::{FaultAction, FaultRule, Sim, SimConfig};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Gateway {
    child: Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    fn start(dir: &tempfile::TempDir, sim: SocketAddr, extra: &str) -> Gateway {
        let (gw, adm) = (free_port(), free_port());
        let conf = dir.path().join("gw.yaml");
        std::fs::write(
            &conf,
            format!(
                "listen: 127.0.0.1:{gw}\nadmin_listen: 127.0.0.1:{adm}\nthreads: 2\npasswords: [{PASSWORD}]\n\
                 keys: [k1, k2]\nupstream:\n  base_url: http://{sim}\nkey_health:\n  startup_check: false\n\
                 model_limits:\n  path: {}\n{extra}",
                no_limits_path()
            ),
        )
        .unwrap();
        let log = dir.path().join("gateway.log");
        let child = Command::new(env!("CARGO_BIN_EXE_gemini-gateway"))
            .args(["-c", conf.to_str().unwrap()])
            .env("LOG_LEVEL", "info")
            .env_remove("RUST_LOG")
            .env_remove("GEMINI_API_KEYS")
            .env_remove("PASSWORD")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{gw}").parse().unwrap();
        wait_port(addr);
        Gateway { child, addr, log }
    }

    fn sigterm(&self) {
        assert!(Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success());
    }

    /// Wait for the process to exit; its exit status and how long it took.
    fn wait_exit(&mut self, limit: Duration) -> (std::process::ExitStatus, Duration) {
        let t = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return (s, t.elapsed());
            }
            assert!(t.elapsed() < limit, "still running after {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Today's request count in the store at `db` (all groups and models).
fn requests_stored_today(db: &std::path::Path) -> u64 {
    let store = gemini_gateway::store::Store::open(Some(db)).unwrap();
    let today = gemini_gateway::upstream::pacific::day_of(chrono::Utc::now());
    store
        .day(today)
        .unwrap()
        .iter()
        .map(|(_, _, c)| c.requests)
        .sum()
}

const BODY: &str = r#"{"contents":[{"role":"user","parts":[{"text":"tell me a long story"}]}]}"#;

fn open_native_stream(addr: SocketAddr) -> std::io::BufReader<TcpStream> {
    let mut r = send(
        addr,
        "POST",
        "/v2/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        &[
            ("x-goog-api-key", PASSWORD),
            ("content-type", "application/json"),
        ],
        BODY.as_bytes(),
    );
    let (status, _) = read_head(&mut r);
    assert_eq!(status, 200);
    assert!(read_chunk(&mut r).unwrap().is_some(), "first event");
    r
}

fn open_openai_stream(addr: SocketAddr) -> std::io::BufReader<TcpStream> {
    let mut r = send(
        addr,
        "POST",
        "/v1/chat/completions",
        &[
            ("authorization", &format!("Bearer {PASSWORD}")),
            ("content-type", "application/json"),
        ],
        br#"{"model":"gemini-2.5-flash","stream":true,"messages":[{"role":"user","content":"a long story"}]}"#,
    );
    let (status, _) = read_head(&mut r);
    assert_eq!(status, 200);
    assert!(read_chunk(&mut r).unwrap().is_some(), "first event");
    r
}

/// Read a chunked body to its end: the events and whether the terminator came.
fn rest_of(r: &mut std::io::BufReader<TcpStream>) -> (Vec<String>, bool) {
    let mut body = Vec::new();
    loop {
        match read_chunk(r) {
            Ok(Some(c)) => body.extend_from_slice(&c),
            Ok(None) => return (sse_events(&body), true),
            Err(_) => return (sse_events(&body), false),
        }
    }
}

#[test]
fn open_streams_get_the_grace_period_then_a_terminal_error_event() {
    let sim = Sim::new(SimConfig::default());
    // A 20 s stream for flash (longer than the grace period), a slow but short answer for pro.
    sim.add_fault(FaultRule {
        key: None,
        model: Some("gemini-2.5-flash".into()),
        times: None,
        action: FaultAction::Stream {
            events: 200,
            interval_ms: 100,
        },
    });
    sim.add_fault(FaultRule {
        key: None,
        model: Some("gemini-2.5-pro".into()),
        times: None,
        action: FaultAction::SlowFirstByte { ms: 600 },
    });
    let sim = SimServer::start(sim);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");
    let mut gw = Gateway::start(
        &dir,
        sim.addr,
        &format!(
            "shutdown:\n  grace_period: 1500ms\nstore:\n  path: {}\n",
            db.display()
        ),
    );
    let addr = gw.addr;
    let mut native = open_native_stream(addr);
    let mut openai = open_openai_stream(addr);
    let slow = std::thread::spawn(move || {
        http(
            addr,
            "POST",
            "/v2/models/gemini-2.5-pro:generateContent",
            &[
                ("x-goog-api-key", PASSWORD),
                ("content-type", "application/json"),
            ],
            GEN.as_bytes(),
        )
    });
    std::thread::sleep(Duration::from_millis(100));
    let term = Instant::now();
    gw.sigterm();

    // New connections are refused soon after SIGTERM.
    assert!(
        eventually(|| TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err()),
        "the listener closed"
    );
    // A request that finishes within the grace period is answered normally.
    let r = slow.join().unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.complete);

    // Streams still open at the end of the grace period end with a terminal error event.
    let (events, complete) = rest_of(&mut native);
    let cut_after = term.elapsed();
    assert!(complete, "the chunked body is terminated: {events:?}");
    let last: serde_json::Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], 503, "{last}");
    assert_eq!(last["error"]["status"], "UNAVAILABLE");
    assert!(events.len() > 5, "the stream ran during the grace period");
    assert!(
        cut_after >= Duration::from_millis(1300) && cut_after < Duration::from_millis(4000),
        "cut {cut_after:?} after SIGTERM"
    );
    let (events, complete) = rest_of(&mut openai);
    assert!(complete);
    let last: serde_json::Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["error"]["type"], "server_error", "{last}");
    assert_eq!(last["error"]["code"], "gateway_shutting_down");

    // The process exits as soon as it is drained, well before Pingora's own fallback wait.
    let (status, _) = gw.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    assert!(
        term.elapsed() < Duration::from_millis(1500) + Duration::from_secs(3),
        "exited {:?} after SIGTERM",
        term.elapsed()
    );
    let log = std::fs::read_to_string(&gw.log).unwrap();
    let cut: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("midstream_error=\"shutting_down\""))
        .collect();
    assert_eq!(
        cut.len(),
        2,
        "both cut streams are in the access log:\n{log}"
    );
    assert!(cut.iter().all(|l| l.contains("status=200")), "{cut:?}");

    // Usage was written and the write-ahead log folded into the database file.
    let wal = dir.path().join("usage.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0,
        "WAL checkpointed"
    );
    let requests = requests_stored_today(&db);
    assert_eq!(requests, 3, "the three requests were counted");
}

#[test]
fn sigterm_when_idle_exits_at_once() {
    let sim = SimServer::start(Sim::new(SimConfig::default()));
    let dir = tempfile::tempdir().unwrap();
    let mut gw = Gateway::start(&dir, sim.addr, "");
    assert_eq!(
        http(
            gw.addr,
            "POST",
            "/v2/models/gemini-2.5-flash:generateContent",
            &[("x-goog-api-key", PASSWORD)],
            GEN.as_bytes(),
        )
        .status,
        200
    );
    let t = Instant::now();
    gw.sigterm();
    let (status, _) = gw.wait_exit(Duration::from_secs(10));
    assert!(status.success());
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "with nothing in flight the default 30 s grace period is not waited out: {:?}",
        t.elapsed()
    );
}

#[test]
fn sigterm_lets_twenty_open_streams_finish_and_counts_them() {
    let sim = Sim::new(SimConfig::default());
    // Each stream takes ~1.5 s (15 events, 100 ms apart): well inside the grace period.
    sim.add_fault(FaultRule {
        key: None,
        model: None,
        times: None,
        action: FaultAction::Stream {
            events: 15,
            interval_ms: 100,
        },
    });
    let sim = SimServer::start(sim);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");
    let mut gw = Gateway::start(
        &dir,
        sim.addr,
        &format!(
            "shutdown:\n  grace_period: 10s\nstore:\n  path: {}\n",
            db.display()
        ),
    );
    let addr = gw.addr;
    let opened = std::sync::Arc::new(std::sync::Barrier::new(21));
    let streams: Vec<_> = (0..20)
        .map(|_| {
            let opened = opened.clone();
            std::thread::spawn(move || {
                let mut r = open_native_stream(addr);
                opened.wait();
                rest_of(&mut r)
            })
        })
        .collect();
    opened.wait(); // every stream has sent its first event
    let term = Instant::now();
    gw.sigterm();
    for s in streams {
        let (events, complete) = s.join().unwrap();
        assert!(complete, "the stream's body is terminated");
        assert!(events.len() >= 14, "{} events", events.len());
        let last: serde_json::Value = serde_json::from_str(events.last().unwrap()).unwrap();
        assert!(last.get("error").is_none(), "a stream was cut: {last}");
        assert!(
            last["candidates"][0]["finishReason"].is_string(),
            "each stream ends with its finish reason: {last}"
        );
    }
    let (status, _) = gw.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "{status:?}");
    assert!(
        term.elapsed() < Duration::from_secs(6),
        "exited {:?} after SIGTERM: as soon as drained, not at the end of the grace period",
        term.elapsed()
    );
    let log = std::fs::read_to_string(&gw.log).unwrap();
    assert!(!log.contains("midstream_error=\"shutting_down\""), "{log}");
    let requests = requests_stored_today(&db);
    assert_eq!(requests, 20, "usage was flushed before exit");
}
