//! A STOMP 1.2 frame codec for `tokio_util::codec::Framed`.
//!
//! Written here because no STOMP crate fits (see the field notes: licence, maintenance, no
//! heart-beats). It covers what the bridge and its tests need from the spec:
//! - LF or CRLF line ends; a bare EOL between frames is a heart-beat ([`Item::Heartbeat`]);
//! - header escaping (`\\r`, `\\n`, `\\c`, `\\\\`) on every frame but CONNECT and CONNECTED,
//!   which the spec keeps unescaped for 1.0 compatibility;
//! - `content-length` bodies, which may hold NUL; without it the body ends at the first NUL;
//! - repeated headers: all are kept in order and [`Frame::header`] returns the first, as the
//!   spec says only the first counts;
//! - a maximum frame size, so a broken peer cannot make us buffer without bound.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Frames larger than this are refused (RabbitMQ's own default limit is 4 MB).
pub const DEFAULT_MAX_FRAME: usize = 4 * 1024 * 1024;

/// Why bytes could not be read or written as STOMP.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame larger than {0} bytes")]
    TooLarge(usize),
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
}

/// One STOMP frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub command: String,
    /// In wire order; repeated names are kept (the first one counts).
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Frame {
    pub fn new(command: impl Into<String>) -> Self {
        Self {
            command: command.into(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// Adds a header (builder style).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The first value of header `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// What travels on a STOMP connection: a frame or a heart-beat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Frame(Frame),
    Heartbeat,
}

/// Encoder and decoder of [`Item`]s.
#[derive(Debug, Clone)]
pub struct StompCodec {
    max_frame: usize,
    /// Where the search for the end of a body without `content-length` resumes, so that a
    /// large body arriving in small reads is not scanned again and again.
    nul_scan_from: usize,
}

impl Default for StompCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME)
    }
}

impl StompCodec {
    pub fn new(max_frame: usize) -> Self {
        Self {
            max_frame,
            nul_scan_from: 0,
        }
    }
}

/// Header names and values travel raw on these commands.
fn is_raw(command: &str) -> bool {
    command == "CONNECT" || command == "CONNECTED"
}

impl Decoder for StompCodec {
    type Item = Item;
    type Error = CodecError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Item>, CodecError> {
        match buf.first() {
            None => return Ok(None),
            Some(b'\n') => {
                buf.advance(1);
                return Ok(Some(Item::Heartbeat));
            }
            Some(b'\r') if buf.len() < 2 => return Ok(None),
            Some(b'\r') if buf[1] == b'\n' => {
                buf.advance(2);
                return Ok(Some(Item::Heartbeat));
            }
            Some(_) => {}
        }
        let Some(head) = find_head_end(buf) else {
            return self.need_more(buf.len());
        };
        let (command, headers) = parse_head(&buf[..head.lines_end])?;
        let body_start = head.body_start;
        let (body_len, frame_end) = match content_length(&headers)? {
            Some(len) => {
                self.check_size(body_start + len)?;
                if buf.len() <= body_start + len {
                    return Ok(None);
                }
                if buf[body_start + len] != 0 {
                    return Err(CodecError::Malformed("body longer than content-length"));
                }
                (len, body_start + len + 1)
            }
            None => {
                let from = self.nul_scan_from.max(body_start);
                match buf[from..].iter().position(|&byte| byte == 0) {
                    Some(offset) => (from + offset - body_start, from + offset + 1),
                    None => {
                        self.nul_scan_from = buf.len();
                        return self.need_more(buf.len());
                    }
                }
            }
        };
        self.nul_scan_from = 0;
        let mut frame_bytes = buf.split_to(frame_end);
        frame_bytes.advance(body_start);
        frame_bytes.truncate(body_len);
        Ok(Some(Item::Frame(Frame {
            command,
            headers,
            body: frame_bytes.freeze(),
        })))
    }
}

impl StompCodec {
    fn check_size(&self, size: usize) -> Result<(), CodecError> {
        if size > self.max_frame {
            Err(CodecError::TooLarge(self.max_frame))
        } else {
            Ok(())
        }
    }

    fn need_more(&self, buffered: usize) -> Result<Option<Item>, CodecError> {
        self.check_size(buffered).map(|()| None)
    }
}

/// Offsets of a frame's head: the command and header lines, then the blank line.
struct Head {
    /// End of the last header line, EOL included.
    lines_end: usize,
    /// First byte after the blank line.
    body_start: usize,
}

fn find_head_end(buf: &[u8]) -> Option<Head> {
    let mut line_start = 0;
    while let Some(offset) = buf[line_start..].iter().position(|&byte| byte == b'\n') {
        let eol = line_start + offset;
        let line = &buf[line_start..eol];
        if line_start > 0 && (line.is_empty() || line == b"\r") {
            return Some(Head {
                lines_end: line_start,
                body_start: eol + 1,
            });
        }
        line_start = eol + 1;
    }
    None
}

