//! Stored OpenAI Responses through the gateway and the simulator: `store` (the API's default)
//! keeps each exchange in the conversation-context store, and `previous_response_id` sends the
//! stored branch in front of the new input — the exact `contents` Gemini receives on each turn,
//! forks from an earlier response, streamed turns, function calls answered with only their output
//! (derived call ids on Gemini 2.5, Gemini's ids and thought signatures on Gemini 3, a 2.5 call
//! answered on Gemini 3 with the placeholder signature), what is not
//! found (unknown ids, another credential's, `store: false`), a restart with a file store, and a
//! gateway whose context is off.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use gemini_sim::SimConfig;
use serde_json::{json, Value};

const FLASH: &str = "gemini-2.5-flash";

fn post(h: &Harness, body: &Value) -> Resp {
    post_responses(h, PASSWORD, body)
}

fn last_body(h: &Harness) -> Value {
    generate_bodies(h).pop().unwrap()
}

/// The response's `function_call` output item.
fn function_call(response: &Value) -> Value {
    response["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "function_call")
        .unwrap()
        .clone()
}

/// A turn that succeeded: its JSON.
fn ok(r: Resp) -> Value {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// The final response object of a streamed answer.
fn completed(r: &Resp) -> Value {
    assert_eq!(r.status, 200, "{}", r.text());
    let ev = named_events(&r.body);
    let (name, data) = ev.last().unwrap();
    assert_eq!(name, "response.completed");
    data["response"].clone()
}

#[test]
fn previous_response_id_sends_the_stored_branch_and_forks_from_any_response() {
    let h = Harness::basic();
    let r1 = ok(post(
        &h,
        &json!({"model": FLASH, "input": "My name is Ada", "instructions": "Be brief."}),
    ));
    assert_eq!(r1["store"], true, "the API's default, and it is stored");
    assert_eq!(r1["previous_response_id"], Value::Null);

    let r2 = ok(post(
        &h,
        &json!({"model": FLASH, "input": "What is my name?", "previous_response_id": id(&r1)}),
    ));
    assert_eq!(r2["previous_response_id"], id(&r1));
    assert_eq!(r2["store"], true);
    assert_ne!(id(&r2), id(&r1));
    let sent = last_body(&h);
    assert_eq!(
        sent["contents"],
        json!([
            user("My name is Ada"),
            model("Echo: My name is Ada"),
            user("What is my name?")
        ])
    );
    // Instructions are not carried over from the previous response (as OpenAI documents).
    assert!(sent.get("systemInstruction").is_none(), "{sent}");

    // A fork from the first response, after the second was stored: only its own branch.
    ok(post(
        &h,
        &json!({"model": FLASH, "input": "Fork", "previous_response_id": id(&r1)}),
    ));
    assert_eq!(
        last_body(&h)["contents"],
        json!([
            user("My name is Ada"),
            model("Echo: My name is Ada"),
            user("Fork")
        ])
    );

    // A streamed continuation of the second, and a JSON continuation of the streamed one: the
    // streamed reply was stored from its events.
    let r4 = completed(&post(
        &h,
        &json!({"model": FLASH, "input": "Streamed", "stream": true, "previous_response_id": id(&r2)}),
    ));
    assert_eq!(r4["previous_response_id"], id(&r2));
    assert_eq!(r4["store"], true);
    ok(post(
        &h,
        &json!({"model": FLASH, "input": [{"role": "user", "content": "Last"}],
                "previous_response_id": id(&r4)}),
    ));
    assert_eq!(
        last_body(&h)["contents"],
        json!([
            user("My name is Ada"),
            model("Echo: My name is Ada"),
            user("What is my name?"),
            model("Echo: What is my name?"),
            user("Streamed"),
            model("Echo: Streamed"),
            user("Last")
        ])
    );
    assert_eq!(generate_bodies(&h).len(), 5);
    // The chain is one conversation of this credential, visible to the admin API.
    let now = h.state.clock.now_utc().timestamp();
    let convs = h.state.contexts.list(None, now).unwrap();
    assert_eq!(convs.len(), 1, "{convs:?}");
    assert_eq!(convs[0].row.conversation, format!("responses/{}", id(&r1)));
    assert_eq!(convs[0].turns, 10);
}

/// Ask for the weather with a tool, then answer the call with only its output.
fn function_call_round_trip(model_id: &str) -> (Value, Value) {
    let h = Harness::basic();
    let tool = json!({"type": "function", "name": "get_weather", "description": "Weather of a city",
                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                     "required": ["city"]}});
    let r1 = ok(post(
        &h,
        &json!({"model": model_id, "input": "What is the weather in Paris?", "tools": [tool]}),
    ));
    let call = function_call(&r1);
    let r2 = ok(post(
        &h,
        &json!({"model": model_id, "tools": [tool], "previous_response_id": id(&r1),
                "input": [{"type": "function_call_output", "call_id": call["call_id"],
                           "output": "{\"temp\": 18}"}]}),
    ));
    assert_eq!(r2["output"][0]["type"], "message", "{r2}");
    let first = generate_bodies(&h)[0].clone();
    let sent = last_body(&h);
    // The stored model turn is sent as Gemini gave it (with its thought signature, if any).
    let stored_call = sent["contents"][1].clone();
    assert_eq!(stored_call["role"], "model");
    assert_eq!(sent["contents"][0], first["contents"][0]);
    assert_eq!(sent["contents"].as_array().unwrap().len(), 3, "{sent}");
    (call, sent)
}

#[test]
fn a_function_call_is_answered_with_only_its_output_on_gemini_25() {
    let (call, sent) = function_call_round_trip(FLASH);
    let call_id = call["call_id"].as_str().unwrap();
    assert!(call_id.starts_with("call_"), "{call}");
    let part = &sent["contents"][1]["parts"][0];
    assert_eq!(part["functionCall"]["name"], "get_weather");
    assert!(
        part["functionCall"].get("id").is_none(),
        "an id Gemini never gave is not sent"
    );
    assert_eq!(
        sent["contents"][2],
        json!({"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp": 18}}}]})
    );
}

