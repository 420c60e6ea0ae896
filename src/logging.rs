//! Logging setup. Pingora's debug and trace records print raw request headers (credentials and
//! upstream keys), so they are dropped whatever `RUST_LOG` says.

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// True for records that may be emitted: anything except Pingora's below INFO.
pub fn allowed(meta: &Metadata<'_>) -> bool {
    !(meta.target().starts_with("pingora") && *meta.level() > Level::INFO)
}

/// Initialise logging to stdout. `level` is the default filter; `RUST_LOG`, if set, replaces it.
pub fn init(level: &str, json: bool) {
    init_with_writer(level, json, std::io::stdout);
}

/// Initialise logging to any writer (tests capture logs this way).
pub fn init_with_writer<W>(level: &str, json: bool, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!("{level},pingora_core=warn,pingora_proxy=warn"))
    });
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_writer(writer);
    let fmt = if json {
        fmt.json().boxed()
    } else {
        fmt.with_ansi(false).boxed()
    };
    let _ = tracing_subscriber::registry()
        .with(fmt.with_filter(filter_fn(allowed)).with_filter(env))
        .try_init();
}
