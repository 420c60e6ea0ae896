//! Stored responses (the OpenAI Responses API's `store` and `previous_response_id`) as
//! conversations of the context store: every response continued from a first one lives in that
//! first one's conversation, each exchange naming the turn it follows, so a client may continue
//! any stored response — the newest or an earlier one — and gets exactly that response's branch.
//!
//! A response id says where it is stored: `resp_` + the 24 hex digits of its conversation's id +
//! 32 random alphanumerics. A conversation's id starts with the time it was made, so new ones are
//! written at the end of the store's indexes (many to a page) rather than all over them. The owner is checked on every read, so another credential's id is
//! "not found", never another credential's history.

use super::history::Turn;
use super::{Contexts, Conversation, Origin};
use crate::convert::gemini::{CallIds, Content};
use std::collections::HashMap;

/// An exchange the surface asks to be stored: the context stage commits the request's own turns
/// (the first following turn `follows`; 0 when the conversation starts here) and the model's reply,
/// tagged with `response`, once the answer has been read to its end.
#[derive(Debug)]
pub struct Thread {
    /// The conversation's id (`ctx_…`).
    pub conversation: String,
    /// The credential's id.
    pub owner: String,
    /// The conversation's name: `responses/` + the id of its first response.
    pub name: String,
    pub follows: u64,
    /// The id of the response being answered.
    pub response: String,
    /// The request's own turns (not the stored ones sent before them).
    pub turns: Vec<Turn>,
}

impl Thread {
    /// Store the exchange with the model's `reply`. A first response's conversation is new
    /// (nothing can be stored under its id); a continuation's was read by this request.
    pub fn save(self, contexts: &Contexts, now: i64, reply: Turn) {
        let origin = match self.follows {
            0 => Origin::Fresh,
            _ => Origin::Read,
        };
        let Thread {
            conversation,
            owner,
            name,
            follows,
            response,
            turns,
        } = self;
        contexts.commit(&conversation, &owner, &name, now, origin, move |all| {
            append(all, follows, turns, response, reply)
        });
    }
}

/// The conversation's turns after an exchange: the request's `turns` (the first following turn
/// `follows`), then the `reply` tagged with its `response` id.
fn append(
    all: &mut Vec<Turn>,
    follows: u64,
    mut turns: Vec<Turn>,
    response: String,
    mut reply: Turn,
) {
    if let Some(first) = turns.first_mut() {
        first.follows = Some(follows);
    }
    all.extend(turns);
    reply.response = Some(response.into_boxed_str());
    all.push(reply);
}

const HEX: usize = 24;
const RANDOM: usize = 32;

/// A new response's id and its conversation's id: in `conversation` when it continues one, else in
/// a new conversation.
pub fn new_response_id(conversation: Option<&str>) -> (String, String) {
    let conversation = match conversation {
        Some(c) => c.to_owned(),
        None => {
            // 48 bits of milliseconds (sortable until the year 10889), 48 random.
            let ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let mut id = String::with_capacity(4 + HEX);
            id.push_str("ctx_");
            push_hex(&mut id, ms, 12);
            push_hex(&mut id, fastrand::u64(..), 12);
            id
        }
    };
    // `resp_` + the conversation's hex digits, then the random part.
    let hex = conversation.strip_prefix("ctx_").unwrap_or(&conversation);
    let mut prefix = [0u8; 5 + HEX];
    let n = hex.len().min(HEX);
    prefix[..5].copy_from_slice(b"resp_");
    prefix[5..5 + n].copy_from_slice(&hex.as_bytes()[..n]);
    let prefix = std::str::from_utf8(&prefix[..5 + n]).unwrap_or("resp_");
    (crate::convert::random_id(prefix, RANDOM), conversation)
}

/// The low `digits` hex digits of `v`, most significant first.
fn push_hex(s: &mut String, v: u64, digits: u32) {
    for i in (0..digits).rev() {
        s.push(char::from(
            b"0123456789abcdef"[((v >> (4 * i)) & 0xf) as usize],
        ));
    }
}

/// The conversation a response id is stored in, when the id is one this gateway gave.
pub fn conversation_of(response: &str) -> Option<String> {
    let rest = response.strip_prefix("resp_")?;
    let (hex, random) = rest.split_at_checked(HEX)?;
    let ok = hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && random.len() == RANDOM
        && random.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then(|| format!("ctx_{hex}"))
}

/// The turns that led to `response` and its reply, oldest first, read from the conversation's
/// tree; `None` when the response is not in it or its branch is incomplete.
pub fn branch(conv: &Conversation, response: &str) -> Option<Vec<Turn>> {
    let turns = &conv.turns;
    let mut i = turns
        .iter()
        .rposition(|t| t.response.as_deref() == Some(response))?;
    let mut out = Vec::new();
    loop {
        let t = &turns[i];
        out.push(t.clone());
        let before = t.follows.unwrap_or(t.seq.saturating_sub(1));
        if before == 0 {
            break;
        }
        // Turns are in `seq` order; a link always points back.
        i = turns[..i].binary_search_by_key(&before, |t| t.seq).ok()?;
    }
    out.reverse();
    Some(out)
}

