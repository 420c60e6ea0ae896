//! Hostile model names on every surface: each is refused with a 4xx in the surface's envelope
//! naming `model`, before any upstream request is built (the simulator sees zero calls).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use serde_json::json;

/// Names that, spliced into `models/{name}:method`, would change the upstream path, method or
/// query, inject a header, or are not model ids at all.
fn hostile() -> Vec<String> {
    let mut v: Vec<String> = [
        "../cachedContents?",
        "../../v1beta/files",
        "gemini-2.5-flash:countTokens",
        "gemini-2.5-flash:streamGenerateContent?alt=sse&",
        "gemini-2.5-flash?key=AIzaSyFAKE&",
        "gemini-2.5-flash#frag",
        "gemini-2.5-flash%2F..%2Fx",
        "%2e%2e",
        "..",
        ".",
        "models/../x",
        "models/",
        "a/b",
        "tunedModels/x",
        "gemini\r\nx-injected: 1",
        "gemini\nx",
        "gemini\u{0}",
        "gemini 2.5",
        "gémini",
        "",
        "   ",
        "-rf",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("a".repeat(129));
    v.push(format!("gemini-{}", "x".repeat(5000)));
    v
}

/// Percent-encode every byte that is not an ASCII letter or digit.
fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn bearer() -> String {
    format!("Bearer {PASSWORD}")
}

fn post_openai(h: &Harness, path: &str, body: &serde_json::Value) -> Resp {
    http(
        h.addr,
        "POST",
        path,
        &[
            ("authorization", &bearer()),
            ("content-type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
}

fn assert_openai_model_error(r: &Resp, what: &str) {
    assert_eq!(r.status, 400, "{what}: {}", r.text());
    let v = r.json();
    assert_eq!(v["error"]["param"], "model", "{what}: {v}");
    assert_eq!(v["error"]["type"], "invalid_request_error", "{what}: {v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(!msg.is_empty() && msg.len() < 300, "{what}: {msg}");
}

#[test]
fn openai_chat_refuses_hostile_models_without_an_upstream_call() {
    let h = Harness::basic();
    for name in hostile() {
        let r = post_openai(
            &h,
            "/v1/chat/completions",
            &json!({"model": name, "messages": [{"role": "user", "content": "hi"}]}),
        );
        assert_openai_model_error(&r, &format!("chat {name:?}"));
        let r = post_openai(
            &h,
            "/v1/chat/completions",
            &json!({"model": name, "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
        );
        assert_openai_model_error(&r, &format!("streamed chat {name:?}"));
    }
    assert_eq!(h.sim.calls(), 0, "{:?}", h.sim.requests());
}

#[test]
fn openai_embeddings_refuse_hostile_models_without_an_upstream_call() {
    let h = Harness::basic();
    for name in hostile() {
        let r = post_openai(&h, "/v1/embeddings", &json!({"model": name, "input": "x"}));
        assert_openai_model_error(&r, &format!("embeddings {name:?}"));
    }
    assert_eq!(h.sim.calls(), 0, "{:?}", h.sim.requests());
}

#[test]
fn openai_model_lookup_refuses_hostile_ids_without_an_upstream_call() {
    let h = Harness::basic();
    for name in hostile().into_iter().filter(|n| !n.trim().is_empty()) {
        let path = format!("/v1/models/{}", pct(&name));
        let r = http(h.addr, "GET", &path, &[("authorization", &bearer())], b"");
        assert!(
            r.status == 400 || r.status == 404,
            "GET {path}: {} {}",
            r.status,
            r.text()
        );
        assert!(r.json()["error"]["message"].is_string(), "{}", r.text());
    }
    assert_eq!(h.sim.calls(), 0, "{:?}", h.sim.requests());
}

#[test]
fn native_surface_refuses_hostile_models_without_an_upstream_call() {
    let h = Harness::basic();
    for prefix in ["/v2", "/v1beta"] {
        for name in hostile().into_iter().filter(|n| !n.is_empty()) {
            for method in ["generateContent", "streamGenerateContent", "countTokens"] {
                let path = format!("{prefix}/models/{}:{method}", pct(&name));
                let r = h.post(&path, GEN);
                assert!(
                    (400..500).contains(&r.status),
                    "POST {path}: {} {}",
                    r.status,
                    r.text()
                );
                let v = r.json();
                assert_eq!(v["error"]["code"], r.status, "{v}");
                if r.status == 400 {
                    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT", "{v}");
                }
            }
            let path = format!("{prefix}/models/{}", pct(&name));
            let r = h.get(&path);
            assert!((400..500).contains(&r.status), "GET {path}: {}", r.status);
        }
    }
    assert_eq!(h.sim.calls(), 0, "{:?}", h.sim.requests());
}

#[test]
fn valid_names_with_a_models_prefix_still_reach_the_right_path() {
    let h = Harness::basic();
    let r = post_openai(
        &h,
        "/v1/chat/completions",
        &json!({"model": "models/gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = post_openai(
        &h,
        "/v1/embeddings",
        &json!({"model": "text-embedding-004", "input": "x"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let paths: Vec<String> = h.sim.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/v1beta/models/gemini-2.5-flash:generateContent",
            "/v1beta/models/text-embedding-004:batchEmbedContents"
        ],
        "{:?}",
        h.sim.requests()
    );
    for r in h.sim.requests() {
        assert!(r.query.is_none() || r.query.as_deref() == Some(""), "{r:?}");
    }
}
