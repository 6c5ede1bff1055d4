//! A lean WebSocket client (RFC 6455) for the load generator: the opening handshake, masked
//! frames out, and unmasked frames in, parsed in place from one reusable buffer per connection.
//!
//! Receiving is this tool's hot loop: in the fan-out scenario a thousand connections take a
//! frame each per message. Through tokio-tungstenite each frame cost as much CPU here as the
//! server spent sending it (the read buffer is zero-filled before every read, every message is
//! allocated, every poll re-registers wakers), and the load generator shares the machine's two
//! cores with the server it measures. Here a read fills spare capacity without zeroing it and a
//! text frame is handed out as a `&str` into the buffer. No extensions are negotiated; fragmented
//! messages and control frames are handled.

use bytes::{Buf, BytesMut};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tungstenite::handshake::client::generate_key;
use tungstenite::handshake::derive_accept_key;

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Frames or messages larger than this end the connection (nothing in the scenarios comes close).
const MAX_MESSAGE: usize = 64 << 20;
/// Free space made before each read: a dozen chat messages.
const READ_CHUNK: usize = 4096;
const MAX_RESPONSE_HEAD: usize = 16 << 10;

/// One received message or control frame.
pub enum Frame<'a> {
    Text(&'a str),
    Binary,
    Ping(&'a [u8]),
    Pong,
    Close,
}

/// Opens a TCP connection to `addr` and upgrades it at `path` (e.g. `/socket.io/?EIO=4`).
pub async fn connect(addr: SocketAddr, path: &str) -> Result<(Reader, Writer), String> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("tcp connect: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("nodelay: {e}"))?;
    let key = generate_key();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("websocket handshake write: {e}"))?;
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let head_len = loop {
        if let Some(end) = memchr::memmem::find(&buf, b"\r\n\r\n") {
            break end + 4;
        }
        if buf.len() > MAX_RESPONSE_HEAD {
            return Err("websocket handshake: response head too large".into());
        }
        buf.reserve(READ_CHUNK);
        match stream.read_buf(&mut buf).await {
            Ok(0) => return Err("websocket handshake: closed by the server".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("websocket handshake read: {e}")),
        }
    };
    check_response(&buf[..head_len], &derive_accept_key(key.as_bytes()))?;
    buf.advance(head_len);
    let (rd, wr) = stream.into_split();
    let reader = Reader {
        rd,
        buf,
        consumed: 0,
        fragments: Vec::new(),
        fragmented: None,
    };
    Ok((reader, Writer::new(wr)))
}

/// The server must switch protocols and prove it read our key.
fn check_response(head: &[u8], expected_accept: &str) -> Result<(), String> {
    let head = std::str::from_utf8(head).map_err(|_| "websocket handshake: response not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if status.split(' ').nth(1) != Some("101") {
        return Err(format!("websocket handshake: {status}"));
    }
    let accept = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-accept")
            .then_some(value.trim())
    });
    if accept != Some(expected_accept) {
        return Err("websocket handshake: wrong Sec-WebSocket-Accept".into());
    }
    Ok(())
}

/// The receiving half.
pub struct Reader {
    rd: OwnedReadHalf,
    buf: BytesMut,
    /// Bytes at the front of `buf` that belong to the frame handed out last.
    consumed: usize,
    /// The parts so far of a fragmented message, and its opcode.
    fragments: Vec<u8>,
    fragmented: Option<u8>,
}

/// Where a complete frame lies in the buffer.
struct Parsed {
    fin: bool,
    opcode: u8,
    payload_start: usize,
    end: usize,
}

/// Which bytes the frame handed out refers to.
enum Ready {
    Buffer(u8, usize, usize),
    Fragments(u8),
}