/// The `call_id` → function name of every function call the stored responses in `turns` gave
/// the client, handed out again by the translator's own [`CallIds`] seeded with each response's
/// id, so the outputs a client sends with `previous_response_id` can name their functions.
pub fn call_names(turns: &[Turn], prefix: &'static str) -> HashMap<String, String> {
    let mut names = HashMap::new();
    for t in turns {
        let Some(response) = t.response.as_deref() else {
            continue;
        };
        let Ok(content) = serde_json::from_slice::<Content>(t.raw()) else {
            continue;
        };
        let mut ids = CallIds::derived(prefix, response);
        let calls = content
            .parts
            .into_iter()
            .flatten()
            .filter_map(|p| p.function_call);
        for call in calls {
            names.insert(ids.next(call.id.as_deref()), call.name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::gemini::derived_call_id;
    use serde_json::json;

    fn turn(v: serde_json::Value) -> Turn {
        Turn::new(v)
    }
    fn user(t: &str) -> Turn {
        turn(json!({"role": "user", "parts": [{"text": t}]}))
    }
    fn model(t: &str) -> Turn {
        turn(json!({"role": "model", "parts": [{"text": t}]}))
    }
    fn text(t: &Turn) -> String {
        t.content()["parts"][0]["text"].as_str().unwrap().to_owned()
    }

    /// Commit as the context stage does: number the new turns after the last.
    fn commit(conv: &mut Conversation, thread: Thread, reply: Turn) {
        let next = conv.turns.last().map_or(0, |t| t.seq) + 1;
        append(
            &mut conv.turns,
            thread.follows,
            thread.turns,
            thread.response,
            reply,
        );
        for (seq, t) in (next..).zip(conv.turns.iter_mut().filter(|t| t.seq == 0)) {
            t.seq = seq;
        }
    }

    fn thread(follows: u64, response: &str, turns: Vec<Turn>) -> Thread {
        Thread {
            conversation: "ctx_x".into(),
            owner: "o".into(),
            name: "responses/r".into(),
            follows,
            response: response.into(),
            turns,
        }
    }

    #[test]
    fn ids_name_their_conversation_and_nothing_else_parses() {
        let (first, conv) = new_response_id(None);
        assert!(conv.starts_with("ctx_") && conv.len() == 4 + HEX);
        assert_eq!(conversation_of(&first).as_deref(), Some(conv.as_str()));
        let (second, same) = new_response_id(Some(&conv));
        assert_eq!(same, conv);
        assert_ne!(first, second);
        assert_eq!(conversation_of(&second).as_deref(), Some(conv.as_str()));
        assert_eq!(first.len(), 5 + HEX + RANDOM);
        // Made later, sorted later (the time comes first).
        std::thread::sleep(std::time::Duration::from_millis(2));
        let (_, later) = new_response_id(None);
        assert!(later > conv, "{later} > {conv}");
        let at = |i: usize, c: &str| {
            let mut s = first.clone();
            s.replace_range(i..i + 1, c);
            s
        };
        for bad in [
            String::new(),
            "resp_".into(),
            first[..first.len() - 1].to_string(),
            format!("{first}x"),
            first.replacen("resp_", "msg__", 1),
            at(5, "g"),
            at(5, "A"),
            at(5 + HEX, "-"),
            at(first.len() - 1, "é"),
        ] {
            assert_eq!(conversation_of(&bad), None, "{bad}");
        }
    }

    #[test]
    fn a_branch_is_the_chain_of_exchanges_that_led_to_a_response() {
        let mut conv = Conversation {
            id: "ctx_x".into(),
            owner: "o".into(),
            name: "responses/r".into(),
            turns: Vec::new(),
            last_used: 0,
        };
        commit(&mut conv, thread(0, "r1", vec![user("q1")]), model("a1"));
        let s1 = conv.turns.last().unwrap().seq;
        commit(&mut conv, thread(s1, "r2", vec![user("q2")]), model("a2"));
        // A fork from r1, after r2 was stored.
        commit(
            &mut conv,
            thread(s1, "r3", vec![user("q3"), user("q3b")]),
            model("a3"),
        );
        let s3 = conv.turns.last().unwrap().seq;
        commit(&mut conv, thread(s3, "r4", vec![user("q4")]), model("a4"));
        let texts = |r: &str| {
            branch(&conv, r)
                .unwrap()
                .iter()
                .map(text)
                .collect::<Vec<_>>()
        };
        assert_eq!(texts("r1"), ["q1", "a1"]);
        assert_eq!(texts("r2"), ["q1", "a1", "q2", "a2"]);
        assert_eq!(texts("r3"), ["q1", "a1", "q3", "q3b", "a3"]);
        assert_eq!(texts("r4"), ["q1", "a1", "q3", "q3b", "a3", "q4", "a4"]);
        assert!(branch(&conv, "r9").is_none());
        // A broken link (a turn gone) is not a shorter history.
        conv.turns.remove(0);
        assert!(branch(&conv, "r2").is_none());
    }

    #[test]
    fn call_names_follow_the_ids_the_answer_gave() {
        let mut reply = turn(json!({"role": "model", "parts": [
            {"functionCall": {"name": "weather", "args": {}}, "thoughtSignature": "s"},
            {"functionCall": {"name": "time", "args": {}, "id": "g1"}},
            {"functionCall": {"name": "clock", "args": {}, "id": "g1"}}
        ]}));
        reply.response = Some("resp_a".into());
        let names = call_names(&[user("q"), reply], "call_");
        assert_eq!(names[&derived_call_id("call_", "resp_a", 0)], "weather");
        assert_eq!(names["g1"], "time");
        // A repeated Gemini id gets a derived one, as the answer gave it.
        assert_eq!(names[&derived_call_id("call_", "resp_a", 2)], "clock");
        assert_eq!(names.len(), 3);
    }
}
