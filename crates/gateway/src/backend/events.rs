//! Incremental `text/event-stream` decoder for backend streams.
//!
//! Backends are untrusted, so the decoder is bounded: an event larger than the limit is an
//! error instead of an ever-growing buffer, and any byte sequence decodes without panicking.

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// The `event:` field; empty means the default type `message`.
    pub event: String,
    pub data: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("event larger than {0} bytes")]
    TooLarge(usize),
    #[error("event stream is not valid UTF-8")]
    Utf8,
}

/// Feeds chunks in, takes complete events out.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    event: String,
    data: String,
    has_data: bool,
    max: usize,
}

impl Decoder {
    pub fn new(max_event_bytes: usize) -> Self {
        Decoder {
            buf: Vec::new(),
            event: String::new(),
            data: String::new(),
            has_data: false,
            max: max_event_bytes,
        }
    }

    /// Bytes held for events not yet complete: what a reply budget must cover.
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.data.len()
    }

    /// Adds a chunk and returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Event>, DecodeError> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(pos) = self.buf[start..]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
        {
            let end = start + pos;
            // A lone '\r' at the very end may be the first half of "\r\n": wait for more.
            if self.buf[end] == b'\r' && end + 1 == self.buf.len() {
                break;
            }
            let line = std::str::from_utf8(&self.buf[start..end])
                .map_err(|_| DecodeError::Utf8)?
                .to_owned();
            let mut next = end + 1;
            if self.buf[end] == b'\r' && self.buf.get(next) == Some(&b'\n') {
                next += 1;
            }
            start = next;
            if let Some(ev) = self.line(&line)? {
                out.push(ev);
            }
        }
        self.buf.drain(..start);
        if self.buf.len() + self.data.len() > self.max {
            return Err(DecodeError::TooLarge(self.max));
        }
        Ok(out)
    }

    fn line(&mut self, line: &str) -> Result<Option<Event>, DecodeError> {
        if line.is_empty() {
            if !self.has_data {
                self.event.clear();
                return Ok(None);
            }
            let ev = Event {
                event: std::mem::take(&mut self.event),
                data: std::mem::take(&mut self.data),
            };
            self.has_data = false;
            return Ok(Some(ev));
        }
        if line.starts_with(':') {
            return Ok(None);
        }
        let (field, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
                if self.data.len() > self.max {
                    return Err(DecodeError::TooLarge(self.max));
                }
            }
            _ => {}
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_split_events_with_mixed_line_endings() {
        let mut d = Decoder::new(1024);
        assert!(d.push(b"event: endpoint\r").unwrap().is_empty());
        let evs = d
            .push(b"\ndata: /message?x=1\r\n\r\n: comment\ndata: a\ndata:b\n\n")
            .unwrap();
        assert_eq!(
            evs,
            vec![
                Event {
                    event: "endpoint".into(),
                    data: "/message?x=1".into()
                },
                Event {
                    event: String::new(),
                    data: "a\nb".into()
                },
            ]
        );
    }

    #[test]
    fn bounds_event_size_and_rejects_bad_utf8() {
        let mut d = Decoder::new(16);
        assert_eq!(d.push(&[b'x'; 64]).unwrap_err(), DecodeError::TooLarge(16));
        let mut d = Decoder::new(16);
        assert_eq!(d.push(b"data: \xff\n").unwrap_err(), DecodeError::Utf8);
    }
}
