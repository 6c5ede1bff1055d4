//! Helpers for the STOMP bridge tests: a broker check, a small STOMP client on the crate's own
//! codec, a TCP proxy that can cut and refuse connections, and raw Socket.IO helpers that keep
//! the exact JSON text the server sent.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard::sinks::stomp::codec::{Frame, Item, StompCodec};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::codec::Framed;

use crate::support::{Client, TestServer};

pub const BROKER: &str = "127.0.0.1:61613";
pub const BROKER_URL: &str = "stomp://guest:guest@127.0.0.1:61613/";
pub const WAIT: Duration = Duration::from_secs(10);

/// True when RabbitMQ's STOMP port answers. Otherwise fails under REQUIRE_SERVICES=1, or says
/// loudly that the test is skipped.
pub async fn broker_available() -> bool {
    let reachable = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(BROKER))
        .await
        .is_ok_and(|connected| connected.is_ok());
    if reachable {
        return true;
    }
    if std::env::var("REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("RabbitMQ STOMP not reachable on {BROKER} and REQUIRE_SERVICES=1");
    }
    eprintln!("SKIPPED: RabbitMQ STOMP not reachable on {BROKER} (run scripts/services.sh)");
    false
}

/// Returns from the test when there is no broker (see [`broker_available`]).
#[macro_export]
macro_rules! require_broker {
    () => {
        if !$crate::stomp_support::broker_available().await {
            return;
        }
    };
}

/// A name no other test run uses.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("{prefix}-{}", &id[id.len() - 10..])
}

/// Polls `check` every 20 ms until it holds; panics after `within`.
pub async fn wait_for<F, Fut>(what: &str, within: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The bridge's counters from /healthz.
pub async fn stomp_stats(server: &TestServer) -> Value {
    let body: Value = reqwest::get(server.http("/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["stomp"].clone()
}

pub async fn wait_connected(server: &TestServer) {
    wait_for("the bridge to connect", WAIT, || async {
        stomp_stats(server).await["connected"] == true
    })
    .await;
}

/// A STOMP 1.2 client for the tests (no heart-beats).
pub struct StompClient {
    framed: Framed<TcpStream, StompCodec>,
    next_id: u64,
}

impl StompClient {
    pub async fn connect() -> Self {
        let stream = TcpStream::connect(BROKER).await.expect("broker reachable");
        let mut framed = Framed::new(stream, StompCodec::default());
        let connect = Frame::new("CONNECT")
            .header("accept-version", "1.2")
            .header("host", "/")
            .header("login", "guest")
            .header("passcode", "guest")
            .header("heart-beat", "0,0");
        framed.send(Item::Frame(connect)).await.unwrap();
        let mut client = Self { framed, next_id: 1 };
        let reply = client.next_frame().await;
        assert_eq!(reply.command, "CONNECTED", "{reply:?}");
        client
    }

    /// The next frame, skipping heart-beats; panics after [`WAIT`].
    pub async fn next_frame(&mut self) -> Frame {
        self.try_next_frame(WAIT)
            .await
            .expect("timed out waiting for a STOMP frame")
    }

    pub async fn try_next_frame(&mut self, within: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.framed.next()).await {
                Err(_) => return None,
                Ok(Some(Ok(Item::Frame(frame)))) => return Some(frame),
                Ok(Some(Ok(Item::Heartbeat))) => {}
                Ok(other) => panic!("STOMP connection failed: {other:?}"),
            }
        }
    }

    pub async fn send(&mut self, frame: Frame) {
        self.framed.send(Item::Frame(frame)).await.unwrap();
    }

    /// Sends `frame` with a receipt and waits for it.
    pub async fn send_confirmed(&mut self, frame: Frame) {
        let receipt = format!("r{}", self.next_id);
        self.next_id += 1;
        self.send(frame.header("receipt", receipt.clone())).await;
        loop {
            let reply = self.next_frame().await;
            match reply.command.as_str() {
                "RECEIPT" if reply.get("receipt-id") == Some(&receipt) => return,
                "ERROR" => panic!("broker error: {reply:?}"),
                _ => {}
            }
        }
    }

    /// Subscribes (auto ack) and waits until the subscription is in place.
    pub async fn subscribe(&mut self, destination: &str) {
        let id = format!("s{}", self.next_id);
        self.next_id += 1;
        let frame = Frame::new("SUBSCRIBE")
            .header("id", id)
            .header("destination", destination)
            .header("ack", "auto");
        self.send_confirmed(frame).await;
    }

    /// The next MESSAGE frame.
    pub async fn next_message(&mut self) -> Frame {
        loop {
            let frame = self.next_frame().await;
            match frame.command.as_str() {
                "MESSAGE" => return frame,
                "ERROR" => panic!("broker error: {frame:?}"),
                _ => {}
            }
        }
    }
}

/// A TCP proxy to the broker that can cut live connections and refuse new ones, to play an
/// outage without touching the shared RabbitMQ.
pub struct Proxy {
    pub addr: SocketAddr,
    refusing: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
    freeze: watch::Sender<u64>,
    pub accepted: Arc<AtomicU64>,
}

impl Proxy {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let refusing = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let (cut, cuts) = watch::channel(0u64);
        let (freeze, freezes) = watch::channel(0u64);
        let (flag, count) = (refusing.clone(), accepted.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(forward(client, cuts.clone(), freezes.clone()));
            }
        });
        Self {
            addr,
            refusing,
            cut,
            freeze,
            accepted,
        }
    }

    pub fn url(&self) -> String {
        format!("stomp://guest:guest@{}/", self.addr)
    }

    pub fn refuse(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::SeqCst);
    }

    /// Closes every connection open now.
    pub fn cut_all(&self) {
        self.cut.send_modify(|cuts| *cuts += 1);
    }

    /// Stops forwarding on every connection open now but keeps them open: a broker that
    /// went silent (host gone, NAT entry dropped) without closing anything.
    pub fn freeze_all(&self) {
        self.freeze.send_modify(|freezes| *freezes += 1);
    }
}

