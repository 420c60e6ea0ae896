//! Message content → Gemini parts: text, images, audio and files as `data:` URIs (remote URLs
//! are refused: the gateway never fetches what a client names), with the MIME types Gemini takes.

use super::super::gemini_request::Part;
use super::super::media::{audio_format_mime, inline, inline_from_data_uri};
use super::super::ConvertError;
use super::fields::{present, string, value};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;

/// Which content part types a role may carry.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Allow {
    /// `system`, `developer`, `tool`: text only.
    Text,
    /// `assistant`: text and refusal.
    Assistant,
    /// `user`: text, images, audio, files.
    User,
}

/// One content part as written.
#[derive(Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
struct RawPart<'a> {
    #[serde(rename = "type")]
    ty: Option<&'a RawValue>,
    text: Option<&'a RawValue>,
    refusal: Option<&'a RawValue>,
    image_url: Option<&'a RawValue>,
    input_audio: Option<&'a RawValue>,
    file: Option<&'a RawValue>,
}

/// `content` (string, array of parts, or null) → Gemini parts, appended to `out`; `path` is the
/// message's parameter path. Empty text is skipped because Gemini rejects empty text parts.
pub(super) fn content_parts<'a>(
    content: Option<&'a RawValue>,
    refusal: Option<&'a RawValue>,
    path: &dyn Fn() -> String,
    allow: Allow,
    out: &mut Vec<Part<'a>>,
) -> Result<(), ConvertError> {
    if let Some(c) = present(content) {
        if let Some(s) = string(c) {
            if !s.is_empty() {
                out.push(Part::Text { text: s });
            }
        } else if c.get().starts_with('[') {
            let items: Vec<&'a RawValue> = serde_json::from_str(c.get()).map_err(|_| {
                ConvertError::invalid(
                    format!("{}.content", path()),
                    "`content` must be a string or an array of content parts",
                )
            })?;
            for (j, item) in items.into_iter().enumerate() {
                let ppath = || format!("{}.content[{j}]", path());
                if let Some(p) = content_part(item, &ppath, allow)? {
                    out.push(p);
                }
            }
        } else {
            return Err(ConvertError::invalid(
                format!("{}.content", path()),
                "`content` must be a string or an array of content parts",
            ));
        }
    }
    // Assistant refusals are part of what the model said.
    if allow == Allow::Assistant {
        if let Some(r) = present(refusal).and_then(string) {
            if !r.is_empty() {
                out.push(Part::Text { text: r });
            }
        }
    }
    Ok(())
}

/// A string field of a part, or an error naming it.
fn text_of<'a>(
    v: Option<&'a RawValue>,
    path: &dyn Fn() -> String,
    field: &str,
    message: &str,
) -> Result<Cow<'a, str>, ConvertError> {
    present(v)
        .and_then(string)
        .ok_or_else(|| ConvertError::invalid(format!("{}.{field}", path()), message))
}

