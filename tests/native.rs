//! The Gemini-native surface through the simulator: routes, pass-through fidelity, auth, credentials.

mod common;
use common::*;
use gemini_gateway::upstream::KeyId;
use gemini_sim::SimConfig;

#[test]
fn generate_content_on_v2_and_v1beta() {
    let h = Harness::basic();
    for prefix in ["/v2", "/v1beta"] {
        let r = h.post(
            &format!("{prefix}/models/gemini-2.5-flash:generateContent"),
            GEN,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        assert_eq!(v["candidates"][0]["content"]["role"], "model");
        assert!(v["usageMetadata"]["promptTokenCount"].as_u64().unwrap() > 0);
    }
    let reqs = h.sim.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/v1beta/models/gemini-2.5-flash:generateContent");
        assert_eq!(r.query, None);
    }
}

#[test]
fn body_is_forwarded_byte_for_byte_with_snake_case_kept() {
    let h = Harness::basic();
    let body = r#"{"contents": [{"parts": [{"text": "hi \u00e9 😀"}, {"inlineData": {"data": "iVBORw==", "mime_type": "image/png"}}], "role": "user"}], "generationConfig": {"thinkingConfig": {"include_thoughts": true, "thinking_budget": 1024}, "topK": 40.0}, "someFutureField": {"x": 1}}"#;
    let r = h.post("/v2/models/gemini-2.5-flash:generateContent", body);
    assert_eq!(r.status, 200, "{}", r.text());
    let rec = &h.sim.requests()[0];
    assert_eq!(rec.body_len, body.len());
    let sha = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(body.as_bytes());
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    assert_eq!(rec.body_sha256, sha, "the body reaches Gemini unchanged");
}

#[test]
fn response_is_forwarded_byte_for_byte() {
    let h = Harness::start(
        SimConfig {
            reply_text: Some("fixed answer".into()),
            ..SimConfig::default()
        },
        &["k"],
        |_| {},
    );
    let via = h.post("/v2/models/gemini-2.5-flash:countTokens", GEN);
    let direct = http(
        h.sim_addr,
        "POST",
        "/v1beta/models/gemini-2.5-flash:countTokens",
        &[("x-goog-api-key", "k")],
        GEN.as_bytes(),
    );
    assert_eq!(via.status, 200);
    assert_eq!(via.body, direct.body);
    assert_eq!(via.header("content-type"), direct.header("content-type"));
}

#[test]
fn sse_stream_framing_is_preserved() {
    let h = Harness::basic();
    let r = h.post(
        "/v2/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        GEN,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    let text = r.text();
    assert!(text.starts_with("data: {"));
    assert_eq!(text.matches("\r\n\r\n").count(), 4);
    let events = sse_events(&r.body);
    assert_eq!(events.len(), 4);
    let mut prev = 0;
    for (i, e) in events.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(e).unwrap();
        let total = v["usageMetadata"]["totalTokenCount"].as_u64().unwrap();
        assert!(total >= prev, "cumulative usage");
        prev = total;
        assert_eq!(v["candidates"][0].get("finishReason").is_some(), i == 3);
    }
    let rec = &h.sim.requests()[0];
    assert_eq!(
        rec.path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    );
    assert_eq!(rec.query.as_deref(), Some("alt=sse"));
}

#[test]
fn sse_events_arrive_as_sent_not_buffered() {
    let h = Harness::basic();
    h.sim.add_fault(gemini_sim::FaultRule {
        key: None,
        model: None,
        times: Some(1),
        action: gemini_sim::FaultAction::Stream {
            events: 3,
            interval_ms: 400,
        },
    });
    let mut r = send(
        h.addr,
        "POST",
        "/v2/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        &[("x-goog-api-key", PASSWORD)],
        GEN.as_bytes(),
    );
    let t = std::time::Instant::now();
    let (status, _) = read_head(&mut r);
    assert_eq!(status, 200);
    let first = read_chunk(&mut r).unwrap().unwrap();
    let first_at = t.elapsed();
    assert!(first.starts_with(b"data: "));
    let mut rest = 0;
    while let Ok(Some(_)) = read_chunk(&mut r) {
        rest += 1;
    }
    let all_at = t.elapsed();
    assert!(rest >= 2);
    // The first event reached the client well before the upstream finished (800 ms later).
    assert!(
        all_at.saturating_sub(first_at) >= std::time::Duration::from_millis(600),
        "first {first_at:?}, all {all_at:?}"
    );
}

#[test]
fn json_array_stream() {
    let h = Harness::basic();
    let r = h.post("/v2/models/gemini-2.5-flash:streamGenerateContent", GEN);
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v.as_array().unwrap().len(), 4);
    assert_eq!(h.sim.requests()[0].query, None);
}