#[test]
fn a_function_call_is_answered_with_only_its_output_on_gemini_3() {
    let (call, sent) = function_call_round_trip("gemini-3-flash-preview");
    let part = &sent["contents"][1]["parts"][0];
    assert_eq!(part["functionCall"]["id"], call["call_id"]);
    assert!(
        part["thoughtSignature"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "Gemini 3 needs the signature back: {part}"
    );
    assert_eq!(
        sent["contents"][2]["parts"][0]["functionResponse"],
        json!({"id": call["call_id"], "name": "get_weather", "response": {"temp": 18}})
    );
}

/// The id with its last character changed: well-formed, in the same conversation, not given.
fn other_last_char(id: &str) -> String {
    let (head, last) = id.split_at(id.len() - 1);
    format!("{head}{}", if last == "x" { "y" } else { "x" })
}

#[test]
fn a_call_made_on_gemini_25_is_answered_on_gemini_3() {
    // Gemini 2.5 gives no thought signature; Gemini 3 rejects history without one, so the stored
    // call goes with Google's placeholder.
    let h = Harness::basic();
    let tool = json!({"type": "function", "name": "get_weather",
                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}});
    let r1 = ok(post(
        &h,
        &json!({"model": FLASH, "input": "What is the weather in Paris?", "tools": [tool]}),
    ));
    let call = function_call(&r1);
    let stored = generate_bodies(&h);
    assert!(stored.len() == 1);
    let r2 = ok(post(
        &h,
        &json!({"model": "gemini-3-flash-preview", "tools": [tool], "previous_response_id": id(&r1),
                "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}]}),
    ));
    assert_eq!(
        r2["output"].as_array().unwrap().last().unwrap()["type"],
        "message",
        "{r2}"
    );
    let part = &last_body(&h)["contents"][1]["parts"][0];
    assert_eq!(part["functionCall"]["name"], "get_weather");
    assert_eq!(part["thoughtSignature"], "skip_thought_signature_validator");
}

#[test]
fn unknown_foreign_and_unstored_responses_are_not_found_without_an_upstream_call() {
    let h = Harness::basic();
    let r = http(
        h.admin,
        "POST",
        "/api/proxy-keys",
        &[("authorization", &format!("Bearer {ADMIN_KEY}"))],
        br#"{"name": "bob"}"#,
    );
    let bob = r.json()["key"].as_str().unwrap().to_string();
    let alices = ok(post(&h, &json!({"model": FLASH, "input": "secret"})));
    let unstored = ok(post(
        &h,
        &json!({"model": FLASH, "input": "x", "store": false}),
    ));
    assert_eq!(unstored["store"], false);
    let calls = h.sim.calls();
    let cases = [
        (PASSWORD, id(&unstored)),
        (bob.as_str(), id(&alices)),
        (PASSWORD, "resp_abc".to_string()),
        (PASSWORD, id(&alices).replace("resp_", "resp_0")),
        (PASSWORD, other_last_char(&id(&alices))),
    ];
    for (cred, prev) in cases {
        let r = post_responses(
            &h,
            cred,
            &json!({"model": FLASH, "input": "more", "previous_response_id": prev}),
        );
        assert_eq!(r.status, 400, "{prev}: {}", r.text());
        let e = &r.json()["error"];
        assert_eq!(e["type"], "invalid_request_error");
        assert_eq!(e["param"], "previous_response_id");
        assert!(e["message"].as_str().unwrap().contains("not found"), "{e}");
    }
    assert_eq!(h.sim.calls(), calls, "no upstream call for any of them");
    // Bob's own chain works, and never sees Alice's turns.
    let b1 = ok(post_responses(
        &h,
        &bob,
        &json!({"model": FLASH, "input": "bob"}),
    ));
    ok(post_responses(
        &h,
        &bob,
        &json!({"model": FLASH, "input": "again", "previous_response_id": id(&b1)}),
    ));
    assert_eq!(
        last_body(&h)["contents"],
        json!([user("bob"), model("Echo: bob"), user("again")])
    );
    // Continuing without storing the continuation.
    let r = ok(post(
        &h,
        &json!({"model": FLASH, "input": "more", "store": false, "previous_response_id": id(&alices)}),
    ));
    assert_eq!(r["store"], false);
    let r = post(
        &h,
        &json!({"model": FLASH, "input": "x", "previous_response_id": id(&r)}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn stored_responses_survive_a_restart_with_a_file_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gw.db");
    let first = {
        let h = Harness::start(SimConfig::default(), &["key-a"], |c| {
            c.store.path = Some(db.clone())
        });
        let r = ok(post(&h, &json!({"model": FLASH, "input": "persist me"})));
        h.state.contexts.flush();
        id(&r)
    };
    let h = Harness::start(SimConfig::default(), &["key-a"], |c| {
        c.store.path = Some(db.clone())
    });
    ok(post(
        &h,
        &json!({"model": FLASH, "input": "after restart", "previous_response_id": first}),
    ));
    assert_eq!(
        last_body(&h)["contents"],
        json!([
            user("persist me"),
            model("Echo: persist me"),
            user("after restart")
        ])
    );
}

#[test]
fn truncation_auto_fits_the_stored_branch_into_the_window() {
    let h = Harness::start(SimConfig::default(), &["key-a"], |c| {
        c.context.default_max_tokens = 400;
        c.context.safety_margin = 0;
    });
    let long = "x".repeat(2400); // ~600 tokens
    let r1 = ok(post(&h, &json!({"model": FLASH, "input": long})));
    let r2 = ok(post(
        &h,
        &json!({"model": FLASH, "input": "short", "previous_response_id": id(&r1)}),
    ));
    let all = ok(post(
        &h,
        &json!({"model": FLASH, "input": "q", "previous_response_id": id(&r2)}),
    ));
    assert_eq!(all["truncation"], "disabled");
    assert_eq!(last_body(&h)["contents"].as_array().unwrap().len(), 5);
    let fitted = ok(post(
        &h,
        &json!({"model": FLASH, "input": "q", "truncation": "auto",
                "previous_response_id": id(&r2)}),
    ));
    assert_eq!(fitted["truncation"], "auto");
    assert_eq!(
        last_body(&h)["contents"],
        json!([user("short"), model("Echo: short"), user("q")]),
        "the oldest exchange goes whole"
    );
}

#[test]
fn with_context_off_nothing_is_stored_and_previous_response_id_says_so() {
    let h = Harness::start(SimConfig::default(), &["key-a"], |c| {
        c.context.enabled = false
    });
    let r = ok(post(
        &h,
        &json!({"model": FLASH, "input": "hi", "store": true}),
    ));
    assert_eq!(
        r["store"], false,
        "never claims to store what is not stored"
    );
    let calls = h.sim.calls();
    let r = post(
        &h,
        &json!({"model": FLASH, "input": "more", "previous_response_id": id(&r)}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let e = &r.json()["error"];
    assert_eq!(e["param"], "previous_response_id");
    assert!(e["message"].as_str().unwrap().contains("not stored"), "{e}");
    assert_eq!(h.sim.calls(), calls);
}