impl Reader {
    /// The next message or control frame; `Err` when the connection broke or the server
    /// broke the protocol, `Ok(Frame::Close)` when it closed.
    pub async fn next(&mut self) -> Result<Frame<'_>, String> {
        self.buf.advance(self.consumed);
        self.consumed = 0;
        let ready = loop {
            if let Some(ready) = self.take_frame()? {
                break ready;
            }
            if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
                self.buf.reserve(READ_CHUNK);
            }
            match self.rd.read_buf(&mut self.buf).await {
                Ok(0) => return Ok(Frame::Close),
                Ok(_) => {}
                Err(e) => return Err(format!("websocket read: {e}")),
            }
        };
        Ok(match ready {
            Ready::Buffer(opcode, start, end) => frame(opcode, &self.buf[start..end])?,
            Ready::Fragments(opcode) => frame(opcode, &self.fragments)?,
        })
    }

    /// Consumes whole frames from the buffer until one can be handed out (a message's last
    /// fragment or a control frame), or the buffer holds no whole frame.
    fn take_frame(&mut self) -> Result<Option<Ready>, String> {
        loop {
            let Some(parsed) = parse(&self.buf)? else {
                return Ok(None);
            };
            let Parsed {
                fin,
                opcode,
                payload_start,
                end,
            } = parsed;
            if opcode >= OP_CLOSE {
                self.consumed = end;
                return Ok(Some(Ready::Buffer(opcode, payload_start, end)));
            }
            match (opcode, self.fragmented) {
                (OP_CONTINUATION, Some(first)) => {
                    if self.fragments.len() + (end - payload_start) > MAX_MESSAGE {
                        return Err("websocket message too large".into());
                    }
                    self.fragments
                        .extend_from_slice(&self.buf[payload_start..end]);
                    self.buf.advance(end);
                    if fin {
                        self.fragmented = None;
                        // Handed out now; cleared before the next one is collected.
                        return Ok(Some(Ready::Fragments(first)));
                    }
                }
                (OP_TEXT | OP_BINARY, None) if fin => {
                    self.consumed = end;
                    return Ok(Some(Ready::Buffer(opcode, payload_start, end)));
                }
                (OP_TEXT | OP_BINARY, None) => {
                    self.fragments.clear();
                    self.fragments
                        .extend_from_slice(&self.buf[payload_start..end]);
                    self.fragmented = Some(opcode);
                    self.buf.advance(end);
                }
                _ => return Err(format!("websocket: unexpected frame opcode {opcode}")),
            }
        }
    }
}

fn frame(opcode: u8, payload: &[u8]) -> Result<Frame<'_>, String> {
    Ok(match opcode {
        OP_TEXT => Frame::Text(
            std::str::from_utf8(payload).map_err(|_| "websocket: text frame not UTF-8")?,
        ),
        OP_BINARY => Frame::Binary,
        OP_PING => Frame::Ping(payload),
        OP_PONG => Frame::Pong,
        _ => Frame::Close,
    })
}

/// The first frame in `buf`, if it is complete.
fn parse(buf: &[u8]) -> Result<Option<Parsed>, String> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err("websocket: reserved bits set (no extension was negotiated)".into());
    }
    if b1 & 0x80 != 0 {
        return Err("websocket: masked frame from the server".into());
    }
    let (len, header) = match b1 & 0x7F {
        126 if buf.len() >= 4 => (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() >= 10 => {
            let bytes: [u8; 8] = buf[2..10].try_into().expect("8 bytes");
            (u64::from_be_bytes(bytes), 10)
        }
        126 | 127 => return Ok(None),
        short => (u64::from(short), 2),
    };
    if len > MAX_MESSAGE as u64 {
        return Err("websocket frame too large".into());
    }
    let end = header + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some(Parsed {
        fin: b0 & 0x80 != 0,
        opcode: b0 & 0x0F,
        payload_start: header,
        end,
    }))
}

/// The sending half: every frame masked, as RFC 6455 requires of clients.
pub struct Writer {
    wr: OwnedWriteHalf,
    out: Vec<u8>,
    /// xorshift64 state for the masking keys (masking is not a secret here, only required).
    mask_state: u64,
}

impl Writer {
    fn new(wr: OwnedWriteHalf) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Self {
            wr,
            out: Vec::new(),
            mask_state: seed | 1,
        }
    }

    pub async fn send_text(&mut self, text: &str) -> Result<(), String> {
        self.send(OP_TEXT, text.as_bytes()).await
    }

    pub async fn send_pong(&mut self, payload: &[u8]) -> Result<(), String> {
        self.send(OP_PONG, payload).await
    }

    /// Sends a close frame and shuts the sending side down.
    pub async fn close(&mut self) -> Result<(), String> {
        self.send(OP_CLOSE, &[]).await?;
        self.wr
            .shutdown()
            .await
            .map_err(|e| format!("websocket shutdown: {e}"))
    }

    async fn send(&mut self, opcode: u8, payload: &[u8]) -> Result<(), String> {
        let mask = self.next_mask();
        encode(&mut self.out, opcode, payload, mask);
        self.wr
            .write_all(&self.out)
            .await
            .map_err(|e| format!("websocket write: {e}"))
    }

    fn next_mask(&mut self) -> [u8; 4] {
        let mut x = self.mask_state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.mask_state = x;
        (x as u32).to_be_bytes()
    }
}