#[test]
fn count_tokens_and_embeddings() {
    let h = Harness::basic();
    let r = h.post("/v2/models/gemini-2.5-flash:countTokens", GEN);
    assert_eq!(r.status, 200);
    assert!(r.json()["totalTokens"].as_u64().unwrap() > 0);
    let r = h.post(
        "/v2/models/gemini-embedding-001:embedContent",
        r#"{"content":{"parts":[{"text":"hello"}]},"outputDimensionality":8}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["embedding"]["values"].as_array().unwrap().len(), 8);
    let r = h.post(
        "/v2/models/gemini-embedding-001:batchEmbedContents",
        r#"{"requests":[{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"a"}]}},{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"b"}]}}]}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["embeddings"].as_array().unwrap().len(), 2);
}

#[test]
fn models_list_paging_and_get() {
    let h = Harness::basic();
    let r = h.get("/v2/models?pageSize=2");
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["models"].as_array().unwrap().len(), 2);
    let token = v["nextPageToken"].as_str().unwrap().to_string();
    let r = h.get(&format!("/v2/models?pageSize=2&pageToken={token}"));
    assert_eq!(r.status, 200);
    assert_ne!(r.json()["models"][0]["name"], v["models"][0]["name"]);
    let rec = h.sim.requests();
    assert_eq!(rec[0].method, "GET");
    assert_eq!(rec[0].query.as_deref(), Some("pageSize=2"));
    assert_eq!(
        rec[1].query.as_deref(),
        Some(format!("pageSize=2&pageToken={token}").as_str())
    );
    let r = h.get("/v2/models/gemini-2.5-flash");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["name"], "models/gemini-2.5-flash");
    let r = h.get("/v2/models/no-such-model");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["status"], "NOT_FOUND");
}

#[test]
fn auth_by_bearer_header_or_query_and_never_forwarded() {
    let h = Harness::basic();
    let path = "/v2/models/gemini-2.5-flash:generateContent";
    let ok1 = http(
        h.addr,
        "POST",
        path,
        &[("authorization", &format!("Bearer {PASSWORD}"))],
        GEN.as_bytes(),
    );
    let ok2 = http(
        h.addr,
        "POST",
        path,
        &[("x-goog-api-key", PASSWORD)],
        GEN.as_bytes(),
    );
    let ok3 = http(
        h.addr,
        "POST",
        &format!("{path}?key={PASSWORD}"),
        &[],
        GEN.as_bytes(),
    );
    let ok4 = http(
        h.addr,
        "POST",
        path,
        &[("x-goog-api-key", ADMIN_KEY)],
        GEN.as_bytes(),
    );
    for r in [&ok1, &ok2, &ok3, &ok4] {
        assert_eq!(r.status, 200, "{}", r.text());
    }
    for rec in h.sim.requests() {
        assert!(rec.api_key.as_deref() == Some("key-a") || rec.api_key.as_deref() == Some("key-b"));
        assert!(rec.query.is_none(), "no key in the upstream URL");
        for (k, v) in &rec.headers {
            assert!(
                !v.contains(PASSWORD) && !v.contains(ADMIN_KEY),
                "client credential leaked upstream in {k}"
            );
            assert_ne!(k, "authorization");
        }
    }
}

#[test]
fn unauthenticated_gets_401_in_each_surface_envelope_without_upstream_call() {
    let h = Harness::basic();
    let r = http(
        h.addr,
        "POST",
        "/v2/models/gemini-2.5-flash:generateContent",
        &[],
        GEN.as_bytes(),
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["status"], "UNAUTHENTICATED");
    let r = http(
        h.addr,
        "POST",
        "/v2/models/gemini-2.5-flash:generateContent",
        &[("x-goog-api-key", "wrong")],
        GEN.as_bytes(),
    );
    assert_eq!(r.status, 401);
    assert!(
        !r.text().contains("wrong"),
        "the presented key is not echoed"
    );
    let r = http(
        h.addr,
        "GET",
        "/v1beta/models",
        &[("authorization", "Basic abc")],
        b"",
    );
    assert_eq!(r.status, 401);
    let r = http(
        h.addr,
        "POST",
        "/v1/chat/completions",
        &[("authorization", "Bearer nope")],
        b"{}",
    );
    assert_eq!(r.status, 401);
    let v = r.json();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert_eq!(v["error"]["code"], "invalid_api_key");
    assert_eq!(h.sim.calls(), 0);
}

#[test]
fn open_gateway_only_when_auth_none() {
    let h = Harness::start(SimConfig::default(), &["k"], |c| {
        c.auth.required = false;
        c.auth.passwords.clear();
        c.auth.admin_api_key = None;
    });
    let r = http(
        h.addr,
        "POST",
        "/v2/models/gemini-2.5-flash:generateContent",
        &[],
        GEN.as_bytes(),
    );
    assert_eq!(r.status, 200);
    assert!(gemini_gateway::config::Config::from_yaml("keys: [k]\n").is_err());
}

