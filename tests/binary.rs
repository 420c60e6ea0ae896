//! The real binary as users run it: `--demo` answers on both surfaces with no Google key, and a
//! model-limits file is reloaded on SIGHUP without a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The tests here start real processes on ports picked by `free_port` (free when picked, not
/// reserved): they run one at a time so that two of them never race for the same port.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running `gemini-gateway --demo`: its gateway and admin addresses.
struct Demo {
    _process: Kill,
    addr: SocketAddr,
    admin: SocketAddr,
}

/// `gemini-gateway --demo` on these loopback ports, quiet (no Google key in the environment).
fn demo_command(gw: u16, adm: u16) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gemini-gateway"));
    c.args([
        "--demo",
        "--listen",
        &format!("127.0.0.1:{gw}"),
        "--admin-listen",
        &format!("127.0.0.1:{adm}"),
    ])
    .env_remove("GEMINI_API_KEYS")
    .env("LOG_LEVEL", "warn")
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    c
}

/// Start `gemini-gateway --demo` on fresh ports and wait until its simulator answers through it.
/// The demo picks its simulator's port itself; should that take a port just picked here, the
/// process exits at once and is started again on other ports.
fn start_demo() -> Demo {
    for _ in 0..5 {
        let (gw, adm) = (free_port(), free_port());
        let mut child = demo_command(gw, adm).spawn().unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{gw}").parse().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while std::time::Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break; // exited during startup: try other ports
            }
            // ready when a model listing goes through the gateway to the demo's simulator
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok()
                && http(
                    addr,
                    "GET",
                    "/v1beta/models",
                    &[("x-goog-api-key", "demo-password")],
                    b"",
                )
                .status
                    == 200
            {
                return Demo {
                    _process: Kill(child),
                    addr,
                    admin: format!("127.0.0.1:{adm}").parse().unwrap(),
                };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("gemini-gateway --demo did not start in 5 tries");
}

/// The real gateway (not the demo) in front of `upstream`, configured by environment only: these
/// upstream keys, client password and admin key, on loopback ports `gw` and `adm`, quiet.
fn gateway_command(
    upstream: SocketAddr,
    keys: &str,
    password: &str,
    admin: &str,
    gw: u16,
    adm: u16,
) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gemini-gateway"));
    c.env("GEMINI_API_KEYS", keys)
        .env("PASSWORD", password)
        .env("ADMIN_API_KEY", admin)
        .env("GEMINI_BASE_URL", format!("http://{upstream}"))
        .env("HOST", "127.0.0.1")
        .env("PORT", gw.to_string())
        .env("ADMIN_PORT", adm.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// A native generateContent call with `key` as the client credential.
fn generate(addr: SocketAddr, key: &str) -> Resp {
    http(
        addr,
        "POST",
        "/v2/models/gemini-2.5-flash:generateContent",
        &[("x-goog-api-key", key)],
        GEN.as_bytes(),
    )
}

/// GET /api/keys on the admin port.
fn admin_keys(admin: SocketAddr, admin_key: &str) -> Resp {
    http(
        admin,
        "GET",
        "/api/keys",
        &[("authorization", &format!("Bearer {admin_key}"))],
        b"",
    )
}

#[test]
fn demo_mode_serves_both_surfaces_without_a_google_key() {
    let _serial = serial();
    let demo = start_demo();
    let addr = demo.addr;
    let r = generate(addr, "demo-password");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap()
        .contains("Hello there"));
    let body = br#"{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}"#;
    let r = http(
        addr,
        "POST",
        "/v1/chat/completions",
        &[("authorization", "Bearer demo-password")],
        body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["choices"][0]["message"]["content"], "Echo: hi");
    let admin = demo.admin;
    wait_port(admin);
    let r = admin_keys(admin, "demo-admin-key");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["keys"].as_array().unwrap().len(), 3);
}

