//! A minimal Socket.IO v5 client over an Engine.IO v4 WebSocket: one task per connection.
//!
//! Handshake: read the `0{...}` open packet, send `40{"name":...}`, wait for `40{...}` (`44` is a
//! refusal). Then the task answers pings (`2` -> `3`), hands every event payload (`42[...]`) to the
//! connection's handler, routes acks (`43<id>[...]`) to the waiting caller, and writes the emits
//! it is given (`42[...]` or `42<id>[...]`).

use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Called with each event packet's payload (the text after `42`, e.g. `["chat:message",{...}]`).
pub type Handler = Box<dyn FnMut(&str) + Send>;

enum Cmd {
    Emit {
        frame_tail: String,
        ack: Option<oneshot::Sender<String>>,
    },
    Close,
}

pub struct Client {
    tx: mpsc::UnboundedSender<Cmd>,
    task: Option<JoinHandle<()>>,
    /// Set when the connection ended for any reason other than our `close`.
    pub lost: Arc<AtomicBool>,
}

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn connect(addr: SocketAddr, name: &str, handler: Handler) -> Result<Client, String> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, connect_inner(addr, name, handler))
        .await
        .map_err(|_| "handshake timed out".to_string())?
}

async fn connect_inner(addr: SocketAddr, name: &str, handler: Handler) -> Result<Client, String> {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let config = WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .map_err(|e| format!("websocket connect: {e}"))?;
    // Engine.IO open packet.
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.starts_with('0') => break,
            Some(Ok(Message::Text(t))) => {
                return Err(format!("unexpected packet before open: {t}"));
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("websocket read: {e}")),
            None => return Err("closed before open packet".into()),
        }
    }
    let auth = serde_json::json!({ "name": name });
    ws.send(Message::Text(format!("40{auth}").into()))
        .await
        .map_err(|e| format!("websocket write: {e}"))?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let s = t.as_str();
                if s == "2" {
                    ws.send(Message::Text("3".into()))
                        .await
                        .map_err(|e| format!("websocket write: {e}"))?;
                } else if s.starts_with("40") {
                    break;
                } else if s.starts_with("44") {
                    return Err(format!("connect_error: {}", &s[2..]));
                } else {
                    return Err(format!("unexpected packet before connect: {s}"));
                }
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("websocket read: {e}")),
            None => return Err("closed before connect".into()),
        }
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let lost = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn(run(ws, rx, handler, lost.clone()));
    Ok(Client {
        tx,
        task: Some(task),
        lost,
    })
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn run(
    mut ws: Ws,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
    mut handler: Handler,
    lost: Arc<AtomicBool>,
) {
    let mut acks: HashMap<u64, oneshot::Sender<String>> = HashMap::new();
    let mut next_id: u64 = 0;
    loop {
        tokio::select! {
            biased;
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let s = t.as_str();
                    if let Some(rest) = s.strip_prefix("42") {
                        handler(rest);
                    } else if let Some(rest) = s.strip_prefix("43") {
                        let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
                        if let Ok(id) = rest[..end].parse::<u64>()
                            && let Some(waiter) = acks.remove(&id)
                        {
                            let _ = waiter.send(rest[end..].to_string());
                        }
                    } else if s == "2" {
                        if ws.send(Message::Text("3".into())).await.is_err() {
                            lost.store(true, Ordering::Relaxed);
                            break;
                        }
                    } else if s.starts_with("41") || s.starts_with('1') {
                        lost.store(true, Ordering::Relaxed);
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    lost.store(true, Ordering::Relaxed);
                    break;
                }
                Some(Ok(_)) => {}
            },
            cmd = rx.recv() => match cmd {
                Some(Cmd::Emit { frame_tail, ack }) => {
                    let frame = match ack {
                        Some(waiter) => {
                            next_id += 1;
                            acks.insert(next_id, waiter);
                            format!("42{next_id}{frame_tail}")
                        }
                        None => format!("42{frame_tail}"),
                    };
                    if ws.send(Message::Text(frame.into())).await.is_err() {
                        lost.store(true, Ordering::Relaxed);
                        break;
                    }
                }
                Some(Cmd::Close) | None => {
                    let _ = ws.close(None).await;
                    break;
                }
            },
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
        let frame_tail = format!("[{},{}]", serde_json::Value::from(event), data);
        let queued = self
            .tx
            .send(Cmd::Emit {
                frame_tail,
                ack: Some(tx),
            })
            .is_ok();
        async move {
            if !queued {
                return None;
            }
            rx.await.ok()
        }
    }

    /// Closes the connection and waits until its task has ended (every packet received before
    /// the close has been handled by then).
    pub async fn close(&mut self) {
        let _ = self.tx.send(Cmd::Close);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }
}

/// Whether an ack payload (`[{...}]`) says `ok: true`.
pub fn ack_ok(ack: &str) -> bool {
    ack.contains("\"ok\":true")
}
