//! Message content → Gemini parts: text, images, audio and files as `data:` URIs (remote URLs
//! are refused: the gateway never fetches what a client names), with the MIME types Gemini takes.

use super::super::b64::{self, DataUriError};
use super::super::ConvertError;
use super::fields::{present, string, value};
use super::wire::{Inline, Part};
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

/// A `data:` URI → `inlineData`. Remote URLs are refused: the gateway never fetches
/// user-supplied URLs. `filename` lets raw base64 `file_data` name its type by extension.
fn inline_from_data_uri<'a>(
    url: Cow<'a, str>,
    path: &dyn Fn() -> String,
    filename: Option<&str>,
) -> Result<Part<'a>, ConvertError> {
    let parsed = match b64::parse_data_uri(&url) {
        Ok(d) => Ok((d.mime.to_string(), url.len() - d.data.len())),
        Err(e) => Err(e),
    };
    match parsed {
        Ok((mime, offset)) => {
            let Some(mime) = accepted_mime(&mime) else {
                return Err(ConvertError::invalid(
                    path(),
                    format!(
                        "media type {mime:?} is not supported by Gemini; images must be PNG, JPEG, WEBP, HEIC or HEIF (audio: WAV, MP3, AIFF, AAC, OGG, FLAC; documents: PDF and text)"
                    ),
                ));
            };
            let data = match url {
                Cow::Borrowed(u) => Cow::Borrowed(&u[offset..]),
                Cow::Owned(u) => Cow::Owned(u[offset..].to_string()),
            };
            inline(mime, data, path)
        }
        Err(DataUriError::NotBase64) => Err(ConvertError::invalid(
            path(),
            "data: URIs must be base64-encoded (data:<type>;base64,<data>)",
        )),
        Err(DataUriError::NotDataUri) => {
            let lower = url.get(..8).unwrap_or(&url).to_ascii_lowercase();
            if lower.starts_with("http://") || lower.starts_with("https://") {
                return Err(ConvertError::invalid(
                    path(),
                    "remote URLs are not supported: the gateway does not fetch URLs; send the content inline as a data: URI (data:image/png;base64,...)",
                ));
            }
            // Raw base64 with the type named by the file name's extension.
            if let Some(mime) = filename.and_then(mime_from_filename) {
                return inline(mime, url, path);
            }
            Err(ConvertError::invalid(
                path(),
                "expected a data: URI (data:<type>;base64,<data>)",
            ))
        }
    }
}

fn inline<'a>(
    mime: &'static str,
    data: Cow<'a, str>,
    path: &dyn Fn() -> String,
) -> Result<Part<'a>, ConvertError> {
    let stripped = match b64::strip_ws(&data) {
        Cow::Owned(s) => Some(s),
        Cow::Borrowed(_) => None,
    };
    let data = stripped.map_or(data, Cow::Owned);
    if !b64::plausible(&data) {
        return Err(ConvertError::invalid(
            path(),
            "the data is not valid base64",
        ));
    }
    Ok(Part::Inline {
        inline_data: Inline {
            mime_type: mime,
            data,
        },
    })
}

/// The canonical Gemini MIME type for an inline payload, or `None` if Gemini does not take it.
pub(super) fn accepted_mime(mime: &str) -> Option<&'static str> {
    Some(match mime {
        // Images.
        "image/png" => "image/png",
        "image/jpeg" | "image/jpg" | "image/pjpeg" => "image/jpeg",
        "image/webp" => "image/webp",
        "image/heic" => "image/heic",
        "image/heif" => "image/heif",
        // Audio.
        "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => "audio/wav",
        "audio/mp3" | "audio/mpeg" | "audio/mpeg3" | "audio/x-mp3" => "audio/mp3",
        "audio/aiff" | "audio/x-aiff" => "audio/aiff",
        "audio/aac" => "audio/aac",
        "audio/ogg" => "audio/ogg",
        "audio/flac" | "audio/x-flac" => "audio/flac",
        // Video.
        "video/mp4" => "video/mp4",
        "video/mpeg" => "video/mpeg",
        "video/mov" | "video/quicktime" => "video/mov",
        "video/avi" | "video/x-msvideo" => "video/avi",
        "video/x-flv" => "video/x-flv",
        "video/mpg" => "video/mpg",
        "video/webm" => "video/webm",
        "video/wmv" | "video/x-ms-wmv" => "video/wmv",
        "video/3gpp" => "video/3gpp",
        // Documents.
        "application/pdf" => "application/pdf",
        "text/plain" => "text/plain",
        "text/html" => "text/html",
        "text/css" => "text/css",
        "text/csv" => "text/csv",
        "text/xml" | "application/xml" => "text/xml",
        "text/markdown" => "text/markdown",
        "text/rtf" | "application/rtf" => "text/rtf",
        "text/javascript" | "application/javascript" => "text/javascript",
        "application/x-javascript" => "application/x-javascript",
        "text/x-python" => "text/x-python",
        "application/x-python" => "application/x-python",
        "application/json" => "application/json",
        _ => return None,
    })
}

pub(super) fn audio_format_mime(format: &str) -> Option<&'static str> {
    Some(match format.to_ascii_lowercase().as_str() {
        "wav" => "audio/wav",
        "mp3" => "audio/mp3",
        "aiff" => "audio/aiff",
        "aac" => "audio/aac",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        _ => return None,
    })
}

pub(super) fn mime_from_filename(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    if let Some(audio) = audio_format_mime(&ext) {
        return Some(audio);
    }
    Some(match ext.as_str() {
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "md" | "markdown" => "text/markdown",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "xml" => "text/xml",
        "json" => "application/json",
        "js" => "text/javascript",
        "py" => "text/x-python",
        "rtf" => "text/rtf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mov" => "video/mov",
        _ => return None,
    })
}
