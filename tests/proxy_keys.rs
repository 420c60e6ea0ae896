//! Proxy keys through the simulator: the admin API that issues them, enforcement of expiry,
//! enabled, model allow-lists and per-key limits on the OpenAI and Gemini surfaces (status,
//! envelope, no upstream call), changes taking effect on the next request, restart persistence,
//! RBAC, and what the JSON answers may contain.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use gemini_sim::SimConfig;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const CHAT: &str = r#"{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}"#;

fn admin(h: &Harness, method: &str, path: &str, body: Value) -> Resp {
    as_cred(h, ADMIN_KEY, method, path, body)
}

fn as_cred(h: &Harness, cred: &str, method: &str, path: &str, body: Value) -> Resp {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    admin_call(h, cred, method, path, &body)
}

/// Create a key; its id and the key itself.
fn create(h: &Harness, body: Value) -> (String, String) {
    let r = admin(h, "POST", "/api/proxy-keys", body);
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    (
        v["id"].as_str().unwrap().into(),
        v["key"].as_str().unwrap().into(),
    )
}

/// A chat completion on the OpenAI surface with this key.
fn chat(h: &Harness, key: &str, model: &str) -> Resp {
    let body = CHAT.replace("gemini-2.5-flash", model);
    http(
        h.addr,
        "POST",
        "/v1/chat/completions",
        &[
            ("authorization", &format!("Bearer {key}")),
            ("content-type", "application/json"),
        ],
        body.as_bytes(),
    )
}

/// A native generateContent with this key.
fn native(h: &Harness, key: &str, model: &str) -> Resp {
    http(
        h.addr,
        "POST",
        &format!("/v1beta/models/{model}:generateContent"),
        &[
            ("x-goog-api-key", key),
            ("content-type", "application/json"),
        ],
        GEN.as_bytes(),
    )
}

/// The request is refused with `status` in both envelopes, with no upstream call; the messages.
fn refused_on_both(h: &Harness, key: &str, model: &str, status: u16) -> (String, String) {
    let before = h.sim.calls();
    let o = chat(h, key, model);
    assert_eq!(o.status, status, "openai: {}", o.text());
    let ov = o.json();
    assert!(
        ov["error"]["message"].is_string() && ov["error"]["type"].is_string(),
        "{ov}"
    );
    let g = native(h, key, model);
    assert_eq!(g.status, status, "gemini: {}", g.text());
    let gv = g.json();
    assert_eq!(gv["error"]["code"], status, "{gv}");
    assert!(gv["error"]["status"].is_string(), "{gv}");
    assert_eq!(h.sim.calls(), before, "no upstream call");
    (
        ov["error"]["message"].as_str().unwrap().into(),
        gv["error"]["message"].as_str().unwrap().into(),
    )
}

