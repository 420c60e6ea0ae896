//! Malformed requests: each gets a clear 4xx in the surface's envelope and no upstream call.

mod common;
use common::*;

const PATH: &str = "/v2/models/gemini-2.5-flash:generateContent";

fn assert_gemini_error(r: &Resp, status: u16) -> serde_json::Value {
    assert_eq!(r.status, status, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"]["code"], status);
    assert!(v["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    v
}

#[test]
fn malformed_json_bodies() {
    let h = Harness::basic();
    let v = assert_gemini_error(&h.post(PATH, "{\"contents\": [}"), 400);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("line 1"),
        "{v}"
    );
    assert_gemini_error(&h.post(PATH, ""), 400);
    assert_gemini_error(&h.post(PATH, "null"), 400);
    assert_gemini_error(&h.post(PATH, "[1,2]"), 400);
    assert_gemini_error(&h.post(PATH, "{\"a\": \"\\ud800\"}"), 400);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_gemini_error(&h.post(PATH, &format!("{{\"a\": {deep}}}")), 400);
    let r = http(
        h.addr,
        "POST",
        PATH,
        &[("x-goog-api-key", PASSWORD)],
        b"{\"a\": \"\xff\xfe\"}",
    );
    assert_gemini_error(&r, 400);
    assert_eq!(h.sim.calls(), 0);
}

#[test]
fn oversized_body_gets_413_before_upstream() {
    let h = Harness::start(gemini_sim::SimConfig::default(), &["k"], |c| {
        c.limits.max_body_bytes = 64 * 1024
    });
    let big = format!("{{\"x\": \"{}\"}}", "a".repeat(70 * 1024));
    let r = h.post(PATH, &big);
    assert_gemini_error(&r, 413);
    // declared length over the cap is refused without reading the body
    let mut s = send(
        h.addr,
        "POST",
        PATH,
        &[
            ("x-goog-api-key", PASSWORD),
            ("content-length", "999999999"),
        ],
        b"",
    );
    let (status, _) = read_head(&mut s);
    assert_eq!(status, 413);
    // chunked body crossing the cap
    let mut s = std::net::TcpStream::connect(h.addr).unwrap();
    use std::io::{Read, Write};
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    write!(s, "POST {PATH} HTTP/1.1\r\nHost: x\r\nx-goog-api-key: {PASSWORD}\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
    let chunk = "b".repeat(16 * 1024);
    for _ in 0..5 {
        if write!(s, "{:x}\r\n{chunk}\r\n", chunk.len()).is_err() {
            break;
        }
    }
    let mut out = vec![0u8; 4096];
    let n = s.read(&mut out).unwrap();
    assert!(String::from_utf8_lossy(&out[..n]).starts_with("HTTP/1.1 413"));
    // under the cap goes through
    let ok = format!(
        "{{\"contents\": [{{\"parts\": [{{\"text\": \"{}\"}}]}}]}}",
        "a".repeat(60 * 1024)
    );
    assert_eq!(h.post(PATH, &ok).status, 200);
    assert_eq!(h.sim.calls(), 1);
}

#[test]
fn wrong_content_type_and_encoding() {
    let h = Harness::basic();
    let r = http(
        h.addr,
        "POST",
        PATH,
        &[("x-goog-api-key", PASSWORD), ("content-type", "text/plain")],
        GEN.as_bytes(),
    );
    assert_gemini_error(&r, 415);
    let r = http(
        h.addr,
        "POST",
        PATH,
        &[("x-goog-api-key", PASSWORD), ("content-encoding", "gzip")],
        GEN.as_bytes(),
    );
    assert_gemini_error(&r, 415);
    let r = http(
        h.addr,
        "POST",
        PATH,
        &[
            ("x-goog-api-key", PASSWORD),
            ("content-type", "application/json; charset=utf-8"),
        ],
        GEN.as_bytes(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(h.sim.calls(), 1);
}

#[test]
fn bad_routes_and_methods() {
    let h = Harness::basic();
    assert_gemini_error(&h.post("/v2/models/gemini-2.5-flash:explode", GEN), 404);
    assert_gemini_error(&h.get(PATH), 405);
    assert_gemini_error(&h.post("/v2/models", GEN), 405);
    assert_gemini_error(
        &h.post("/v2/models/..%2F..%2Fadmin:generateContent", GEN),
        400,
    );
    assert_gemini_error(&h.post("/v2/models/a b:generateContent", GEN), 400);
    assert_gemini_error(&h.get("/v2/models?pageSize=abc"), 400);
    assert_gemini_error(
        &h.post(
            "/v2/models/gemini-2.5-flash:streamGenerateContent?alt=xml",
            GEN,
        ),
        400,
    );
    assert_gemini_error(&h.get("/v2/files"), 404);
    let r = h.get("/admin");
    assert_eq!(r.status, 404);
    assert_eq!(h.sim.calls(), 0);
}

#[test]
fn content_length_with_transfer_encoding_is_rejected() {
    let h = Harness::basic();
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(h.addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    write!(
        s,
        "POST {PATH} HTTP/1.1\r\nHost: x\r\nx-goog-api-key: {PASSWORD}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 400"),
        "{text}"
    );
    assert_eq!(h.sim.calls(), 0);
}

#[test]
fn pipeline_config_is_checked_by_check_config() {
    let base = "passwords: [p]\nkeys: [k]\nupstream: {base_url: 'http://127.0.0.1:9'}\n";
    let check = |extra: &str| {
        gemini_gateway::config::Config::from_yaml(&format!("{base}{extra}")).map(|_| ())
    };
    assert!(check("").is_ok());
    let e = check("pipeline: [auth, surface, key_select, exchange, bogus]\n").unwrap_err();
    assert_eq!(e.field, "pipeline");
    assert!(e.message.contains("unknown stage"));
    assert!(
        check("pipeline: [auth, surface, openai, key_select, exchange]\n")
            .unwrap_err()
            .message
            .contains("before")
    );
    assert!(check("pipeline: [surface, key_select, exchange]\n")
        .unwrap_err()
        .message
        .contains("auth"));
    assert!(check("pipeline: [auth, surface, exchange]\n")
        .unwrap_err()
        .message
        .contains("key_select"));
    assert!(
        check("pipeline: [auth, auth, surface, key_select, exchange]\n")
            .unwrap_err()
            .message
            .contains("twice")
    );
    assert!(check("auth: none\npipeline: [surface, key_select, exchange]\n").is_ok());
}

/// A generateContent call carrying one extra header.
fn post_with_header(h: &Harness, name: &str, value: &str) -> Resp {
    http(
        h.addr,
        "POST",
        PATH,
        &[("x-goog-api-key", PASSWORD), (name, value)],
        GEN.as_bytes(),
    )
}

#[test]
fn oversized_request_headers_get_431_in_the_surface_envelope() {
    let h = Harness::basic();
    let big = "x".repeat(100 * 1024);
    let v = assert_gemini_error(&post_with_header(&h, "x-big", &big), 431);
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("65536"),
        "{v}"
    );
    // the OpenAI surface answers in its own envelope
    let auth = format!("Bearer {PASSWORD}");
    let r = http(
        h.addr,
        "POST",
        "/v1/chat/completions",
        &[("authorization", &auth), ("x-big", &big)],
        br#"{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert_eq!(r.status, 431, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "request_header_too_large");
    // too many fields, each small
    let names: Vec<String> = (0..150).map(|i| format!("x-h{i}")).collect();
    let mut headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    headers.push(("x-goog-api-key", PASSWORD));
    let v = assert_gemini_error(&http(h.addr, "POST", PATH, &headers, GEN.as_bytes()), 431);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("100 fields"),
        "{v}"
    );
    // beyond the HTTP parser's own limits the listener refuses with a bare 400: still no call
    let r = post_with_header(&h, "x-huge", &"y".repeat(1100 * 1024));
    assert!((400..=431).contains(&r.status), "{}", r.status);
    assert_eq!(h.sim.calls(), 0);
    // an ordinary request on the same gateway is served
    assert_eq!(h.post(PATH, GEN).status, 200);
}

#[test]
fn header_limits_are_configurable() {
    let h = Harness::start(gemini_sim::SimConfig::default(), &["k"], |c| {
        c.limits.max_header_bytes = 256 * 1024;
        c.limits.max_headers = 200;
    });
    let r = post_with_header(&h, "x-big", &"x".repeat(100 * 1024));
    assert_eq!(r.status, 200, "{}", r.text());
}
