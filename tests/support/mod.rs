//! Test support: starts the real server through `serve()` on 127.0.0.1:0, and a minimal
//! Engine.IO v4 / Socket.IO v5 client over a real WebSocket or real HTTP long-polling.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard::Config;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single expected event may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(5);

pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start(args: &[&str]) -> Self {
        let mut argv = vec![
            "switchboard",
            "--static-dir",
            "/nonexistent-switchboard-test",
        ];
        argv.extend_from_slice(args);
        let config = <Config as clap::Parser>::parse_from(argv);
        config.validate().expect("test config is valid");
        Self::start_with(config).await
    }

    pub async fn start_with(config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = switchboard::build_app(&config).await.expect("app builds");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(switchboard::serve(listener, app, async move {
            stopped.await.ok();
        }));
        Self {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Triggers graceful shutdown and waits for `serve` to return.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        self.stop.take().unwrap().send(()).ok();
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("serve() did not return")
            .unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw Engine.IO WebSocket connection.
pub struct RawWs {
    pub ws: Ws,
}

impl RawWs {
    pub async fn open(server: &TestServer) -> (Self, Value) {
        let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", server.addr);
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        let mut raw = Self { ws };
        let open = raw.next_text().await.expect("open packet");
        assert!(open.starts_with('0'), "expected open packet, got {open}");
        let handshake: Value = serde_json::from_str(&open[1..]).unwrap();
        (raw, handshake)
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws
            .send(WsMessage::text(text.into()))
            .await
            .expect("send");
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(WsMessage::binary(bytes)).await.expect("send");
    }

    /// The next text frame, answering pings; None once the connection is closed.
    pub async fn next_text(&mut self) -> Option<String> {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("timed out waiting for a frame");
            match frame {
                Some(Ok(WsMessage::Text(text))) if text.as_str() == "2" => {
                    self.ws.send(WsMessage::text("3")).await.ok();
                }
                Some(Ok(WsMessage::Text(text))) => return Some(text.to_string()),
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Waits until the server closes the connection, whatever it sends before.
    pub async fn drain_until_closed(&mut self) {
        while self.next_text().await.is_some() {}
    }

    /// Waits until the server closes the connection, failing if it sends a chat event first.
    pub async fn expect_closed(&mut self) {
        while let Some(text) = self.next_text().await {
            assert!(
                !text.starts_with("42"),
                "expected the connection to close, got {text}"
            );
        }
    }
}

/// A Socket.IO client on namespace `/` over a WebSocket.
pub struct Client {
    pub raw: RawWs,
    pub sid: String,
    next_ack: u64,
    /// Events received while waiting for something else.
    pending: Vec<(String, Value)>,
}

impl Client {
    pub async fn connect(server: &TestServer, name: &str) -> Self {
        Self::try_connect(server, json!({ "name": name }))
            .await
            .expect("connect accepted")
    }

    /// Connects, or None if the server refuses the WebSocket handshake at the HTTP level.
    pub async fn try_connect_checked(server: &TestServer, auth: Value) -> Option<Self> {
        let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", server.addr);
        tokio_tungstenite::connect_async(url).await.ok()?;
        Self::try_connect(server, auth).await.ok()
    }

    /// Connects with `auth`; Err carries the connect_error message.
    pub async fn try_connect(server: &TestServer, auth: Value) -> Result<Self, String> {
        let (mut raw, _) = RawWs::open(server).await;
        raw.send_text(format!("40{auth}")).await;
        let reply = raw.next_text().await.expect("connect reply");
        if let Some(body) = reply.strip_prefix("40") {
            let body: Value = serde_json::from_str(body).unwrap();
            let sid = body["sid"].as_str().unwrap().to_owned();
            Ok(Self {
                raw,
                sid,
                next_ack: 1,
                pending: Vec::new(),
            })
        } else if let Some(body) = reply.strip_prefix("44") {
            let body: Value = serde_json::from_str(body).unwrap();
            Err(body["message"].as_str().unwrap_or_default().to_owned())
        } else {
            panic!("unexpected connect reply {reply}")
        }
    }

    /// Emits `event` with `payload` and waits for its ack.
    pub async fn call(&mut self, event: &str, payload: Value) -> Value {
        let id = self.next_ack;
        self.next_ack += 1;
        let packet = json!([event, payload]);
        self.raw.send_text(format!("42{id}{packet}")).await;
        let prefix = format!("43{id}");
        loop {
            let text = self
                .raw
                .next_text()
                .await
                .expect("connection closed while awaiting ack");
            if let Some(body) = text.strip_prefix(&prefix) {
                let mut args: Vec<Value> = serde_json::from_str(body).unwrap();
                return args.remove(0);
            }
            self.stash(&text);
        }
    }

    /// Emits without asking for an ack.
    pub async fn emit(&mut self, event: &str, payload: Value) {
        let packet = json!([event, payload]);
        self.raw.send_text(format!("42{packet}")).await;
    }

    fn stash(&mut self, text: &str) {
        if let Some(body) = text.strip_prefix("42") {
            let mut args: Vec<Value> = serde_json::from_str(body).unwrap();
            let event = args.remove(0).as_str().unwrap().to_owned();
            let data = args.into_iter().next().unwrap_or(Value::Null);
            self.pending.push((event, data));
        }
    }

    /// Like [`Client::next_event`], failing after `limit`.
    pub async fn next_event_within(&mut self, event: &str, limit: Duration) -> Value {
        tokio::time::timeout(limit, self.next_event(event))
            .await
            .unwrap_or_else(|_| panic!("no {event} within {limit:?}"))
    }

    /// The next `event` received (earlier events of other names are kept for later).
    pub async fn next_event(&mut self, event: &str) -> Value {
        if let Some(index) = self.pending.iter().position(|(name, _)| name == event) {
            return self.pending.remove(index).1;
        }
        loop {
            let text = self
                .raw
                .next_text()
                .await
                .unwrap_or_else(|| panic!("connection closed while waiting for {event}"));
            self.stash(&text);
            if let Some(index) = self.pending.iter().position(|(name, _)| name == event) {
                return self.pending.remove(index).1;
            }
        }
    }

    /// Asserts that no `event` has arrived, after a round trip proves the earlier frames
    /// were processed (the ack of a call made after them comes back behind them).
    pub async fn assert_no_event(&mut self, event: &str) {
        let barrier = self.call("chat:history", json!({"room": "\u{1}"})).await;
        assert_eq!(barrier["ok"], false);
        assert!(
            !self.pending.iter().any(|(name, _)| name == event),
            "unexpected {event}: {:?}",
            self.pending
        );
    }

    pub async fn join(&mut self, room: &str) -> Value {
        let ack = self.call("room:join", json!({ "room": room })).await;
        assert_eq!(ack["ok"], true, "join failed: {ack}");
        ack
    }
}

/// An Engine.IO long-polling session.
pub struct Polling {
    pub http: reqwest::Client,
    pub base: String,
    pub sid: String,
}

impl Polling {
    pub async fn open(server: &TestServer) -> (Self, Value) {
        let http = reqwest::Client::new();
        let base = server.http("/socket.io/?EIO=4&transport=polling");
        let body = http.get(&base).send().await.unwrap().text().await.unwrap();
        assert!(body.starts_with('0'), "expected open packet, got {body}");
        let handshake: Value = serde_json::from_str(&body[1..]).unwrap();
        let sid = handshake["sid"].as_str().unwrap().to_owned();
        (Self { http, base, sid }, handshake)
    }

    fn url(&self) -> String {
        format!("{}&sid={}", self.base, self.sid)
    }

    pub async fn post(&self, body: impl Into<reqwest::Body>) -> reqwest::StatusCode {
        self.http
            .post(self.url())
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// One long-poll GET: the packets it returned, or the HTTP status if not 200.
    pub async fn poll(&self) -> Result<Vec<String>, reqwest::StatusCode> {
        let response = tokio::time::timeout(WAIT, self.http.get(self.url()).send())
            .await
            .expect("poll timed out")
            .unwrap();
        if !response.status().is_success() {
            return Err(response.status());
        }
        let body = response.text().await.unwrap();
        Ok(body.split('\u{1e}').map(str::to_owned).collect())
    }

    /// Connects to namespace `/` with a name.
    pub async fn connect(&self, name: &str) {
        assert_eq!(
            self.post(format!("40{}", json!({ "name": name }))).await,
            200
        );
        let packets = self.poll().await.unwrap();
        assert!(
            packets.iter().any(|p| p.starts_with("40")),
            "no connect ack: {packets:?}"
        );
    }
}

/// A real `switchboard` process (for multi-process tests), listening on a free loopback port.
pub struct ServerProcess {
    pub addr: SocketAddr,
    child: tokio::process::Child,
}

impl ServerProcess {
    pub async fn spawn(args: &[&str]) -> Self {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args([
                "--addr",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--static-dir",
                "/nonexistent",
            ])
            .args(args)
            .env(
                "RUST_LOG",
                std::env::var("SB_CHILD_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("switchboard binary starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = tokio::time::timeout(WAIT, async {
            loop {
                let line = lines
                    .next_line()
                    .await
                    .unwrap()
                    .expect("server logs its address");
                let Ok(entry) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if entry["fields"]["message"] == "listening" {
                    break entry["fields"]["addr"].as_str().unwrap().parse().unwrap();
                }
            }
        })
        .await
        .expect("server started in time");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if std::env::var("SB_CHILD_LOG").is_ok() {
                    eprintln!("child: {line}");
                }
            }
        });
        let process = Self { addr, child };
        process.wait_healthy().await;
        process
    }

    /// The target for [`Client::connect`] and friends.
    pub fn target(&self) -> TestServer {
        TestServer {
            addr: self.addr,
            stop: None,
            task: None,
        }
    }

    pub async fn healthz(&self) -> Option<Value> {
        let response = reqwest::get(format!("http://{}/healthz", self.addr))
            .await
            .ok()?;
        response.json().await.ok()
    }

    async fn wait_healthy(&self) {
        let started = std::time::Instant::now();
        while self.healthz().await.is_none() {
            assert!(started.elapsed() < WAIT, "server never became healthy");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGTERM (without waiting).
    pub fn terminate(&self) {
        let pid = self.child.id().expect("still running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; its exit code.
    pub async fn exit_code(mut self, limit: Duration) -> Option<i32> {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .expect("process exited in time")
            .unwrap()
            .code()
    }

    /// SIGKILL: the process gets no chance to say goodbye.
    pub async fn kill(mut self) {
        self.child.kill().await.ok();
    }
}

/// Whether Redis answers on 127.0.0.1:6379. Without it, a test fails when the environment
/// requires services (CI), and is skipped loudly otherwise.
pub fn redis_available(test: &str) -> bool {
    let reachable = std::net::TcpStream::connect_timeout(
        &"127.0.0.1:6379".parse().unwrap(),
        Duration::from_millis(500),
    )
    .is_ok();
    if !reachable {
        if std::env::var("REQUIRE_SERVICES").is_ok_and(|value| value == "1") {
            panic!(
                "{test}: Redis is required (REQUIRE_SERVICES=1) but 127.0.0.1:6379 is unreachable"
            );
        }
        eprintln!("SKIPPED {test}: Redis is not reachable on 127.0.0.1:6379");
    }
    reachable
}

/// A Redis key prefix of its own for one test, so tests never see each other's data.
pub fn unique_prefix(test: &str) -> String {
    format!("sbtest-{test}-{}-{}", std::process::id(), uuid_like())
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{nanos:x}")
}
