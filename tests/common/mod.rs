//! Test harness: the gateway, its admin port and the Gemini simulator in one in-process Pingora
//! server on ephemeral loopback ports, plus a small raw HTTP/1.1 client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_trait::async_trait;
use gemini_gateway::config::{Config, KeyConfig};
use gemini_gateway::secret::Secret;
use gemini_gateway::state::AppState;
use gemini_sim::{Sim, SimConfig};
use pingora::server::{RunArgs, ShutdownSignal, ShutdownSignalWatch};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "test-password";
pub const ADMIN_KEY: &str = "test-admin-key";

struct TestSignal(tokio::sync::Mutex<Option<tokio::sync::oneshot::Receiver<()>>>);

#[async_trait]
impl ShutdownSignalWatch for TestSignal {
    async fn recv(&self) -> ShutdownSignal {
        if let Some(rx) = self.0.lock().await.take() {
            let _ = rx.await;
        }
        ShutdownSignal::FastShutdown
    }
}

/// A port that is free now and that this test process has not handed out before: the kernel may
/// give the same ephemeral port to two binds in a row once the first is closed, and two tests (or
/// the gateway and admin ports of one) picking it would collide.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A Pingora server running on its own thread until dropped (then shut down and joined).
pub struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    pub fn start(server: pingora::server::Server) -> Running {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let thread = std::thread::spawn(move || {
            server.run(RunArgs {
                shutdown_signal: Box::new(TestSignal(tokio::sync::Mutex::new(Some(rx)))),
            });
        });
        Running {
            stop: Some(tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A running gateway + simulator.
pub struct Harness {
    pub sim: Sim,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub sim_addr: SocketAddr,
    pub state: Arc<AppState>,
    _server: Running,
    _dir: tempfile::TempDir,
}

/// The configuration every test starts from: the gateway on fresh loopback ports in front of a
/// simulator at `sim`, these keys, the test credentials, short timeouts and backoff, no startup
/// key check (tests count upstream calls exactly) and nothing quota-limited (tests about failover
/// are not about quotas).
pub fn test_config(sim: SocketAddr, keys: Vec<KeyConfig>) -> Config {
    let mut c = Config::local(&format!("http://{sim}"), keys, PASSWORD).unwrap();
    c.listen = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    c.admin_listen = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    c.threads = 2;
    c.auth.admin_api_key = Some(Secret::new(ADMIN_KEY));
    c.upstream.first_byte_timeout = Duration::from_secs(5);
    c.upstream.read_timeout = Duration::from_secs(5);
    c.failover.backoff_min = Duration::from_millis(1);
    c.failover.backoff_max = Duration::from_millis(5);
    c.key_health.startup_check = false;
    c.model_limits.path = Some(no_limits_path().into());
    c
}

/// A simulator that enforces `rpm` requests a minute per key, as Google does (429 with a QuotaFailure).
pub fn sim_with_rpm(rpm: u32) -> SimConfig {
    SimConfig {
        quota: Some(gemini_sim::Quota {
            rpm: Some(rpm),
            tpm: None,
            rpd: None,
        }),
        ..SimConfig::default()
    }
}

/// Keys that are each their own project.
pub fn keys(names: &[&str]) -> Vec<KeyConfig> {
    names.iter().map(|k| KeyConfig::new(k)).collect()
}

impl Harness {
    /// Start with these upstream keys and the test config as changed by `tweak`.
    pub fn start(sim_cfg: SimConfig, names: &[&str], tweak: impl FnOnce(&mut Config)) -> Harness {
        Self::start_with(Sim::new(sim_cfg), keys(names), tweak)
    }

    /// Start with a simulator prepared by the test (faults added before the gateway starts).
    pub fn start_with(sim: Sim, keys: Vec<KeyConfig>, tweak: impl FnOnce(&mut Config)) -> Harness {
        let sim_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut config = test_config(sim_addr, keys);
        tweak(&mut config);
        let (addr, admin) = (config.listen, config.admin_listen);
        let dir = tempfile::tempdir().unwrap();
        let conf = gemini_gateway::server::server_conf(2, dir.path(), 1);
        let (mut server, state) = gemini_gateway::server::build(config, conf).unwrap();
        server.add_boxed_service(sim.service(&server.configuration, &sim_addr.to_string()));
        let h = Harness {
            sim,
            addr,
            admin,
            sim_addr,
            state,
            _server: Running::start(server),
            _dir: dir,
        };
        for a in [h.addr, h.admin, h.sim_addr] {
            wait_port(a);
        }
        h
    }

    /// Start with default sim and two good keys.
    pub fn basic() -> Harness {
        Self::start(SimConfig::default(), &["key-a", "key-b"], |_| {})
    }

    pub fn post(&self, path: &str, body: &str) -> Resp {
        http(
            self.addr,
            "POST",
            path,
            &[
                ("x-goog-api-key", PASSWORD),
                ("content-type", "application/json"),
            ],
            body.as_bytes(),
        )
    }

    pub fn get(&self, path: &str) -> Resp {
        http(self.addr, "GET", path, &[("x-goog-api-key", PASSWORD)], b"")
    }

    /// A JSON POST as OpenAI clients send it (`Authorization: Bearer`).
    pub fn post_bearer(&self, path: &str, body: &str) -> Resp {
        http(
            self.addr,
            "POST",
            path,
            &[
                ("authorization", &format!("Bearer {PASSWORD}")),
                ("content-type", "application/json"),
            ],
            body.as_bytes(),
        )
    }
}

/// The simulator alone, in its own in-process Pingora server (for tests that run the real binary).
pub struct SimServer {
    pub sim: Sim,
    pub addr: SocketAddr,
    _server: Running,
    _dir: tempfile::TempDir,
}

impl SimServer {
    pub fn start(sim: Sim) -> SimServer {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let conf = gemini_gateway::server::server_conf(2, dir.path(), 1);
        let mut server = pingora::server::Server::new_with_opt_and_conf(None, conf);
        server.bootstrap();
        server.add_boxed_service(sim.service(&server.configuration, &addr.to_string()));
        let running = Running::start(server);
        wait_port(addr);
        SimServer {
            sim,
            addr,
            _server: running,
            _dir: dir,
        }
    }
}

pub fn wait_port(a: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&a, Duration::from_millis(100)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("port {a} never opened");
}

/// The test limits file with nothing limited.
pub fn no_limits_path() -> String {
    format!(
        "{}/tests/fixtures/no_limits.yaml",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Every key active for every model seen.
pub fn all_active(h: &Harness) -> bool {
    let now = h.state.clock.now();
    h.state
        .pool
        .ids()
        .all(|i| h.state.pool.overall(i, now) == gemini_gateway::upstream::Health::Active)
}

/// The overall state of the key with this secret value.
pub fn health_of(h: &Harness, key: &str) -> gemini_gateway::upstream::Health {
    let (i, _) = h
        .state
        .pool
        .entries()
        .find(|(_, k)| k.secret().expose() == key)
        .expect("no such key");
    h.state.pool.overall(i, h.state.clock.now())
}

/// Poll `f` until it is true or 5 s pass.
pub fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

pub const GEN: &str = r#"{"contents":[{"role":"user","parts":[{"text":"Hello there"}]}]}"#;

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// True if the body ended properly (length reached or chunked terminator seen).
    pub complete: bool,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Open a connection and send one request; the caller reads the answer.
pub fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> BufReader<TcpStream> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let has_len = headers.iter().any(|(k, _)| {
        k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")
    });
    if !has_len && (!body.is_empty() || method == "POST") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    BufReader::new(s)
}

/// Read a response header.
pub fn read_head(r: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l).unwrap_or(0) == 0 {
            break;
        }
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    (status, headers)
}

/// Read one chunk of a chunked body: `Ok(Some(bytes))`, `Ok(None)` at the terminator, `Err` if cut.
pub fn read_chunk(r: &mut BufReader<TcpStream>) -> Result<Option<Vec<u8>>, String> {
    let mut size_line = String::new();
    if r.read_line(&mut size_line).map_err(|e| e.to_string())? == 0 {
        return Err("connection closed".into());
    }
    let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or(""), 16)
        .map_err(|_| format!("bad chunk size {size_line:?}"))?;
    let mut buf = vec![0u8; size + 2];
    r.read_exact(&mut buf).map_err(|e| e.to_string())?;
    if size == 0 {
        return Ok(None);
    }
    buf.truncate(size);
    Ok(Some(buf))
}

/// Read a whole body given the headers.
pub fn read_body(r: &mut BufReader<TcpStream>, headers: &[(String, String)]) -> (Vec<u8>, bool) {
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        let mut body = Vec::new();
        loop {
            match read_chunk(r) {
                Ok(Some(c)) => body.extend_from_slice(&c),
                Ok(None) => return (body, true),
                Err(_) => return (body, false),
            }
        }
    } else if let Some(len) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        let mut body = vec![0u8; len];
        match r.read_exact(&mut body) {
            Ok(()) => (body, true),
            Err(_) => (body, false),
        }
    } else {
        let mut body = Vec::new();
        let _ = r.read_to_end(&mut body);
        (body, true)
    }
}

