//! Media a client sends inline, shared by the surfaces: the MIME types Gemini takes, `data:` URIs
//! (remote URLs are refused: the gateway never fetches what a client names), base64 checks, and
//! the `inlineData` part they become.

use super::b64::{self, DataUriError};
use super::gemini_request::{Inline, Part};
use super::ConvertError;
use std::borrow::Cow;

/// A `data:` URI → `inlineData`. Remote URLs are refused: the gateway never fetches
/// user-supplied URLs. `filename` lets raw base64 `file_data` name its type by extension.
pub(crate) fn inline_from_data_uri<'a>(
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

pub(crate) fn inline<'a>(
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
pub(crate) fn accepted_mime(mime: &str) -> Option<&'static str> {
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

pub(crate) fn audio_format_mime(format: &str) -> Option<&'static str> {
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

pub(crate) fn mime_from_filename(name: &str) -> Option<&'static str> {
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