#[test]
fn admin_port_health_and_readiness() {
    let h = Harness::basic();
    let r = http(h.admin, "GET", "/healthz", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    let r = http(h.admin, "GET", "/readyz", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["usable_keys"], 2);
    // the gateway port does not serve admin paths
    let r = http(
        h.addr,
        "GET",
        "/healthz",
        &[("x-goog-api-key", PASSWORD)],
        b"",
    );
    assert_eq!(r.status, 404);
}

#[test]
fn usage_is_counted_from_usage_metadata() {
    let h = Harness::start(SimConfig::default(), &["only"], |_| {});
    let r = h.post("/v2/models/gemini-2.5-flash:generateContent", GEN);
    let u = r.json()["usageMetadata"].clone();
    let r2 = h.post(
        "/v2/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        GEN,
    );
    let last: serde_json::Value =
        serde_json::from_str(sse_events(&r2.body).last().unwrap()).unwrap();
    let p_expected = u["promptTokenCount"].as_u64().unwrap()
        + last["usageMetadata"]["promptTokenCount"].as_u64().unwrap();
    // Usage is recorded at the end of the request, just after the last byte went out.
    assert!(eventually(|| h
        .state
        .usage
        .get(KeyId::new(0), "gemini-2.5-flash")
        .prompt_tokens
        == p_expected));
    let c = h.state.usage.get(KeyId::new(0), "gemini-2.5-flash");
    assert_eq!(c.attempts, 2);
    assert_eq!(c.ok, 2);
    let p = u["promptTokenCount"].as_u64().unwrap()
        + last["usageMetadata"]["promptTokenCount"].as_u64().unwrap();
    assert_eq!(c.prompt_tokens, p);
    let o = u["candidatesTokenCount"].as_u64().unwrap()
        + last["usageMetadata"]["candidatesTokenCount"]
            .as_u64()
            .unwrap();
    assert_eq!(
        c.output_tokens,
        o + u["thoughtsTokenCount"].as_u64().unwrap_or(0)
            + last["usageMetadata"]["thoughtsTokenCount"]
                .as_u64()
                .unwrap_or(0)
    );
}

#[test]
fn keep_alive_connection_carries_stream_then_json() {
    use std::io::Write;
    let h = Harness::basic();
    let mut r = send(
        h.addr,
        "POST",
        "/v2/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        &[("x-goog-api-key", PASSWORD)],
        GEN.as_bytes(),
    );
    let (s, hd) = read_head(&mut r);
    assert_eq!(s, 200);
    let (_, complete) = read_body(&mut r, &hd);
    assert!(complete);
    let req = format!(
        "POST /v2/models/gemini-2.5-flash:generateContent HTTP/1.1\r\nHost: x\r\nx-goog-api-key: {PASSWORD}\r\nContent-Length: {}\r\n\r\n{GEN}",
        GEN.len()
    );
    r.get_mut().write_all(req.as_bytes()).unwrap();
    let (s, hd) = read_head(&mut r);
    assert_eq!(s, 200);
    let (body, complete) = read_body(&mut r, &hd);
    assert!(complete);
    assert!(String::from_utf8_lossy(&body).contains("candidates"));
}

#[test]
fn pipelined_requests_are_answered_in_order_on_one_connection() {
    use std::io::{BufReader, Write};
    let h = Harness::basic();
    let mut s = std::net::TcpStream::connect(h.addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let post = |n: usize| {
        let body =
            format!(r#"{{"contents":[{{"role":"user","parts":[{{"text":"request {n}"}}]}}]}}"#);
        format!(
            "POST /v2/models/gemini-2.5-flash:generateContent HTTP/1.1\r\nHost: x\r\nx-goog-api-key: {PASSWORD}\r\ncontent-type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let get = format!("GET /v2/models HTTP/1.1\r\nHost: x\r\nx-goog-api-key: {PASSWORD}\r\n\r\n");
    // All three leave in one write, before any answer is read.
    s.write_all(format!("{}{}{}", post(1), get, post(3)).as_bytes())
        .unwrap();
    let mut r = BufReader::new(s);
    let mut answers = Vec::new();
    for _ in 0..3 {
        let (status, headers) = read_head(&mut r);
        let (body, complete) = read_body(&mut r, &headers);
        assert!(complete);
        answers.push((status, String::from_utf8_lossy(&body).into_owned()));
    }
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    assert!(answers[0].1.contains("request 1"), "{}", answers[0].1);
    assert!(answers[1].1.contains("\"models\""), "{}", answers[1].1);
    assert!(answers[2].1.contains("request 3"), "{}", answers[2].1);
    assert_eq!(h.sim.calls(), 3);

    // A stream followed by a plain request: the stream is answered whole, then the next one.
    let mut s = std::net::TcpStream::connect(h.addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let stream = post(4).replace(":generateContent", ":streamGenerateContent?alt=sse");
    s.write_all(format!("{stream}{}", post(5)).as_bytes())
        .unwrap();
    let mut r = BufReader::new(s);
    let (status, headers) = read_head(&mut r);
    assert_eq!(status, 200);
    let (body, complete) = read_body(&mut r, &headers);
    assert!(complete);
    let events = sse_events(&body);
    assert!(
        events.len() > 1 && events.iter().all(|e| !e.contains("error")),
        "{events:?}"
    );
    let (status, headers) = read_head(&mut r);
    let (body, _) = read_body(&mut r, &headers);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("request 5"));
    assert_eq!(h.sim.calls(), 5);
}
