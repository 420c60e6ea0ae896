//! OpenAI `embeddings` ⇄ Gemini `:batchEmbedContents`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::gemini::upstream_error;
use super::{b64, model_param, ConvertError, EmbedPlan};

/// Translate an OpenAI embeddings request into a `batchEmbedContents` body.
///
/// * `input`: a string or an array of strings (token arrays → 400 naming `input`);
/// * `encoding_format`: `float` (the default when absent) or `base64`;
/// * `dimensions` → `outputDimensionality`; `user` and unknown fields are ignored.
pub fn embeddings_request(body: &[u8]) -> Result<EmbedPlan, ConvertError> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|e| ConvertError::body(format!("Request body is not valid JSON: {e}.")))?;
    let Value::Object(req) = root else {
        return Err(ConvertError::body("Request body must be a JSON object."));
    };
    let get = |k: &str| req.get(k).filter(|v| !v.is_null());

    let model = model_param(get("model").map(serde_json::Value::as_str))?;

    let token_input = || {
        ConvertError::unsupported(
            "input",
            "token input not supported: send `input` as a string or an array of strings",
        )
    };
    let inputs: Vec<&str> = match get("input") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => {
            if items.is_empty() {
                return Err(ConvertError::invalid("input", "`input` must not be empty."));
            }
            let mut v = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => v.push(s.as_str()),
                    Value::Number(_) | Value::Array(_) => return Err(token_input()),
                    _ => {
                        return Err(ConvertError::invalid(
                            format!("input[{i}]"),
                            "each input must be a string",
                        ))
                    }
                }
            }
            v
        }
        Some(_) => {
            return Err(ConvertError::invalid(
                "input",
                "`input` must be a string or an array of strings.",
            ))
        }
        None => return Err(ConvertError::invalid("input", "`input` is required.")),
    };

    let base64 = match get("encoding_format") {
        None => false,
        Some(Value::String(f)) if f == "float" => false,
        Some(Value::String(f)) if f == "base64" => true,
        Some(_) => {
            return Err(ConvertError::invalid(
                "encoding_format",
                "`encoding_format` must be \"float\" or \"base64\".",
            ))
        }
    };

    let dimensions = match get("dimensions") {
        None => None,
        Some(Value::Number(n)) if n.as_u64().is_some_and(|d| d > 0) => n.as_u64(),
        Some(_) => {
            return Err(ConvertError::invalid(
                "dimensions",
                "`dimensions` must be a positive integer.",
            ))
        }
    };

    let model_path = format!("models/{model}");
    let requests: Vec<Value> = inputs
        .iter()
        .map(|text| {
            let mut r = Map::new();
            r.insert("model".into(), Value::from(model_path.as_str()));
            r.insert("content".into(), json!({"parts": [{"text": text}]}));
            if let Some(d) = dimensions {
                r.insert("outputDimensionality".into(), Value::from(d));
            }
            Value::Object(r)
        })
        .collect();
    let prompt_tokens = inputs
        .iter()
        .map(|t| (t.chars().count() as u64).div_ceil(4))
        .sum();
    let body = serde_json::to_vec(&json!({ "requests": requests }))
        .map_err(|e| ConvertError::body(format!("could not encode the Gemini request: {e}")))?;
    Ok(EmbedPlan {
        model,
        body,
        base64,
        inputs: inputs.len(),
        prompt_tokens,
    })
}

#[derive(Deserialize)]
struct BatchResponse {
    #[serde(default)]
    embeddings: Option<Vec<GeminiEmbedding>>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct GeminiEmbedding {
    #[serde(default)]
    values: Vec<f64>,
}

#[derive(Serialize)]
struct List<'a> {
    object: &'static str,
    data: Vec<Item>,
    model: &'a str,
    usage: Usage,
}

