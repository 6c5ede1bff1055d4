//! `switchboard healthcheck`: probes a running server's `GET /healthz` over plain HTTP/1.1, so
//! a container HEALTHCHECK needs no curl. Healthy: HTTP 200 (and, when the body says, a
//! `status` of `ok` or `degraded`); anything else, or no answer within the timeout, is not.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response read, in bytes; `/healthz` answers a few hundred.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Flags of `switchboard healthcheck`.
#[derive(clap::Args, Debug, Clone)]
pub struct HealthcheckArgs {
    /// Address of the server to probe; default: the server's own --addr / SWITCHBOARD_ADDR.
    /// An unspecified address (0.0.0.0, [::]) probes loopback.
    #[arg(long, value_name = "ADDR")]
    pub addr: Option<SocketAddr>,

    /// Give up after this long (connect, request and response together), in milliseconds.
    #[arg(long, env = "SWITCHBOARD_HEALTHCHECK_TIMEOUT_MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub timeout_ms: u64,
}

/// Why a probe found the server unhealthy.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot probe {0}: port 0 is not a server address")]
    NoPort(SocketAddr),
    #[error("no answer from {addr} within {timeout:?}")]
    Timeout { addr: SocketAddr, timeout: Duration },
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{addr}: {source}")]
    Io {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{addr}: not an HTTP response ({reason})")]
    BadResponse {
        addr: SocketAddr,
        reason: &'static str,
    },
    #[error("{addr}: /healthz answered HTTP {code}")]
    Status { addr: SocketAddr, code: u16 },
    #[error("{addr}: /healthz answered 200 with status {status:?}")]
    Unhealthy { addr: SocketAddr, status: String },
}

/// What a healthy server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthy {
    pub addr: SocketAddr,
    /// The body's `status` field, when it is JSON with one.
    pub status: Option<String>,
}

/// Where to connect to reach a server listening on `listen`: loopback for an unspecified
/// address, the address itself otherwise.
pub fn probe_target(listen: SocketAddr) -> Result<SocketAddr, ProbeError> {
    if listen.port() == 0 {
        return Err(ProbeError::NoPort(listen));
    }
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Ok(SocketAddr::new(ip, listen.port()))
}

/// Probes `GET /healthz` on the server listening on `listen`.
pub async fn probe(listen: SocketAddr, timeout: Duration) -> Result<Healthy, ProbeError> {
    let addr = probe_target(listen)?;
    tokio::time::timeout(timeout, exchange(addr))
        .await
        .map_err(|_| ProbeError::Timeout { addr, timeout })?
}