fn parse_head(head: &[u8]) -> Result<(String, Vec<(String, String)>), CodecError> {
    let text = std::str::from_utf8(head).map_err(|_| CodecError::Malformed("head not UTF-8"))?;
    let mut lines = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line));
    let command = lines.next().unwrap_or_default().to_owned();
    if command.is_empty() {
        return Err(CodecError::Malformed("empty command"));
    }
    let raw = is_raw(&command);
    let mut headers = Vec::new();
    for line in lines.filter(|line| !line.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or(CodecError::Malformed("header without a colon"))?;
        if raw {
            headers.push((name.to_owned(), value.to_owned()));
        } else {
            headers.push((unescape(name)?, unescape(value)?));
        }
    }
    Ok((command, headers))
}

fn content_length(headers: &[(String, String)]) -> Result<Option<usize>, CodecError> {
    match headers.iter().find(|(name, _)| name == "content-length") {
        None => Ok(None),
        Some((_, value)) => value
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| CodecError::Malformed("bad content-length")),
    }
}

fn unescape(text: &str) -> Result<String, CodecError> {
    if !text.contains('\\') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('r') => '\r',
            Some('n') => '\n',
            Some('c') => ':',
            Some('\\') => '\\',
            _ => return Err(CodecError::Malformed("undefined escape sequence")),
        });
    }
    Ok(out)
}

fn put_escaped(dst: &mut BytesMut, text: &str) {
    for byte in text.bytes() {
        match byte {
            b'\r' => dst.put_slice(b"\\r"),
            b'\n' => dst.put_slice(b"\\n"),
            b':' => dst.put_slice(b"\\c"),
            b'\\' => dst.put_slice(b"\\\\"),
            other => dst.put_u8(other),
        }
    }
}

impl Encoder<Item> for StompCodec {
    type Error = CodecError;

    fn encode(&mut self, item: Item, dst: &mut BytesMut) -> Result<(), CodecError> {
        match item {
            Item::Heartbeat => dst.put_u8(b'\n'),
            Item::Frame(frame) => encode_frame(&frame, dst),
        }
        Ok(())
    }
}