/// One final, masked frame into `out` (replacing what it held).
fn encode(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.clear();
    out.push(0x80 | opcode);
    match payload.len() {
        len @ 0..=125 => out.push(0x80 | len as u8),
        len @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(u8::from(fin) << 7) | opcode];
        match payload.len() {
            len @ 0..=125 => out.push(len as u8),
            len @ 126..=0xFFFF => {
                out.push(126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                out.push(127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn parses_the_three_length_forms_and_waits_for_whole_frames() {
        for len in [0, 125, 126, 0xFFFF, 0x10000] {
            let bytes = server_frame(true, OP_TEXT, &vec![b'a'; len]);
            let parsed = parse(&bytes).unwrap().expect("complete");
            assert_eq!(
                (parsed.end - parsed.payload_start, parsed.end),
                (len, bytes.len())
            );
            assert!(parse(&bytes[..bytes.len() - 1]).unwrap().is_none());
        }
    }

    #[test]
    fn refuses_masked_frames_and_reserved_bits() {
        let mut masked = server_frame(true, OP_TEXT, b"x");
        masked[1] |= 0x80;
        assert!(parse(&masked).is_err());
        let mut rsv = server_frame(true, OP_TEXT, b"x");
        rsv[0] |= 0x40;
        assert!(parse(&rsv).is_err());
    }

    #[test]
    fn client_frames_unmask_to_the_payload() {
        let mut out = Vec::new();
        let mask = [1, 2, 3, 4];
        encode(&mut out, OP_TEXT, b"42[\"chat:send\"]", mask);
        assert_eq!(out[0], 0x81);
        assert_eq!(out[1], 0x80 | 15);
        assert_eq!(&out[2..6], &mask);
        let unmasked: Vec<u8> = out[6..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        assert_eq!(unmasked, b"42[\"chat:send\"]");
    }

    #[test]
    fn checks_the_accept_key() {
        let accept = derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ==");
        let ok =
            format!("HTTP/1.1 101 Switching Protocols\r\nsec-websocket-accept: {accept}\r\n\r\n");
        assert!(check_response(ok.as_bytes(), &accept).is_ok());
        let wrong = "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: nope\r\n\r\n";
        assert!(check_response(wrong.as_bytes(), &accept).is_err());
        let refused = format!("HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
        assert!(check_response(refused.as_bytes(), &accept).is_err());
    }

    #[tokio::test]
    async fn reads_messages_fragments_and_control_frames_from_a_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                s.read_exact(&mut byte).await.unwrap();
                head.push(byte[0]);
            }
            let head = String::from_utf8(head).unwrap();
            let key = head
                .lines()
                .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                .unwrap();
            let accept = derive_accept_key(key.trim().as_bytes());
            let mut out = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {accept}\r\n\r\n"
            )
            .into_bytes();
            // The first frame rides in the same segment as the response head.
            out.extend(server_frame(true, OP_TEXT, b"0{\"sid\":\"x\"}"));
            out.extend(server_frame(false, OP_TEXT, b"42[\"a\","));
            out.extend(server_frame(true, OP_PING, b"p"));
            out.extend(server_frame(true, OP_CONTINUATION, b"1]"));
            out.extend(server_frame(true, OP_TEXT, &vec![b'z'; 70_000]));
            s.write_all(&out).await.unwrap();
            s.write_all(&server_frame(true, OP_CLOSE, &[]))
                .await
                .unwrap();
        });
        let (mut reader, _writer) = connect(addr, "/socket.io/?EIO=4").await.unwrap();
        assert!(matches!(
            reader.next().await.unwrap(),
            Frame::Text("0{\"sid\":\"x\"}")
        ));
        assert!(matches!(reader.next().await.unwrap(), Frame::Ping(b"p")));
        assert!(matches!(
            reader.next().await.unwrap(),
            Frame::Text("42[\"a\",1]")
        ));
        assert!(matches!(reader.next().await.unwrap(), Frame::Text(t) if t.len() == 70_000));
        assert!(matches!(reader.next().await.unwrap(), Frame::Close));
        server.await.unwrap();
    }
}