#[test]
fn sighup_reloads_the_model_limits_file() {
    let dir = tempfile::tempdir().unwrap();
    let limits = dir.path().join("limits.yaml");
    let write = |rpm: u32| {
        std::fs::write(&limits, format!("default: {{rpm: null, rpd: null, tpm_input: null, tpd_input: null}}\nmodels:\n  gemini-2.5-flash: {{rpm: {rpm}}}\n")).unwrap()
    };
    write(7);
    let _serial = serial();
    // the demo gateway stands in as "Google" for this gateway: it speaks the Gemini API on /v1beta
    let sim = start_demo();
    let (gw, adm) = (free_port(), free_port());
    let child = gateway_command(sim.addr, "demo-password", "pw", "adm", gw, adm)
        .env("MODEL_LIMITS_PATH", &limits)
        .env("LOG_LEVEL", "warn")
        .spawn()
        .unwrap();
    let pid = child.id();
    let _gw = Kill(child);
    let addr = format!("127.0.0.1:{gw}").parse().unwrap();
    wait_port(addr);
    wait_port(format!("127.0.0.1:{adm}").parse().unwrap());
    let r = generate(addr, "pw");
    assert_eq!(r.status, 200, "{}", r.text());
    let rpm = || {
        admin_keys(format!("127.0.0.1:{adm}").parse().unwrap(), "adm").json()["keys"][0]["models"]
            ["gemini-2.5-flash"]["limits"]["rpm"]
            .as_u64()
    };
    assert_eq!(rpm(), Some(7));
    write(9);
    assert!(Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while rpm() != Some(9) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(rpm(), Some(9), "limits reloaded without a restart");
    // the process is alive and serving after SIGHUP
    let r = generate(addr, "pw");
    assert_eq!(r.status, 200);
}

#[test]
fn demo_prints_the_admin_ui_and_its_logins_and_serves_it() {
    use std::io::BufRead;
    let (gw, adm) = (free_port(), free_port());
    let mut child = demo_command(gw, adm)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let _kill = Kill(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut line = String::new();
    while std::time::Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(l) if l.contains("Admin web UI") => {
                line = l;
                break;
            }
            Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(_) => break,
        }
    }
    assert!(
        line.contains(&format!("http://127.0.0.1:{adm}/")),
        "{line:?}"
    );
    assert!(
        line.contains("demo-admin-key") && line.contains("demo-password"),
        "{line:?}"
    );
    let admin: SocketAddr = format!("127.0.0.1:{adm}").parse().unwrap();
    wait_port(admin);
    let r = http(admin, "GET", "/login", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("Log in"));
}

#[test]
fn demo_listens_where_host_and_port_say() {
    let (gw, adm) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_gemini-gateway"))
        .arg("--demo")
        .env_remove("GEMINI_API_KEYS")
        .env("HOST", "0.0.0.0")
        .env("PORT", gw.to_string())
        .env("ADMIN_PORT", adm.to_string())
        .env("LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _kill = Kill(child);
    let addr: SocketAddr = format!("127.0.0.1:{gw}").parse().unwrap();
    wait_port(addr);
    let admin: SocketAddr = format!("127.0.0.1:{adm}").parse().unwrap();
    wait_port(admin);
    // bound to every address (0.0.0.0), the admin side to loopback only
    let listening = std::fs::read_to_string("/proc/net/tcp").unwrap();
    assert!(
        listening.contains(&format!("00000000:{gw:04X}")),
        "not bound to 0.0.0.0:{gw}"
    );
    assert!(
        listening.contains(&format!("0100007F:{adm:04X}")),
        "admin not on 127.0.0.1:{adm}"
    );
    assert_eq!(generate(addr, "demo-password").status, 200);
}

/// Every environment variable of Hagemi's README, as listed there (its configuration table).
const HAGEMI_VARIABLES: &[&str] = &[
    "ACCESS_TOKEN_EXPIRE_MINUTES",
    "ADMIN_API_KEY",
    "CACHE_REFRESH_INTERVAL_SECONDS",
    "CONTEXT_DB_PATH",
    "CONTEXT_TOKEN_SAFETY_MARGIN",
    "DEBUG",
    "DEFAULT_MAX_CONTEXT_TOKENS",
    "DISABLE_SAFETY_FILTERING",
    "GEMINI_API_KEYS",
    "JWT_ALGORITHM",
    "LOG_ROTATION_INTERVAL",
    "MAX_CONTEXT_RECORDS_MEMORY",
    "MAX_LOG_BACKUPS",
    "MAX_LOG_SIZE",
    "MAX_REQUESTS_PER_DAY_PER_IP",
    "MAX_REQUESTS_PER_MINUTE",
    "MEMORY_CONTEXT_CLEANUP_INTERVAL_SECONDS",
    "PASSWORD",
    "PROTECT_STATUS_PAGE",
    "REPORT_LOG_LEVEL",
    "SECRET_KEY",
    "STREAM_SAVE_REPLY",
    "USAGE_REPORT_INTERVAL_MINUTES",
];

#[test]
fn every_hagemi_variable_is_in_the_migration_table() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let guide = std::fs::read_to_string(root.join("docs/deploy.md")).unwrap();
    let rows: Vec<&str> = guide.lines().filter(|l| l.starts_with("| `")).collect();
    let mut names: Vec<String> = HAGEMI_VARIABLES.iter().map(|s| s.to_string()).collect();
    // Where the seed documents sit beside the project (as in CI), take the names from its table too.
    if let Ok(seed) = std::fs::read_to_string(root.join("../shared/seeds/hagemi_readme.md")) {
        for line in seed.lines().map(str::trim).filter(|l| l.starts_with("| `")) {
            let name: String = line[3..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
            }
        }
    }
    for name in &names {
        assert!(
            rows.iter().any(|r| r.starts_with(&format!("| `{name}` |"))),
            "{name} (a Hagemi variable) is missing from docs/deploy.md's migration table"
        );
    }
    // Those the table calls "same" are read by the gateway under that name.
    for r in rows.iter().filter(|r| r.contains("| same")) {
        let name = r[3..].split('`').next().unwrap();
        assert!(
            gemini_gateway::config::env::ENV
                .iter()
                .any(|v| v.name == name),
            "{name} is said to be supported but the gateway does not read it"
        );
    }
}