#[test]
fn each_refusal_on_both_surfaces_without_an_upstream_call() {
    let h = Harness::basic();
    // Unknown and malformed credentials: one generic 401.
    let (unknown, _) = refused_on_both(&h, "gk-notakey", "gemini-2.5-flash", 401);
    let r = http(
        h.addr,
        "POST",
        "/v1/chat/completions",
        &[
            ("authorization", "Basic abc"),
            ("content-type", "application/json"),
        ],
        CHAT.as_bytes(),
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["message"], unknown.as_str());

    let (_, expired) = create(
        &h,
        json!({"name": "old", "expires_at": "2020-01-01T00:00:00Z"}),
    );
    let (m, g) = refused_on_both(&h, &expired, "gemini-2.5-flash", 401);
    assert!(m.contains("expired") && g.contains("expired"), "{m} / {g}");

    let (id, disabled) = create(&h, json!({"name": "off"}));
    assert_eq!(
        admin(
            &h,
            "PATCH",
            &format!("/api/proxy-keys/{id}"),
            json!({"enabled": false})
        )
        .status,
        200
    );
    let (m, _) = refused_on_both(&h, &disabled, "gemini-2.5-flash", 401);
    assert!(m.contains("disabled"), "{m}");

    let (_, narrow) = create(
        &h,
        json!({"name": "flash only", "models": ["gemini-2.5-flash*"]}),
    );
    let (m, g) = refused_on_both(&h, &narrow, "gemini-2.5-pro", 403);
    assert!(
        m.contains("gemini-2.5-pro") && g.contains("gemini-2.5-pro"),
        "{m}"
    );
    let o = chat(&h, &narrow, "gemini-2.5-pro").json();
    assert_eq!(o["error"]["type"], "permission_error");
    assert_eq!(
        native(&h, &narrow, "gemini-2.5-pro").json()["error"]["status"],
        "PERMISSION_DENIED"
    );
    assert_eq!(chat(&h, &narrow, "gemini-2.5-flash").status, 200);
    assert_eq!(native(&h, &narrow, "gemini-2.5-flash-lite").status, 200);
    // The proxy key is the client's credential only: Google sees an upstream key, never it.
    for r in h.sim.requests() {
        assert!(
            r.api_key.as_deref().is_some_and(|k| k.starts_with("key-")),
            "{:?}",
            r.api_key
        );
        assert!(!format!("{:?} {:?}", r.headers, r.query).contains(&narrow));
    }

    let (_, limited) = create(&h, json!({"name": "slow", "rpm": 2}));
    assert_eq!(chat(&h, &limited, "gemini-2.5-flash").status, 200);
    assert_eq!(native(&h, &limited, "gemini-2.5-flash").status, 200);
    let before = h.sim.calls();
    for r in [
        chat(&h, &limited, "gemini-2.5-flash"),
        native(&h, &limited, "gemini-2.5-flash"),
    ] {
        assert_eq!(r.status, 429, "{}", r.text());
        let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!(
            (1..=60).contains(&wait),
            "an honest wait within the minute: {wait}"
        );
        assert!(r.text().contains("requests-per-minute"));
    }
    assert_eq!(h.sim.calls(), before);

    let (_, daily) = create(&h, json!({"name": "daily", "rpd": 1}));
    assert_eq!(native(&h, &daily, "gemini-2.5-flash").status, 200);
    let r = native(&h, &daily, "gemini-2.5-flash");
    assert_eq!(r.status, 429);
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(
        wait > 0 && wait <= 25 * 3600,
        "until Pacific midnight: {wait}"
    );
}

#[test]
fn changes_take_effect_on_the_next_request() {
    let h = Harness::basic();
    let (id, key) = create(&h, json!({"name": "alice"}));
    let path = format!("/api/proxy-keys/{id}");
    assert_eq!(chat(&h, &key, "gemini-2.5-pro").status, 200);
    assert_eq!(
        admin(&h, "PATCH", &path, json!({"models": ["gemini-2.5-flash"]})).status,
        200
    );
    assert_eq!(chat(&h, &key, "gemini-2.5-pro").status, 403);
    assert_eq!(
        admin(
            &h,
            "PATCH",
            &path,
            json!({"models": null, "enabled": false})
        )
        .status,
        200
    );
    assert_eq!(chat(&h, &key, "gemini-2.5-pro").status, 401);
    assert_eq!(
        admin(
            &h,
            "PATCH",
            &path,
            json!({"enabled": true, "expires_in": "1h"})
        )
        .status,
        200
    );
    assert_eq!(chat(&h, &key, "gemini-2.5-pro").status, 200);
    assert_eq!(
        admin(
            &h,
            "PATCH",
            &path,
            json!({"expires_at": "2021-06-01T00:00:00Z"})
        )
        .status,
        200
    );
    assert_eq!(chat(&h, &key, "gemini-2.5-pro").status, 401);
    assert_eq!(
        admin(&h, "PATCH", &path, json!({"expires_at": null})).status,
        200
    );
    assert_eq!(chat(&h, &key, "gemini-2.5-pro").status, 200);
    let r = admin(&h, "DELETE", &path, Value::Null);
    assert_eq!(r.status, 200);
    assert_eq!(chat(&h, &key, "gemini-2.5-pro").status, 401);
    assert_eq!(admin(&h, "GET", &path, Value::Null).status, 404);
    assert_eq!(admin(&h, "DELETE", &path, Value::Null).status, 404);
    assert_eq!(admin(&h, "PATCH", &path, json!({"name": "x"})).status, 404);
}

