//! Base64 helpers: standard encoding, a cheap validity check, and `data:` URI parsing.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648 §4) with `=` padding.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b0 = chunk.first().copied().unwrap_or(0);
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        let sextet = |shift: u32| char::from(ALPHABET[((n >> shift) & 63) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
    out
}

/// Cheap check that `s` could be base64 (standard or URL-safe, padded or not), without decoding:
/// only alphabet characters, at most two trailing `=`, and a length that is not 1 mod 4 (never
/// valid) and a multiple of 4 when padded.
pub(crate) fn plausible(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() % 4 == 1 {
        return false;
    }
    let pad = b.iter().rev().take(2).take_while(|&&c| c == b'=').count();
    if pad > 0 && !b.len().is_multiple_of(4) {
        return false;
    }
    b[..b.len() - pad]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_'))
}

/// Remove ASCII whitespace (line-wrapped base64 from some encoders); borrows when there is none.
pub(crate) fn strip_ws(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().any(|c| c.is_ascii_whitespace()) {
        std::borrow::Cow::Owned(s.chars().filter(|c| !c.is_ascii_whitespace()).collect())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// A parsed `data:<mime>[;param]*;base64,<data>` URI.
#[derive(Debug, PartialEq)]
pub(crate) struct DataUri<'a> {
    /// Lower-cased media type, without parameters.
    pub mime: String,
    /// The base64 payload, as written.
    pub data: &'a str,
}

/// Why a `data:` URI was refused.
#[derive(Debug, PartialEq)]
pub(crate) enum DataUriError {
    /// Does not start with `data:`.
    NotDataUri,
    /// A `data:` URI that is not base64-encoded (`data:text/plain,hello`) or has no comma.
    NotBase64,
}

/// Parse a `data:` URI whose payload is base64.
pub(crate) fn parse_data_uri(url: &str) -> Result<DataUri<'_>, DataUriError> {
    let rest = match url.get(..5) {
        Some(p) if p.eq_ignore_ascii_case("data:") => &url[5..],
        _ => return Err(DataUriError::NotDataUri),
    };
    let (header, data) = rest.split_once(',').ok_or(DataUriError::NotBase64)?;
    let mut segs = header.split(';');
    let mime = segs.next().unwrap_or("").trim().to_ascii_lowercase();
    let is_b64 = header
        .rsplit(';')
        .next()
        .is_some_and(|s| s.trim().eq_ignore_ascii_case("base64"));
    if !is_b64 || !header.contains(';') {
        return Err(DataUriError::NotBase64);
    }
    Ok(DataUri { mime, data })
}

#[cfg(test)]
pub(crate) fn decode(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_rfc4648_vectors() {
        assert_eq!(encode(b""), "");
        assert_eq!(encode(b"f"), "Zg==");
        assert_eq!(encode(b"fo"), "Zm8=");
        assert_eq!(encode(b"foo"), "Zm9v");
        assert_eq!(encode(b"foob"), "Zm9vYg==");
        assert_eq!(encode(b"fooba"), "Zm9vYmE=");
        assert_eq!(encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(encode(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn decode_inverts_encode() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&bytes)), bytes);
    }

    #[test]
    fn plausibility() {
        assert!(plausible("Zm9vYg=="));
        assert!(plausible("Zm9vYg"));
        assert!(plausible("iVBORw0KGgo="));
        assert!(plausible("a-_b"));
        assert!(!plausible(""));
        assert!(!plausible("Zm9vY"));
        assert!(!plausible("Zm9v!g=="));
        assert!(!plausible("Zm9vYg="));
        assert!(!plausible("Zm=vYg=="));
    }

    #[test]
    fn strips_whitespace_only_when_present() {
        assert!(matches!(strip_ws("abcd"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(strip_ws("ab\ncd\r\n"), "abcd");
    }

    #[test]
    fn parses_data_uris() {
        assert_eq!(
            parse_data_uri("data:image/PNG;base64,iVBO"),
            Ok(DataUri {
                mime: "image/png".into(),
                data: "iVBO"
            })
        );
        assert_eq!(
            parse_data_uri("DATA:application/pdf;name=a.pdf;base64,JVBE")
                .map(|d| d.mime)
                .as_deref(),
            Ok("application/pdf")
        );
        assert_eq!(
            parse_data_uri("data:text/plain,hello"),
            Err(DataUriError::NotBase64)
        );
        assert_eq!(
            parse_data_uri("https://x/y.png"),
            Err(DataUriError::NotDataUri)
        );
        assert_eq!(parse_data_uri("data:;base64"), Err(DataUriError::NotBase64));
    }
}
