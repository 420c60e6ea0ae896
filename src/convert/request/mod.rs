//! OpenAI `chat/completions` request → Gemini `GenerateContentRequest` (see
//! `docs/openai-mapping.md`). The body is read into borrowed, typed pieces ([`fields`],
//! [`messages`], [`parts`]) and the Gemini body written from typed structs ([`super::gemini_request`]) in one
//! serialisation; parameter paths (`messages[2].content[1].image_url.url`) name what is wrong.

mod fields;
mod generation;
mod messages;
mod parts;
mod tools;

use super::gemini_request::{GeminiRequest, Parts, Safety};
use super::thinking::{self, family, Family};
use super::{
    model_param, random_id, ChatMeta, ChatPlan, ConvertError, ConvertKind, ConvertOptions,
};
use fields::{boolean, camel, integer, present, value, Fields};
use serde_json::{Map, Value};

/// `google` extras keys (camelCase) that belong inside `generationConfig`.
const GENERATION_KEYS: &[&str] = &[
    "temperature",
    "topP",
    "topK",
    "candidateCount",
    "maxOutputTokens",
    "stopSequences",
    "presencePenalty",
    "frequencyPenalty",
    "seed",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "responseLogprobs",
    "logprobs",
    "speechConfig",
    "mediaResolution",
    "imageConfig",
    "enableEnhancedCivicAnswers",
    "audioTimestamp",
];

/// Translate an OpenAI chat request.
pub fn chat_request(body: &[u8], opts: &ConvertOptions) -> Result<ChatPlan, ConvertError> {
    let f = Fields::parse(body)?;
    let model_text = present(f.model).map(fields::string);
    let model = model_param(model_text.as_ref().map(|m| m.as_deref()))?;
    let stream = boolean(f.stream, "stream")?.unwrap_or(false);
    let include_usage = stream
        && present(f.stream_options)
            .map(value)
            .and_then(|o| o.get("include_usage").and_then(Value::as_bool))
            == Some(true);

    refuse_unsupported(&f)?;

    let fam = family(&model);
    let (system, contents) = messages::messages(f.messages, fam == Family::Level)?;
    let (mut tools, tool_config) = tools::tools(&f)?;
    let mut gen = generation::generation_config(&f)?;

    // Thinking: reasoning_effort first, then the google extras' thinking_config on top.
    let effort = generation::reasoning_effort(&f)?;
    let mut thinking = Map::new();
    let mut include_thoughts = false;
    if let Some(e) = effort.filter(|_| fam != Family::None) {
        match fam {
            Family::Level => {
                thinking.insert("thinkingLevel".into(), Value::from(thinking::level_for(e)));
            }
            _ => {
                thinking.insert(
                    "thinkingBudget".into(),
                    Value::from(thinking::budget_for(e)),
                );
            }
        }
        include_thoughts = e != "none";
    }

    let mut out = GeminiRequest {
        contents: Some(contents),
        system_instruction: (!system.is_empty()).then_some(Parts { parts: system }),
        tool_config,
        tools: Vec::new(),
        generation_config: Map::new(),
        safety_settings: Some(Safety::Configured(opts.safety_threshold)),
        extra: Map::new(),
    };

    for (path, google) in google_extras(&f)? {
        for (k, v) in google {
            if v.is_null() {
                continue;
            }
            let key = camel(&k);
            match key.as_str() {
                "thinkingConfig" => {
                    let Value::Object(tc) = v else {
                        return Err(ConvertError::invalid(
                            format!("{path}.{k}"),
                            "must be an object",
                        ));
                    };
                    for (tk, tv) in tc {
                        let tk = camel(&tk);
                        if effort.is_some() && (tk == "thinkingBudget" || tk == "thinkingLevel") {
                            return Err(ConvertError::invalid(
                                "reasoning_effort",
                                format!(
                                    "`reasoning_effort` and `{path}.{k}` budget/level cannot both be set; use one."
                                ),
                            ));
                        }
                        if tk == "includeThoughts" {
                            include_thoughts = tv.as_bool() == Some(true);
                        }
                        thinking.insert(tk, tv);
                    }
                }
                "generationConfig" => {
                    let Value::Object(gc) = v else {
                        return Err(ConvertError::invalid(
                            format!("{path}.{k}"),
                            "must be an object",
                        ));
                    };
                    for (gk, gv) in gc {
                        let gk = camel(&gk);
                        if gk == "thinkingConfig" {
                            if let Value::Object(tc) = gv {
                                for (tk, tv) in tc {
                                    let tk = camel(&tk);
                                    if tk == "includeThoughts" {
                                        include_thoughts = tv.as_bool() == Some(true);
                                    }
                                    thinking.insert(tk, tv);
                                }
                            }
                        } else {
                            gen.insert(gk, gv);
                        }
                    }
                }
                "tools" => {
                    let Value::Array(t) = v else {
                        return Err(ConvertError::invalid(
                            format!("{path}.{k}"),
                            "must be an array of Gemini tools",
                        ));
                    };
                    tools.extend(t);
                }
                "safetySettings" => out.safety_settings = Some(Safety::Client(v)),
                k if GENERATION_KEYS.contains(&k) => {
                    gen.insert(key, v);
                }
                // Fields the typed request also writes: the client's value replaces them.
                "contents" => {
                    out.contents = None;
                    out.extra.insert(key, v);
                }
                "systemInstruction" => {
                    out.system_instruction = None;
                    out.extra.insert(key, v);
                }
                "toolConfig" => {
                    out.tool_config = None;
                    out.extra.insert(key, v);
                }
                _ => {
                    out.extra.insert(key, v);
                }
            }
        }
    }

    if include_thoughts {
        thinking.insert("includeThoughts".into(), Value::Bool(true));
    }
    if !thinking.is_empty() {
        gen.insert("thinkingConfig".into(), Value::Object(thinking));
    }
    out.tools = tools;
    out.generation_config = gen;
    let est_tokens = out.estimated_tokens();
    let body = serde_json::to_vec(&out).map_err(|e| ConvertError {
        kind: ConvertKind::Internal,
        param: None,
        message: format!("could not encode the Gemini request: {e}"),
    })?;
    Ok(ChatPlan {
        stream,
        body,
        est_tokens,
        meta: ChatMeta {
            id: random_id("chatcmpl-", 29),
            created: u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0),
            model: model.to_string(),
            include_thoughts,
            include_usage,
            roo_line_count: opts.roo_line_count,
        },
        model,
    })
}