/// Writes `frame`, adding `content-length` whenever there is a body so that it may hold NUL.
fn encode_frame(frame: &Frame, dst: &mut BytesMut) {
    let raw = is_raw(&frame.command);
    dst.reserve(frame.command.len() + frame.body.len() + 64 * (frame.headers.len() + 1));
    dst.put_slice(frame.command.as_bytes());
    dst.put_u8(b'\n');
    for (name, value) in &frame.headers {
        if raw {
            dst.put_slice(name.as_bytes());
            dst.put_u8(b':');
            dst.put_slice(value.as_bytes());
        } else {
            put_escaped(dst, name);
            dst.put_u8(b':');
            put_escaped(dst, value);
        }
        dst.put_u8(b'\n');
    }
    if !frame.body.is_empty() && frame.get("content-length").is_none() {
        dst.put_slice(format!("content-length:{}\n", frame.body.len()).as_bytes());
    }
    dst.put_u8(b'\n');
    dst.put_slice(&frame.body);
    dst.put_u8(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> Result<Vec<Item>, CodecError> {
        let mut codec = StompCodec::new(1024);
        let mut buf = BytesMut::from(bytes);
        let mut items = Vec::new();
        while let Some(item) = codec.decode(&mut buf)? {
            items.push(item);
        }
        Ok(items)
    }

    fn only_frame(bytes: &[u8]) -> Frame {
        match decode_all(bytes).unwrap().as_slice() {
            [Item::Frame(frame)] => frame.clone(),
            other => panic!("expected one frame, got {other:?}"),
        }
    }

    fn encode(frame: Frame) -> BytesMut {
        let mut buf = BytesMut::new();
        StompCodec::default()
            .encode(Item::Frame(frame), &mut buf)
            .unwrap();
        buf
    }

    #[test]
    fn decodes_lf_frame() {
        let frame = only_frame(b"MESSAGE\ndestination:/topic/a\n\nhello\0");
        assert_eq!(frame.command, "MESSAGE");
        assert_eq!(frame.get("destination"), Some("/topic/a"));
        assert_eq!(&frame.body[..], b"hello");
    }

    #[test]
    fn decodes_crlf_frame() {
        let frame = only_frame(b"MESSAGE\r\ndestination:/topic/a\r\nx:1\r\n\r\nhi\0");
        assert_eq!(frame.get("destination"), Some("/topic/a"));
        assert_eq!(frame.get("x"), Some("1"));
        assert_eq!(&frame.body[..], b"hi");
    }

    #[test]
    fn decodes_bare_eols_as_heartbeats() {
        let items = decode_all(b"\n\r\nRECEIPT\nreceipt-id:7\n\n\0\n").unwrap();
        assert_eq!(items.len(), 4);
        assert_eq!(items[0], Item::Heartbeat);
        assert_eq!(items[1], Item::Heartbeat);
        assert!(matches!(&items[2], Item::Frame(f) if f.get("receipt-id") == Some("7")));
        assert_eq!(items[3], Item::Heartbeat);
    }

    #[test]
    fn waits_for_a_whole_frame() {
        let mut codec = StompCodec::default();
        let mut buf = BytesMut::from(&b"MESSAGE\ncontent-length:3\n\nab"[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        buf.put_slice(b"c\0");
        assert!(matches!(
            codec.decode(&mut buf).unwrap(),
            Some(Item::Frame(_))
        ));
        assert!(buf.is_empty());
        let mut lone_cr = BytesMut::from(&b"\r"[..]);
        assert!(codec.decode(&mut lone_cr).unwrap().is_none());
    }

    #[test]
    fn content_length_body_may_hold_nul() {
        let frame = only_frame(b"MESSAGE\ncontent-length:5\n\na\0b\0c\0");
        assert_eq!(&frame.body[..], b"a\0b\0c");
    }

    #[test]
    fn rejects_body_longer_than_content_length() {
        assert!(matches!(
            decode_all(b"MESSAGE\ncontent-length:1\n\nab\0"),
            Err(CodecError::Malformed(_))
        ));
    }

    #[test]
    fn unescapes_headers_except_on_connected() {
        let frame = only_frame(b"MESSAGE\nroom:a\\cb\\nc\\rd\\\\e\n\n\0");
        assert_eq!(frame.get("room"), Some("a:b\nc\rd\\e"));
        let frame = only_frame(b"CONNECTED\nserver:x\\cy\n\n\0");
        assert_eq!(frame.get("server"), Some("x\\cy"));
    }

    #[test]
    fn rejects_undefined_escapes() {
        assert!(decode_all(b"MESSAGE\nroom:a\\tb\n\n\0").is_err());
        assert!(decode_all(b"MESSAGE\nroom:a\\\n\n\0").is_err());
    }

    #[test]
    fn first_repeated_header_wins() {
        let frame = only_frame(b"MESSAGE\nfoo:World\nfoo:Hello\n\n\0");
        assert_eq!(frame.get("foo"), Some("World"));
        assert_eq!(frame.headers.len(), 2);
    }

    #[test]
    fn decodes_error_frames() {
        let frame = only_frame(b"ERROR\nmessage:bad\\cthing\ncontent-length:4\n\noops\0");
        assert_eq!(frame.command, "ERROR");
        assert_eq!(frame.get("message"), Some("bad:thing"));
        assert_eq!(&frame.body[..], b"oops");
    }

    #[test]
    fn refuses_frames_over_the_limit() {
        let mut codec = StompCodec::new(32);
        let mut declared = BytesMut::from(&b"MESSAGE\ncontent-length:100\n\n"[..]);
        assert!(matches!(
            codec.decode(&mut declared),
            Err(CodecError::TooLarge(32))
        ));
        let mut codec = StompCodec::new(32);
        let mut endless = BytesMut::from(&b"MESSAGE\n\n"[..]);
        endless.put_slice(&[b'x'; 40]);
        assert!(matches!(
            codec.decode(&mut endless),
            Err(CodecError::TooLarge(32))
        ));
        let mut codec = StompCodec::new(32);
        let mut long_head = BytesMut::from(&[b'A'; 40][..]);
        assert!(codec.decode(&mut long_head).is_err());
    }

    #[test]
    fn encodes_with_escaping_and_content_length() {
        let frame = Frame::new("SEND")
            .header("destination", "/topic/a")
            .header("room", "a:b\nc\\")
            .body(&b"x\0y"[..]);
        let bytes = encode(frame.clone());
        assert_eq!(
            &bytes[..],
            b"SEND\ndestination:/topic/a\nroom:a\\cb\\nc\\\\\ncontent-length:3\n\nx\0y\0"
        );
        let round = only_frame(&bytes);
        assert_eq!(round.get("room"), frame.get("room"));
        assert_eq!(round.body, frame.body);
    }

    #[test]
    fn connect_headers_are_not_escaped() {
        let bytes = encode(Frame::new("CONNECT").header("passcode", "a:b\\c"));
        assert_eq!(&bytes[..], b"CONNECT\npasscode:a:b\\c\n\n\0");
    }

    #[test]
    fn encodes_heartbeat_as_eol() {
        let mut buf = BytesMut::new();
        StompCodec::default()
            .encode(Item::Heartbeat, &mut buf)
            .unwrap();
        assert_eq!(&buf[..], b"\n");
    }
}
