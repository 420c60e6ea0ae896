//! Reading a server-sent-events byte stream into the `data` payloads of its events, whatever the
//! split of the bytes: lines end with `\n`, `\r\n` or `\r`; an empty line ends an event; `data:`
//! lines (one space after the colon optional) are joined with `\n`; comments and other fields
//! are ignored. Shared by every surface that translates Gemini's SSE stream.

/// An SSE reader for one stream.
#[derive(Debug, Default)]
pub(crate) struct SseReader {
    /// Bytes not yet consumed as complete lines.
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for a line end.
    scanned: usize,
    /// `data:` payload of the event being read, when it is not `pending`.
    data: Vec<u8>,
    has_data: bool,
    /// The event's one `data:` line so far, still in the buffer being read (where in it): most
    /// events are one line, handed over without being copied.
    pending: Option<(usize, usize)>,
}

/// A stream translator that owns its SSE reader and stops at its first terminal event.
pub(crate) trait Events {
    fn reader(&mut self) -> &mut SseReader;
    /// Whether events are still wanted.
    fn open(&self) -> bool;
    /// One complete upstream event's data.
    fn on_event(&mut self, data: &[u8], out: &mut Vec<u8>);
}

/// Run `input` (or, with `None`, the end of the body) through the translator's reader, handing
/// each event to it while it stays open.
pub(crate) fn pump<T: Events>(t: &mut T, input: Option<&[u8]>, out: &mut Vec<u8>) {
    if !t.open() {
        return;
    }
    let mut sse = std::mem::take(t.reader());
    let mut event = |data: &[u8]| {
        t.on_event(data, out);
        t.open()
    };
    match input {
        Some(bytes) => sse.feed(bytes, &mut event),
        None => sse.finish(&mut event),
    };
    *t.reader() = sse;
}

impl SseReader {
    /// Read `input`, calling `event` with the data of every event it completes. `event` returns
    /// whether to go on; once it says no, the rest of `input` is dropped. Returns the same.
    pub fn feed(&mut self, input: &[u8], event: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.buf.extend_from_slice(input);
        let buf = std::mem::take(&mut self.buf);
        let mut start = 0;
        let mut i = self.scanned;
        // Where the search for line ends stopped.
        let mut scanned_to = buf.len();
        while let Some(at) = memchr::memchr2(b'\n', b'\r', &buf[i..]) {
            i += at;
            let term = match (buf[i], buf.get(i + 1)) {
                (b'\r', Some(b'\n')) => 2,
                // A trailing `\r` may be the first half of `\r\n`: wait for more bytes.
                (b'\r', None) => {
                    scanned_to = i;
                    break;
                }
                _ => 1,
            };
            if !self.line(&buf, start..i, event) {
                self.pending = None;
                return false;
            }
            i += term;
            start = i;
        }
        self.keep_pending(&buf);
        self.buf = buf;
        self.buf.drain(..start);
        self.scanned = scanned_to - start;
        true
    }

    /// The buffer is about to change: copy a pending line out of it.
    fn keep_pending(&mut self, buf: &[u8]) {
        if let Some((from, to)) = self.pending.take() {
            self.data.extend_from_slice(&buf[from..to]);
        }
    }

    /// The stream ended: a last line without its terminator, then a last event without its
    /// blank line. Returns whether `event` wanted more.
    pub fn finish(&mut self, event: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            self.scanned = 0;
            let end = rest.len() - usize::from(rest.ends_with(b"\r"));
            let more = self.line(&rest, 0..end, event);
            self.keep_pending(&rest);
            if !more {
                return false;
            }
        }
        !self.has_data || self.line(b"", 0..0, event)
    }

    /// One line of `buf` (without its terminator).
    fn line(
        &mut self,
        buf: &[u8],
        line: std::ops::Range<usize>,
        event: &mut dyn FnMut(&[u8]) -> bool,
    ) -> bool {
        if line.is_empty() {
            if !self.has_data {
                return true;
            }
            self.has_data = false;
            if let Some((from, to)) = self.pending.take() {
                return event(&buf[from..to]);
            }
            let mut data = std::mem::take(&mut self.data);
            let more = event(&data);
            // keep the buffer's capacity for the next event
            data.clear();
            self.data = data;
            return more;
        }
        let text = &buf[line.clone()];
        if let Some(rest) = text.strip_prefix(b"data:") {
            let space = usize::from(rest.first() == Some(&b' '));
            let from = line.end - rest.len() + space;
            if !self.has_data {
                self.pending = Some((from, line.end));
            } else {
                // A second line: the event is built in `data`.
                self.keep_pending(buf);
                self.data.push(b'\n');
                self.data.extend_from_slice(&buf[from..line.end]);
            }
            self.has_data = true;
        }
        // `:comment`, `event:`, `id:`, `retry:` and anything else: ignored.
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]]) -> Vec<String> {
        let mut r = SseReader::default();
        let mut out = Vec::new();
        for c in chunks {
            r.feed(c, &mut |d| {
                out.push(String::from_utf8_lossy(d).into_owned());
                true
            });
        }
        r.finish(&mut |d| {
            out.push(String::from_utf8_lossy(d).into_owned());
            true
        });
        out
    }

    #[test]
    fn any_split_any_line_end() {
        let whole: &[u8] =
            b"data: {\"a\":1}\r\n\r\n: comment\ndata:{\"b\":\ndata: 2}\n\ndata: last";
        let want = vec!["{\"a\":1}", "{\"b\":\n2}", "last"];
        assert_eq!(events(&[whole]), want);
        for cut in 1..whole.len() {
            assert_eq!(
                events(&[&whole[..cut], &whole[cut..]]),
                want,
                "cut at {cut}"
            );
        }
        assert_eq!(events(&[b"data: x\r", b"\r"]), vec!["x"]);
    }

    #[test]
    fn stops_when_told() {
        let mut r = SseReader::default();
        let mut n = 0;
        assert!(!r.feed(b"data: 1\n\ndata: 2\n\n", &mut |_| {
            n += 1;
            false
        }));
        assert_eq!(n, 1);
    }
}
