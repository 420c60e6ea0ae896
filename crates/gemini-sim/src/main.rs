//! gemini-sim binary: serve the Gemini API simulator on one address until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use gemini_sim::{Quota, Sim, SimConfig};
use pingora::server::configuration::ServerConf;
use pingora::server::Server;

/// A Gemini API simulator speaking the real wire format, with per-key quotas and scripted faults.
#[derive(Parser, Debug)]
#[command(name = "gemini-sim", version)]
struct Args {
    /// Address to listen on, e.g. 127.0.0.1:8090 (a concrete port).
    #[arg(long)]
    listen: String,
    /// Comma-separated keys accepted (default: every key not invalid/forbidden).
    #[arg(long, value_delimiter = ',')]
    valid_keys: Vec<String>,
    /// Comma-separated keys answered with 400 API_KEY_INVALID.
    #[arg(long, value_delimiter = ',')]
    invalid_keys: Vec<String>,
    /// Comma-separated keys answered with 403 PERMISSION_DENIED.
    #[arg(long, value_delimiter = ',')]
    forbidden_keys: Vec<String>,
    /// Requests per minute per (key, model).
    #[arg(long)]
    rpm: Option<u32>,
    /// Prompt tokens per minute per (key, model).
    #[arg(long)]
    tpm: Option<u64>,
    /// Requests per day per (key, model).
    #[arg(long)]
    rpd: Option<u32>,
    /// SSE events per streamed answer.
    #[arg(long, default_value_t = 4)]
    stream_events: u32,
    /// Delay between streamed events, in milliseconds.
    #[arg(long, default_value_t = 0)]
    stream_interval_ms: u64,
    /// Do not record requests.
    #[arg(long)]
    no_record: bool,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();

    let quota = (args.rpm.is_some() || args.tpm.is_some() || args.rpd.is_some()).then_some(Quota {
        rpm: args.rpm,
        tpm: args.tpm,
        rpd: args.rpd,
    });
    let clean = |v: Vec<String>| -> Vec<String> {
        v.into_iter()
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .collect()
    };
    let cfg = SimConfig {
        valid_keys: clean(args.valid_keys),
        invalid_keys: clean(args.invalid_keys),
        forbidden_keys: clean(args.forbidden_keys),
        quota,
        stream_events: args.stream_events,
        stream_interval: Duration::from_millis(args.stream_interval_ms),
        record: !args.no_record,
        ..SimConfig::default()
    };

    let run_dir: PathBuf = std::env::temp_dir();
    let pid = std::process::id();
    let conf = ServerConf {
        threads: args.threads.max(1),
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(0),
        pid_file: run_dir
            .join(format!("gemini-sim-{pid}.pid"))
            .to_string_lossy()
            .into_owned(),
        upgrade_sock: run_dir
            .join(format!("gemini-sim-{pid}-upgrade.sock"))
            .to_string_lossy()
            .into_owned(),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let sim = Sim::new(cfg);
    if std::net::ToSocketAddrs::to_socket_addrs(args.listen.as_str()).is_err() {
        eprintln!(
            "gemini-sim: --listen must be HOST:PORT, got {:?}",
            args.listen
        );
        return ExitCode::from(2);
    }
    server.add_boxed_service(sim.service(&server.configuration, &args.listen));
    println!("gemini-sim listening on {}", args.listen);
    server.run_forever()
}
