//! The shipped deployment files: the compose stack's Prometheus config passes `promtool check
//! config`, scrapes the gateway's admin port from an address the gateway lets in, and the Grafana
//! dashboard queries only metric names the gateway exposes; the admin side refuses sources outside
//! `admin.allow_cidrs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use gemini_sim::SimConfig;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn yaml(path: &str) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(root().join(path)).unwrap()).unwrap()
}

#[test]
fn promtool_accepts_the_compose_stacks_prometheus_config() {
    let file = root().join("deploy/prometheus/prometheus.yml");
    promtool(&["check", "config", file.to_str().unwrap()], None);
}

#[test]
fn prometheus_scrapes_the_admin_port_from_an_allowed_address() {
    let compose = yaml("deploy/compose.yaml");
    let services = &compose["services"];
    for s in ["gateway", "prometheus", "grafana"] {
        assert!(services.get(s).is_some(), "compose has no {s} service");
    }
    let env: HashMap<String, String> = [("GEMINI_API_KEYS", "k"), ("PASSWORD", "p")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let text = std::fs::read_to_string(root().join("deploy/gemini-gateway.compose.yaml")).unwrap();
    let config =
        gemini_gateway::config::Config::from_parts(&text, &env, &Default::default()).unwrap();
    let prom = yaml("deploy/prometheus/prometheus.yml");
    let target = prom["scrape_configs"][0]["static_configs"][0]["targets"][0]
        .as_str()
        .unwrap();
    assert_eq!(target, format!("gateway:{}", config.admin_listen.port()));
    assert_eq!(
        prom["scrape_configs"][0]["metrics_path"].as_str(),
        Some("/metrics")
    );
    let prom_ip: std::net::IpAddr = services["prometheus"]["networks"]["monitoring"]
        ["ipv4_address"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        config.admin.allows(prom_ip),
        "the gateway would refuse Prometheus at {prom_ip}"
    );
    assert!(
        !config.admin.allows("192.0.2.1".parse().unwrap()),
        "other sources are refused"
    );
    assert!(
        config.admin_listen.ip().is_unspecified(),
        "listens on the monitoring network"
    );
    // The admin port is not published on the host.
    let ports = format!("{:?}", services["gateway"]["ports"]);
    assert!(!ports.contains("7861"), "{ports}");
    // Grafana is provisioned with the shipped dashboard and a Prometheus data source.
    let volumes = format!("{:?}", services["grafana"]["volumes"]);
    assert!(volumes.contains("gemini-gateway.json") && volumes.contains("provisioning"));
    let ds = yaml("deploy/grafana/provisioning/datasources/prometheus.yaml");
    assert_eq!(ds["datasources"][0]["type"].as_str(), Some("prometheus"));
    assert_eq!(
        ds["datasources"][0]["url"].as_str(),
        Some("http://prometheus:9090")
    );
}

#[test]
fn the_dashboard_queries_only_metrics_the_gateway_exposes() {
    let h = Harness::basic();
    assert_eq!(
        h.post("/v2/models/gemini-2.5-flash:generateContent", GEN)
            .status,
        200
    );
    assert_eq!(
        h.post("/v2/models/gemini-2.5-flash:generateContent", "{")
            .status,
        400
    );
    let metrics = http(h.admin, "GET", "/metrics", &[], b"").text();
    let families: BTreeSet<&str> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let dashboard =
        std::fs::read_to_string(root().join("deploy/grafana/gemini-gateway.json")).unwrap();
    let mut used = BTreeSet::new();
    let mut rest = dashboard.as_str();
    while let Some(i) = rest.find("gemini_gateway_") {
        let name: String = rest[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[i + name.len()..];
        used.insert(name);
    }
    assert!(used.len() >= 5, "the dashboard uses {used:?}");
    for name in &used {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| families.contains(f)))
            .unwrap_or(name);
        assert!(
            families.contains(family),
            "the dashboard queries {name}, which the gateway does not expose"
        );
    }
}

#[test]
fn the_admin_side_refuses_sources_outside_allow_cidrs() {
    let h = Harness::start(SimConfig::default(), &["k1"], |c| {
        c.admin.allow_cidrs = vec!["10.89.0.0/24".parse().unwrap()];
    });
    for path in ["/metrics", "/healthz", "/api/keys", "/login"] {
        let r = http(
            h.admin,
            "GET",
            path,
            &[("authorization", &format!("Bearer {ADMIN_KEY}"))],
            b"",
        );
        assert_eq!(r.status, 403, "{path}");
        assert!(r.text().contains("admin.allow_cidrs"));
    }
    // The gateway port is not affected.
    assert_eq!(
        h.post("/v2/models/gemini-2.5-flash:generateContent", GEN)
            .status,
        200
    );
    let open = Harness::basic();
    assert_eq!(
        http(open.admin, "GET", "/metrics", &[], b"").status,
        200,
        "loopback by default"
    );
}

#[test]
fn the_systemd_unit_verifies_and_reloads_by_upgrading() {
    let unit =
        std::fs::read_to_string(root().join("deploy/systemd/gemini-gateway.service")).unwrap();
    for line in [
        "Type=notify",
        "NotifyAccess=all",
        "ExecStart=/usr/local/bin/gemini-gateway -c /etc/gemini-gateway/gemini-gateway.yaml",
        "KillSignal=SIGTERM",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing");
    }
    let reload = unit.lines().find(|l| l.starts_with("ExecReload=")).unwrap();
    assert!(
        reload.contains("--check-config")
            && reload.contains("--upgrade &")
            && reload.contains("kill -QUIT ${MAINPID}"),
        "{reload}"
    );
    // (tests/shutdown.rs runs this ExecReload line under load.)
    if std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze is not installed: unit syntax not verified");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gemini-gateway.service");
    std::fs::write(
        &path,
        unit.replace(
            "/usr/local/bin/gemini-gateway",
            env!("CARGO_BIN_EXE_gemini-gateway"),
        ),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );
}