#[derive(Serialize)]
struct Item {
    object: &'static str,
    index: usize,
    embedding: Embedding,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Embedding {
    Floats(Vec<f64>),
    Base64(String),
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: u64,
    total_tokens: u64,
}

/// Little-endian f32 bytes, base64-encoded (what the OpenAI SDKs decode).
fn pack_base64(values: &[f64]) -> String {
    let mut bytes = Vec::with_capacity(values.len() * 4);
    for v in values {
        bytes.extend_from_slice(&(*v as f32).to_le_bytes());
    }
    b64::encode(&bytes)
}

/// Translate a `batchEmbedContents` answer into an OpenAI embeddings `list`.
pub fn embeddings_response(gemini: &[u8], plan: &EmbedPlan) -> Result<Vec<u8>, ConvertError> {
    let resp: BatchResponse = serde_json::from_slice(gemini).map_err(|e| {
        ConvertError::upstream(format!(
            "Gemini sent embeddings that could not be read: {e}"
        ))
    })?;
    if let Some(err) = &resp.error {
        return Err(upstream_error(err));
    }
    let embeddings = resp.embeddings.unwrap_or_default();
    if embeddings.len() != plan.inputs {
        return Err(ConvertError::upstream(format!(
            "Gemini returned {} embeddings for {} inputs.",
            embeddings.len(),
            plan.inputs
        )));
    }
    let data = embeddings
        .into_iter()
        .enumerate()
        .map(|(index, e)| Item {
            object: "embedding",
            index,
            embedding: if plan.base64 {
                Embedding::Base64(pack_base64(&e.values))
            } else {
                Embedding::Floats(e.values)
            },
        })
        .collect();
    let out = List {
        object: "list",
        data,
        model: &plan.model,
        usage: Usage {
            prompt_tokens: plan.prompt_tokens,
            total_tokens: plan.prompt_tokens,
        },
    };
    serde_json::to_vec(&out)
        .map_err(|e| ConvertError::upstream(format!("could not encode the answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(v: Value) -> EmbedPlan {
        embeddings_request(v.to_string().as_bytes()).unwrap()
    }

    fn err(v: Value) -> ConvertError {
        embeddings_request(v.to_string().as_bytes()).unwrap_err()
    }

    #[test]
    fn single_string_input() {
        let p = plan(json!({"model": "gemini-embedding-001", "input": "hello"}));
        assert_eq!(p.model, "gemini-embedding-001");
        assert!(!p.base64);
        assert_eq!(p.inputs, 1);
        assert_eq!(p.prompt_tokens, 2);
        let b: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(
            b,
            json!({"requests": [{"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "hello"}]}}]})
        );
    }

    #[test]
    fn array_input_dimensions_and_prefix() {
        let p = plan(
            json!({"model": "models/text-embedding-004", "input": ["a", "bbbbb"],
            "dimensions": 256, "encoding_format": "base64", "user": "u"}),
        );
        assert_eq!(p.model, "text-embedding-004");
        assert!(p.base64);
        assert_eq!(p.inputs, 2);
        assert_eq!(p.prompt_tokens, 1 + 2);
        let b: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(b["requests"][1]["outputDimensionality"], 256);
        assert_eq!(b["requests"][1]["content"]["parts"][0]["text"], "bbbbb");
        assert_eq!(b["requests"][0]["model"], "models/text-embedding-004");
    }

    #[test]
    fn token_input_is_refused() {
        for input in [json!([1, 2, 3]), json!([[1, 2], [3]])] {
            let e = err(json!({"model": "m", "input": input}));
            assert_eq!(e.param.as_deref(), Some("input"));
            assert!(e.message.contains("token input not supported"));
        }
    }

    #[test]
    fn bad_fields_are_400() {
        assert_eq!(err(json!({"input": "x"})).param.as_deref(), Some("model"));
        assert_eq!(err(json!({"model": "m"})).param.as_deref(), Some("input"));
        assert_eq!(
            err(json!({"model": "m", "input": []})).param.as_deref(),
            Some("input")
        );
        assert_eq!(
            err(json!({"model": "m", "input": "x", "encoding_format": "hex"}))
                .param
                .as_deref(),
            Some("encoding_format")
        );
        assert_eq!(
            err(json!({"model": "m", "input": "x", "dimensions": 0}))
                .param
                .as_deref(),
            Some("dimensions")
        );
    }

    #[test]
    fn float_response() {
        let p = plan(json!({"model": "m", "input": ["a", "b"], "encoding_format": "float"}));
        let out: Value = serde_json::from_slice(
            &embeddings_response(
                br#"{"embeddings": [{"values": [0.5, -0.25]}, {"values": [1.0, 0.0]}]}"#,
                &p,
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"object": "list", "model": "m",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25]},
                         {"object": "embedding", "index": 1, "embedding": [1.0, 0.0]}],
                "usage": {"prompt_tokens": 2, "total_tokens": 2}})
        );
    }

    #[test]
    fn base64_round_trip() {
        let p = plan(json!({"model": "m", "input": "hello world", "encoding_format": "base64"}));
        let values = [0.013_168_523_f32, -0.008_711_934, 1.5, -2.0e-7];
        let g = json!({"embeddings": [{"values": values}]});
        let out: Value =
            serde_json::from_slice(&embeddings_response(g.to_string().as_bytes(), &p).unwrap())
                .unwrap();
        let s = out["data"][0]["embedding"].as_str().unwrap();
        let bytes = b64::decode(s);
        assert_eq!(bytes.len(), 16);
        let back: Vec<f32> = bytes
            .chunks(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(back, values);
    }

    #[test]
    fn count_mismatch_and_errors() {
        let p = plan(json!({"model": "m", "input": ["a", "b"]}));
        let e = embeddings_response(br#"{"embeddings": [{"values": [1]}]}"#, &p).unwrap_err();
        assert_eq!(e.status(), 502);
        let e = embeddings_response(
            br#"{"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}"#,
            &p,
        )
        .unwrap_err();
        assert_eq!(e.status(), 429);
    }
}
