//! A minimal Socket.IO v5 client over an Engine.IO v4 WebSocket (`ws`): two tasks per connection.
//!
//! Handshake: read the `0{...}` open packet, send `40{"name":...}`, wait for `40{...}` (`44` is a
//! refusal). Then the reading task answers pings (`2` -> `3`), hands every event payload
//! (`42[...]`) to the connection's handler and routes acks (`43<id>[...]`) to the waiting caller;
//! the writing task sends the emits it is given (`42[...]` or `42<id>[...]`) and the pongs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::ws::{self, Frame, Reader, Writer};

/// Called with each event packet's payload (the text after `42`, e.g. `["chat:message",{...}]`).
pub type Handler = Box<dyn FnMut(&str) + Send>;

enum Cmd {
    Text(String),
    Pong(Vec<u8>),
    Close,
}

/// What the caller and the connection's two tasks share.
#[derive(Default)]
struct Shared {
    /// Callers waiting for an ack, by ack id.
    acks: Mutex<HashMap<u64, oneshot::Sender<String>>>,
    next_ack_id: AtomicU64,
    /// Set when the connection ended for any reason other than our `close`.
    lost: AtomicBool,
    closing: AtomicBool,
    /// Set once the reading task has ended: no ack can arrive any more.
    ended: AtomicBool,
}

impl Shared {
    fn connection_ended(&self) {
        if !self.closing.load(Ordering::SeqCst) {
            self.lost.store(true, Ordering::SeqCst);
        }
        self.ended.store(true, Ordering::SeqCst);
        // Dropping the senders tells every waiting caller that no ack will come.
        self.acks.lock().expect("acks").clear();
    }
}

pub struct Client {
    tx: mpsc::UnboundedSender<Cmd>,
    shared: Arc<Shared>,
    reader: Option<JoinHandle<()>>,
    writer: Option<JoinHandle<()>>,
}

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `close` waits for the server to answer the close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn connect(addr: SocketAddr, name: &str, handler: Handler) -> Result<Client, String> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, connect_inner(addr, name, handler))
        .await
        .map_err(|_| "handshake timed out".to_string())?
}

async fn connect_inner(addr: SocketAddr, name: &str, handler: Handler) -> Result<Client, String> {
    let (mut reader, mut writer) =
        ws::connect(addr, "/socket.io/?EIO=4&transport=websocket").await?;
    // Engine.IO open packet.
    match next_text(&mut reader, &mut writer).await?.as_deref() {
        Some(open) if open.starts_with('0') => {}
        Some(other) => return Err(format!("unexpected packet before open: {other}")),
        None => return Err("closed before open packet".into()),
    }
    let auth = serde_json::json!({ "name": name });
    writer.send_text(&format!("40{auth}")).await?;
    loop {
        match next_text(&mut reader, &mut writer).await?.as_deref() {
            Some("2") => writer.send_text("3").await?,
            Some(s) if s.starts_with("40") => break,
            Some(s) if s.starts_with("44") => return Err(format!("connect_error: {}", &s[2..])),
            Some(s) => return Err(format!("unexpected packet before connect: {s}")),
            None => return Err("closed before connect".into()),
        }
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared::default());
    let reader = tokio::spawn(read_loop(reader, handler, shared.clone(), tx.clone()));
    let writer = tokio::spawn(write_loop(writer, rx, shared.clone()));
    Ok(Client {
        tx,
        shared,
        reader: Some(reader),
        writer: Some(writer),
    })
}

/// The next text message during the handshake (answering WebSocket pings); None once closed.
async fn next_text(reader: &mut Reader, writer: &mut Writer) -> Result<Option<String>, String> {
    loop {
        match reader.next().await? {
            Frame::Text(t) => return Ok(Some(t.to_string())),
            Frame::Ping(payload) => {
                let payload = payload.to_vec();
                writer.send_pong(&payload).await?;
            }
            Frame::Binary | Frame::Pong => {}
            Frame::Close => return Ok(None),
        }
    }
}

