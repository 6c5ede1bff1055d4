//! One STOMP 1.2 connection to the broker ([`Link`]) and the reconnect [`Backoff`].
//!
//! A link does the CONNECT handshake, negotiates heart-beats, sends EOL heart-beats while it
//! waits for frames, and reports a broker that has been silent for too long: a half-open TCP
//! connection (broker host gone, NAT dropped) would otherwise look alive for many minutes.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::codec::Framed;

use super::codec::{CodecError, Frame, Item, StompCodec};
use super::url::BrokerUrl;

/// How long the TCP connect and the CONNECT/CONNECTED exchange may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// A write the broker does not take within this is taken as a dead connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a clean DISCONNECT waits for its receipt.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Allowance for network delay on top of twice the broker's heart-beat period.
const SILENCE_MARGIN: Duration = Duration::from_secs(1);

/// Why a link could not be opened or was lost.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("timed out during {0}")]
    Timeout(&'static str),
    #[error("the broker closed the connection")]
    Closed,
    #[error("the broker was silent for {0:?}")]
    Silent(Duration),
    #[error("the broker sent ERROR: {0}")]
    Broker(String),
    #[error("unexpected {0} frame")]
    Unexpected(String),
}

/// The text of an ERROR frame: its `message` header and body.
pub fn error_text(frame: &Frame) -> String {
    let message = frame.get("message").unwrap_or("(no message)");
    let body = String::from_utf8_lossy(&frame.body);
    let body = body.trim();
    if body.is_empty() {
        message.to_owned()
    } else {
        format!("{message}: {}", body.chars().take(500).collect::<String>())
    }
}

/// An open, logged-in STOMP connection.
pub struct Link {
    framed: Framed<TcpStream, StompCodec>,
    /// How often we must show life (None: the broker does not want heart-beats).
    send_every: Option<Duration>,
    /// Silence after which the broker is taken as gone (None: it sends no heart-beats).
    silent_after: Option<Duration>,
    last_sent: Instant,
    last_read: Instant,
}

impl Link {
    /// Connects and logs in.
    pub async fn open(url: &BrokerUrl) -> Result<Self, LinkError> {
        let stream = timeout(HANDSHAKE_TIMEOUT, TcpStream::connect(url.address()))
            .await
            .map_err(|_| LinkError::Timeout("TCP connect"))?
            .map_err(LinkError::Connect)?;
        // Frames are small and latency matters more than packet count.
        stream.set_nodelay(true).map_err(LinkError::Connect)?;
        let mut framed = Framed::new(stream, StompCodec::default());
        framed.send(Item::Frame(connect_frame(url))).await?;
        let reply = timeout(HANDSHAKE_TIMEOUT, next_frame(&mut framed))
            .await
            .map_err(|_| LinkError::Timeout("CONNECT"))??;
        match reply.command.as_str() {
            "CONNECTED" => {}
            "ERROR" => return Err(LinkError::Broker(error_text(&reply))),
            other => return Err(LinkError::Unexpected(other.to_owned())),
        }
        let (send_every, expect_every) = negotiate(url.heartbeat, reply.get("heart-beat"));
        let now = Instant::now();
        Ok(Self {
            framed,
            send_every,
            silent_after: expect_every.map(|every| every * 2 + SILENCE_MARGIN),
            last_sent: now,
            last_read: now,
        })
    }

    /// Queues `frame` for writing; [`Link::flush`] sends what was fed.
    pub async fn feed(&mut self, frame: Frame) -> Result<(), LinkError> {
        timeout(WRITE_TIMEOUT, self.framed.feed(Item::Frame(frame)))
            .await
            .map_err(|_| LinkError::Timeout("write"))??;
        Ok(())
    }

    pub async fn flush(&mut self) -> Result<(), LinkError> {
        timeout(WRITE_TIMEOUT, self.framed.flush())
            .await
            .map_err(|_| LinkError::Timeout("write"))??;
        self.last_sent = Instant::now();
        Ok(())
    }

    pub async fn send(&mut self, frame: Frame) -> Result<(), LinkError> {
        self.feed(frame).await?;
        self.flush().await
    }

    /// The next frame from the broker, sending heart-beats meanwhile. Cancel safe: a frame
    /// being read stays buffered for the next call.
    pub async fn recv(&mut self) -> Result<Frame, LinkError> {
        loop {
            let beat_due = self.send_every.map(|every| self.last_sent + every);
            let silence_due = self.silent_after.map(|after| self.last_read + after);
            tokio::select! {
                item = self.framed.next() => {
                    self.last_read = Instant::now();
                    match item {
                        Some(Ok(Item::Frame(frame))) => return Ok(frame),
                        Some(Ok(Item::Heartbeat)) => {}
                        Some(Err(error)) => return Err(error.into()),
                        None => return Err(LinkError::Closed),
                    }
                }
                () = sleep_until_some(beat_due) => {
                    self.framed.feed(Item::Heartbeat).await?;
                    self.flush().await?;
                }
                () = sleep_until_some(silence_due) => {
                    return Err(LinkError::Silent(self.last_read.elapsed()));
                }
            }
        }
    }