async fn forward(
    mut client: TcpStream,
    mut cuts: watch::Receiver<u64>,
    mut freezes: watch::Receiver<u64>,
) {
    cuts.mark_unchanged();
    freezes.mark_unchanged();
    let Ok(mut broker) = TcpStream::connect(BROKER).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut broker) => {}
        _ = cuts.changed() => {}
        _ = freezes.changed() => {
            // Hold both sockets open, forwarding nothing, until cut.
            let _ = cuts.changed().await;
        }
    }
}

/// Socket.IO calls that keep the exact JSON text of what the server emitted.
pub struct RawChat {
    pub client: Client,
    next_ack: u64,
}

impl RawChat {
    pub async fn connect(server: &TestServer, name: &str) -> Self {
        Self {
            client: Client::connect(server, name).await,
            next_ack: 1_000_000,
        }
    }

    pub async fn join(&mut self, room: &str) -> Value {
        self.client.join(room).await
    }

    /// `chat:send`; returns the ack and the raw JSON of every `chat:message` received meanwhile
    /// (the server emits to the room, the sender included, before it acks).
    pub async fn send(&mut self, room: &str, text: &str) -> (Value, Vec<String>) {
        let id = self.next_ack;
        self.next_ack += 1;
        let packet = json!(["chat:send", { "room": room, "text": text }]);
        self.client.raw.send_text(format!("42{id}{packet}")).await;
        let ack_prefix = format!("43{id}");
        let mut messages = Vec::new();
        loop {
            let text = self.client.raw.next_text().await.expect("connection open");
            if let Some(body) = text.strip_prefix(&ack_prefix) {
                let mut args: Vec<Value> = serde_json::from_str(body).unwrap();
                return (args.remove(0), messages);
            }
            if let Some(json) = event_json(&text, "chat:message") {
                messages.push(json.to_owned());
            }
        }
    }

    /// The raw JSON of the next `event`, skipping others.
    pub async fn next_raw(&mut self, event: &str) -> String {
        loop {
            let text = self.client.raw.next_text().await.expect("connection open");
            if let Some(json) = event_json(&text, event) {
                return json.to_owned();
            }
        }
    }
}

/// The payload text of a `42["<event>",<payload>]` packet.
pub fn event_json<'a>(packet: &'a str, event: &str) -> Option<&'a str> {
    packet
        .strip_prefix(&format!("42[\"{event}\","))?
        .strip_suffix(']')
}
