//! Server-side conversation context through the simulator: the exact `contents` Google receives
//! on each turn (OpenAI and native, JSON and streamed), tool calls across turns, truncation at
//! exchange boundaries, `auto` mode with clients that send their own history, isolation between
//! credentials and conversations, read-your-writes, failures saving nothing, the admin API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use gemini_sim::SimConfig;
use serde_json::{json, Value};

const FLASH: &str = "gemini-2.5-flash";

/// The `contents` of the last request Google received.
fn last_contents(h: &Harness) -> Value {
    generate_bodies(h).pop().unwrap()["contents"].clone()
}

fn chat(h: &Harness, cred: &str, text: &str, stream: bool, extra: &[(&str, &str)]) -> Resp {
    let body =
        json!({"model": FLASH, "stream": stream, "messages": [{"role": "user", "content": text}]});
    let auth = format!("Bearer {cred}");
    let mut headers = vec![
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    headers.extend_from_slice(extra);
    http(
        h.addr,
        "POST",
        "/v1/chat/completions",
        &headers,
        body.to_string().as_bytes(),
    )
}

fn native(h: &Harness, path: &str, body: &Value) -> Resp {
    http(
        h.addr,
        "POST",
        path,
        &[
            ("x-goog-api-key", PASSWORD),
            ("content-type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
}

/// The answer's text, whatever the framing (one JSON answer, SSE events, a JSON array).
fn native_text(r: &Resp) -> String {
    let text = r.text();
    let answers: Vec<Value> = if let Ok(Value::Array(a)) = serde_json::from_str::<Value>(&text) {
        a
    } else if let Ok(v) = serde_json::from_str::<Value>(&text) {
        vec![v]
    } else {
        sse_events(&r.body)
            .iter()
            .filter_map(|e| serde_json::from_str(e).ok())
            .collect()
    };
    answers
        .iter()
        .flat_map(|a| {
            a["candidates"][0]["content"]["parts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|p| p["text"].as_str().map(String::from))
        .collect()
}

fn gen(contents: Value) -> Value {
    json!({ "contents": contents })
}

fn chat_text(r: &Resp, stream: bool) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    if !stream {
        return r.json()["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_string();
    }
    sse_events(&r.body)
        .iter()
        .filter(|e| e.as_str() != "[DONE]")
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(String::from)
        })
        .collect()
}

#[test]
fn openai_chat_three_turns_json_and_streamed() {
    for stream in [false, true] {
        let h = Harness::basic();
        let a = chat_text(&chat(&h, PASSWORD, "My name is Ada", stream, &[]), stream);
        assert_eq!(a, "Echo: My name is Ada");
        assert_eq!(last_contents(&h), json!([user("My name is Ada")]));
        let b = chat_text(&chat(&h, PASSWORD, "I like tea", stream, &[]), stream);
        assert_eq!(b, "Echo: I like tea");
        assert_eq!(
            last_contents(&h),
            json!([
                user("My name is Ada"),
                model("Echo: My name is Ada"),
                user("I like tea")
            ])
        );
        let c = chat_text(
            &chat(&h, PASSWORD, "What did I say first?", stream, &[]),
            stream,
        );
        assert_eq!(c, "You first said: My name is Ada", "stream={stream}");
        assert_eq!(
            last_contents(&h),
            json!([
                user("My name is Ada"),
                model("Echo: My name is Ada"),
                user("I like tea"),
                model("Echo: I like tea"),
                user("What did I say first?")
            ])
        );
    }
}

#[test]
fn native_three_turns_json_sse_and_json_array() {
    for path in [
        format!("/v1beta/models/{FLASH}:generateContent"),
        format!("/v1beta/models/{FLASH}:streamGenerateContent?alt=sse"),
        format!("/v2/models/{FLASH}:streamGenerateContent"),
        format!("/v1/models/{FLASH}:generateContent"),
    ] {
        let h = Harness::basic();
        assert_eq!(native(&h, &path, &gen(json!([user("one")]))).status, 200);
        assert_eq!(last_contents(&h), json!([user("one")]));
        assert_eq!(native(&h, &path, &gen(json!([user("two")]))).status, 200);
        assert_eq!(
            last_contents(&h),
            json!([user("one"), model("Echo: one"), user("two")]),
            "{path}"
        );
        let r = native(&h, &path, &gen(json!([user("What did I say first?")])));
        assert_eq!(r.status, 200);
        assert_eq!(native_text(&r), "You first said: one", "{path}");
        assert_eq!(
            last_contents(&h),
            json!([
                user("one"),
                model("Echo: one"),
                user("two"),
                model("Echo: two"),
                user("What did I say first?")
            ])
        );
    }
}

#[test]
fn count_tokens_counts_with_the_history_and_saves_nothing() {
    let h = Harness::basic();
    native(
        &h,
        &format!("/v1beta/models/{FLASH}:generateContent"),
        &gen(json!([user("remember this please")])),
    );
    let r = native(
        &h,
        &format!("/v1beta/models/{FLASH}:countTokens"),
        &gen(json!([user("and this")])),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        last_contents(&h),
        json!([
            user("remember this please"),
            model("Echo: remember this please"),
            user("and this")
        ])
    );
    native(
        &h,
        &format!("/v1beta/models/{FLASH}:generateContent"),
        &gen(json!([user("next")])),
    );
    assert_eq!(
        last_contents(&h).as_array().unwrap().len(),
        3,
        "countTokens saved nothing"
    );
}

#[test]
fn a_tool_call_round_trip_keeps_the_pair_and_the_signature() {
    let h = Harness::basic();
    let model3 = "gemini-3-flash-preview";
    let tools = json!([{"functionDeclarations": [{"name": "get_weather", "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]}]);
    let path = format!("/v1beta/models/{model3}:generateContent");
    let r = native(
        &h,
        &path,
        &json!({"contents": [user("Call get_weather for Paris")], "tools": tools}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let call = r.json()["candidates"][0]["content"].clone();
    assert!(
        call["parts"][0]["functionCall"].is_object()
            && call["parts"][0]["thoughtSignature"].is_string(),
        "{call}"
    );
    // The client sends only the function's result; the gateway supplies the call it answers.
    let result = json!({"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp": 21}}}]});
    let r = native(
        &h,
        &path,
        &json!({"contents": [result.clone()], "tools": tools}),
    );
    assert_eq!(
        r.status,
        200,
        "Gemini 3 refuses a call without its signature: {}",
        r.text()
    );
    let sent = last_contents(&h);
    assert_eq!(sent[0], user("Call get_weather for Paris"));
    assert_eq!(
        sent[1]["parts"][0]["functionCall"],
        call["parts"][0]["functionCall"]
    );
    assert_eq!(
        sent[1]["parts"][0]["thoughtSignature"],
        call["parts"][0]["thoughtSignature"]
    );
    assert_eq!(sent[2], result);
}

#[test]
fn truncation_drops_the_oldest_exchanges_whole() {
    let h = Harness::start(SimConfig::default(), &["key-a"], |c| {
        c.context.default_max_tokens = 400;
        c.context.safety_margin = 50;
    });
    let path = format!("/v1beta/models/{FLASH}:generateContent");
    let long = |n: usize| format!("{n} {}", "word ".repeat(60)); // ~75 tokens each, echoed back
    for n in 0..4 {
        assert_eq!(native(&h, &path, &gen(json!([user(&long(n))]))).status, 200);
    }
    let sent = last_contents(&h);
    let sent = sent.as_array().unwrap();
    assert!(sent.len() < 7, "older turns were dropped: {}", sent.len());
    assert_eq!(sent.len() % 2, 1, "whole exchanges plus the new turn");
    assert_eq!(sent[0]["role"], "user", "history starts with a user turn");
    assert_eq!(
        sent.last().unwrap(),
        &user(&long(3)),
        "the request's own turn is never cut"
    );
    // A request too large by itself goes up unchanged (history dropped, nothing cut from it).
    let huge = "x".repeat(4000);
    assert_eq!(native(&h, &path, &gen(json!([user(&huge)]))).status, 200);
    assert_eq!(last_contents(&h), json!([user(&huge)]));
}

#[test]
fn auto_mode_never_duplicates_a_clients_own_history() {
    let h = Harness::basic();
    chat(&h, PASSWORD, "stored turn", false, &[]);
    // A client with its own history: sent as it is.
    let own = json!({"model": FLASH, "messages": [
        {"role": "user", "content": "A"}, {"role": "assistant", "content": "B"}, {"role": "user", "content": "C"}]});
    let r = http(
        h.addr,
        "POST",
        "/v1/chat/completions",
        &[
            ("authorization", &format!("Bearer {PASSWORD}")),
            ("content-type", "application/json"),
        ],
        own.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(last_contents(&h), json!([user("A"), model("B"), user("C")]));
    // ... and it replaced the stored conversation: a stateless request now continues it.
    chat(&h, PASSWORD, "D", false, &[]);
    assert_eq!(
        last_contents(&h),
        json!([
            user("A"),
            model("B"),
            user("C"),
            model("Echo: C"),
            user("D")
        ])
    );
}

#[test]
fn credentials_and_conversations_stay_apart() {
    let h = Harness::basic();
    let r = http(
        h.admin,
        "POST",
        "/api/proxy-keys",
        &[("authorization", &format!("Bearer {ADMIN_KEY}"))],
        br#"{"name": "bob"}"#,
    );
    let bob = r.json()["key"].as_str().unwrap().to_string();
    chat(&h, PASSWORD, "alice here", false, &[]);
    chat(&h, &bob, "bob here", false, &[]);
    assert_eq!(last_contents(&h), json!([user("bob here")]));
    chat(
        &h,
        PASSWORD,
        "work thread",
        false,
        &[("x-gateway-conversation", "work")],
    );
    assert_eq!(last_contents(&h), json!([user("work thread")]));
    chat(&h, PASSWORD, "again", false, &[]);
    assert_eq!(
        last_contents(&h),
        json!([user("alice here"), model("Echo: alice here"), user("again")])
    );
    chat(
        &h,
        PASSWORD,
        "stateless",
        false,
        &[("x-gateway-context", "off")],
    );
    assert_eq!(last_contents(&h), json!([user("stateless")]));
    // A key with context completion off gets none.
    let r = http(
        h.admin,
        "POST",
        "/api/proxy-keys",
        &[("authorization", &format!("Bearer {ADMIN_KEY}"))],
        br#"{"name": "carol", "enable_context_completion": false}"#,
    );
    let carol = r.json()["key"].as_str().unwrap().to_string();
    chat(&h, &carol, "c1", false, &[]);
    chat(&h, &carol, "c2", false, &[]);
    assert_eq!(last_contents(&h), json!([user("c2")]));
    let r = chat(
        &h,
        PASSWORD,
        "x",
        false,
        &[("x-gateway-conversation", &"n".repeat(129))],
    );
    assert_eq!(r.status, 400);
}

#[test]
fn read_your_writes_one_millisecond_later() {
    let h = Harness::basic();
    for i in 0..20 {
        chat(&h, PASSWORD, &format!("turn {i}"), i % 2 == 1, &[]);
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let sent = last_contents(&h);
    assert_eq!(
        sent.as_array().unwrap().len(),
        39,
        "every earlier turn and reply is there"
    );
}

#[test]
fn a_failed_exchange_saves_nothing() {
    let h = Harness::basic();
    h.sim.add_fault(gemini_sim::FaultRule {
        key: None,
        model: None,
        times: Some(1),
        action: gemini_sim::FaultAction::Status { code: 400 },
    });
    assert_ne!(chat(&h, PASSWORD, "lost", false, &[]).status, 200);
    h.sim.clear_faults();
    chat(&h, PASSWORD, "fresh", false, &[]);
    assert_eq!(last_contents(&h), json!([user("fresh")]));
}

#[test]
fn conversations_survive_a_restart_with_a_file_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gw.db");
    {
        let h = Harness::start(SimConfig::default(), &["key-a"], |c| {
            c.store.path = Some(db.clone())
        });
        chat(&h, PASSWORD, "persist me", false, &[]);
    }
    let h = Harness::start(SimConfig::default(), &["key-a"], |c| {
        c.store.path = Some(db.clone())
    });
    chat(&h, PASSWORD, "after restart", false, &[]);
    assert_eq!(
        last_contents(&h),
        json!([
            user("persist me"),
            model("Echo: persist me"),
            user("after restart")
        ])
    );
}

fn api(h: &Harness, cred: &str, method: &str, path: &str, body: &str) -> Resp {
    admin_call(h, cred, method, path, body)
}

#[test]
fn the_api_shows_each_user_only_their_own_conversations() {
    let h = Harness::basic();
    let bob = api(
        &h,
        ADMIN_KEY,
        "POST",
        "/api/proxy-keys",
        r#"{"name": "bob"}"#,
    )
    .json();
    let (bob_id, bob_key) = (
        bob["id"].as_str().unwrap().to_string(),
        bob["key"].as_str().unwrap().to_string(),
    );
    chat(&h, PASSWORD, "alice's secret", false, &[]);
    chat(&h, &bob_key, "bob's note", false, &[]);
    chat(
        &h,
        &bob_key,
        "bob's work",
        false,
        &[("x-gateway-conversation", "work")],
    );

    let mine = api(&h, &bob_key, "GET", "/api/contexts", "").json();
    assert_eq!(mine["total"], 2, "{mine}");
    assert!(mine["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["owner"] == bob_id.as_str()));
    let alice = api(&h, PASSWORD, "GET", "/api/contexts", "").json();
    assert_eq!(alice["total"], 1);
    let alice_ctx = alice["data"][0]["id"].as_str().unwrap().to_string();
    // Another user's id: 404, and it stays as it was.
    assert_eq!(
        api(
            &h,
            &bob_key,
            "GET",
            &format!("/api/contexts/{alice_ctx}"),
            ""
        )
        .status,
        404
    );
    assert_eq!(
        api(
            &h,
            &bob_key,
            "DELETE",
            &format!("/api/contexts/{alice_ctx}"),
            ""
        )
        .status,
        404
    );
    let full = api(
        &h,
        PASSWORD,
        "GET",
        &format!("/api/contexts/{alice_ctx}"),
        "",
    )
    .json();
    assert_eq!(full["turns"], 2);
    assert_eq!(full["contents"][0]["content"], user("alice's secret"));
    assert!(full["tokens"].as_u64().unwrap() > 0 && full["last_used"].is_string());
    // The admin sees everyone's, or one owner's.
    assert_eq!(
        api(&h, ADMIN_KEY, "GET", "/api/contexts", "").json()["total"],
        3
    );
    let only_bob = api(
        &h,
        ADMIN_KEY,
        "GET",
        &format!("/api/contexts?owner={bob_id}"),
        "",
    )
    .json();
    assert_eq!(only_bob["total"], 2);
    // Deleting: one by id, then all of one's own.
    let work = mine["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["conversation"] == "work")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        api(&h, &bob_key, "DELETE", &format!("/api/contexts/{work}"), "").status,
        200
    );
    assert_eq!(
        api(&h, &bob_key, "GET", "/api/contexts", "").json()["total"],
        1
    );
    assert_eq!(
        api(&h, &bob_key, "DELETE", "/api/contexts", "").json()["deleted"],
        1
    );
    chat(&h, &bob_key, "fresh start", false, &[]);
    assert_eq!(last_contents(&h), json!([user("fresh start")]));
    assert_eq!(
        api(&h, PASSWORD, "GET", "/api/contexts", "").json()["total"],
        1,
        "alice's is untouched"
    );
}

#[test]
fn settings_change_the_mode_and_the_ttl_without_a_restart() {
    let h = Harness::basic();
    assert_eq!(
        api(
            &h,
            PASSWORD,
            "PUT",
            "/api/settings",
            r#"{"context_mode": "off"}"#
        )
        .status,
        403
    );
    let s = api(&h, ADMIN_KEY, "GET", "/api/settings", "").json();
    assert_eq!(
        (
            s["context_mode"].as_str(),
            s["context_ttl_seconds"].as_u64()
        ),
        (Some("auto"), Some(7 * 86400))
    );
    chat(&h, PASSWORD, "first", false, &[]);
    assert_eq!(
        api(
            &h,
            ADMIN_KEY,
            "PUT",
            "/api/settings",
            r#"{"context_mode": "off"}"#
        )
        .status,
        200
    );
    chat(&h, PASSWORD, "second", false, &[]);
    assert_eq!(last_contents(&h), json!([user("second")]));
    assert_eq!(
        api(
            &h,
            ADMIN_KEY,
            "PUT",
            "/api/settings",
            r#"{"context_mode": "auto", "context_ttl": "1h"}"#
        )
        .status,
        200
    );
    chat(&h, PASSWORD, "third", false, &[]);
    assert_eq!(
        last_contents(&h),
        json!([user("first"), model("Echo: first"), user("third")])
    );
    // An hour and a second after its last use, the conversation is gone.
    h.state.clock.advance(std::time::Duration::from_secs(3601));
    chat(&h, PASSWORD, "fourth", false, &[]);
    assert_eq!(last_contents(&h), json!([user("fourth")]));
    for bad in [
        r#"{"context_mode": "sometimes"}"#,
        r#"{"context_ttl": "5s"}"#,
        r#"{"colour": 1}"#,
    ] {
        assert_eq!(
            api(&h, ADMIN_KEY, "PUT", "/api/settings", bad).status,
            400,
            "{bad}"
        );
    }
}

#[test]
fn memory_mode_keeps_at_most_max_records_conversations() {
    let h = Harness::start(SimConfig::default(), &["key-a"], |c| {
        c.context.max_records = 2
    });
    for name in ["a", "b", "c"] {
        chat(
            &h,
            PASSWORD,
            &format!("in {name}"),
            false,
            &[("x-gateway-conversation", name)],
        );
    }
    assert_eq!(
        api(&h, ADMIN_KEY, "GET", "/api/contexts", "").json()["total"],
        2
    );
    chat(
        &h,
        PASSWORD,
        "back to a",
        false,
        &[("x-gateway-conversation", "a")],
    );
    assert_eq!(
        last_contents(&h),
        json!([user("back to a")]),
        "the least recently used went first"
    );
    chat(
        &h,
        PASSWORD,
        "back to c",
        false,
        &[("x-gateway-conversation", "c")],
    );
    assert_eq!(last_contents(&h).as_array().unwrap().len(), 3);
}

/// Start the real binary on `db` in front of `sim`; its process and its address.
fn gateway_process(
    sim: std::net::SocketAddr,
    db: &std::path::Path,
) -> (std::process::Child, std::net::SocketAddr) {
    let port = free_port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_gemini-gateway"))
        .env_clear()
        .env("GEMINI_API_KEYS", "key-a")
        .env("PASSWORD", PASSWORD)
        .env("GEMINI_BASE_URL", format!("http://{sim}"))
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("ADMIN_PORT", free_port().to_string())
        .env("CONTEXT_DB_PATH", db)
        .env("ENFORCE_MODEL_LIMITS", "false")
        .env("LOG_LEVEL", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_port(addr);
    (child, addr)
}

#[test]
fn every_saved_turn_survives_kill_9_one_second_later() {
    let sim = SimServer::start(gemini_sim::Sim::new(SimConfig::default()));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gw.db");
    let say = |addr, text: &str| {
        let body = json!({"model": FLASH, "messages": [{"role": "user", "content": text}]});
        let r = http(
            addr,
            "POST",
            "/v1/chat/completions",
            &[
                ("authorization", &format!("Bearer {PASSWORD}")),
                ("content-type", "application/json"),
            ],
            body.to_string().as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (mut child, addr) = gateway_process(sim.addr, &db);
    for i in 0..5 {
        say(addr, &format!("turn {i}"));
    }
    std::thread::sleep(std::time::Duration::from_secs(1));
    child.kill().unwrap(); // SIGKILL: no shutdown, no flush
    child.wait().unwrap();
    let ok: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let (mut child, addr) = gateway_process(sim.addr, &db);
    assert_eq!(say(addr, "What did I say first?"), "You first said: turn 0");
    // This gateway also checks its keys and lists models in the background: find this request.
    let sent = sim
        .sim
        .requests()
        .into_iter()
        .rev()
        .filter_map(|r| r.body)
        .find(|b| b.to_string().contains("What did I say first?"))
        .unwrap();
    assert_eq!(
        sent["contents"].as_array().unwrap().len(),
        11,
        "all five exchanges and the new turn"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn always_mode_prepends_even_to_a_clients_own_history() {
    let h = Harness::start(SimConfig::default(), &["key-a"], |c| {
        c.context.mode = gemini_gateway::config::ContextMode::Always;
    });
    let path = format!("/v1beta/models/{FLASH}:generateContent");
    native(&h, &path, &gen(json!([user("stored")])));
    native(&h, &path, &gen(json!([user("A"), model("B"), user("C")])));
    assert_eq!(
        last_contents(&h),
        json!([
            user("stored"),
            model("Echo: stored"),
            user("A"),
            model("B"),
            user("C")
        ]),
        "the old system's behaviour, on request"
    );
}

#[test]
fn stream_save_reply_false_saves_no_streamed_exchange() {
    let h = Harness::start(SimConfig::default(), &["key-a"], |c| {
        c.context.stream_save_reply = false
    });
    chat(&h, PASSWORD, "streamed", true, &[]);
    chat(&h, PASSWORD, "plain", false, &[]);
    assert_eq!(
        last_contents(&h),
        json!([user("plain")]),
        "the streamed exchange was not saved"
    );
    chat(&h, PASSWORD, "next", false, &[]);
    assert_eq!(
        last_contents(&h),
        json!([user("plain"), model("Echo: plain"), user("next")])
    );
}

#[test]
fn concurrent_answers_are_appended_whole() {
    let h = Harness::basic();
    std::thread::scope(|s| {
        for i in 0..8 {
            let h = &h;
            s.spawn(move || chat(h, PASSWORD, &format!("parallel {i}"), i % 2 == 0, &[]));
        }
    });
    chat(&h, PASSWORD, "after", false, &[]);
    let sent = last_contents(&h);
    let turns = sent.as_array().unwrap();
    assert_eq!(turns.len(), 17, "eight exchanges and the new turn");
    for pair in turns[..16].chunks(2) {
        let asked = pair[0]["parts"][0]["text"].as_str().unwrap();
        assert_eq!(
            pair[1],
            model(&format!("Echo: {asked}")),
            "each reply right after its own question"
        );
    }
}