async fn read_loop(
    mut reader: Reader,
    mut handler: Handler,
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Cmd>,
) {
    loop {
        match reader.next().await {
            Ok(Frame::Text(s)) => {
                if let Some(rest) = s.strip_prefix("42") {
                    handler(rest);
                } else if let Some(rest) = s.strip_prefix("43") {
                    let end = rest
                        .find(|c: char| !c.is_ascii_digit())
                        .unwrap_or(rest.len());
                    let waiter = rest[..end]
                        .parse::<u64>()
                        .ok()
                        .and_then(|id| shared.acks.lock().expect("acks").remove(&id));
                    if let Some(waiter) = waiter {
                        let _ = waiter.send(rest[end..].to_string());
                    }
                } else if s == "2" {
                    if tx.send(Cmd::Text("3".into())).is_err() {
                        break;
                    }
                } else if s.starts_with("41") || s.starts_with('1') {
                    break;
                }
            }
            Ok(Frame::Ping(payload)) => {
                let _ = tx.send(Cmd::Pong(payload.to_vec()));
            }
            Ok(Frame::Binary | Frame::Pong) => {}
            Ok(Frame::Close) | Err(_) => break,
        }
    }
    shared.connection_ended();
}

async fn write_loop(mut writer: Writer, mut rx: mpsc::UnboundedReceiver<Cmd>, shared: Arc<Shared>) {
    while let Some(cmd) = rx.recv().await {
        let sent = match cmd {
            Cmd::Text(text) => writer.send_text(&text).await,
            Cmd::Pong(payload) => writer.send_pong(&payload).await,
            Cmd::Close => {
                let _ = writer.close().await;
                return;
            }
        };
        if sent.is_err() {
            if !shared.closing.load(Ordering::SeqCst) {
                shared.lost.store(true, Ordering::SeqCst);
            }
            return;
        }
    }
}

impl Client {
    /// Emits `event` with `data` now (the frame is queued before this returns) and gives a
    /// future of the ack's payload (`[{...}]`); None if the connection ended first.
    pub fn emit_ack(
        &self,
        event: &str,
        data: &serde_json::Value,
    ) -> impl std::future::Future<Output = Option<String>> + Send + use<> {
        let (tx, rx) = oneshot::channel();
        let id = self.shared.next_ack_id.fetch_add(1, Ordering::Relaxed) + 1;
        self.shared.acks.lock().expect("acks").insert(id, tx);
        let frame = format!("42{id}[{},{}]", serde_json::Value::from(event), data);
        // Registered before the check: either the reading task's final clear drops the
        // sender, or we see that it ended and take it back ourselves.
        let queued =
            self.tx.send(Cmd::Text(frame)).is_ok() && !self.shared.ended.load(Ordering::SeqCst);
        if !queued {
            self.shared.acks.lock().expect("acks").remove(&id);
        }
        async move {
            if !queued {
                return None;
            }
            rx.await.ok()
        }
    }

    /// Closes the connection and waits until both its tasks have ended (every packet received
    /// before the server answered the close has been handled by then).
    pub async fn close(&mut self) {
        self.shared.closing.store(true, Ordering::SeqCst);
        let _ = self.tx.send(Cmd::Close);
        if let Some(writer) = self.writer.take() {
            let _ = writer.await;
        }
        if let Some(mut reader) = self.reader.take()
            && tokio::time::timeout(CLOSE_TIMEOUT, &mut reader)
                .await
                .is_err()
        {
            reader.abort();
        }
    }

    pub fn is_lost(&self) -> bool {
        self.shared.lost.load(Ordering::SeqCst)
    }
}

/// Whether an ack payload (`[{...}]`) says `ok: true`.
pub fn ack_ok(ack: &str) -> bool {
    ack.contains("\"ok\":true")
}