/// One request, whole response.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut r = send(addr, method, path, headers, body);
    let (status, headers) = read_head(&mut r);
    let (body, complete) = read_body(&mut r, &headers);
    Resp {
        status,
        headers,
        body,
        complete,
    }
}

/// A JSON call to the admin port of `h` with `cred` as the bearer credential.
pub fn admin_call(h: &Harness, cred: &str, method: &str, path: &str, body: &str) -> Resp {
    http(
        h.admin,
        method,
        path,
        &[
            ("authorization", &format!("Bearer {cred}")),
            ("content-type", "application/json"),
        ],
        body.as_bytes(),
    )
}

/// Split an SSE body into its `data:` payloads (`\r\n\r\n` or `\n\n` separated).
pub fn sse_events(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body).replace("\r\n", "\n");
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: ").map(str::to_string))
        .collect()
}

/// `(event name, data)` of a stream whose events each carry an `event:` and a `data:` line
/// (the Responses and Anthropic streams).
pub fn named_events(body: &[u8]) -> Vec<(String, serde_json::Value)> {
    String::from_utf8(body.to_vec())
        .unwrap()
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let (name, data) = e.split_once('\n').expect("event and data lines");
            (
                name.strip_prefix("event: ")
                    .expect("event line")
                    .to_string(),
                serde_json::from_str(data.strip_prefix("data: ").expect("data line")).unwrap(),
            )
        })
        .collect()
}

