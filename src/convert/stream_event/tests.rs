use super::*;

fn by_serde(s: &str) -> Option<String> {
    serde_json::from_str::<StreamEvent>(s)
        .ok()
        .map(|e| format!("{e:?}"))
}

fn by_scanner(s: &str) -> Option<String> {
    common(s).map(|e| format!("{e:?}"))
}

/// What the scanner reads, serde_json reads the same way.
fn agrees(s: &str) {
    if let Some(fast) = by_scanner(s) {
        assert_eq!(Some(fast), by_serde(s), "read differently: {s}");
    }
}

/// The `data:` lines of the real Gemini recordings (empty if they are not beside the project).
fn recorded_events() -> Vec<String> {
    let dir = format!(
        "{}/../shared/fixtures/real-gemini",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut events = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let text = String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()).into_owned();
        for line in text.lines() {
            if let Some(data) = line.strip_prefix("data: ") {
                events.push(data.trim().to_string());
            }
        }
    }
    events
}

const TEXT: &str = r#"{"candidates": [{"content": {"parts": [{"text": "Echo: Say h"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 10,"candidatesTokenCount": 3,"totalTokenCount": 13,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 10}]},"modelVersion": "gemini-2.5-flash","responseId": "7GW5Ww_rWPhVo2g6bfln564"}"#;
const THOUGHTS: &str = r#"{"candidates":[{"content":{"parts":[{"text":"Let me think \u003cabout\u003e it\n\"quoted\" Łódź","thought":true},{"text":"","thoughtSignature":"Q2lJQkFYM3=="}],"role":"model"},"finishReason":"STOP","index":0,"safetyRatings":[{"category":"HARM","probability":"NEGLIGIBLE","blocked":false,"score":-1.5e-3}]}],"usageMetadata":{"promptTokenCount":5,"thoughtsTokenCount":7,"cachedContentTokenCount":null},"modelVersion":"gemini-3-flash-preview"}"#;

#[test]
fn recorded_events_take_the_scanner_and_read_as_serde_json_reads_them() {
    let events = recorded_events();
    let mut fast = 0;
    for e in &events {
        agrees(e);
        fast += usize::from(by_scanner(e).is_some());
    }
    if !events.is_empty() {
        // The recordings' text events (all but function calls and errors) are the common shape.
        assert!(
            fast >= 50,
            "{fast} of {} events read by the scanner",
            events.len()
        );
    }
}

#[test]
fn text_thoughts_signatures_and_finish_are_read() {
    for e in [TEXT, THOUGHTS] {
        assert!(by_scanner(e).is_some(), "{e}");
        agrees(e);
    }
    let ev = common(THOUGHTS).unwrap();
    let c = &ev.candidates.as_ref().unwrap()[0];
    let parts = c.content.as_ref().unwrap().parts.as_ref().unwrap();
    assert_eq!(
        parts[0].text.as_ref().unwrap().plain(),
        "Let me think <about> it\n\"quoted\" Łódź"
    );
    assert_eq!(parts[0].thought, Some(true));
    assert_eq!(parts[1].thought_signature.as_deref(), Some("Q2lJQkFYM3=="));
    assert_eq!(c.finish_reason.as_deref(), Some("STOP"));
    let mut usage = StreamUsage::default();
    usage.note(ev.usage_metadata);
    assert_eq!(usage.get().unwrap().thoughts_token_count, Some(7));
    // Other harmless shapes the scanner takes.
    for e in [
        r#"{}"#,
        r#" { "candidates" : [ { "content" : { "role" : "model" } , "finishReason" : "MAX_TOKENS" } ] } "#,
        r#"{"candidates":[{"content":{"parts":[]},"index":3}],"usageMetadata":null}"#,
        r#"{"candidates":[{}],"x":[[[{"y":[true,false,null,-0,1.25E+3]}]]]}"#,
        r#"{"candidates":[{"content":{"parts":[{"text":"a\/b\\c\b\f\r\t\u00e9","extra":{"k":[]}}]}}]}"#,
    ] {
        assert!(by_scanner(e).is_some(), "{e}");
        agrees(e);
    }
}

