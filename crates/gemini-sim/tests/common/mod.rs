//! Test harness: a simulator Server on an ephemeral port and a tiny raw-TCP HTTP/1.1 client.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gemini_sim::{Sim, SimConfig};
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};
use serde_json::Value;
use tokio::sync::{oneshot, Mutex};

struct TestSignal(Mutex<Option<oneshot::Receiver<()>>>);

#[async_trait]
impl ShutdownSignalWatch for TestSignal {
    async fn recv(&self) -> ShutdownSignal {
        if let Some(rx) = self.0.lock().await.take() {
            let _ = rx.await;
        }
        ShutdownSignal::FastShutdown
    }
}

/// A running simulator; stopped on drop.
pub struct TestServer {
    pub addr: String,
    pub sim: Sim,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub fn start(cfg: SimConfig) -> TestServer {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let dir = std::env::temp_dir().join(format!("gemini-sim-test-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = ServerConf {
        threads: 1,
        pid_file: dir.join("sim.pid").to_string_lossy().into_owned(),
        upgrade_sock: dir.join("upgrade.sock").to_string_lossy().into_owned(),
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(0),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let sim = Sim::new(cfg);
    server.add_boxed_service(sim.service(&server.configuration, &addr));
    let (tx, rx) = oneshot::channel();
    let thread = std::thread::spawn(move || {
        server.run(RunArgs {
            shutdown_signal: Box::new(TestSignal(Mutex::new(Some(rx)))),
        })
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "simulator did not start on {addr}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    TestServer {
        addr,
        sim,
        stop: Some(tx),
        thread: Some(thread),
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A parsed HTTP/1.1 response.
#[derive(Debug, Default)]
pub struct Resp {
    /// 0 when the connection closed before any byte.
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Everything after the header block, as received (chunk framing included).
    pub raw_body: Vec<u8>,
    /// De-chunked body.
    pub body: Vec<u8>,
    pub chunked: bool,
    /// The body was complete (last chunk seen / content-length reached).
    pub complete: bool,
    pub raw: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    /// SSE events: the body split on `\r\n\r\n`, each still carrying `data: `.
    pub fn sse_events(&self) -> Vec<String> {
        self.text()
            .split("\r\n\r\n")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
    pub fn sse_json(&self) -> Vec<Value> {
        self.sse_events()
            .iter()
            .map(|e| serde_json::from_str(e.strip_prefix("data: ").expect("data: prefix")).unwrap())
            .collect()
    }
}

pub fn request_bytes(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    close: bool,
) -> Vec<u8> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: sim\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    if close {
        req.push_str("Connection: close\r\n");
    }
    req.push_str("\r\n");
    let mut out = req.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Send one request on a fresh connection (`Connection: close`) and read until the server closes.
pub fn send(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(&request_bytes(method, path, headers, body, true))
        .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("read error: {e}"),
        }
    }
    parse(raw)
}

/// POST JSON with an API key.
pub fn post(addr: &str, path: &str, key: &str, body: &Value) -> Resp {
    let b = serde_json::to_vec(body).unwrap();
    send(
        addr,
        "POST",
        path,
        &[
            ("x-goog-api-key", key),
            ("Content-Type", "application/json"),
        ],
        &b,
    )
}

pub fn get(addr: &str, path: &str, key: &str) -> Resp {
    send(addr, "GET", path, &[("x-goog-api-key", key)], b"")
}

/// Parse a full response byte string.
pub fn parse(raw: Vec<u8>) -> Resp {
    let Some(end) = find(&raw, b"\r\n\r\n") else {
        return Resp {
            raw,
            ..Resp::default()
        };
    };
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let raw_body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let (body, complete) = if chunked {
        dechunk(&raw_body)
    } else if let Some(len) = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        let n = len.min(raw_body.len());
        (raw_body[..n].to_vec(), raw_body.len() >= len)
    } else {
        (raw_body.clone(), true)
    };
    Resp {
        status,
        headers,
        raw_body,
        body,
        chunked,
        complete,
        raw,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Decode a chunked body; the bool says whether the terminating zero chunk arrived.
pub fn dechunk(mut b: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        let Some(eol) = find(b, b"\r\n") else {
            return (out, false);
        };
        let size_txt = String::from_utf8_lossy(&b[..eol]).into_owned();
        let Ok(size) = usize::from_str_radix(size_txt.split(';').next().unwrap_or("").trim(), 16)
        else {
            return (out, false);
        };
        b = &b[eol + 2..];
        if size == 0 {
            return (out, b.starts_with(b"\r\n"));
        }
        if b.len() < size + 2 {
            out.extend_from_slice(&b[..b.len().min(size)]);
            return (out, false);
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// Poll `f` until true or the timeout expires.
pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
