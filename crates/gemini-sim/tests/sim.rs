//! End-to-end tests: a real Pingora simulator on loopback, driven by a raw HTTP/1.1 client.

// Test code: helpers outside #[test] functions may panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{get, post, send, start, wait_for};
use gemini_sim::{FaultAction, FaultRule, Quota, SimConfig};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const GEN: &str = "/v1beta/models/gemini-2.5-flash:generateContent";
const SSE: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";
const ARRAY: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent";

fn prompt(text: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": text}]}]})
}

fn rule(
    key: Option<&str>,
    model: Option<&str>,
    times: Option<u32>,
    action: FaultAction,
) -> FaultRule {
    FaultRule {
        key: key.map(str::to_owned),
        model: model.map(str::to_owned),
        times,
        action,
    }
}

fn retry_secs(err: &Value) -> u64 {
    let d = err["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["@type"] == "type.googleapis.com/google.rpc.RetryInfo")
        .expect("RetryInfo");
    let s = d["retryDelay"].as_str().unwrap();
    s.strip_suffix('s').unwrap().parse().unwrap()
}

fn quota_ids(err: &Value) -> Vec<String> {
    err["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["@type"] == "type.googleapis.com/google.rpc.QuotaFailure")
        .flat_map(|d| d["violations"].as_array().unwrap().clone())
        .map(|v| v["quotaId"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn generate_content_json_shape() {
    let t = start(SimConfig::default());
    let r = post(
        &t.addr,
        GEN,
        "k1",
        &prompt("What is the capital of France? One word."),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    assert!(r.header("content-length").is_some());
    assert!(r.complete);
    let text = r.text();
    assert!(
        text.starts_with("{\n  \"candidates\": [\n    {\n      \"content\": {"),
        "{text}"
    );
    assert!(text.ends_with("}\n"));
    let v = r.json();
    let c = &v["candidates"][0];
    assert_eq!(c["content"]["role"], "model");
    assert_eq!(
        c["content"]["parts"][0]["text"],
        "Echo: What is the capital of France? One word."
    );
    assert_eq!(c["finishReason"], "STOP");
    assert_eq!(c["index"], 0);
    let u = &v["usageMetadata"];
    let p = u["promptTokenCount"].as_u64().unwrap();
    let cand = u["candidatesTokenCount"].as_u64().unwrap();
    assert_eq!(p, 10); // 40 chars / 4
    assert_eq!(u["totalTokenCount"].as_u64().unwrap(), p + cand);
    assert_eq!(
        u["promptTokensDetails"],
        json!([{"modality": "TEXT", "tokenCount": 10}])
    );
    assert_eq!(v["modelVersion"], "gemini-2.5-flash");
    assert_eq!(v["responseId"].as_str().unwrap().len(), 23);
    // key order like Google's
    let pos = |k: &str| text.find(&format!("\"{k}\"")).unwrap();
    assert!(pos("candidates") < pos("usageMetadata"));
    assert!(pos("usageMetadata") < pos("modelVersion"));
    assert!(pos("modelVersion") < pos("responseId"));

    // /v1 and ?key= work too; fixed reply text from config is honoured elsewhere
    let body = serde_json::to_vec(&prompt("hi")).unwrap();
    let r = send(
        &t.addr,
        "POST",
        "/v1/models/gemini-2.5-flash:generateContent?key=qk",
        &[],
        &body,
    );
    assert_eq!(r.status, 200);
    assert_eq!(t.sim.calls_for_key("qk"), 1);
}

#[test]
fn sse_framing_is_byte_exact() {
    let t = start(SimConfig::default());
    let r = post(
        &t.addr,
        SSE,
        "k1",
        &prompt("Tell me something about the sea"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert!(r.header("content-length").is_none());
    assert!(r.chunked && r.complete);
    let text = r.text();
    assert!(text.starts_with("data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": "));
    assert!(text.ends_with("}\r\n\r\n"));
    assert!(
        !text.replace("\r\n\r\n", "").contains('\n'),
        "only \\r\\n\\r\\n separators"
    );
    let events = r.sse_events();
    assert_eq!(events.len(), 4);
    for e in &events {
        assert!(e.starts_with("data: {"));
        assert!(!e.contains(", \""), "compact style: no space after commas");
    }
    let evs = r.sse_json();
    let mut joined = String::new();
    let mut last_cand = 0;
    for (i, e) in evs.iter().enumerate() {
        joined.push_str(
            e["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap(),
        );
        let u = &e["usageMetadata"];
        let cand = u["candidatesTokenCount"].as_u64().unwrap();
        assert!(cand >= last_cand, "cumulative usage");
        last_cand = cand;
        assert_eq!(
            u["totalTokenCount"].as_u64().unwrap(),
            u["promptTokenCount"].as_u64().unwrap() + cand
        );
        assert_eq!(e["responseId"], evs[0]["responseId"]);
        assert_eq!(e["modelVersion"], "gemini-2.5-flash");
        let fin = e["candidates"][0].get("finishReason");
        if i == evs.len() - 1 {
            assert_eq!(fin, Some(&json!("STOP")));
        } else {
            assert!(fin.is_none());
        }
    }
    assert_eq!(joined, "Echo: Tell me something about the sea");
    // final cumulative usage equals the non-streamed answer's
    let full = post(
        &t.addr,
        GEN,
        "k1",
        &prompt("Tell me something about the sea"),
    )
    .json();
    assert_eq!(
        full["usageMetadata"]["candidatesTokenCount"]
            .as_u64()
            .unwrap(),
        last_cand
    );
    assert_eq!(t.sim.events_sent(), 4);
}

#[test]
fn stream_shape_from_config_and_fault() {
    let t = start(SimConfig {
        stream_events: 6,
        reply_text: Some("The quick brown fox jumps over the lazy dog".into()),
        ..SimConfig::default()
    });
    let r = post(&t.addr, SSE, "k1", &prompt("x"));
    let evs = r.sse_json();
    assert_eq!(evs.len(), 6);
    let joined: String = evs
        .iter()
        .map(|e| {
            e["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(joined, "The quick brown fox jumps over the lazy dog");

    t.sim.add_fault(rule(
        None,
        None,
        Some(1),
        FaultAction::Stream {
            events: 2,
            interval_ms: 0,
        },
    ));
    assert_eq!(post(&t.addr, SSE, "k1", &prompt("x")).sse_events().len(), 2);
    assert_eq!(post(&t.addr, SSE, "k1", &prompt("x")).sse_events().len(), 6);
}

#[test]
fn array_stream_without_alt_sse() {
    let t = start(SimConfig::default());
    let r = post(&t.addr, ARRAY, "k1", &prompt("hello there"));
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert!(r.chunked && r.complete);
    let text = r.text();
    assert!(text.starts_with("[{"));
    assert!(text.ends_with("]"));
    assert_eq!(text.matches(",\r\n{").count(), 3);
    let arr = r.json();
    let arr = arr.as_array().unwrap();
    assert_eq!(arr.len(), 4);
    assert_eq!(arr[3]["candidates"][0]["finishReason"], "STOP");
    assert_eq!(t.sim.events_sent(), 4);
}

#[test]
fn count_tokens_both_forms() {
    let t = start(SimConfig::default());
    let path = "/v1beta/models/gemini-2.5-flash:countTokens";
    let r = post(&t.addr, path, "k1", &prompt("abcdefgh"));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"totalTokens": 2, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 2}]})
    );
    let body = json!({"generateContentRequest": {"model": "models/gemini-2.5-flash", "contents": [
        {"role": "user", "parts": [{"text": "abcd"}, {"inline_data": {"mime_type": "image/png", "data": "iVBORw=="}}]}
    ]}});
    let v = post(&t.addr, path, "k1", &body).json();
    assert_eq!(v["totalTokens"], 259);
    assert_eq!(
        v["promptTokensDetails"],
        json!([{"modality": "TEXT", "tokenCount": 1}, {"modality": "IMAGE", "tokenCount": 258}])
    );
}

#[test]
fn embeddings() {
    let t = start(SimConfig::default());
    let body = json!({"requests": [
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "hello"}], "role": "user"}},
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 16},
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "world"}]}}
    ]});
    let r = post(
        &t.addr,
        "/v1beta/models/gemini-embedding-001:batchEmbedContents",
        "k1",
        &body,
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    let embs = v["embeddings"].as_array().unwrap();
    assert_eq!(embs.len(), 3);
    let vals = |i: usize| -> Vec<f64> {
        embs[i]["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    assert_eq!(vals(0).len(), 768);
    assert_eq!(vals(1).len(), 16);
    assert_ne!(vals(0), vals(2));
    let norm: f64 = vals(0).iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3);

    let single = post(
        &t.addr,
        "/v1beta/models/text-embedding-004:embedContent",
        "k1",
        &json!({"content": {"parts": [{"text": "hello"}]}}),
    )
    .json();
    let one: Vec<f64> = single["embedding"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(one, vals(0), "deterministic from the text");

    // a generative model does not embed
    let r = post(
        &t.addr,
        "/v1beta/models/gemini-2.5-flash:batchEmbedContents",
        "k1",
        &body,
    );
    assert_eq!(r.status, 404);
}

#[test]
fn models_paging_and_get() {
    let t = start(SimConfig::default());
    let all = get(&t.addr, "/v1beta/models", "k1").json();
    let all_names: Vec<String> = all["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(all.get("nextPageToken").is_none());
    assert!(all_names.len() >= 8);
    for id in [
        "gemini-2.5-flash",
        "gemini-2.5-flash-lite",
        "gemini-2.5-pro",
        "gemini-2.0-flash",
        "gemini-3-flash-preview",
        "gemini-3-pro-preview",
        "gemini-embedding-001",
        "text-embedding-004",
    ] {
        assert!(all_names.contains(&format!("models/{id}")), "{id}");
    }
    let mut names = Vec::new();
    let mut path = "/v1beta/models?pageSize=3".to_owned();
    let mut pages = 0;
    loop {
        let v = get(&t.addr, &path, "k1").json();
        let ms = v["models"].as_array().unwrap();
        assert!(ms.len() <= 3);
        names.extend(ms.iter().map(|m| m["name"].as_str().unwrap().to_owned()));
        pages += 1;
        match v.get("nextPageToken").and_then(Value::as_str) {
            Some(tok) => path = format!("/v1beta/models?pageSize=3&pageToken={tok}"),
            None => break,
        }
    }
    assert_eq!(names, all_names);
    assert_eq!(pages, all_names.len().div_ceil(3));

    let r = get(&t.addr, "/v1beta/models?pageToken=bogus", "k1");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["status"], "INVALID_ARGUMENT");

    let m = get(&t.addr, "/v1beta/models/gemini-2.5-flash", "k1").json();
    assert_eq!(m["name"], "models/gemini-2.5-flash");
    for k in [
        "version",
        "displayName",
        "description",
        "inputTokenLimit",
        "outputTokenLimit",
        "supportedGenerationMethods",
        "temperature",
        "topP",
        "topK",
        "maxTemperature",
        "thinking",
    ] {
        assert!(m.get(k).is_some(), "{k}");
    }
    let r = get(&t.addr, "/v1beta/models/gemini-0", "k1");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["status"], "NOT_FOUND");
}

#[test]
fn auth_errors() {
    let t = start(SimConfig {
        valid_keys: vec!["good".into()],
        invalid_keys: vec!["bad".into()],
        forbidden_keys: vec!["blocked".into()],
        ..SimConfig::default()
    });
    for key in ["bad", "unknown"] {
        let r = post(&t.addr, GEN, key, &prompt("hi"));
        assert_eq!(r.status, 400, "{key}");
        let v = r.json();
        assert_eq!(v["error"]["code"], 400);
        assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
        assert_eq!(
            v["error"]["message"],
            "API key not valid. Please pass a valid API key."
        );
        let info = &v["error"]["details"][0];
        assert_eq!(info["@type"], "type.googleapis.com/google.rpc.ErrorInfo");
        assert_eq!(info["reason"], "API_KEY_INVALID");
        assert_eq!(info["domain"], "googleapis.com");
        assert_eq!(
            info["metadata"]["service"],
            "generativelanguage.googleapis.com"
        );
    }
    let r = post(&t.addr, GEN, "blocked", &prompt("hi"));
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["status"], "PERMISSION_DENIED");
    let body = serde_json::to_vec(&prompt("hi")).unwrap();
    let r = send(&t.addr, "POST", GEN, &[], &body);
    assert_eq!(r.status, 403);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Method doesn't allow unregistered callers"));
    assert_eq!(post(&t.addr, GEN, "good", &prompt("hi")).status, 200);
    // header names are case-insensitive
    let r = send(&t.addr, "POST", GEN, &[("X-Goog-Api-Key", "good")], &body);
    assert_eq!(r.status, 200);
    assert_eq!(t.sim.calls(), 6);
}

#[test]
fn bad_requests() {
    let t = start(SimConfig::default());
    let r = send(
        &t.addr,
        "POST",
        GEN,
        &[("x-goog-api-key", "k")],
        b"{\"contents\": [}",
    );
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Invalid JSON payload received."));
    let r = post(
        &t.addr,
        "/v1beta/models/gemini-9:generateContent",
        "k",
        &prompt("x"),
    );
    assert_eq!(r.status, 404);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("models/gemini-9 is not found for API version v1beta"));
    let r = post(&t.addr, GEN, "k", &json!({}));
    assert_eq!(r.status, 400);
}

