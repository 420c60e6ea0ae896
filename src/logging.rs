//! Logging setup: stdout (for containers and journald) and, with `log.dir`, the application,
//! error and access log files ([`crate::logfiles`]). Pingora's debug and trace records print raw
//! request headers (credentials and upstream keys), so they are dropped whatever `RUST_LOG` says.

use crate::config::LogConfig;
use crate::logfiles::{self, Files};
use std::path::PathBuf;
use tracing::{Level, Metadata};
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// The target of the one-line-per-request access log.
pub const ACCESS: &str = "access";

/// True for records that may be emitted: anything except Pingora's below INFO.
pub fn allowed(meta: &Metadata<'_>) -> bool {
    !(meta.target().starts_with("pingora") && *meta.level() > Level::INFO)
}

/// Initialise logging to stdout only. `level` is the default filter; `RUST_LOG`, if set, replaces it.
pub fn init(level: &str, json: bool) {
    init_with(level, json, std::io::stdout, None);
}

/// Initialise logging as configured: stdout, plus the log files of `log.dir` (a temp directory
/// when that is not writable). Returns the directory the files are written to.
pub fn init_config(cfg: &LogConfig) -> Option<PathBuf> {
    let (files, warning) = logfiles::open(cfg);
    let dir = files.as_ref().map(|f| f.dir.clone());
    init_with(&cfg.level, cfg.json, std::io::stdout, files);
    if let Some(w) = warning {
        tracing::warn!("{w}");
    }
    if let Some(d) = &dir {
        tracing::info!(dir = %d.display(), max_bytes = cfg.max_bytes, rotation = ?cfg.rotation, max_backups = cfg.max_backups, retention_days = cfg.retention_days, "log files");
    }
    dir
}

/// Initialise logging to any writer (tests capture logs this way).
pub fn init_with_writer<W>(level: &str, json: bool, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    init_with(level, json, writer, None);
}

fn env_filter(level: &str) -> EnvFilter {
    EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},pingora_core=warn,pingora_proxy=warn")))
}

/// A formatting layer for `writer` in the configured format.
fn fmt_layer<W>(json: bool, writer: W, access: bool) -> Box<dyn Layer<Registry> + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_level(!access)
        .with_writer(writer);
    if json {
        fmt.json().boxed()
    } else {
        fmt.with_ansi(false).boxed()
    }
}

/// Stdout (everything the filter allows), and with files: the application log (the same, less the
/// access lines), the error log (WARN and above, whatever the level) and the access log (its
/// lines only; they are INFO, so a level of `warn` or above turns them off everywhere).
pub fn init_with<W>(level: &str, json: bool, stdout: W, files: Option<Files>)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> =
        vec![fmt_layer(json, stdout, false)
            .with_filter(filter_fn(allowed))
            .with_filter(env_filter(level))
            .boxed()];
    if let Some(f) = files {
        layers.push(
            fmt_layer(json, f.app, false)
                .with_filter(filter_fn(|m| allowed(m) && m.target() != ACCESS))
                .with_filter(env_filter(level))
                .boxed(),
        );
        layers.push(
            fmt_layer(json, f.error, false)
                .with_filter(filter_fn(|m| allowed(m) && *m.level() <= Level::WARN))
                .boxed(),
        );
        layers.push(
            fmt_layer(json, f.access, true)
                .with_filter(filter_fn(|m| m.target() == ACCESS))
                .with_filter(env_filter(level))
                .boxed(),
        );
    }
    let _ = tracing_subscriber::registry().with(layers).try_init();
}