/// Runs the subcommand: one line on stdout (healthy, exit 0) or stderr (not, exit 1).
pub async fn run(args: &HealthcheckArgs, server_addr: SocketAddr) -> ExitCode {
    let listen = args.addr.unwrap_or(server_addr);
    match probe(listen, Duration::from_millis(args.timeout_ms)).await {
        Ok(healthy) => {
            match &healthy.status {
                Some(status) => println!("healthy: {} /healthz status {status:?}", healthy.addr),
                None => println!("healthy: {} /healthz answered 200", healthy.addr),
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("unhealthy: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn exchange(addr: SocketAddr) -> Result<Healthy, ProbeError> {
    let io = |source| ProbeError::Io { addr, source };
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|source| ProbeError::Connect { addr, source })?;
    let host = match addr.ip() {
        IpAddr::V6(ip) => format!("[{ip}]:{}", addr.port()),
        IpAddr::V4(ip) => format!("{ip}:{}", addr.port()),
    };
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: {host}\r\nUser-Agent: switchboard-healthcheck\r\n\
         Accept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.map_err(io)?;

    let mut response = Vec::with_capacity(1024);
    let mut limited = (&mut stream).take(MAX_RESPONSE_BYTES as u64 + 1);
    limited.read_to_end(&mut response).await.map_err(io)?;
    if response.len() > MAX_RESPONSE_BYTES {
        return Err(ProbeError::BadResponse {
            addr,
            reason: "response too large",
        });
    }
    judge(addr, &response)
}

/// Reads a complete HTTP/1.x response and decides.
fn judge(addr: SocketAddr, response: &[u8]) -> Result<Healthy, ProbeError> {
    let bad = |reason| ProbeError::BadResponse { addr, reason };
    let head_end = find(response, b"\r\n\r\n").ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&response[..head_end]).map_err(|_| bad("headers not UTF-8"))?;
    let body = &response[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split(' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(bad("no status line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(bad("no status line"));
    }
    let code: u16 = code.parse().map_err(|_| bad("bad status code"))?;
    if code != 200 {
        return Err(ProbeError::Status { addr, code });
    }
    let chunked = lines.any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
        })
    });
    let body = if chunked {
        dechunk(body).ok_or_else(|| bad("bad chunked body"))?
    } else {
        body.to_vec()
    };
    let status = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|value| value.get("status")?.as_str().map(str::to_owned));
    match status.as_deref() {
        None | Some("ok" | "degraded") => Ok(Healthy { addr, status }),
        Some(other) => Err(ProbeError::Unhealthy {
            addr,
            status: other.to_owned(),
        }),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Decodes a `Transfer-Encoding: chunked` body (extensions and trailers ignored).
fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = find(body, b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if body.len() < size + 2 || &body[size..size + 2] != b"\r\n" {
            return None;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn unspecified_addresses_probe_loopback() {
        assert_eq!(
            probe_target(addr("0.0.0.0:3000")).unwrap(),
            addr("127.0.0.1:3000")
        );
        assert_eq!(probe_target(addr("[::]:3000")).unwrap(), addr("[::1]:3000"));
        assert_eq!(
            probe_target(addr("10.1.2.3:8080")).unwrap(),
            addr("10.1.2.3:8080")
        );
        assert!(matches!(
            probe_target(addr("0.0.0.0:0")),
            Err(ProbeError::NoPort(_))
        ));
    }

    #[test]
    fn judges_responses() {
        let a = addr("127.0.0.1:1");
        let ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{\"status\":\"ok\"}";
        assert_eq!(judge(a, ok).unwrap().status.as_deref(), Some("ok"));
        let degraded = b"HTTP/1.1 200 OK\r\n\r\n{\"status\":\"degraded\"}";
        assert!(judge(a, degraded).is_ok());
        let plain = b"HTTP/1.0 200 OK\r\n\r\nfine";
        assert_eq!(judge(a, plain).unwrap().status, None);
        let down = b"HTTP/1.1 200 OK\r\n\r\n{\"status\":\"down\"}";
        assert!(matches!(judge(a, down), Err(ProbeError::Unhealthy { .. })));
        let failing = b"HTTP/1.1 503 Service Unavailable\r\n\r\n{\"status\":\"ok\"}";
        assert!(matches!(
            judge(a, failing),
            Err(ProbeError::Status { code: 503, .. })
        ));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{\"statu\r\n14\r\ns\":\"degraded\",\"x\":1}\r\n0\r\n\r\n";
        let judged = judge(a, chunked).unwrap();
        assert_eq!(judged.status.as_deref(), Some("degraded"));
        for garbage in [
            &b""[..],
            b"hello",
            b"SSH-2.0-OpenSSH\r\n\r\n",
            b"HTTP/1.1 abc\r\n\r\n",
        ] {
            assert!(matches!(
                judge(a, garbage),
                Err(ProbeError::BadResponse { .. })
            ));
        }
    }

    async fn one_shot_server(response: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0; 4096];
            let read = socket.read(&mut request).await.unwrap();
            let request = String::from_utf8_lossy(&request[..read]).into_owned();
            assert!(
                request.starts_with("GET /healthz HTTP/1.1\r\n"),
                "{request}"
            );
            assert!(request.contains("\r\nHost: 127.0.0.1:"), "{request}");
            socket.write_all(response).await.unwrap();
        });
        addr
    }

    #[tokio::test]
    async fn probes_over_tcp() {
        let timeout = Duration::from_secs(2);
        let healthy =
            one_shot_server(b"HTTP/1.1 200 OK\r\ncontent-length: 15\r\n\r\n{\"status\":\"ok\"}")
                .await;
        probe(healthy, timeout).await.unwrap();
        let failing = one_shot_server(b"HTTP/1.1 500 Oops\r\ncontent-length: 0\r\n\r\n").await;
        assert!(matches!(
            probe(failing, timeout).await,
            Err(ProbeError::Status { code: 500, .. })
        ));
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _hold = tokio::spawn(async move {
            let (_socket, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        let error = probe(addr, Duration::from_millis(200)).await.unwrap_err();
        assert!(matches!(error, ProbeError::Timeout { .. }), "{error}");
    }

    #[tokio::test]
    async fn refused_connection_is_unhealthy() {
        let addr = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let error = probe(addr, Duration::from_secs(2)).await.unwrap_err();
        assert!(matches!(error, ProbeError::Connect { .. }), "{error}");
    }
}
