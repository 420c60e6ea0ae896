//! The gemini-gateway binary: parse the command line, load the config, run the server (or the demo).

use clap::Parser;
use gemini_gateway::config::{Config, Overrides};
use std::path::PathBuf;
use std::process::ExitCode;

/// A Gemini API gateway: many keys behind one endpoint, OpenAI and Gemini surfaces, key failover.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// YAML config file (env GEMINI_GATEWAY_CONFIG). Without one, defaults plus environment variables apply.
    #[arg(short, long, env = "GEMINI_GATEWAY_CONFIG")]
    config: Option<PathBuf>,
    /// Validate this config file (with the current environment applied) and exit; non-zero names the bad field.
    #[arg(long, value_name = "FILE")]
    check_config: Option<PathBuf>,
    /// Run the gateway with the built-in Gemini simulator on loopback: no Google key needed.
    #[arg(long)]
    demo: bool,
    /// Gateway listen address (overrides HOST/PORT and the file).
    #[arg(long)]
    listen: Option<String>,
    /// Admin side-port listen address (overrides ADMIN_PORT and the file).
    #[arg(long)]
    admin_listen: Option<String>,
    /// Upstream base URL (overrides GEMINI_BASE_URL and the file).
    #[arg(long)]
    upstream: Option<String>,
    /// Worker threads for the gateway service.
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let overrides = Overrides {
        listen: cli.listen.clone(),
        admin_listen: cli.admin_listen.clone(),
        base_url: cli.upstream.clone(),
        threads: cli.threads,
    };
    if let Some(path) = &cli.check_config {
        return match Config::load(Some(path), &overrides) {
            Ok(_) => {
                println!("{}: ok", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}: invalid: {e}", path.display());
                ExitCode::from(2)
            }
        };
    }
    if cli.demo {
        gemini_gateway::logging::init("info", false);
        return match gemini_gateway::demo::run(overrides) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("demo failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match Config::load(cli.config.as_deref(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    gemini_gateway::logging::init(&config.log.level, config.log.json);
    let run_dir = std::env::temp_dir();
    let grace = gemini_gateway::server::pingora_grace_seconds(&config);
    let conf = gemini_gateway::server::server_conf(config.threads, &run_dir, grace);
    match gemini_gateway::server::build(config, conf) {
        Ok((server, state)) => gemini_gateway::server::run(server, &state),
        Err(e) => {
            eprintln!("startup error: {e}");
            ExitCode::FAILURE
        }
    }
}
