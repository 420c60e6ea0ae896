//! `--demo`: the gateway and the built-in Gemini simulator together on loopback, with demo keys.

use crate::config::{Config, KeyConfig, Overrides};
use crate::error::StartupError;
use crate::secret::Secret;
use gemini_sim::{Sim, SimConfig};
use std::net::SocketAddr;
use std::time::Duration;

/// The client credential the demo accepts.
pub const DEMO_PASSWORD: &str = "demo-password";
/// The admin credential of the demo (admin JSON API on the admin port).
pub const DEMO_ADMIN_KEY: &str = "demo-admin-key";

/// Run the demo until interrupted.
pub fn run(cli: Overrides) -> Result<(), StartupError> {
    let sim_port = free_port()?;
    let sim_addr = format!("127.0.0.1:{sim_port}");
    // --listen, else HOST/PORT as for the gateway (so `--demo` in a container can listen on
    // 0.0.0.0), else loopback. The admin side stays on loopback unless --admin-listen says else.
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let listen = cli.listen.clone().unwrap_or_else(|| {
        let mut addr = None;
        crate::config::env::set_addr(
            &mut addr,
            "127.0.0.1:7860",
            env("HOST").as_deref(),
            env("PORT").as_deref(),
        );
        addr.unwrap_or_else(|| "127.0.0.1:7860".into())
    });
    let admin = cli.admin_listen.clone().unwrap_or_else(|| {
        let mut addr = None;
        crate::config::env::set_addr(
            &mut addr,
            "127.0.0.1:7861",
            None,
            env("ADMIN_PORT").as_deref(),
        );
        addr.unwrap_or_else(|| "127.0.0.1:7861".into())
    });
    let keys = ["demo-key-1", "demo-key-2", "demo-key-3"]
        .into_iter()
        .map(KeyConfig::new)
        .collect();
    let mut config = Config::local(&format!("http://{sim_addr}"), keys, DEMO_PASSWORD)?;
    config.listen = parse(&listen)?;
    config.admin_listen = parse(&admin)?;
    config.threads = cli.threads.unwrap_or(2);
    config.auth.admin_api_key = Some(Secret::new(DEMO_ADMIN_KEY));

    let sim = Sim::new(SimConfig {
        stream_interval: Duration::from_millis(150),
        ..SimConfig::default()
    });
    let run_dir = std::env::temp_dir().join(format!("gemini-gateway-demo-{}", std::process::id()));
    std::fs::create_dir_all(&run_dir).map_err(|e| StartupError::Demo(e.to_string()))?;
    let conf = crate::server::server_conf(
        config.threads,
        &run_dir,
        crate::server::pingora_grace_seconds(&config),
    );
    let (mut server, state) = crate::server::build(config, conf)?;
    let sim_service = sim.service(&server.configuration, &sim_addr);
    server.add_boxed_service(sim_service);

    println!(
        "\ngemini-gateway demo: gateway on http://{listen} (admin http://{admin}), Gemini simulator on http://{sim_addr}\n\
         Upstream keys: demo-key-1, demo-key-2, demo-key-3. Client password: {DEMO_PASSWORD}. Admin key: {DEMO_ADMIN_KEY}\n\
         Free-tier limits (data/model_limits.yaml) are enforced per key, as with real keys: see /api/keys.\n\n\
         Admin web UI: http://{admin}/ — log in with {DEMO_ADMIN_KEY} (administrator) or {DEMO_PASSWORD} (a user).\n\n\
         Try:\n  curl -s http://{listen}/v2/models/gemini-2.5-flash:generateContent \\\n    \
         -H 'x-goog-api-key: {DEMO_PASSWORD}' -H 'content-type: application/json' \\\n    \
         -d '{{\"contents\":[{{\"role\":\"user\",\"parts\":[{{\"text\":\"Hello, gateway\"}}]}}]}}'\n\n  \
         curl -sN 'http://{listen}/v2/models/gemini-2.5-flash:streamGenerateContent?alt=sse' \\\n    \
         -H 'x-goog-api-key: {DEMO_PASSWORD}' -H 'content-type: application/json' \\\n    \
         -d '{{\"contents\":[{{\"role\":\"user\",\"parts\":[{{\"text\":\"Stream to me\"}}]}}]}}'\n\n  \
         curl -s http://{listen}/v1/chat/completions -H 'authorization: Bearer {DEMO_PASSWORD}' \\\n    \
         -H 'content-type: application/json' \\\n    \
         -d '{{\"model\":\"gemini-2.5-flash\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hi from the OpenAI surface\"}}]}}'\n\n  \
         curl -s http://{listen}/v1/responses -H 'authorization: Bearer {DEMO_PASSWORD}' \\\n    \
         -H 'content-type: application/json' -d '{{\"model\":\"gemini-2.5-flash\",\"input\":\"Hi from the Responses API\"}}'\n  \
         (openai-agents, @ai-sdk/openai: OPENAI_BASE_URL=http://{listen}/v1 OPENAI_API_KEY={DEMO_PASSWORD})\n\n  \
         curl -s http://{listen}/v1/messages -H 'x-api-key: {DEMO_PASSWORD}' -H 'anthropic-version: 2023-06-01' \\\n    \
         -H 'content-type: application/json' \\\n    \
         -d '{{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":256,\"messages\":[{{\"role\":\"user\",\"content\":\"Hi from Claude Code\"}}]}}'\n  \
         (Claude Code: ANTHROPIC_BASE_URL=http://{listen} ANTHROPIC_API_KEY={DEMO_PASSWORD} claude)\n\n  \
         curl -s http://{admin}/api/keys -H 'authorization: Bearer {DEMO_ADMIN_KEY}'\n  \
         curl -s http://{admin}/metrics\n\n\
         Press Ctrl-C to stop.\n"
    );
    crate::server::run(server, &state)
}

fn parse(addr: &str) -> Result<SocketAddr, StartupError> {
    addr.parse()
        .map_err(|_| StartupError::Demo(format!("not an IP:PORT address: {addr:?}")))
}

fn free_port() -> Result<u16, StartupError> {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr());
    port.map(|a| a.port())
        .map_err(|e| StartupError::Demo(e.to_string()))
}