#[test]
fn keys_and_their_usage_survive_a_restart_with_a_file_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gw.db");
    let with_file = |c: &mut gemini_gateway::config::Config| {
        c.store.path = Some(db.clone());
        c.store.flush_interval = std::time::Duration::from_millis(20);
    };
    let (id, key) = {
        let h = Harness::start(SimConfig::default(), &["key-a"], with_file);
        let (id, key) = create(
            &h,
            json!({"name": "kept", "models": ["gemini-2.5-*"], "rpm": 100}),
        );
        assert_eq!(chat(&h, &key, "gemini-2.5-flash").status, 200);
        assert_eq!(native(&h, &key, "gemini-2.5-flash").status, 200);
        let v = admin(&h, "GET", "/api/proxy-keys", Value::Null).json();
        assert_eq!(v["persistent"], true);
        (id, key)
    };
    let h = Harness::start(SimConfig::default(), &["key-a"], with_file);
    let v = admin(&h, "GET", &format!("/api/proxy-keys/{id}"), Value::Null).json();
    assert_eq!(v["name"], "kept");
    assert_eq!(v["models"], json!(["gemini-2.5-*"]));
    assert_eq!(v["rpm"], 100);
    assert_eq!(v["usage"]["requests_total"], 2, "{v}");
    assert!(v["usage"]["tokens_total"].as_u64().unwrap() > 0, "{v}");
    assert!(v["last_used_at"].is_string());
    assert_eq!(chat(&h, &key, "gemini-2.5-flash").status, 200);
    assert_eq!(chat(&h, &key, "gemini-3-pro-preview").status, 403);
    drop(h);
    // Only a hash is at rest: the key is in neither the database nor its WAL.
    let mut bytes = std::fs::read(&db).unwrap();
    if let Ok(wal) = std::fs::read(dir.path().join("gw.db-wal")) {
        bytes.extend(wal);
    }
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(&key) && !text.contains(&key[3..]));
}

#[test]
fn a_memory_store_holds_keys_until_restart() {
    let h = Harness::basic();
    let (_, key) = create(&h, json!({"name": "temp"}));
    assert_eq!(chat(&h, &key, "gemini-2.5-flash").status, 200);
    let v = admin(&h, "GET", "/api/proxy-keys", Value::Null).json();
    assert_eq!(v["persistent"], false);
    assert_eq!(v["total"], 1);
}

