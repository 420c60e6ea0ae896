//! `openai:` — the OpenAI-compatible surface: safety threshold, Roo Code compatibility, the model
//! list behind `/v1/models`.

use super::{err, ConfigError};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawOpenAi {
    pub disable_safety_filtering: Option<bool>,
    pub roo_code_line_count: Option<bool>,
    pub extra_models: Vec<String>,
    #[serde(with = "humantime_serde")]
    pub models_refresh: Option<Duration>,
}

/// The OpenAI-compatible surface.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiConfig {
    /// Safety threshold sent with translated requests: `OFF` when filtering is disabled, else `BLOCK_NONE`.
    pub disable_safety_filtering: bool,
    /// Add `line_count` to `write_to_file` tool calls that lack it (Roo Code).
    pub roo_code_line_count: bool,
    /// Model ids listed by `/v1/models` besides the upstream's (validated ids).
    pub extra_models: Vec<String>,
    /// How often the upstream model list is refreshed.
    pub models_refresh: Duration,
}

impl OpenAiConfig {
    /// The `safetySettings` threshold every translating surface sends.
    pub fn safety_threshold(&self) -> &'static str {
        if self.disable_safety_filtering {
            "OFF"
        } else {
            "BLOCK_NONE"
        }
    }
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        OpenAiConfig {
            disable_safety_filtering: false,
            roo_code_line_count: true,
            extra_models: Vec::new(),
            models_refresh: Duration::from_secs(600),
        }
    }
}

impl OpenAiConfig {
    pub(super) fn from_raw(o: RawOpenAi) -> Result<Self, ConfigError> {
        let d = OpenAiConfig::default();
        let mut extra_models = Vec::new();
        for (i, m) in o.extra_models.iter().enumerate() {
            let m = crate::model::ModelId::parse(m.trim())
                .map_err(|e| err(&format!("openai.extra_models[{i}]"), e.message()))?;
            extra_models.push(m.to_string());
        }
        let c = OpenAiConfig {
            disable_safety_filtering: o
                .disable_safety_filtering
                .unwrap_or(d.disable_safety_filtering),
            roo_code_line_count: o.roo_code_line_count.unwrap_or(d.roo_code_line_count),
            extra_models,
            models_refresh: o.models_refresh.unwrap_or(d.models_refresh),
        };
        if c.models_refresh < Duration::from_secs(10) {
            return Err(err("openai.models_refresh", "must be at least 10s"));
        }
        Ok(c)
    }
}
