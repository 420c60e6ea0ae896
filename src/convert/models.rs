//! Gemini `models` list pages → OpenAI model objects.

use serde::{Deserialize, Serialize};

use super::{bare_model, ConvertError};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(default)]
    models: Vec<GeminiModel>,
    #[serde(default, alias = "next_page_token")]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct GeminiModel {
    #[serde(default)]
    name: String,
}

#[derive(Serialize)]
struct Model<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
}

#[derive(Serialize)]
struct List<'a> {
    object: &'static str,
    data: Vec<Model<'a>>,
}

fn model(id: &str) -> Model<'_> {
    Model {
        id: bare_model(id),
        object: "model",
        created: 0,
        owned_by: "google",
    }
}

/// One Gemini `models` list page → (model ids without `models/`, nextPageToken).
pub fn gemini_model_page(gemini: &[u8]) -> Result<(Vec<String>, Option<String>), ConvertError> {
    let page: Page = serde_json::from_slice(gemini).map_err(|e| {
        ConvertError::upstream(format!(
            "Gemini sent a model list that could not be read: {e}"
        ))
    })?;
    let ids = page
        .models
        .iter()
        .map(|m| bare_model(&m.name).to_string())
        .filter(|n| !n.is_empty())
        .collect();
    Ok((ids, page.next_page_token.filter(|t| !t.is_empty())))
}

/// OpenAI `list` of model objects for these ids.
pub fn openai_model_list(ids: &[String]) -> Vec<u8> {
    let list = List {
        object: "list",
        data: ids.iter().map(|id| model(id)).collect(),
    };
    serde_json::to_vec(&list).unwrap_or_default()
}

/// One OpenAI model object.
pub fn openai_model(id: &str) -> Vec<u8> {
    serde_json::to_vec(&model(id)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn page_ids_and_token() {
        let (ids, next) = gemini_model_page(
            br#"{"models": [{"name": "models/gemini-2.5-flash", "displayName": "Gemini 2.5 Flash",
                "supportedGenerationMethods": ["generateContent"]}, {"name": "models/gemini-embedding-001"}],
               "nextPageToken": "page2"}"#,
        )
        .unwrap();
        assert_eq!(ids, ["gemini-2.5-flash", "gemini-embedding-001"]);
        assert_eq!(next.as_deref(), Some("page2"));
        let (ids, next) = gemini_model_page(br#"{"models": [], "nextPageToken": ""}"#).unwrap();
        assert!(ids.is_empty() && next.is_none());
        let (ids, next) = gemini_model_page(b"{}").unwrap();
        assert!(ids.is_empty() && next.is_none());
        assert_eq!(gemini_model_page(b"<html>").unwrap_err().status(), 502);
    }

    #[test]
    fn list_shape() {
        let v: Value =
            serde_json::from_slice(&openai_model_list(&["gemini-2.5-flash".to_string()])).unwrap();
        assert_eq!(
            v,
            json!({"object": "list", "data": [{"id": "gemini-2.5-flash", "object": "model", "created": 0, "owned_by": "google"}]})
        );
        let v: Value = serde_json::from_slice(&openai_model_list(&[])).unwrap();
        assert_eq!(v, json!({"object": "list", "data": []}));
    }

    #[test]
    fn single_model_strips_prefix() {
        let v: Value = serde_json::from_slice(&openai_model("models/gemini-2.5-pro")).unwrap();
        assert_eq!(
            v,
            json!({"id": "gemini-2.5-pro", "object": "model", "created": 0, "owned_by": "google"})
        );
    }
}
