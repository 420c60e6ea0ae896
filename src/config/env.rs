//! Environment overrides: one table, variable name → what it sets in the file's structure, with
//! the seed system's names where it had them. Applied after the file and before the command line.

use super::keys::RawKey;
use super::raw::RawConfig;
use super::{err, ConfigError};
use std::collections::HashMap;

/// How a variable's value changes the raw config.
type Setter = fn(&mut RawConfig, &str, &str) -> Result<(), ConfigError>;

/// One environment variable.
pub struct EnvVar {
    pub name: &'static str,
    /// The file's key it overrides (for the docs).
    pub key: &'static str,
    set: Setter,
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn boolean(name: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        other => Err(err(name, format!("must be true or false (got {other:?})"))),
    }
}

fn number<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, ConfigError> {
    v.trim()
        .parse()
        .map_err(|_| err(name, format!("must be a whole number (got {v:?})")))
}

fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Replace the host or the port of an address, keeping the other part.
pub(crate) fn set_addr(
    addr: &mut Option<String>,
    default: &str,
    host: Option<&str>,
    port: Option<&str>,
) {
    let current = addr.clone().unwrap_or_else(|| default.to_string());
    let (cur_host, cur_port) = current.rsplit_once(':').unwrap_or(("0.0.0.0", "7860"));
    let cur_host = cur_host.trim_start_matches('[').trim_end_matches(']');
    *addr = Some(join_host_port(
        host.unwrap_or(cur_host),
        port.unwrap_or(cur_port),
    ));
}

