//! The production upstream is HTTPS with HTTP/2: failover, streaming and certificate checks over
//! rustls against a TLS simulator with its own CA.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use gemini_gateway::config::UpstreamConfig;
use gemini_sim::{FaultAction, FaultRule, Sim, SimConfig};
use std::net::SocketAddr;

struct Pki {
    _dir: tempfile::TempDir,
    ca: String,
    cert: String,
    key: String,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf_params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    let p = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    std::fs::write(p("ca.pem"), ca.pem()).unwrap();
    std::fs::write(p("leaf.pem"), format!("{}{}", leaf.pem(), ca.pem())).unwrap();
    std::fs::write(p("leaf.key"), leaf_key.serialize_pem()).unwrap();
    Pki {
        ca: p("ca.pem"),
        cert: p("leaf.pem"),
        key: p("leaf.key"),
        _dir: dir,
    }
}

struct TlsHarness {
    sim: Sim,
    addr: SocketAddr,
    _server: Running,
    _dir: tempfile::TempDir,
}

fn start(pki: &Pki, trust_ca: bool) -> TlsHarness {
    let sim_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut config = test_config(sim_addr, keys(&["k1", "k2"]));
    config.upstream = UpstreamConfig {
        ca_file: trust_ca.then(|| pki.ca.clone()),
        http2: true,
        ..UpstreamConfig::at(&format!("https://{sim_addr}")).unwrap()
    };
    let addr = config.listen;
    let dir = tempfile::tempdir().unwrap();
    let conf = gemini_gateway::server::server_conf(2, dir.path(), 1);
    let (mut server, _state) = gemini_gateway::server::build(config, conf).unwrap();
    let sim = Sim::new(SimConfig::default());
    let svc = sim
        .tls_service(
            &server.configuration,
            &sim_addr.to_string(),
            &pki.cert,
            &pki.key,
            true,
        )
        .unwrap();
    server.add_boxed_service(svc);
    let running = Running::start(server);
    wait_port(addr);
    wait_port(sim_addr);
    TlsHarness {
        sim,
        addr,
        _server: running,
        _dir: dir,
    }
}

fn post(h: &TlsHarness, path: &str, body: &str) -> Resp {
    http(
        h.addr,
        "POST",
        path,
        &[
            ("x-goog-api-key", PASSWORD),
            ("content-type", "application/json"),
        ],
        body.as_bytes(),
    )
}

#[test]
fn https_h2_upstream_failover_and_stream() {
    let pki = pki();
    let h = start(&pki, true);
    h.sim.add_fault(FaultRule {
        key: None,
        model: None,
        times: Some(1),
        action: FaultAction::RateLimit {
            retry_delay_secs: 20,
        },
    });
    let big = format!(
        r#"{{"contents":[{{"role":"user","parts":[{{"text":"{}"}}]}}]}}"#,
        "z".repeat(200 * 1024)
    );
    let r = post(&h, "/v2/models/gemini-2.5-flash:generateContent", &big);
    assert_eq!(r.status, 200, "{}", r.text());
    let reqs = h.sim.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].body_sha256, reqs[1].body_sha256);
    for rec in &reqs {
        assert_eq!(rec.version, "HTTP/2.0", "h2 negotiated by ALPN");
    }
    let r = post(
        &h,
        "/v2/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        GEN,
    );
    assert_eq!(r.status, 200);
    assert_eq!(sse_events(&r.body).len(), 4);
    for _ in 0..5 {
        assert_eq!(
            post(&h, "/v2/models/gemini-2.5-flash:generateContent", GEN).status,
            200
        );
    }
    assert_eq!(h.sim.calls(), 8);
}

#[test]
fn untrusted_upstream_certificate_is_refused() {
    let pki = pki();
    let h = start(&pki, false);
    let r = post(&h, "/v2/models/gemini-2.5-flash:generateContent", GEN);
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(
        h.sim.calls(),
        0,
        "nothing reaches a server whose certificate is not trusted"
    );
}