/// Run `promtool` (Debian's prometheus package; CI installs it) with `args`, feeding it `stdin`,
/// and assert it finds nothing to complain about. Without promtool outside CI: skipped, said so.
pub fn promtool(args: &[&str], stdin: Option<&[u8]>) {
    let have = std::process::Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok();
    assert!(
        have || std::env::var_os("CI").is_none(),
        "CI must have promtool"
    );
    if !have {
        eprintln!(
            "promtool not installed: `promtool {}` skipped",
            args.join(" ")
        );
        return;
    }
    let mut child = std::process::Command::new("promtool")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A user turn of one text part, as Gemini's `contents` spell it.
pub fn user(t: &str) -> serde_json::Value {
    serde_json::json!({"role": "user", "parts": [{"text": t}]})
}

/// A model turn of one text part.
pub fn model(t: &str) -> serde_json::Value {
    serde_json::json!({"role": "model", "parts": [{"text": t}]})
}

/// The generate requests the simulator received (those with `contents`; the gateway's own
/// model-list calls have no body), oldest first.
pub fn generate_bodies(h: &Harness) -> Vec<serde_json::Value> {
    h.sim
        .requests()
        .into_iter()
        .filter_map(|r| r.body.filter(|b| b.get("contents").is_some()))
        .collect()
}

/// `POST /v1/responses` with `cred` as the Bearer credential.
pub fn post_responses(h: &Harness, cred: &str, body: &serde_json::Value) -> Resp {
    http(
        h.addr,
        "POST",
        "/v1/responses",
        &[
            ("authorization", &format!("Bearer {cred}")),
            ("content-type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
}