    /// Sends DISCONNECT and waits briefly for its receipt, so that everything sent before it
    /// has been processed by the broker.
    pub async fn disconnect(mut self) {
        let frame = Frame::new("DISCONNECT").header("receipt", "disconnect");
        if self.send(frame).await.is_err() {
            return;
        }
        let receipt = async {
            loop {
                match self.recv().await {
                    Ok(frame) if frame.command == "RECEIPT" => {
                        if frame.get("receipt-id") == Some("disconnect") {
                            return true;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return false,
                }
            }
        };
        match timeout(DISCONNECT_TIMEOUT, receipt).await {
            Ok(true) => tracing::debug!("STOMP disconnect confirmed"),
            _ => tracing::debug!("STOMP disconnect not confirmed; closing anyway"),
        }
    }
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn next_frame(framed: &mut Framed<TcpStream, StompCodec>) -> Result<Frame, LinkError> {
    loop {
        match framed.next().await {
            Some(Ok(Item::Frame(frame))) => return Ok(frame),
            Some(Ok(Item::Heartbeat)) => {}
            Some(Err(error)) => return Err(error.into()),
            None => return Err(LinkError::Closed),
        }
    }
}

fn connect_frame(url: &BrokerUrl) -> Frame {
    let beat = url.heartbeat.as_millis();
    let mut frame = Frame::new("CONNECT")
        .header("accept-version", "1.2")
        .header("host", url.vhost.clone())
        .header("heart-beat", format!("{beat},{beat}"));
    if let Some(login) = &url.login {
        frame = frame.header("login", login.clone());
    }
    if let Some(passcode) = &url.passcode {
        frame = frame.header("passcode", passcode.clone());
    }
    frame
}

/// STOMP 1.2 heart-beat negotiation: (how often we send, how often the broker sends).
fn negotiate(ours: Duration, theirs: Option<&str>) -> (Option<Duration>, Option<Duration>) {
    let (their_send, their_want) = theirs
        .and_then(|value| value.split_once(','))
        .and_then(|(sx, sy)| Some((sx.trim().parse().ok()?, sy.trim().parse().ok()?)))
        .unwrap_or((0u64, 0u64));
    let pick = |their: u64| (their > 0).then(|| ours.max(Duration::from_millis(their)));
    (pick(their_want), pick(their_send))
}

/// Exponential backoff with jitter between reconnect attempts: 100 ms doubling to 5 s, each
/// delay drawn from its upper half so that many nodes do not reconnect in step.
pub struct Backoff {
    next: Duration,
    random: RandomState,
    draws: u64,
}

impl Backoff {
    pub const FIRST: Duration = Duration::from_millis(100);
    pub const MAX: Duration = Duration::from_secs(5);

    pub fn new() -> Self {
        Self {
            next: Self::FIRST,
            random: RandomState::new(),
            draws: 0,
        }
    }

    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }

    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (base * 2).min(Self::MAX);
        self.draws += 1;
        let fraction = (self.random.hash_one(self.draws) % 1000) as u32;
        base / 2 + base / 2 * fraction / 1000
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_heartbeats() {
        let ten = Duration::from_secs(10);
        assert_eq!(
            negotiate(ten, Some("5000,20000")),
            (Some(Duration::from_secs(20)), Some(ten))
        );
        assert_eq!(negotiate(ten, Some("0,0")), (None, None));
        assert_eq!(negotiate(ten, None), (None, None));
        assert_eq!(negotiate(ten, Some("junk")), (None, None));
    }

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter() {
        let mut backoff = Backoff::new();
        let mut bases = Vec::new();
        for _ in 0..10 {
            let base = backoff.next;
            let delay = backoff.next_delay();
            assert!(
                delay >= base / 2 && delay <= base,
                "{delay:?} outside {base:?}"
            );
            bases.push(base);
        }
        assert_eq!(bases[0], Duration::from_millis(100));
        assert_eq!(bases[1], Duration::from_millis(200));
        assert_eq!(*bases.last().unwrap(), Backoff::MAX);
        backoff.reset();
        assert!(backoff.next_delay() <= Backoff::FIRST);
    }

    #[test]
    fn error_text_joins_message_and_body() {
        let frame = Frame::new("ERROR")
            .header("message", "not_found")
            .body(&b"no exchange\n"[..]);
        assert_eq!(error_text(&frame), "not_found: no exchange");
    }
}