/// Fields refused outright.
fn refuse_unsupported(f: &Fields<'_>) -> Result<(), ConvertError> {
    if boolean(f.logprobs, "logprobs")? == Some(true) {
        return Err(ConvertError::unsupported(
            "logprobs",
            "`logprobs` is not supported by this gateway's Gemini translation.",
        ));
    }
    if integer(f.top_logprobs, "top_logprobs")?.is_some_and(|n| n > 0) {
        return Err(ConvertError::unsupported(
            "top_logprobs",
            "`top_logprobs` is not supported by this gateway's Gemini translation.",
        ));
    }
    if let Some(m) = present(f.modalities).map(value) {
        let Value::Array(list) = m else {
            return Err(ConvertError::invalid(
                "modalities",
                "`modalities` must be an array.",
            ));
        };
        if list.iter().any(|x| x.as_str() != Some("text")) {
            return Err(ConvertError::unsupported(
                "modalities",
                "Only the \"text\" output modality is supported.",
            ));
        }
    }
    if present(f.audio).is_some() {
        return Err(ConvertError::unsupported(
            "audio",
            "Audio output is not supported.",
        ));
    }
    Ok(())
}

/// A `google` extras object and the parameter path it came from.
type Extras = (&'static str, Map<String, Value>);

/// The `google` extras objects to apply, in order, with the parameter path they came from:
/// top-level `google`, then `extra_body.google`.
fn google_extras(f: &Fields<'_>) -> Result<Vec<Extras>, ConvertError> {
    let mut out = Vec::new();
    if let Some(g) = present(f.google).map(value) {
        let Value::Object(g) = g else {
            return Err(ConvertError::invalid(
                "google",
                "`google` must be an object",
            ));
        };
        out.push(("google", g));
    }
    if let Some(Value::Object(mut eb)) = present(f.extra_body).map(value) {
        if let Some(g) = eb.remove("google").filter(|g| !g.is_null()) {
            let Value::Object(g) = g else {
                return Err(ConvertError::invalid(
                    "extra_body.google",
                    "`extra_body.google` must be an object",
                ));
            };
            out.push(("extra_body.google", g));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
