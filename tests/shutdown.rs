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
    conf: std::path::PathBuf,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    fn start(dir: &tempfile::TempDir, sim: SocketAddr, extra: &str) -> Gateway {
        Self::start_with(dir, sim, extra, &[])
    }

    /// The binary with a config file in `dir` (plus `extra` YAML) and these environment variables.
    fn start_with(
        dir: &tempfile::TempDir,
        sim: SocketAddr,
        extra: &str,
        env: &[(&str, &std::path::Path)],
    ) -> Gateway {
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
            .envs(env.iter().copied())
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
        Gateway {
            child,
            addr,
            log,
            conf,
        }
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
        .filter(|l| l.contains("midstream_error=shutting_down"))
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
    assert!(!log.contains("midstream_error=shutting_down"), "{log}");
    let requests = requests_stored_today(&db);
    assert_eq!(requests, 20, "usage was flushed before exit");
}

/// One request on a fresh connection, without panicking: `Ok` when the answer is a 200 that ended
/// properly and carries a finish reason, else what went wrong.
fn try_call(addr: SocketAddr, path: &str, body: &str) -> Result<(), String> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nx-goog-api-key: {PASSWORD}\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&out);
    if !text.starts_with("HTTP/1.1 200") {
        return Err(format!(
            "answer: {}",
            text.lines().next().unwrap_or("(nothing)")
        ));
    }
    let chunked = text
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    if chunked && !text.ends_with("0\r\n\r\n") {
        return Err("chunked body not terminated".into());
    }
    if !text.contains("finishReason") || text.contains("\"error\"") {
        return Err(format!(
            "no finish reason: {}",
            &text[text.len().saturating_sub(300)..]
        ));
    }
    Ok(())
}

#[test]
fn an_upgrade_under_load_refuses_nothing_and_loses_nothing() {
    use std::os::unix::net::UnixDatagram;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    let sim = Sim::new(SimConfig::default());
    // pro streams take ~1 s (20 events, 50 ms apart); flash answers JSON at once
    sim.add_fault(FaultRule {
        key: None,
        model: Some("gemini-2.5-pro".into()),
        times: None,
        action: FaultAction::Stream {
            events: 20,
            interval_ms: 50,
        },
    });
    let sim = SimServer::start(sim);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");
    let sock = dir.path().join("upgrade.sock");
    // systemd's notification socket, as the unit (Type=notify, NotifyAccess=all) gets it
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let extra = format!(
        "shutdown:\n  grace_period: 10s\n  upgrade_socket: {}\nstore:\n  path: {}\n  flush_interval: 100ms\nlog:\n  dir: off\n\
         limits:\n  max_requests_per_minute: 0\n  max_requests_per_day_per_ip: 0\ncontext:\n  enabled: false\n",
        sock.display(),
        db.display()
    );
    let mut old = Gateway::start_with(&dir, sim.addr, &extra, &[("NOTIFY_SOCKET", &notify_path)]);
    let addr = old.addr;
    let ready = |want_pid: u32| {
        let mut buf = [0u8; 512];
        let n = notify.recv(&mut buf).expect("a notification");
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(msg.contains("READY=1"), "{msg}");
        assert!(msg.contains(&format!("MAINPID={want_pid}\n")), "{msg}");
    };
    ready(old.child.id());

    // Steady load: 4 clients of JSON requests and 2 of ~1 s streams, each request on a new connection.
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = (0..6)
        .map(|i| {
            let (stop, ok, failures) = (stop.clone(), ok.clone(), failures.clone());
            std::thread::spawn(move || {
                let (path, body) = if i < 4 {
                    ("/v1beta/models/gemini-2.5-flash:generateContent", GEN)
                } else {
                    (
                        "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
                        BODY,
                    )
                };
                while !stop.load(Ordering::Relaxed) {
                    match try_call(addr, path, body) {
                        Ok(()) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => failures.lock().unwrap().push(e),
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let before = ok.load(Ordering::Relaxed);
    assert!(before > 20, "load is flowing: {before}");

    // The upgrade, exactly as the systemd unit's ExecReload performs it.
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy/systemd/gemini-gateway.service"),
    )
    .unwrap();
    let reload = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecReload=/bin/sh -c '"))
        .and_then(|l| l.strip_suffix('\''))
        .expect("an ExecReload line")
        .replace(
            "/usr/local/bin/gemini-gateway",
            env!("CARGO_BIN_EXE_gemini-gateway"),
        )
        .replace(
            "/etc/gemini-gateway/gemini-gateway.yaml",
            old.conf.to_str().unwrap(),
        )
        .replace("${MAINPID}", &old.child.id().to_string());
    let new_log = dir.path().join("new.log");
    let quit = Instant::now();
    let status = Command::new("sh")
        .args(["-c", &reload])
        .env("NOTIFY_SOCKET", &notify_path)
        .env("LOG_LEVEL", "info")
        .env_remove("RUST_LOG")
        .env_remove("GEMINI_API_KEYS")
        .env_remove("PASSWORD")
        .stdout(std::fs::File::create(&new_log).unwrap())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "ExecReload: {status:?}");
    // the new process claims the service: READY with its own pid
    let mut buf = [0u8; 512];
    let n = notify
        .recv(&mut buf)
        .expect("the new process's notification");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    let new_pid: u32 = msg
        .lines()
        .find_map(|l| l.strip_prefix("MAINPID="))
        .expect("MAINPID")
        .parse()
        .unwrap();
    assert!(
        msg.contains("READY=1") && new_pid != old.child.id(),
        "{msg}"
    );

    // The old process finishes what it has and exits 0; the load never stops.
    let (status, _) = old.wait_exit(Duration::from_secs(25));
    let took = quit.elapsed();
    assert!(status.success(), "old process: {status:?}");
    let at_exit = ok.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let total = ok.load(Ordering::Relaxed);
    let failed = failures.lock().unwrap().clone();
    assert!(
        failed.is_empty(),
        "{} failed or refused: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(
        total > at_exit + 10,
        "the new process serves after the old one left: {at_exit} → {total}"
    );
    eprintln!("upgrade: {total} requests, old exited {took:?} after SIGQUIT");

    // An online backup of the running gateway's store, as docs/deploy.md says to take one.
    let copy = dir.path().join("backup.db");
    let out = Command::new(env!("CARGO_BIN_EXE_gemini-gateway"))
        .args([
            "-c",
            old.conf.to_str().unwrap(),
            "backup",
            "--into",
            copy.to_str().unwrap(),
        ])
        .env_remove("GEMINI_API_KEYS")
        .env_remove("PASSWORD")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("integrity ok"));
    let backed_up = requests_stored_today(&copy);
    assert!(
        backed_up > before && backed_up <= total,
        "{backed_up} of {total}"
    );

    // Usage counts continue across the two processes: every answered request is in the store.
    assert!(Command::new("kill")
        .args(["-TERM", &new_pid.to_string()])
        .status()
        .unwrap()
        .success());
    // the new process is not our child (the reload shell started it): watch /proc
    let alive = || {
        std::fs::read_to_string(format!("/proc/{new_pid}/status")).is_ok_and(|s| {
            !s.lines()
                .any(|l| l.starts_with("State:") && l.contains("zombie"))
        })
    };
    assert!(
        eventually_within(Duration::from_secs(15), || !alive()),
        "the new process exits on SIGTERM"
    );
    assert_eq!(
        requests_stored_today(&db),
        total,
        "every answered request counted once in the store"
    );
    let log = std::fs::read_to_string(&new_log).unwrap();
    assert!(log.contains("gemini-gateway configured"), "{log}");
}

fn eventually_within(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}
