//! The simulated model catalog, shaped like the real `ListModels` answer.

use serde::Serialize;
use serde_json::Value;

use crate::wire::num;

/// One model the simulator knows.
#[derive(Debug)]
pub(crate) struct ModelInfo {
    pub id: &'static str,
    pub version: &'static str,
    pub display_name: &'static str,
    pub description: &'static str,
    pub input_token_limit: u64,
    pub output_token_limit: u64,
    pub methods: &'static [&'static str],
    /// (temperature, topP, topK, maxTemperature) for generative models.
    pub sampling: Option<(f64, f64, u32, f64)>,
    pub thinking: bool,
}

const GEN: &[&str] = &[
    "generateContent",
    "countTokens",
    "createCachedContent",
    "batchGenerateContent",
];
const GEN_LITE: &[&str] = &["generateContent", "countTokens"];
const EMBED: &[&str] = &[
    "embedContent",
    "countTextTokens",
    "countTokens",
    "asyncBatchEmbedContent",
];
const EMBED_OLD: &[&str] = &["embedContent"];

pub(crate) static MODELS: &[ModelInfo] = &[
    ModelInfo {
        id: "gemini-2.5-flash",
        version: "001",
        display_name: "Gemini 2.5 Flash",
        description: "Stable version of Gemini 2.5 Flash, our mid-size multimodal model that supports up to 1 million tokens, released in June of 2025.",
        input_token_limit: 1_048_576,
        output_token_limit: 65_536,
        methods: GEN,
        sampling: Some((1.0, 0.95, 64, 2.0)),
        thinking: true,
    },
    ModelInfo {
        id: "gemini-2.5-pro",
        version: "2.5",
        display_name: "Gemini 2.5 Pro",
        description: "Stable release (June 17th, 2025) of Gemini 2.5 Pro",
        input_token_limit: 1_048_576,
        output_token_limit: 65_536,
        methods: GEN,
        sampling: Some((1.0, 0.95, 64, 2.0)),
        thinking: true,
    },
    ModelInfo {
        id: "gemini-2.5-flash-lite",
        version: "001",
        display_name: "Gemini 2.5 Flash-Lite",
        description: "Stable version of Gemini 2.5 Flash-Lite, released in July of 2025",
        input_token_limit: 1_048_576,
        output_token_limit: 65_536,
        methods: GEN,
        sampling: Some((1.0, 0.95, 64, 2.0)),
        thinking: true,
    },
    ModelInfo {
        id: "gemini-2.0-flash",
        version: "2.0",
        display_name: "Gemini 2.0 Flash",
        description: "Gemini 2.0 Flash",
        input_token_limit: 1_048_576,
        output_token_limit: 8_192,
        methods: GEN,
        sampling: Some((1.0, 0.95, 40, 2.0)),
        thinking: false,
    },
    ModelInfo {
        id: "gemini-2.0-flash-lite",
        version: "2.0",
        display_name: "Gemini 2.0 Flash-Lite",
        description: "Gemini 2.0 Flash-Lite",
        input_token_limit: 1_048_576,
        output_token_limit: 8_192,
        methods: GEN,
        sampling: Some((1.0, 0.95, 40, 2.0)),
        thinking: false,
    },
    ModelInfo {
        id: "gemini-3-flash-preview",
        version: "3-flash-preview-12-2025",
        display_name: "Gemini 3 Flash Preview",
        description: "Gemini 3 Flash Preview",
        input_token_limit: 1_048_576,
        output_token_limit: 65_536,
        methods: GEN,
        sampling: Some((1.0, 0.95, 64, 2.0)),
        thinking: true,
    },
    ModelInfo {
        id: "gemini-3-pro-preview",
        version: "3-pro-preview-11-2025",
        display_name: "Gemini 3 Pro Preview",
        description: "Gemini 3 Pro Preview",
        input_token_limit: 1_048_576,
        output_token_limit: 65_536,
        methods: GEN,
        sampling: Some((1.0, 0.95, 64, 2.0)),
        thinking: true,
    },
    // The `-latest` aliases Google serves (what several clients default to).
    ModelInfo {
        id: "gemini-flash-latest",
        version: "latest",
        display_name: "Gemini Flash Latest",
        description: "Latest release of Gemini Flash (currently gemini-2.5-flash)",
        input_token_limit: 1_048_576,
        output_token_limit: 65_536,
        methods: GEN,
        sampling: Some((1.0, 0.95, 64, 2.0)),
        thinking: true,
    },
    // The `-latest` aliases Google serves (what several clients default to).
    ModelInfo {
        id: "gemini-flash-lite-latest",
        version: "latest",
        display_name: "Gemini Flash-Lite Latest",
        description: "Latest release of Gemini Flash-Lite (currently gemini-2.5-flash-lite)",
        input_token_limit: 1_048_576,
        output_token_limit: 65_536,
        methods: GEN,
        sampling: Some((1.0, 0.95, 64, 2.0)),
        thinking: true,
    },
    // The `-latest` aliases Google serves (what several clients default to).
    ModelInfo {
        id: "gemini-pro-latest",
        version: "latest",
        display_name: "Gemini Pro Latest",
        description: "Latest release of Gemini Pro (currently gemini-2.5-pro)",
        input_token_limit: 1_048_576,
        output_token_limit: 65_536,
        methods: GEN,
        sampling: Some((1.0, 0.95, 64, 2.0)),
        thinking: true,
    },
    ModelInfo {
        id: "gemma-3-27b-it",
        version: "001",
        display_name: "Gemma 3 27B",
        description: "",
        input_token_limit: 131_072,
        output_token_limit: 8_192,
        methods: GEN_LITE,
        sampling: Some((1.0, 0.95, 64, 2.0)),
        thinking: false,
    },
    ModelInfo {
        id: "gemini-embedding-001",
        version: "001",
        display_name: "Gemini Embedding 001",
        description: "Obtain a distributed representation of a text.",
        input_token_limit: 2_048,
        output_token_limit: 1,
        methods: EMBED,
        sampling: None,
        thinking: false,
    },
    ModelInfo {
        id: "text-embedding-004",
        version: "004",
        display_name: "Text Embedding 004",
        description: "Obtain a distributed representation of a text.",
        input_token_limit: 2_048,
        output_token_limit: 1,
        methods: EMBED_OLD,
        sampling: None,
        thinking: false,
    },
];