#[test]
fn rate_limit_and_quota_day_fault_bodies() {
    let t = start(SimConfig::default());
    t.sim.add_fault(rule(
        Some("k1"),
        None,
        Some(1),
        FaultAction::RateLimit {
            retry_delay_secs: 41,
        },
    ));
    t.sim.add_fault(rule(
        None,
        Some("gemini-2.5-pro"),
        Some(1),
        FaultAction::QuotaDay,
    ));
    // k2 is not matched by the first rule
    assert_eq!(post(&t.addr, GEN, "k2", &prompt("x")).status, 200);
    let r = post(&t.addr, GEN, "k1", &prompt("x"));
    assert_eq!(r.status, 429);
    let v = r.json();
    assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(retry_secs(&v), 41);
    assert_eq!(
        quota_ids(&v),
        vec!["GenerateRequestsPerMinutePerProjectPerModel-FreeTier"]
    );
    let qv = &v["error"]["details"][0]["violations"][0];
    assert_eq!(qv["quotaDimensions"]["model"], "gemini-2.5-flash");
    assert_eq!(qv["quotaDimensions"]["location"], "global");
    assert!(qv["quotaValue"].is_string());
    assert!(v["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["@type"] == "type.googleapis.com/google.rpc.Help"));
    // expired
    assert_eq!(post(&t.addr, GEN, "k1", &prompt("x")).status, 200);

    let r = post(
        &t.addr,
        "/v1beta/models/gemini-2.5-pro:generateContent",
        "k1",
        &prompt("x"),
    );
    assert_eq!(r.status, 429);
    let ids = quota_ids(&r.json());
    assert_eq!(ids.len(), 1);
    assert!(ids[0].contains("PerDay"), "{ids:?}");

    t.sim
        .add_fault(rule(None, None, Some(1), FaultAction::Status { code: 503 }));
    let r = post(&t.addr, GEN, "k1", &prompt("x"));
    assert_eq!(r.status, 503);
    let v = r.json();
    assert_eq!(v["error"]["status"], "UNAVAILABLE");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("The model is overloaded."));
    t.sim
        .add_fault(rule(None, None, Some(1), FaultAction::Status { code: 429 }));
    let v = post(&t.addr, GEN, "k1", &prompt("x")).json();
    assert_eq!(retry_secs(&v), 60);
    t.sim
        .add_fault(rule(None, None, Some(1), FaultAction::InvalidKey));
    let v = post(&t.addr, GEN, "k1", &prompt("x")).json();
    assert_eq!(v["error"]["details"][0]["reason"], "API_KEY_INVALID");
}

#[test]
fn per_key_rpm_quota_with_honest_retry_delay() {
    let mut key_quotas = HashMap::new();
    key_quotas.insert(
        "small".to_owned(),
        Quota {
            rpm: Some(2),
            tpm: None,
            rpd: None,
        },
    );
    let t = start(SimConfig {
        key_quotas,
        ..SimConfig::default()
    });
    let t0 = Instant::now();
    assert_eq!(post(&t.addr, GEN, "small", &prompt("a")).status, 200);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(post(&t.addr, GEN, "small", &prompt("a")).status, 200);
    let r = post(&t.addr, GEN, "small", &prompt("a"));
    assert_eq!(r.status, 429);
    let v = r.json();
    assert_eq!(
        quota_ids(&v),
        vec!["GenerateRequestsPerMinutePerProjectPerModel-FreeTier"]
    );
    assert_eq!(v["error"]["details"][0]["violations"][0]["quotaValue"], "2");
    // the oldest admitted request leaves the window 60 s after it arrived
    let elapsed = t0.elapsed().as_secs_f64();
    let expect = 60.0 - elapsed;
    let got = retry_secs(&v) as f64;
    assert!(
        got >= expect && got <= expect + 2.0,
        "retryDelay {got} vs {expect}"
    );
    // rejected requests are not counted, other keys and models are independent
    assert_eq!(post(&t.addr, GEN, "small", &prompt("a")).status, 429);
    assert_eq!(post(&t.addr, GEN, "other", &prompt("a")).status, 200);
    assert_eq!(
        post(
            &t.addr,
            "/v1beta/models/gemini-2.5-pro:generateContent",
            "small",
            &prompt("a")
        )
        .status,
        200
    );
    t.sim.reset();
    assert_eq!(post(&t.addr, GEN, "small", &prompt("a")).status, 200);
}

#[test]
fn tpm_and_rpd_quota() {
    let t = start(SimConfig {
        quota: Some(Quota {
            rpm: None,
            tpm: Some(10),
            rpd: Some(2),
        }),
        ..SimConfig::default()
    });
    // 48 chars = 12 tokens > 10
    let r = post(&t.addr, GEN, "k", &prompt(&"x".repeat(48)));
    assert_eq!(r.status, 429);
    assert_eq!(
        quota_ids(&r.json()),
        vec!["GenerateContentInputTokensPerModelPerMinute-FreeTier"]
    );
    assert_eq!(post(&t.addr, GEN, "k", &prompt("abcd")).status, 200);
    assert_eq!(post(&t.addr, GEN, "k", &prompt("abcd")).status, 200);
    let r = post(&t.addr, GEN, "k", &prompt("abcd"));
    assert_eq!(r.status, 429);
    let v = r.json();
    assert_eq!(
        quota_ids(&v),
        vec!["GenerateRequestsPerDayPerProjectPerModel-FreeTier"]
    );
    assert!(retry_secs(&v) <= 86_400);
}

#[test]
fn cut_after_leaves_chunked_body_unterminated() {
    let t = start(SimConfig::default());
    t.sim.add_fault(rule(
        None,
        None,
        Some(1),
        FaultAction::CutAfter { events: 2 },
    ));
    let r = post(
        &t.addr,
        SSE,
        "k",
        &prompt("a long enough prompt for four events"),
    );
    assert_eq!(r.status, 200);
    assert!(r.chunked);
    assert!(!r.complete, "no terminating zero chunk");
    assert!(!r.raw_body.ends_with(b"0\r\n\r\n"));
    assert_eq!(r.sse_events().len(), 2);
    assert_eq!(t.sim.events_sent(), 2);
    assert_eq!(t.sim.cancelled(), 0);
    // cut after all events: complete events, still no proper end
    t.sim.add_fault(rule(
        None,
        None,
        Some(1),
        FaultAction::CutAfter { events: 9 },
    ));
    let r = post(&t.addr, SSE, "k", &prompt("abc"));
    assert_eq!(r.sse_events().len(), 4);
    assert!(!r.complete);
    // non-streamed: half a body
    t.sim.add_fault(rule(
        None,
        None,
        Some(1),
        FaultAction::CutAfter { events: 0 },
    ));
    let r = post(&t.addr, GEN, "k", &prompt("abc"));
    assert_eq!(r.status, 200);
    assert!(!r.complete);
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    // next request is fine
    let r = post(&t.addr, SSE, "k", &prompt("abc"));
    assert!(r.complete);
    assert!(r.raw_body.ends_with(b"0\r\n\r\n"));
}

#[test]
fn hang_then_client_leaves_counts_cancelled() {
    let t = start(SimConfig::default());
    t.sim
        .add_fault(rule(None, None, Some(1), FaultAction::Hang));
    let body = serde_json::to_vec(&prompt("x")).unwrap();
    let mut s = TcpStream::connect(&t.addr).unwrap();
    s.write_all(&common::request_bytes(
        "POST",
        GEN,
        &[("x-goog-api-key", "k")],
        &body,
        false,
    ))
    .unwrap();
    s.set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(s.read(&mut buf).is_err(), "no answer while hanging");
    assert_eq!(t.sim.cancelled(), 0);
    drop(s);
    assert!(wait_for(Duration::from_secs(5), || t.sim.cancelled() == 1));
    assert_eq!(t.sim.calls(), 1);
}

#[test]
fn client_leaving_mid_stream_counts_cancelled() {
    let t = start(SimConfig {
        stream_events: 5,
        stream_interval: Duration::from_millis(300),
        ..SimConfig::default()
    });
    let body = serde_json::to_vec(&prompt("some text to split")).unwrap();
    let mut s = TcpStream::connect(&t.addr).unwrap();
    let start_at = Instant::now();
    s.write_all(&common::request_bytes(
        "POST",
        SSE,
        &[("x-goog-api-key", "k")],
        &body,
        false,
    ))
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("data: ") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    // the first event is flushed before the stream ends
    assert!(start_at.elapsed() < Duration::from_millis(1000));
    drop(s);
    assert!(wait_for(Duration::from_secs(5), || t.sim.cancelled() == 1));
    assert!(t.sim.events_sent() < 5);
}

#[test]
fn slow_first_byte_then_normal_answer() {
    let t = start(SimConfig::default());
    t.sim.add_fault(rule(
        None,
        None,
        Some(1),
        FaultAction::SlowFirstByte { ms: 300 },
    ));
    let t0 = Instant::now();
    let r = post(&t.addr, GEN, "k", &prompt("x"));
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["candidates"][0]["finishReason"], "STOP");
}

