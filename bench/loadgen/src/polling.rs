//! An idle Socket.IO client over Engine.IO v4 HTTP long-polling (for the `connect` scenario):
//! handshake GET, POST `40{"name":...}`, then keep one GET pending and answer pings.

use crate::stats::{SID, find_str};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(120))
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

const SEP: char = '\u{1e}';

/// Connects one polling client; the returned task keeps it alive until aborted.
pub async fn connect(
    http: &reqwest::Client,
    addr: SocketAddr,
    name: &str,
) -> Result<JoinHandle<()>, String> {
    let base = format!("http://{addr}/socket.io/?EIO=4&transport=polling");
    let open = get(http, &base).await?;
    if !open.starts_with('0') {
        return Err(format!("unexpected open packet: {open}"));
    }
    let sid = find_str(&open, &SID)
        .ok_or("no sid in open packet")?
        .to_string();
    let url = format!("{base}&sid={sid}");
    let auth = serde_json::json!({ "name": name });
    post(http, &url, format!("40{auth}")).await?;
    // The connect reply; answer a ping if one comes first.
    loop {
        let body = get(http, &url).await?;
        let mut connected = false;
        for packet in body.split(SEP) {
            if packet.starts_with("40") {
                connected = true;
            } else if let Some(reason) = packet.strip_prefix("44") {
                return Err(format!("connect_error: {reason}"));
            } else if packet == "2" {
                post(http, &url, "3".into()).await?;
            } else if packet == "1" {
                return Err("closed before connect".into());
            }
        }
        if connected {
            break;
        }
    }
    let http = http.clone();
    Ok(tokio::spawn(async move {
        while let Ok(body) = get(&http, &url).await {
            for packet in body.split(SEP) {
                if packet == "2" {
                    if post(&http, &url, "3".into()).await.is_err() {
                        return;
                    }
                } else if packet == "1" || packet.starts_with("41") {
                    return;
                }
            }
        }
    }))
}

async fn get(http: &reqwest::Client, url: &str) -> Result<String, String> {
    let resp = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("GET status {}", resp.status()));
    }
    resp.text().await.map_err(|e| format!("GET body: {e}"))
}

async fn post(http: &reqwest::Client, url: &str, body: String) -> Result<(), String> {
    let resp = http
        .post(url)
        .header("content-type", "text/plain;charset=UTF-8")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("POST: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("POST status {}", resp.status()));
    }
    Ok(())
}