/// Find a model by bare id (a leading `models/` is ignored).
pub(crate) fn find(id: &str) -> Option<&'static ModelInfo> {
    let id = id.strip_prefix("models/").unwrap_or(id);
    MODELS.iter().find(|m| m.id == id)
}

impl ModelInfo {
    pub(crate) fn supports(&self, method: &str) -> bool {
        self.methods.contains(&method)
    }

    /// Gemini 3 models return `functionCall.id` and a `thoughtSignature`.
    pub(crate) fn is_gemini3(&self) -> bool {
        self.id.starts_with("gemini-3")
    }

    pub(crate) fn json(&self) -> ModelJson {
        let (temperature, top_p, top_k, max_temperature) = match self.sampling {
            Some((t, p, k, mt)) => (Some(num(t)), Some(num(p)), Some(k), Some(num(mt))),
            None => (None, None, None, None),
        };
        ModelJson {
            name: format!("models/{}", self.id),
            version: self.version,
            display_name: self.display_name,
            description: self.description,
            input_token_limit: self.input_token_limit,
            output_token_limit: self.output_token_limit,
            supported_generation_methods: self.methods,
            temperature,
            top_p,
            top_k,
            max_temperature,
            thinking: self.thinking.then_some(true),
        }
    }
}

/// A `Model` resource in Google's field order.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ModelJson {
    pub name: String,
    pub version: &'static str,
    pub display_name: &'static str,
    pub description: &'static str,
    pub input_token_limit: u64,
    pub output_token_limit: u64,
    pub supported_generation_methods: &'static [&'static str],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_temperature: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking: Option<bool>,
}

/// `ListModels` page.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ModelList {
    pub models: Vec<ModelJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

const TOKEN_PREFIX: &str = "Cg5zaW0";

pub(crate) fn page_token(offset: usize) -> String {
    format!("{TOKEN_PREFIX}{offset:06x}")
}

/// Decode a page token into an offset, None if it is not one of ours.
pub(crate) fn parse_page_token(token: &str) -> Option<usize> {
    let hex = token.strip_prefix(TOKEN_PREFIX)?;
    let off = usize::from_str_radix(hex, 16).ok()?;
    (off <= MODELS.len()).then_some(off)
}

/// One page of the catalog.
pub(crate) fn page(offset: usize, size: usize) -> ModelList {
    let end = offset.saturating_add(size).min(MODELS.len());
    let start = offset.min(end);
    ModelList {
        models: MODELS[start..end].iter().map(ModelInfo::json).collect(),
        next_page_token: (end < MODELS.len()).then(|| page_token(end)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_models_present() {
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
            assert!(find(id).is_some(), "{id}");
        }
        assert!(find("models/gemini-2.5-flash").is_some());
        assert!(find("gemini-9").is_none());
    }

    #[test]
    fn paging_walks_everything() {
        let mut seen = 0;
        let mut off = 0;
        loop {
            let p = page(off, 3);
            seen += p.models.len();
            match p.next_page_token {
                Some(t) => off = parse_page_token(&t).unwrap(),
                None => break,
            }
        }
        assert_eq!(seen, MODELS.len());
        assert!(parse_page_token("garbage").is_none());
        assert!(parse_page_token(&page_token(MODELS.len() + 1)).is_none());
    }

    #[test]
    fn model_json_shape() {
        let s = String::from_utf8(crate::wire::to_pretty_json(
            &find("gemini-2.5-flash").unwrap().json(),
        ))
        .unwrap();
        assert!(s.contains("\"name\": \"models/gemini-2.5-flash\""));
        assert!(s.contains("\"temperature\": 1,"));
        assert!(s.contains("\"topP\": 0.95,"));
        assert!(s.contains("\"thinking\": true"));
        let e = String::from_utf8(crate::wire::to_pretty_json(
            &find("text-embedding-004").unwrap().json(),
        ))
        .unwrap();
        assert!(!e.contains("temperature"));
    }
}