#[test]
fn users_get_403_on_admin_routes_and_404_on_others_ids() {
    let h = Harness::basic();
    let (alice_id, alice) = create(&h, json!({"name": "alice"}));
    let (bob_id, _) = create(&h, json!({"name": "bob"}));
    let (_, boss) = create(&h, json!({"name": "boss", "role": "admin"}));
    for cred in [alice.as_str(), PASSWORD] {
        for (method, path) in [
            ("GET", "/api/keys".to_string()),
            ("GET", "/api/report".to_string()),
            ("GET", "/api/proxy-keys".to_string()),
            ("POST", "/api/proxy-keys".to_string()),
            ("PATCH", format!("/api/proxy-keys/{alice_id}")),
            ("DELETE", format!("/api/proxy-keys/{alice_id}")),
            ("PATCH", format!("/api/proxy-keys/{bob_id}")),
            ("DELETE", format!("/api/proxy-keys/{bob_id}")),
        ] {
            let r = as_cred(&h, cred, method, &path, json!({"name": "x"}));
            assert_eq!(r.status, 403, "{method} {path}: {}", r.text());
        }
        let r = as_cred(
            &h,
            cred,
            "GET",
            &format!("/api/proxy-keys/{bob_id}"),
            Value::Null,
        );
        assert_eq!(r.status, 404, "another's id");
        assert_eq!(as_cred(&h, cred, "GET", "/api/me", Value::Null).status, 200);
    }
    let r = as_cred(
        &h,
        &alice,
        "GET",
        &format!("/api/proxy-keys/{alice_id}"),
        Value::Null,
    );
    assert_eq!(r.status, 200, "one's own key");
    let me = as_cred(&h, &alice, "GET", "/api/me", Value::Null).json();
    assert_eq!(
        (me["id"].as_str(), me["role"].as_str(), me["kind"].as_str()),
        (Some(alice_id.as_str()), Some("user"), Some("proxy_key"))
    );
    let me = as_cred(&h, PASSWORD, "GET", "/api/me", Value::Null).json();
    assert_eq!(
        (me["role"].as_str(), me["kind"].as_str()),
        (Some("user"), Some("password"))
    );
    // An admin proxy key administers.
    let r = as_cred(
        &h,
        &boss,
        "POST",
        "/api/proxy-keys",
        json!({"name": "made by boss"}),
    );
    assert_eq!(r.status, 201);
    assert_eq!(
        as_cred(&h, &boss, "GET", "/api/keys", Value::Null).status,
        200
    );
    // No credential, or an unknown one: 401.
    assert_eq!(
        as_cred(&h, "nope", "GET", "/api/me", Value::Null).status,
        401
    );
    assert_eq!(
        http(h.admin, "GET", "/api/proxy-keys", &[], b"").status,
        401
    );
}

#[test]
fn bad_bodies_name_the_field() {
    let h = Harness::basic();
    for (body, field) in [
        (json!({}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "a", "role": "root"}), "role"),
        (json!({"name": "a", "expires_at": "tomorrow"}), "expires_at"),
        (json!({"name": "a", "expires_in": "soon"}), "expires_in"),
        (json!({"name": "a", "models": "gemini"}), "models"),
        (json!({"name": "a", "models": ["gemini-["]}), "models"),
        (json!({"name": "a", "rpm": 0}), "rpm"),
        (json!({"name": "a", "rpd": "many"}), "rpd"),
        (json!({"name": "a", "enabled": "yes"}), "enabled"),
        (json!({"name": "a", "colour": "red"}), "colour"),
    ] {
        let r = admin(&h, "POST", "/api/proxy-keys", body.clone());
        assert_eq!(r.status, 400, "{body}");
        let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(msg.starts_with(&format!("{field}:")), "{body}: {msg}");
    }
    let r = http(
        h.admin,
        "POST",
        "/api/proxy-keys",
        &[("authorization", &format!("Bearer {ADMIN_KEY}"))],
        b"{not json",
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        admin(&h, "GET", "/api/proxy-keys?limit=0", Value::Null).status,
        400
    );
    assert_eq!(admin(&h, "PUT", "/api/proxy-keys", Value::Null).status, 405);
    assert_eq!(
        h.state.credentials.proxy_key_count(),
        0,
        "nothing was created"
    );
}

#[test]
fn listing_is_paged() {
    let h = Harness::basic();
    let ids: Vec<String> = (0..5)
        .map(|i| create(&h, json!({"name": format!("k{i}")})).0)
        .collect();
    let p1 = admin(&h, "GET", "/api/proxy-keys?limit=2", Value::Null).json();
    assert_eq!(p1["total"], 5);
    assert_eq!(p1["data"].as_array().unwrap().len(), 2);
    assert_eq!(p1["next_offset"], 2);
    let p3 = admin(&h, "GET", "/api/proxy-keys?limit=2&offset=4", Value::Null).json();
    assert_eq!(p3["data"].as_array().unwrap().len(), 1);
    assert!(p3["next_offset"].is_null());
    let all: BTreeSet<String> = admin(&h, "GET", "/api/proxy-keys", Value::Null).json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(all, ids.into_iter().collect());
}