fn content_part<'a>(
    item: &'a RawValue,
    path: &dyn Fn() -> String,
    allow: Allow,
) -> Result<Option<Part<'a>>, ConvertError> {
    if let Some(s) = string(item) {
        // A bare string inside the array: treat it as text.
        return Ok((!s.is_empty()).then_some(Part::Text { text: s }));
    }
    if !item.get().starts_with('{') {
        return Err(ConvertError::invalid(
            path(),
            "content parts must be objects",
        ));
    }
    let part: RawPart<'a> = serde_json::from_str(item.get())
        .map_err(|_| ConvertError::invalid(path(), "content parts must be objects"))?;
    let ty = match present(part.ty) {
        Some(t) => string(t).ok_or_else(|| {
            ConvertError::invalid(format!("{}.type", path()), "content parts need a `type`")
        })?,
        None if part.text.is_some() => Cow::Borrowed("text"),
        None => {
            return Err(ConvertError::invalid(
                format!("{}.type", path()),
                "content parts need a `type`",
            ))
        }
    };
    let not_here = || {
        ConvertError::invalid(
            format!("{}.type", path()),
            format!("content part type {ty:?} is not allowed in this message's role"),
        )
    };
    match &*ty {
        "text" => match present(part.text) {
            None => Ok(None),
            Some(t) => {
                let s = string(t).ok_or_else(|| {
                    ConvertError::invalid(format!("{}.text", path()), "`text` must be a string")
                })?;
                Ok((!s.is_empty()).then_some(Part::Text { text: s }))
            }
        },
        "refusal" if allow == Allow::Assistant => Ok(present(part.refusal)
            .and_then(string)
            .filter(|s| !s.is_empty())
            .map(|text| Part::Text { text })),
        "image_url" if allow == Allow::User => {
            let Some(iu) = present(part.image_url) else {
                return Err(ConvertError::invalid(
                    format!("{}.image_url", path()),
                    "`image_url` must be an object with a `url`",
                ));
            };
            if let Some(url) = string(iu) {
                let upath = || format!("{}.image_url", path());
                return inline_from_data_uri(url, &upath, None).map(Some);
            }
            #[derive(Deserialize)]
            #[serde(bound(deserialize = "'de: 'a"))]
            struct ImageUrl<'a> {
                url: Option<&'a RawValue>,
            }
            let upath = || format!("{}.image_url.url", path());
            let o: ImageUrl<'a> = serde_json::from_str(iu.get()).map_err(|_| {
                ConvertError::invalid(
                    format!("{}.image_url", path()),
                    "`image_url` must be an object with a `url`",
                )
            })?;
            let url = text_of(o.url, path, "image_url.url", "`image_url.url` is required")?;
            inline_from_data_uri(url, &upath, None).map(Some)
        }
        "input_audio" if allow == Allow::User => {
            #[derive(Deserialize)]
            #[serde(bound(deserialize = "'de: 'a"))]
            struct Audio<'a> {
                data: Option<&'a RawValue>,
                format: Option<&'a RawValue>,
            }
            let apath = || format!("{}.input_audio.data", path());
            let a: Audio<'a> = present(part.input_audio)
                .filter(|a| a.get().starts_with('{'))
                .and_then(|a| serde_json::from_str(a.get()).ok())
                .ok_or_else(|| {
                    ConvertError::invalid(
                        format!("{}.input_audio", path()),
                        "`input_audio` must be an object with `data` and `format`",
                    )
                })?;
            let data = text_of(
                a.data,
                path,
                "input_audio.data",
                "`input_audio.data` (base64) is required",
            )?;
            if data
                .get(..5)
                .is_some_and(|p| p.eq_ignore_ascii_case("data:"))
            {
                return inline_from_data_uri(data, &apath, None).map(Some);
            }
            let format = present(a.format).and_then(string).unwrap_or_default();
            let Some(mime) = audio_format_mime(&format) else {
                return Err(ConvertError::invalid(
                    format!("{}.input_audio.format", path()),
                    format!("audio format {format:?} is not supported; use wav, mp3, aiff, aac, ogg or flac"),
                ));
            };
            inline(mime, data, &apath).map(Some)
        }
        "file" if allow == Allow::User => {
            let f = match present(part.file).map(value) {
                Some(Value::Object(f)) => f,
                _ => {
                    return Err(ConvertError::invalid(
                        format!("{}.file", path()),
                        "`file` must be an object with `file_data`",
                    ))
                }
            };
            let filename = f.get("filename").and_then(Value::as_str);
            let fpath = || format!("{}.file.file_data", path());
            match f.get("file_data") {
                Some(Value::String(data)) => {
                    inline_from_data_uri(Cow::Owned(data.clone()), &fpath, filename).map(Some)
                }
                _ if f.get("file_id").is_some_and(|v| !v.is_null()) => Err(ConvertError::unsupported(
                    format!("{}.file.file_id", path()),
                    "`file_id` is not supported; send the file inline as `file_data` (a data: URI)",
                )),
                _ => Err(ConvertError::invalid(fpath(), "`file.file_data` is required")),
            }
        }
        "refusal" | "image_url" | "input_audio" | "file" => Err(not_here()),
        other => Err(ConvertError::invalid(
            format!("{}.type", path()),
            format!("unsupported content part type {other:?}"),
        )),
    }
}