#[test]
fn log_files_hold_the_application_error_and_access_logs() {
    let _serial = serial();
    let sim = start_demo();
    let logs = tempfile::tempdir().unwrap();
    let (gw, adm) = (free_port(), free_port());
    // the second key is unknown to the demo's simulator: Google's refusal is a WARN line
    let keys = "demo-password,upstream-key-unknown-7f3a";
    let child = gateway_command(sim.addr, keys, "client-pw-55d1", "admin-key-9c2e", gw, adm)
        .env("LOG_DIR", logs.path())
        .env("MAX_LOG_SIZE", "1")
        .env("MAX_LOG_BACKUPS", "2")
        .env("LOG_ROTATION_INTERVAL", "hourly")
        .env("MAX_REQUESTS_PER_MINUTE", "0")
        .env("LOG_LEVEL", "info")
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut gw_proc = Kill(child);
    let addr: SocketAddr = format!("127.0.0.1:{gw}").parse().unwrap();
    wait_port(addr);
    for _ in 0..4 {
        assert_eq!(generate(addr, "client-pw-55d1").status, 200);
    }
    assert_eq!(generate(addr, "not-the-password").status, 401);
    // SIGTERM: the process writes out its queued lines before it exits
    assert!(Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let status = gw_proc.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let read = |n: &str| std::fs::read_to_string(logs.path().join(n)).unwrap_or_default();
    let access = read("access.log");
    let lines: Vec<&str> = access.lines().collect();
    assert_eq!(lines.len(), 5, "one line per request:\n{access}");
    let ok = lines[0];
    for field in [
        "ip=127.0.0.1",
        "client=",
        "surface=gemini",
        "route=models/gemini-2.5-flash:generateContent",
        "model=gemini-2.5-flash",
        "status=200",
        "attempts=",
        "key=fp-",
        "ttfb_ms=",
        " ms=",
        "bytes=",
        "prompt_tokens=",
        "output_tokens=",
    ] {
        assert!(ok.contains(field), "{field} missing in {ok}");
    }
    assert!(
        ok.starts_with("20") && ok.as_bytes()[10] == b'T',
        "starts with the time: {ok}"
    );
    assert!(
        lines[4].contains("status=401") && lines[4].contains("key=-"),
        "{}",
        lines[4]
    );
    let errors = read("error.log");
    assert!(errors.contains("upstream key disabled"), "{errors}");
    assert!(
        errors
            .lines()
            .all(|l| l.contains(" WARN ") || l.contains(" ERROR ")),
        "{errors}"
    );
    let app = read("gemini-gateway.log");
    assert!(
        app.contains("gemini-gateway configured") && app.contains("log files"),
        "{app}"
    );
    assert!(
        !app.contains(" request ip="),
        "access lines are in access.log only"
    );
    for (name, text) in [("access", &access), ("error", &errors), ("app", &app)] {
        for secret in [
            "client-pw-55d1",
            "not-the-password",
            "admin-key-9c2e",
            "upstream-key-unknown-7f3a",
            "demo-password",
        ] {
            assert!(!text.contains(secret), "{secret} in the {name} log");
        }
    }
}
