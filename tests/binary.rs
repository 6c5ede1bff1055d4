//! The `switchboard` binary as an operator runs it: configuration errors, a taken port, and
//! SIGTERM with live connections.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

fn run_to_end(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(BIN)
        .args(args)
        .env_clear()
        .output()
        .expect("binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_configuration_is_a_clear_error_not_a_panic() {
    let cases: [(&[&str], &str); 5] = [
        (&["--rate-limit", "0"], "--rate-limit"),
        (&["--addr", "nowhere"], "--addr"),
        (&["--max-payload", "12"], "--max-payload"),
        (&["--cors-origin", "example.com"], "--cors-origin"),
        (&["--log-format", "xml"], "--log-format"),
    ];
    for (args, mentions) in cases {
        let (code, stderr) = run_to_end(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(mentions),
            "{args:?} should mention {mentions}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, stderr) = run_to_end(&["--addr", &addr]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("cannot listen"), "{stderr}");
}

#[tokio::test]
async fn sigterm_closes_connections_and_exits_zero() {
    let mut child = tokio::process::Command::new(BIN)
        .args([
            "--addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--shutdown-grace-ms",
            "3000",
        ])
        .env_clear()
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("server logs its address");
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap();
        if entry["fields"]["message"] == "listening" {
            break entry["fields"]["addr"].as_str().unwrap().to_owned();
        }
    };
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    use futures_util::{SinkExt, StreamExt};
    ws.next().await.unwrap().unwrap();
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        r#"40{"name":"a"}"#,
    ))
    .await
    .unwrap();
    let connected = ws.next().await.unwrap().unwrap();
    assert!(connected.to_text().unwrap().starts_with("40"));

    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert_eq!(exit.code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    // The client sees its connection end (a close frame, or the stream ending).
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_)))
                | Some(Err(_))
                | None => return true,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(closed, "the WebSocket was not closed");
}