/// Every variable the gateway reads (besides `RUST_LOG`, a log filter read by the logger, and
/// `GEMINI_GATEWAY_CONFIG`, the config file's path read by the command line).
pub const ENV: &[EnvVar] = &[
    EnvVar {
        name: "GEMINI_API_KEYS",
        key: "keys",
        set: |r, _, v| {
            r.keys = list(v).into_iter().map(RawKey::Plain).collect();
            Ok(())
        },
    },
    EnvVar {
        name: "GEMINI_KEY_TIER",
        key: "key_tier",
        set: |r, _, v| {
            r.key_tier = Some(v.to_string());
            Ok(())
        },
    },
    EnvVar {
        name: "PASSWORD",
        key: "passwords",
        set: |r, _, v| {
            r.passwords = list(v);
            Ok(())
        },
    },
    EnvVar {
        name: "ADMIN_API_KEY",
        key: "admin_api_key",
        set: |r, _, v| {
            r.admin_api_key = Some(v.to_string());
            Ok(())
        },
    },
    EnvVar {
        name: "SECRET_KEY",
        key: "secret_key",
        set: |r, _, v| {
            r.secret_key = Some(v.to_string());
            Ok(())
        },
    },
    EnvVar {
        name: "GEMINI_BASE_URL",
        key: "upstream.base_url",
        set: |r, _, v| {
            r.upstream.base_url = Some(v.to_string());
            Ok(())
        },
    },
    EnvVar {
        name: "AUTH",
        key: "auth",
        set: |r, _, v| {
            r.auth = Some(v.to_string());
            Ok(())
        },
    },
    EnvVar {
        name: "HOST",
        key: "listen",
        set: |r, _, v| {
            set_addr(&mut r.listen, "0.0.0.0:7860", Some(v), None);
            Ok(())
        },
    },
    EnvVar {
        name: "PORT",
        key: "listen",
        set: |r, _, v| {
            set_addr(&mut r.listen, "0.0.0.0:7860", None, Some(v));
            Ok(())
        },
    },
    EnvVar {
        name: "ADMIN_PORT",
        key: "admin_listen",
        set: |r, _, v| {
            set_addr(&mut r.admin_listen, "127.0.0.1:7861", None, Some(v));
            Ok(())
        },
    },
    EnvVar {
        name: "MAX_REQUESTS_PER_MINUTE",
        key: "limits.max_requests_per_minute",
        set: |r, n, v| {
            r.limits.max_requests_per_minute = Some(number(n, v)?);
            Ok(())
        },
    },
    EnvVar {
        name: "MAX_REQUESTS_PER_DAY_PER_IP",
        key: "limits.max_requests_per_day_per_ip",
        set: |r, n, v| {
            r.limits.max_requests_per_day_per_ip = Some(number(n, v)?);
            Ok(())
        },
    },
    EnvVar {
        name: "MAX_BODY_BYTES",
        key: "limits.max_body_bytes",
        set: |r, _, v| {
            r.limits.max_body_bytes = Some(v.to_string());
            Ok(())
        },
    },
    EnvVar {
        name: "DISABLE_SAFETY_FILTERING",
        key: "openai.disable_safety_filtering",
        set: |r, n, v| {
            r.openai.disable_safety_filtering = Some(boolean(n, v)?);
            Ok(())
        },
    },
    EnvVar {
        name: "EXTRA_MODELS",
        key: "openai.extra_models",
        set: |r, _, v| {
            r.openai.extra_models = list(v);
            Ok(())
        },
    },
    EnvVar {
        name: "CONTEXT_DB_PATH",
        key: "store.path",
        set: |r, _, v| {
            r.store.path = Some(v.to_string());
            Ok(())
        },
    },
    EnvVar {
        name: "DEFAULT_MAX_CONTEXT_TOKENS",
        key: "context.default_max_tokens",
        set: |r, n, v| {
            r.context.default_max_tokens = Some(number(n, v)?);
            Ok(())
        },
    },
    EnvVar {
        name: "CONTEXT_TOKEN_SAFETY_MARGIN",
        key: "context.safety_margin",
        set: |r, n, v| {
            r.context.safety_margin = Some(number(n, v)?);
            Ok(())
        },
    },
    EnvVar {
        name: "MEMORY_CONTEXT_CLEANUP_INTERVAL_SECONDS",
        key: "context.cleanup_interval",
        set: |r, n, v| {
            let secs: u64 = number(n, v)?;
            r.context.cleanup_interval = Some(std::time::Duration::from_secs(secs));
            Ok(())
        },
    },
    EnvVar {
        name: "MAX_CONTEXT_RECORDS_MEMORY",
        key: "context.max_records",
        set: |r, n, v| {
            r.context.max_records = Some(number(n, v)?);
            Ok(())
        },
    },
    EnvVar {
        name: "STREAM_SAVE_REPLY",
        key: "context.stream_save_reply",
        set: |r, n, v| {
            r.context.stream_save_reply = Some(boolean(n, v)?);
            Ok(())
        },
    },
    EnvVar {
        name: "ENABLE_CONTEXT_COMPLETION",
        key: "context.enabled",
        set: |r, n, v| {
            r.context.enabled = Some(boolean(n, v)?);
            Ok(())
        },
    },
    EnvVar {
        name: "JWT_ALGORITHM",
        key: "admin.jwt_algorithm",
        set: |r, _, v| {
            r.admin.jwt_algorithm = Some(v.to_string());
            Ok(())
        },
    },
    EnvVar {
        name: "ACCESS_TOKEN_EXPIRE_MINUTES",
        key: "admin.access_token_expire_minutes",
        set: |r, n, v| {
            r.admin.access_token_expire_minutes = Some(number(n, v)?);
            Ok(())
        },
    },
    EnvVar {
        name: "ADMIN_ALLOW_CIDRS",
        key: "admin.allow_cidrs",
        set: |r, _, v| {
            r.admin.allow_cidrs = Some(list(v));
            Ok(())
        },
    },
    EnvVar {
        name: "PROTECT_STATUS_PAGE",
        key: "admin.protect_status_page",
        set: |r, n, v| {
            r.admin.protect_status_page = Some(boolean(n, v)?);
            Ok(())
        },
    },
    EnvVar {
        name: "ENFORCE_MODEL_LIMITS",
        key: "model_limits.enforce",
        set: |r, n, v| {
            r.model_limits.enforce = Some(boolean(n, v)?);
            Ok(())
        },
    },
    EnvVar {
        name: "MODEL_LIMITS_PATH",
        key: "model_limits.path",
        set: |r, _, v| {
            r.model_limits.path = Some(v.to_string());
            Ok(())
        },
    },
    EnvVar {
        name: "USAGE_REPORT_INTERVAL_MINUTES",
        key: "report.interval_minutes",
        set: |r, n, v| {
            r.report.interval_minutes = Some(number(n, v)?);
            Ok(())
        },
    },
    EnvVar {
        name: "REPORT_LOG_LEVEL",
        key: "report.level",
        set: |r, _, v| {
            r.report.level = Some(v.to_string());
            Ok(())
        },
    },
    EnvVar {
        name: "LOG_LEVEL",
        key: "log.level",
        set: |r, _, v| {
            r.log.level = Some(v.to_string());
            Ok(())
        },
    },
    EnvVar {
        name: "UPGRADE_SOCKET",
        key: "shutdown.upgrade_socket",
        set: |r, _, v| {
            r.shutdown.upgrade_socket = Some(v.to_string());
            Ok(())
        },
    },
    EnvVar {
        name: "LOG_DIR",
        key: "log.dir",
        set: |r, _, v| {
            r.log.dir = Some(v.to_string());
            Ok(())
        },
    },
    EnvVar {
        name: "MAX_LOG_SIZE",
        key: "log.max_size",
        set: |r, n, v| {
            r.log.max_size = Some(number(n, v)?);
            Ok(())
        },
    },
    EnvVar {
        name: "LOG_ROTATION_INTERVAL",
        key: "log.rotation",
        set: |r, _, v| {
            r.log.rotation = Some(v.to_string());
            Ok(())
        },
    },
    EnvVar {
        name: "MAX_LOG_BACKUPS",
        key: "log.max_backups",
        set: |r, n, v| {
            r.log.max_backups = Some(number(n, v)?);
            Ok(())
        },
    },
    EnvVar {
        name: "LOG_RETENTION_DAYS",
        key: "log.retention_days",
        set: |r, n, v| {
            r.log.retention_days = Some(number(n, v)?);
            Ok(())
        },
    },
    // After LOG_LEVEL: the old system's switch wins when it is on.
    EnvVar {
        name: "DEBUG",
        key: "log.level",
        set: |r, n, v| {
            if boolean(n, v)? {
                r.log.level = Some("debug".to_string());
            }
            Ok(())
        },
    },
];

/// Apply the variables present in `env`, in table order. An empty value counts as unset, except
/// for the lists (`GEMINI_API_KEYS`, `PASSWORD`, `EXTRA_MODELS`), where it empties the list.
pub(super) fn apply(raw: &mut RawConfig, env: &HashMap<String, String>) -> Result<(), ConfigError> {
    const LISTS: &[&str] = &["GEMINI_API_KEYS", "PASSWORD", "EXTRA_MODELS"];
    for var in ENV {
        let Some(v) = env.get(var.name) else { continue };
        if v.trim().is_empty() && !LISTS.contains(&var.name) {
            continue;
        }
        (var.set)(raw, var.name, v)?;
    }
    Ok(())
}