#[test]
fn model_lists_show_a_restricted_key_only_its_models() {
    let h = Harness::basic();
    let (_, key) = create(&h, json!({"name": "flash", "models": ["gemini-2.5-flash"]}));
    let r = http(
        h.addr,
        "GET",
        "/v1/models",
        &[("authorization", &format!("Bearer {key}"))],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let ids: Vec<String> = r.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().into())
        .collect();
    assert_eq!(ids, vec!["gemini-2.5-flash".to_string()]);
    let r = http(
        h.addr,
        "GET",
        "/v1beta/models",
        &[("x-goog-api-key", &key)],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let names: Vec<String> = r.json()["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().into())
        .collect();
    assert_eq!(names, vec!["models/gemini-2.5-flash".to_string()]);
    // The full list for an unrestricted credential has more.
    let all = http(
        h.addr,
        "GET",
        "/v1beta/models",
        &[("x-goog-api-key", PASSWORD)],
        b"",
    )
    .json();
    assert!(all["models"].as_array().unwrap().len() > 1);
    // A lookup of another model is refused, of its own answered.
    let r = http(
        h.addr,
        "GET",
        "/v1/models/gemini-2.5-pro",
        &[("authorization", &format!("Bearer {key}"))],
        b"",
    );
    assert_eq!(r.status, 403);
    let r = http(
        h.addr,
        "GET",
        "/v1beta/models/gemini-2.5-pro",
        &[("x-goog-api-key", &key)],
        b"",
    );
    assert_eq!(r.status, 403);
    let r = http(
        h.addr,
        "GET",
        "/v1beta/models/gemini-2.5-flash",
        &[("x-goog-api-key", &key)],
        b"",
    );
    assert_eq!(r.status, 200);
}

/// Every key name in a JSON value, with the path prefix of arrays collapsed.
fn key_names(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                out.insert(k.clone());
                key_names(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| key_names(x, out)),
        _ => {}
    }
}

#[test]
fn no_json_answer_holds_a_secret_after_creation() {
    let h = Harness::basic();
    assert_eq!(
        h.post("/v1beta/models/gemini-2.5-flash:generateContent", GEN)
            .status,
        200
    );
    let created = admin(
        &h,
        "POST",
        "/api/proxy-keys",
        json!({"name": "alice", "models": ["gemini-*"], "rpm": 5, "expires_in": "30d"}),
    );
    assert_eq!(created.status, 201);
    let cv = created.json();
    let (id, key) = (
        cv["id"].as_str().unwrap().to_string(),
        cv["key"].as_str().unwrap().to_string(),
    );
    let hash: String = {
        use sha2::Digest;
        sha2::Sha256::digest(key.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let mut created_names = BTreeSet::new();
    key_names(&cv, &mut created_names);
    let identity_names: BTreeSet<String> = [
        "id",
        "kind",
        "name",
        "role",
        "prefix",
        "created_at",
        "expires_at",
        "expired",
        "enabled",
        "enable_context_completion",
        "models",
        "rpm",
        "rpd",
        "last_used_at",
        "usage",
        "requests_today",
        "tokens_today",
        "requests_total",
        "tokens_total",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut expected = identity_names.clone();
    expected.extend(["key".to_string(), "persistent".to_string()]);
    assert_eq!(created_names, expected, "the creation answer");

    assert_eq!(chat(&h, &key, "gemini-2.5-flash").status, 200);
    let answers = [
        admin(&h, "GET", "/api/proxy-keys", Value::Null),
        admin(&h, "GET", &format!("/api/proxy-keys/{id}"), Value::Null),
        admin(
            &h,
            "PATCH",
            &format!("/api/proxy-keys/{id}"),
            json!({"name": "alice2"}),
        ),
        as_cred(&h, &key, "GET", "/api/me", Value::Null),
        as_cred(&h, PASSWORD, "GET", "/api/me", Value::Null),
        admin(&h, "GET", "/api/me", Value::Null),
        admin(&h, "GET", "/api/keys", Value::Null),
        admin(&h, "GET", "/api/report", Value::Null),
        admin(&h, "DELETE", &format!("/api/proxy-keys/{id}"), Value::Null),
    ];
    let forbidden = [
        "key",
        "token",
        "hash",
        "key_hash",
        "password",
        "secret",
        "api_key",
        "secret_key",
    ];
    let mut identity_answers = BTreeSet::new();
    for (i, r) in answers.iter().enumerate() {
        assert!(r.status == 200, "answer {i}: {}", r.text());
        let text = r.text();
        for s in [key.as_str(), &key[3..], hash.as_str(), PASSWORD, ADMIN_KEY] {
            assert!(!text.contains(s), "answer {i} holds a secret: {text}");
        }
        let mut names = BTreeSet::new();
        key_names(&r.json(), &mut names);
        if i < 6 {
            for f in forbidden {
                assert!(!names.contains(f), "answer {i} has a field {f:?}");
            }
            identity_answers.extend(names);
        }
    }
    // The snapshot of every identity answer's field names (list and me add their own few).
    let mut expected = identity_names;
    expected.extend(
        [
            "data",
            "total",
            "offset",
            "limit",
            "next_offset",
            "persistent",
            "usage_since",
        ]
        .map(String::from),
    );
    assert_eq!(identity_answers, expected);
    let mut del = BTreeSet::new();
    key_names(&answers[8].json(), &mut del);
    assert_eq!(
        del,
        ["deleted", "id"].map(String::from).into_iter().collect()
    );
}

#[test]
fn hagemi_keys_are_imported_by_the_one_line_command_and_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let hagemi = dir.path().join("hagemi.db");
    rusqlite::Connection::open(&hagemi)
        .unwrap()
        .execute_batch(
            "CREATE TABLE proxy_keys (key TEXT PRIMARY KEY, description TEXT,
               created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, is_active BOOLEAN DEFAULT TRUE,
               expires_at DATETIME NULL, enable_context_completion BOOLEAN DEFAULT TRUE);
             INSERT INTO proxy_keys (key, description) VALUES ('HagemiPlainKey0123456789abcdefABCDEFGHIJ', 'old team');
             INSERT INTO proxy_keys (key, description, expires_at) VALUES ('HagemiExpired0123456789', 'gone', '2020-01-01 00:00:00');",
        )
        .unwrap();
    let db = dir.path().join("gw.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gemini-gateway"))
        .arg("import-hagemi-keys")
        .arg(&hagemi)
        .arg("--into")
        .arg(&db)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("imported 2 proxy keys"), "{stdout}");
    let h = Harness::start(SimConfig::default(), &["key-a"], |c| {
        c.store.path = Some(db.clone())
    });
    assert_eq!(
        chat(
            &h,
            "HagemiPlainKey0123456789abcdefABCDEFGHIJ",
            "gemini-2.5-flash"
        )
        .status,
        200
    );
    let r = chat(&h, "HagemiExpired0123456789", "gemini-2.5-flash");
    assert_eq!(r.status, 401);
    assert!(
        r.text().contains("expired"),
        "Hagemi never checked expiry; we do"
    );
    let list = admin(&h, "GET", "/api/proxy-keys", Value::Null).json();
    assert_eq!(list["total"], 2);
    assert!(!list.to_string().contains("HagemiPlainKey"));
    drop(h);
    let text = String::from_utf8_lossy(&std::fs::read(&db).unwrap()).to_string()
        + &String::from_utf8_lossy(
            &std::fs::read(dir.path().join("gw.db-wal")).unwrap_or_default(),
        );
    assert!(
        !text.contains("HagemiPlainKey0123456789"),
        "hashed on import"
    );
    // Without a store file the command says what to set.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gemini-gateway"))
        .args(["import-hagemi-keys"])
        .arg(&hagemi)
        .env_clear()
        .env("GEMINI_API_KEYS", "k")
        .env("PASSWORD", "p")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CONTEXT_DB_PATH"));
}