#[test]
fn reset_drops_before_any_byte() {
    let t = start(SimConfig::default());
    t.sim
        .add_fault(rule(Some("k"), None, Some(1), FaultAction::Reset));
    let r = post(&t.addr, GEN, "k", &prompt("x"));
    assert_eq!(r.status, 0);
    assert!(r.raw.is_empty());
    assert_eq!(post(&t.addr, GEN, "k", &prompt("x")).status, 200);
    assert_eq!(t.sim.calls_for_key("k"), 2);
}

#[test]
fn keep_alive_connection_is_reused() {
    let t = start(SimConfig::default());
    let body = serde_json::to_vec(&prompt("x")).unwrap();
    let mut s = TcpStream::connect(&t.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for path in [SSE, GEN] {
        s.write_all(&common::request_bytes(
            "POST",
            path,
            &[("x-goog-api-key", "k")],
            &body,
            false,
        ))
        .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed early");
            got.extend_from_slice(&buf[..n]);
            let r = common::parse(got.clone());
            if r.status == 200 && r.complete {
                break;
            }
        }
    }
    assert_eq!(t.sim.calls(), 2);
}

#[test]
fn function_call_answers() {
    let t = start(SimConfig::default());
    let body = json!({
        "contents": [{"role": "user", "parts": [{"text": "What's the weather in Paris?"}]}],
        "tools": [{"functionDeclarations": [{"name": "get_weather", "description": "w",
            "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}]
    });
    let v = post(
        &t.addr,
        "/v1beta/models/gemini-3-flash-preview:generateContent",
        "k",
        &body,
    )
    .json();
    let part = &v["candidates"][0]["content"]["parts"][0];
    assert_eq!(part["functionCall"]["name"], "get_weather");
    assert_eq!(part["functionCall"]["args"], json!({"city": "Paris"}));
    assert_eq!(part["functionCall"]["id"].as_str().unwrap().len(), 8);
    assert!(part["thoughtSignature"].as_str().unwrap().len() > 20);
    assert_eq!(v["candidates"][0]["finishReason"], "STOP");

    let v = post(&t.addr, GEN, "k", &body).json();
    let part = &v["candidates"][0]["content"]["parts"][0];
    assert_eq!(part["functionCall"]["name"], "get_weather");
    assert!(part["functionCall"].get("id").is_none());
    assert!(part.get("thoughtSignature").is_none());

    let evs = post(
        &t.addr,
        "/v1beta/models/gemini-3-flash-preview:streamGenerateContent?alt=sse",
        "k",
        &body,
    )
    .sse_json();
    assert_eq!(evs.len(), 2);
    assert!(evs[0]["candidates"][0]["content"]["parts"][0]["functionCall"].is_object());
    assert_eq!(evs[1]["candidates"][0]["content"]["parts"][0]["text"], "");
    assert_eq!(evs[1]["candidates"][0]["finishReason"], "STOP");

    // after the tool result the model answers with text
    let mut follow = body.clone();
    follow["contents"].as_array_mut().unwrap().extend([
        json!({"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]}),
        json!({"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp": 20}}}]}),
    ]);
    let v = post(&t.addr, GEN, "k", &follow).json();
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["text"],
        "Echo: get_weather returned {\"temp\":20}"
    );
}

#[test]
fn recorded_request_has_key_and_body_sha() {
    let t = start(SimConfig::default());
    let body = serde_json::to_vec(&prompt("record me")).unwrap();
    let r = send(
        &t.addr,
        "POST",
        SSE,
        &[("X-Goog-Api-Key", "rec-key"), ("User-Agent", "test/1.0")],
        &body,
    );
    assert_eq!(r.status, 200);
    let reqs = t.sim.requests();
    assert_eq!(reqs.len(), 1);
    let rec = &reqs[0];
    assert_eq!(rec.method, "POST");
    assert_eq!(
        rec.path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    );
    assert_eq!(rec.query.as_deref(), Some("alt=sse"));
    assert_eq!(rec.api_key.as_deref(), Some("rec-key"));
    assert_eq!(rec.body_len, body.len());
    let sha: String = Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(rec.body_sha256, sha);
    assert_eq!(rec.body.as_ref(), Some(&prompt("record me")));
    assert!(rec
        .headers
        .iter()
        .any(|(k, v)| k == "x-goog-api-key" && v == "rec-key"));
    assert!(rec
        .headers
        .iter()
        .any(|(k, v)| k == "user-agent" && v == "test/1.0"));
    assert!(rec
        .headers
        .iter()
        .all(|(k, _)| *k == k.to_ascii_lowercase()));

    let t2 = start(SimConfig {
        record: false,
        ..SimConfig::default()
    });
    post(&t2.addr, GEN, "k", &prompt("x"));
    assert!(t2.sim.requests().is_empty());
    assert_eq!(t2.sim.calls(), 1);
}

#[test]
fn control_api() {
    let t = start(SimConfig::default());
    let r = send(
        &t.addr,
        "POST",
        "/_sim/faults",
        &[],
        br#"{"key": "k1", "times": 1, "action": {"type": "status", "code": 500}}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["added"], 1);
    let r = send(
        &t.addr,
        "POST",
        "/_sim/faults",
        &[],
        br#"[{"model": "gemini-2.5-pro", "action": {"type": "reset"}}, {"action": {"type": "cut_after", "events": 1}, "key": "zz"}]"#,
    );
    assert_eq!(r.json()["added"], 2);
    assert_eq!(t.sim.faults().len(), 3);
    let listed = send(&t.addr, "GET", "/_sim/faults", &[], b"").json();
    assert_eq!(listed.as_array().unwrap().len(), 3);
    assert_eq!(listed[1]["action"]["type"], "reset");
    let r = send(
        &t.addr,
        "POST",
        "/_sim/faults",
        &[],
        b"{\"action\": {\"type\": \"nope\"}}",
    );
    assert_eq!(r.status, 400);

    assert_eq!(post(&t.addr, GEN, "k1", &prompt("x")).status, 500);
    assert_eq!(post(&t.addr, GEN, "k1", &prompt("x")).status, 200);
    let reqs = send(&t.addr, "GET", "/_sim/requests", &[], b"").json();
    assert_eq!(reqs.as_array().unwrap().len(), 2);
    assert_eq!(reqs[0]["api_key"], "k1");
    assert_eq!(reqs[0]["body"], prompt("x"));
    let stats = send(&t.addr, "GET", "/_sim/stats", &[], b"").json();
    assert_eq!(stats["calls"], 2);
    assert_eq!(stats["by_key"]["k1"], 2);
    assert_eq!(stats["cancelled"], 0);
    assert_eq!(stats["events_sent"], 0);

    let r = send(&t.addr, "DELETE", "/_sim/faults", &[], b"");
    assert_eq!(r.json()["cleared"], 2);
    assert!(t.sim.faults().is_empty());
    assert_eq!(
        post(
            &t.addr,
            "/v1beta/models/gemini-2.5-pro:generateContent",
            "k1",
            &prompt("x")
        )
        .status,
        200
    );
    let r = send(&t.addr, "POST", "/_sim/reset", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(t.sim.calls(), 0);
    assert!(t.sim.requests().is_empty());
    assert_eq!(send(&t.addr, "GET", "/_sim/nothing", &[], b"").status, 404);
    // control calls are not Gemini calls
    assert_eq!(t.sim.calls(), 0);
}

/// Parsing JSON while keeping key order, to compare shapes with the real recording.
mod ordered {
    use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
    use std::fmt;

    #[derive(Debug, Clone, PartialEq)]
    pub enum OVal {
        Null,
        Bool(bool),
        Num(serde_json::Number),
        Str(String),
        Arr(Vec<OVal>),
        Obj(Vec<(String, OVal)>),
    }

    impl<'de> Deserialize<'de> for OVal {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = OVal;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("JSON")
                }
                fn visit_unit<E>(self) -> Result<OVal, E> {
                    Ok(OVal::Null)
                }
                fn visit_bool<E>(self, b: bool) -> Result<OVal, E> {
                    Ok(OVal::Bool(b))
                }
                fn visit_u64<E>(self, n: u64) -> Result<OVal, E> {
                    Ok(OVal::Num(n.into()))
                }
                fn visit_i64<E>(self, n: i64) -> Result<OVal, E> {
                    Ok(OVal::Num(n.into()))
                }
                fn visit_f64<E>(self, n: f64) -> Result<OVal, E> {
                    Ok(serde_json::Number::from_f64(n).map_or(OVal::Null, OVal::Num))
                }
                fn visit_str<E>(self, s: &str) -> Result<OVal, E> {
                    Ok(OVal::Str(s.to_owned()))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<OVal, A::Error> {
                    let mut v = Vec::new();
                    while let Some(x) = a.next_element()? {
                        v.push(x);
                    }
                    Ok(OVal::Arr(v))
                }
                fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<OVal, A::Error> {
                    let mut v = Vec::new();
                    while let Some((k, x)) = a.next_entry()? {
                        v.push((k, x));
                    }
                    Ok(OVal::Obj(v))
                }
            }
            d.deserialize_any(V)
        }
    }

    impl Serialize for OVal {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match self {
                OVal::Null => s.serialize_unit(),
                OVal::Bool(b) => s.serialize_bool(*b),
                OVal::Num(n) => n.serialize(s),
                OVal::Str(x) => s.serialize_str(x),
                OVal::Arr(v) => {
                    let mut seq = s.serialize_seq(Some(v.len()))?;
                    for x in v {
                        seq.serialize_element(x)?;
                    }
                    seq.end()
                }
                OVal::Obj(v) => {
                    let mut m = s.serialize_map(Some(v.len()))?;
                    for (k, x) in v {
                        m.serialize_entry(k, x)?;
                    }
                    m.end()
                }
            }
        }
    }

    /// Key/type skeleton, ignoring the listed keys.
    pub fn shape(v: &OVal, ignore: &[&str]) -> String {
        match v {
            OVal::Null => "null".into(),
            OVal::Bool(_) => "bool".into(),
            OVal::Num(_) => "num".into(),
            OVal::Str(_) => "str".into(),
            OVal::Arr(a) => format!(
                "[{}]",
                a.iter()
                    .map(|x| shape(x, ignore))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            OVal::Obj(o) => format!(
                "{{{}}}",
                o.iter()
                    .filter(|(k, _)| !ignore.contains(&k.as_str()))
                    .map(|(k, x)| format!("{k}:{}", shape(x, ignore)))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }
}

#[test]
fn sse_events_match_the_real_recording() {
    use ordered::{shape, OVal};
    let path = "/work/shared/fixtures/real-gemini/TestModel_GenerateStream_ok.httprr";
    let Ok(raw) = std::fs::read(path) else {
        eprintln!("skipping: {path} not available");
        return;
    };
    // httprr: "httprr trace v1\n", then "REQLEN RESPLEN\n", request bytes, response bytes
    let first_nl = raw.iter().position(|&b| b == b'\n').unwrap();
    let rest = &raw[first_nl + 1..];
    let second_nl = rest.iter().position(|&b| b == b'\n').unwrap();
    let lens = std::str::from_utf8(&rest[..second_nl]).unwrap();
    let (req_len, resp_len) = lens.split_once(' ').unwrap();
    let (req_len, resp_len): (usize, usize) = (req_len.parse().unwrap(), resp_len.parse().unwrap());
    let data = &rest[second_nl + 1..];
    let request = &data[..req_len];
    let response = &data[req_len..req_len + resp_len];
    let req_body_at = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let req_body: Value = serde_json::from_slice(&request[req_body_at..]).unwrap();
    let resp_body_at = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let real_body = std::str::from_utf8(&response[resp_body_at..]).unwrap();
    let real_events: Vec<&str> = real_body
        .split("\r\n\r\n")
        .filter(|s| !s.is_empty())
        .collect();
    assert!(real_body.ends_with("\r\n\r\n"));
    assert_eq!(real_events.len(), 1);
    let real_json = real_events[0].strip_prefix("data: ").unwrap();
    let real: OVal = serde_json::from_str(real_json).unwrap();
    // our compact formatter reproduces Google's bytes exactly
    assert_eq!(
        gemini_sim::wire::to_compact_json(&real),
        real_json.as_bytes()
    );

    // the same request against the simulator, streamed as one event like the recording
    let t = start(SimConfig {
        stream_events: 1,
        ..SimConfig::default()
    });
    let r = post(&t.addr, SSE, "k", &req_body);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let body = r.text();
    assert!(body.starts_with("data: {\"candidates\": ["));
    assert!(body.ends_with("\r\n\r\n"));
    let events = r.sse_events();
    assert_eq!(events.len(), 1);
    let sim_json = events[0].strip_prefix("data: ").unwrap();
    let sim: OVal = serde_json::from_str(sim_json).unwrap();
    assert_eq!(gemini_sim::wire::to_compact_json(&sim), sim_json.as_bytes());
    // same keys in the same order at every level (the sim does not report thinking tokens)
    let ignore = ["thoughtsTokenCount"];
    assert_eq!(shape(&sim, &ignore), shape(&real, &ignore));
    let OVal::Obj(top) = &sim else {
        panic!("object")
    };
    let keys: Vec<&str> = top.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["candidates", "usageMetadata", "modelVersion", "responseId"]
    );

    // multi-event streams keep the shape; non-final events just lack finishReason
    let t4 = start(SimConfig::default());
    for (i, e) in post(&t4.addr, SSE, "k", &req_body)
        .sse_events()
        .iter()
        .enumerate()
    {
        let ev: OVal = serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap();
        let ignore: &[&str] = if i < 3 {
            &["thoughtsTokenCount", "finishReason"]
        } else {
            &["thoughtsTokenCount"]
        };
        assert_eq!(shape(&ev, ignore), shape(&real, ignore));
    }
}

#[test]
fn large_body_is_answered_but_not_kept_parsed() {
    let t = start(SimConfig::default());
    let body = prompt(&"y".repeat(2 << 20));
    let r = post(&t.addr, GEN, "k", &body);
    assert_eq!(r.status, 200);
    let rec = &t.sim.requests()[0];
    assert!(rec.body_len > 1 << 20);
    assert!(rec.body.is_none());
    assert_eq!(rec.body_sha256.len(), 64);
}

#[test]
fn binary_serves_and_exits_on_sigterm() {
    use std::io::BufRead;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Reap(
        std::process::Command::new(env!("CARGO_BIN_EXE_gemini-sim"))
            .args([
                "--listen",
                &addr,
                "--valid-keys",
                "a,b",
                "--rpm",
                "1",
                "--stream-events",
                "2",
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    std::io::BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), format!("gemini-sim listening on {addr}"));
    assert!(wait_for(Duration::from_secs(10), || TcpStream::connect(
        &addr
    )
    .is_ok()));
    assert_eq!(post(&addr, GEN, "c", &prompt("x")).status, 400);
    assert_eq!(post(&addr, SSE, "a", &prompt("x")).sse_events().len(), 2);
    assert_eq!(post(&addr, SSE, "a", &prompt("x")).status, 429);
    let stats = send(&addr, "GET", "/_sim/stats", &[], b"").json();
    assert_eq!(stats["calls"], 3);

    let t0 = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut exited = false;
    while t0.elapsed() < Duration::from_secs(5) {
        if child.0.try_wait().unwrap().is_some() {
            exited = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(exited, "gemini-sim did not exit on SIGTERM");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
}