#[test]
fn other_shapes_are_left_to_serde_json() {
    for e in [
        r#"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{}}}]}}]}"#,
        r#"{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"AA"}}]}}]}"#,
        r#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}"#,
        r#"{"promptFeedback":{"blockReason":"SAFETY"}}"#,
        r#"{"candidates":[{"index":0},{"index":1}]}"#,
        r#"{"candidates":[]}"#,
        r#"{"candidates":null}"#,
        r#"{"usage_metadata":{"prompt_token_count":1}}"#,
        r#"{"candidates":[{"finish_reason":"STOP"}]}"#,
        r#"{"candidates":[{"content":{"parts":[{"text":"a","text":"b"}]}}]}"#,
        r#"{"candidates":[{"content":{"parts":[{"te\u0078t":"a"}]}}]}"#,
        r#"{"candidates":[{"content":{"parts":[{"text":"\ud83d\ude00"}]}}]}"#,
        r#"{"candidates":[{"content":{"parts":[{"text":null}]}}]}"#,
        r#"{"candidates":[{"index":"0"}]}"#,
        r#"{"candidates":[{"index":1.0}]}"#,
        r#"{"candidates":[{"finishReason":"ST\u004fP"}]}"#,
        r#"{"candidates":[{"content":null}]}"#,
        r#"{"candidates":[{"content":{"parts":[{"thought":1}]}}]}"#,
    ] {
        // serde_json reads them (or, for the repeated key, refuses them).
        assert_eq!(by_scanner(e), None, "{e}");
    }
}

#[test]
fn broken_json_is_never_taken() {
    for e in [
        "",
        "{",
        r#"{"candidates":[{"content":{"parts":[{"text":"cut"#,
        r#"{"a":01}"#,
        r#"{"a":1.}"#,
        r#"{"a":-}"#,
        r#"{"a":tru}"#,
        r#"{"a":"\x"}"#,
        "{\"a\":\"tab\there\"}",
        r#"{"a":1,}"#,
        r#"{"a":[1,]}"#,
        r#"{"a" 1}"#,
        r#"{} {}"#,
        r#"[{}]"#,
    ] {
        assert_eq!(by_scanner(e), None, "{e}");
        assert_eq!(by_serde(e), None, "{e}");
    }
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
    assert_eq!(by_scanner(&deep), None);
}

/// Every event one edit away from a good one (a byte deleted, or one of the characters that
/// matter to JSON put in or over it, or the event cut short) is read the same way by the scanner
/// and serde_json, or not by the scanner at all.
#[test]
fn edited_events_never_read_differently() {
    let seeds = [TEXT, THOUGHTS];
    let marks = [
        "\"", "\\", "{", "}", "[", "]", ",", ":", "0", "-", ".", "e", "t", "n", " ", "\u{1}", "u",
        "8",
    ];
    let mut tried = 0;
    for seed in seeds {
        let cuts: Vec<usize> = (0..=seed.len())
            .filter(|&i| seed.is_char_boundary(i))
            .collect();
        for w in cuts.windows(2) {
            let (at, next) = (w[0], w[1]);
            agrees(&seed[..at]);
            agrees(&format!("{}{}", &seed[..at], &seed[next..]));
            for m in marks {
                agrees(&format!("{}{m}{}", &seed[..at], &seed[at..]));
                agrees(&format!("{}{m}{}", &seed[..at], &seed[next..]));
                tried += 2;
            }
        }
    }
    assert!(tried > 10_000);
}

#[test]
fn usage_is_the_last_one_noted() {
    let mut u = StreamUsage::default();
    assert_eq!(u.get(), None);
    u.note(Some(RawJson(r#"{"promptTokenCount":1}"#)));
    u.note(None);
    assert_eq!(u.get().unwrap().prompt_token_count, Some(1));
    u.note(Some(RawJson(
        r#"{"promptTokenCount":"2","candidatesTokenCount":3.0}"#,
    )));
    assert_eq!(u.get().unwrap().prompt(), 2);
    assert_eq!(u.get().unwrap().completion(), 3);
    u.note(Some(RawJson(r#""unreadable""#)));
    assert_eq!(u.get(), None);
}
