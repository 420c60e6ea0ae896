//! The gemini-gateway binary: parse the command line, load the config, run the server (or the demo).

use clap::Parser;
use gemini_gateway::config::{Config, Overrides};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: the request path allocates many small, short-lived
/// buffers, which mimalloc serves from per-thread free lists without trimming and refaulting
/// the heap. Built without transparent huge pages (`no_thp`), which would otherwise add ~11 MB
/// to the idle RSS for no measurable speed (see docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Take the listening sockets over from a running gateway (zero-downtime upgrade): start this
    /// with the same configuration, then send SIGQUIT to the old process within 5 s.
    #[arg(short, long)]
    upgrade: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Copy the store (store.path / CONTEXT_DB_PATH: usage, proxy keys, conversations) to FILE
    /// while the gateway runs: SQLite's online backup, checked before it replaces FILE.
    Backup {
        /// Where the copy goes (replaced if it exists).
        #[arg(long, value_name = "FILE")]
        into: PathBuf,
    },
    /// Copy the proxy keys of a Hagemi database into this gateway's store (store.path /
    /// CONTEXT_DB_PATH): only their hashes are written; the keys keep working. Restart a running
    /// gateway afterwards.
    ImportHagemiKeys {
        /// The Hagemi SQLite file (its proxy_keys or api_keys table is read, never changed).
        file: PathBuf,
        /// The gateway's store file to write into; default: store.path / CONTEXT_DB_PATH of the
        /// configuration.
        #[arg(long, value_name = "DB")]
        into: Option<PathBuf>,
    },
}

/// `import-hagemi-keys`: the store must be a file (a memory store would forget them).
fn import_keys(
    cli: &Cli,
    overrides: &Overrides,
    file: &std::path::Path,
    into: Option<&std::path::Path>,
) -> ExitCode {
    let configured = match into {
        Some(p) => Some(p.to_path_buf()),
        None => match Config::load(cli.config.as_deref(), overrides) {
            Ok(c) => c.store.path,
            Err(e) => {
                eprintln!("configuration error: {e} (or name the store file with --into)");
                return ExitCode::from(2);
            }
        },
    };
    let Some(path) = &configured else {
        eprintln!("import-hagemi-keys writes into the gateway's store file: set CONTEXT_DB_PATH (or store.path); the default in-memory store would forget the keys");
        return ExitCode::from(2);
    };
    let store = match gemini_gateway::store::Store::open(Some(path)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match gemini_gateway::credentials::import::import_hagemi(file, &store, chrono::Utc::now()) {
        Ok(r) => {
            for s in &r.skipped {
                eprintln!("skipped {s}");
            }
            println!(
                "imported {} proxy keys into {} ({} already there, {} skipped)",
                r.added,
                path.display(),
                r.present,
                r.skipped.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("import failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `backup --into FILE`: the configured store file, copied online.
fn backup(cli: &Cli, overrides: &Overrides, into: &std::path::Path) -> ExitCode {
    let path = match Config::load(cli.config.as_deref(), overrides) {
        Ok(c) => c.store.path,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(path) = path else {
        eprintln!("the store is in memory (no store.path / CONTEXT_DB_PATH): nothing to back up");
        return ExitCode::from(2);
    };
    match gemini_gateway::store::backup::backup(&path, into) {
        Ok(pages) => {
            println!(
                "backed up {} to {} ({pages} pages, integrity ok)",
                path.display(),
                into.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("backup failed: {e}");
            ExitCode::FAILURE
        }
    }
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
    if let Some(Command::ImportHagemiKeys { file, into }) = &cli.command {
        return import_keys(&cli, &overrides, file, into.as_deref());
    }
    if let Some(Command::Backup { into }) = &cli.command {
        return backup(&cli, &overrides, into);
    }
    let config = match Config::load(cli.config.as_deref(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    gemini_gateway::logging::init_config(&config.log);
    let run_dir = std::env::temp_dir();
    let grace = gemini_gateway::server::pingora_grace_seconds(&config);
    let conf = gemini_gateway::server::server_conf(config.threads, &run_dir, grace);
    match gemini_gateway::server::build_with(config, conf, cli.upgrade) {
        Ok((server, state)) => gemini_gateway::server::run(server, &state),
        Err(e) => {
            eprintln!("startup error: {e}");
            ExitCode::FAILURE
        }
    }
}
