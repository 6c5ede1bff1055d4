//! Runtime configuration: every setting is a CLI flag and an environment variable, and the
//! defaults run a complete single-process server with nothing set.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable, coloured when stdout is a terminal.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Switchboard: a Socket.IO-compatible realtime chat server.
#[derive(Debug, Clone, Parser)]
#[command(name = "switchboard", version, about, long_about = None)]
pub struct Config {
    /// Address to listen on (use port 0 to pick a free port).
    #[arg(long, env = "SWITCHBOARD_ADDR", default_value = "0.0.0.0:3000")]
    pub addr: SocketAddr,

    /// Origins allowed to make cross-origin requests, comma separated; `*` allows any origin.
    /// Empty (the default) allows same-origin only.
    #[arg(
        long = "cors-origin",
        env = "SWITCHBOARD_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,

    /// Largest Engine.IO payload in bytes, on both transports (a polling request body and a
    /// WebSocket message). A client that sends more is disconnected.
    #[arg(long, env = "SWITCHBOARD_MAX_PAYLOAD", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1024..=64 * 1024 * 1024))]
    pub max_payload: u64,

    /// Packets queued per socket for sending. A client that falls this far behind is
    /// disconnected (counted, logged) and recovers with `since` when it reconnects: it never
    /// silently misses a message.
    #[arg(long, env = "SWITCHBOARD_MAX_BUFFER", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(16..=1_000_000))]
    pub max_buffer: u64,

    /// Most Socket.IO connections this process accepts; new sessions past it get HTTP 503
    /// at the Engine.IO handshake (both transports). 0: no limit.
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS", default_value_t = 50_000)]
    pub max_connections: u64,

    /// New sessions per second one IP address may open (HTTP 429 past it); 0: no limit.
    #[arg(long, env = "SWITCHBOARD_IP_CONNECT_RATE", default_value_t = 100.0)]
    pub ip_connect_rate: f64,

    /// Burst of new sessions one IP address may open at once.
    #[arg(long, env = "SWITCHBOARD_IP_CONNECT_BURST", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub ip_connect_burst: u32,

    /// Read buffer of each WebSocket, in bytes. Every idle connection holds one, so it is kept
    /// small (socketioxide's default is 4 KiB): chat frames fit, and a larger frame costs one
    /// more read, sized from its header.
    #[arg(long, env = "SWITCHBOARD_WS_READ_BUFFER", default_value_t = 512,
          value_parser = clap::value_parser!(u64).range(256..=1_048_576))]
    pub ws_read_buffer: u64,

    /// Interval between Engine.IO pings, in milliseconds.
    #[arg(long, env = "SWITCHBOARD_PING_INTERVAL_MS", default_value_t = 25_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub ping_interval_ms: u64,

    /// How long to wait for a pong before closing the connection, in milliseconds.
    #[arg(long, env = "SWITCHBOARD_PING_TIMEOUT_MS", default_value_t = 20_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub ping_timeout_ms: u64,

    /// Messages retained per room (the recovery and history window).
    #[arg(long, env = "SWITCHBOARD_HISTORY_LIMIT", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub history_limit: u64,

    /// Sustained chat:send rate per socket, in messages per second.
    #[arg(long, env = "SWITCHBOARD_RATE_LIMIT", default_value_t = 20.0)]
    pub rate_limit: f64,

    /// Burst of chat:send messages a socket may send at once before the rate applies.
    #[arg(long, env = "SWITCHBOARD_RATE_BURST", default_value_t = 40,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_burst: u32,

    /// Longest message text, in characters.
    #[arg(long, env = "SWITCHBOARD_MAX_TEXT", default_value_t = 4000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_text: u64,

    /// Longest room name, in characters.
    #[arg(long, env = "SWITCHBOARD_MAX_ROOM_LEN", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub max_room_len: u64,

    /// Longest user name accepted at the handshake (name-only mode), in characters after
    /// trimming.
    #[arg(long, env = "SWITCHBOARD_MAX_NAME_LEN", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub max_name_len: u64,

    /// Directory of static files served at `/` (the built demo app).
    #[arg(
        long,
        env = "SWITCHBOARD_STATIC_DIR",
        default_value = "client-demo/dist"
    )]
    pub static_dir: PathBuf,

    /// Log format; the level comes from RUST_LOG (default `info`).
    #[arg(long, env = "SWITCHBOARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,

    /// Path of the Engine.IO echo endpoint used by the official Engine.IO protocol test suite;
    /// an empty value turns it off.
    #[arg(
        long,
        env = "SWITCHBOARD_ENGINEIO_ECHO_PATH",
        default_value = "/engine.io"
    )]
    pub engineio_echo_path: String,

    /// Redis to share rooms, history and presence with other processes, e.g.
    /// `redis://127.0.0.1:6379`. Unset: everything stays in this process.
    #[arg(long, env = "SWITCHBOARD_REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key and channel, so several deployments (or test runs) can share
    /// one Redis.
    #[arg(long, env = "SWITCHBOARD_REDIS_PREFIX", default_value = "switchboard")]
    pub redis_prefix: String,

    /// With Redis: how long a process's presence entries outlive its last heartbeat. A process
    /// killed without saying goodbye leaves ghosts for at most this long plus one upkeep
    /// interval (a third of it).
    #[arg(long, env = "SWITCHBOARD_PRESENCE_TTL_MS", default_value_t = 15_000,
          value_parser = clap::value_parser!(u64).range(300..=3_600_000))]
    pub presence_ttl_ms: u64,

    /// This process's name in a cluster and on the STOMP bridge (`x-switchboard-origin`);
    /// a random id when unset.
    #[arg(long, env = "SWITCHBOARD_NODE_ID")]
    pub node_id: Option<String>,

    /// STOMP broker to republish chat events to, e.g. `stomp://guest:guest@127.0.0.1:61613/`
    /// (the path is the virtual host). Unset: the bridge is off.
    #[arg(long, env = "SWITCHBOARD_STOMP_URL")]
    pub stomp_url: Option<String>,

    /// Events the bridge may hold while the broker is slow or down; past it the oldest are
    /// dropped and counted.
    #[arg(long, env = "SWITCHBOARD_STOMP_QUEUE_SIZE", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub stomp_queue_size: u64,

    /// Also consume chat messages from the broker (see --stomp-inbound-destination).
    #[arg(long, env = "SWITCHBOARD_STOMP_INBOUND")]
    pub stomp_inbound: bool,

    /// Where inbound messages are consumed from (competing consumers across processes).
    #[arg(
        long,
        env = "SWITCHBOARD_STOMP_INBOUND_DESTINATION",
        default_value = "/queue/switchboard.inbound"
    )]
    pub stomp_inbound_destination: String,

    /// Web-STOMP URL browsers should use to watch the same stream (shown in /config.json);
    /// default: ws://<broker host>:15674/ws.
    #[arg(long, env = "SWITCHBOARD_STOMP_WEB_URL")]
    pub stomp_web_url: Option<String>,

    #[command(flatten)]
    pub auth: crate::auth::AuthArgs,

    /// Turns on the HTTP publish API (`/api/...`); requests must send
    /// `Authorization: Bearer <this key>`. Unset: the API answers 404.
    #[arg(long, env = "SWITCHBOARD_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// Requests per second the HTTP API accepts (all callers together).
    #[arg(long, env = "SWITCHBOARD_API_RATE", default_value_t = 200.0)]
    pub api_rate: f64,

    /// Burst of HTTP API requests accepted at once.
    #[arg(long, env = "SWITCHBOARD_API_BURST", default_value_t = 400,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub api_burst: u32,

    /// On SIGINT/SIGTERM, how long `/readyz` answers 503 before connections are closed, in ms
    /// (time for a load balancer to stop routing new clients here).
    #[arg(long, env = "SWITCHBOARD_DRAIN_DELAY_MS", default_value_t = 0)]
    pub drain_delay_ms: u64,

    /// On SIGINT/SIGTERM, how long to wait for connections to close before exiting, in ms.
    #[arg(long, env = "SWITCHBOARD_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,
}

/// A configuration value that parses but cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--rate-limit and --ip-connect-rate must be positive numbers per second, got {0}")]
    RateLimit(f64),
    #[error("--ping-timeout-ms plus --ping-interval-ms must fit in a day")]
    PingTooLong,
    #[error("--api-key must be at least 16 characters")]
    WeakApiKey,
    #[error(
        "--engineio-echo-path must be empty or start with `/` and differ from /socket.io, got {0:?}"
    )]
    EchoPath(String),
    #[error(
        "--cors-origin: {0:?} is not a valid origin (expected `*` or e.g. https://app.example.com)"
    )]
    CorsOrigin(String),
}

impl Config {
    /// Checks what clap's per-flag parsers cannot see.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.rate_limit.is_finite() && self.rate_limit > 0.0) {
            return Err(ConfigError::RateLimit(self.rate_limit));
        }
        if !(self.api_rate.is_finite() && self.api_rate > 0.0) {
            return Err(ConfigError::RateLimit(self.api_rate));
        }
        if self
            .api_key
            .as_deref()
            .is_some_and(|key| key.trim().len() < 16)
        {
            return Err(ConfigError::WeakApiKey);
        }
        if !(self.ip_connect_rate.is_finite() && self.ip_connect_rate >= 0.0) {
            return Err(ConfigError::RateLimit(self.ip_connect_rate));
        }
        if self.ping_interval_ms + self.ping_timeout_ms > 86_400_000 {
            return Err(ConfigError::PingTooLong);
        }
        let echo = self.engineio_echo_path.trim_end_matches('/');
        if !self.engineio_echo_path.is_empty() && (!echo.starts_with('/') || echo == "/socket.io") {
            return Err(ConfigError::EchoPath(self.engineio_echo_path.clone()));
        }
        for origin in &self.cors_origins {
            let valid = origin == "*"
                || ((origin.starts_with("http://") || origin.starts_with("https://"))
                    && http::HeaderValue::from_str(origin).is_ok());
            if !valid {
                return Err(ConfigError::CorsOrigin(origin.clone()));
            }
        }
        Ok(())
    }

    /// The configuration of a start without flags (`SWITCHBOARD_*` variables still apply).
    pub fn defaults() -> Self {
        Config::parse_from(["switchboard"])
    }

    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms)
    }

    pub fn ping_timeout(&self) -> Duration {
        Duration::from_millis(self.ping_timeout_ms)
    }

    /// The node id, generated once if not configured.
    pub fn resolved_node_id(&self) -> String {
        self.node_id.clone().unwrap_or_else(|| {
            // The tail of a UUIDv7 is random; its head is the clock.
            let id = uuid::Uuid::now_v7().simple().to_string();
            format!("sb-{}", &id[id.len() - 12..])
        })
    }

    pub fn presence_ttl(&self) -> Duration {
        Duration::from_millis(self.presence_ttl_ms)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let config = Config::defaults();
        config.validate().unwrap();
        assert_eq!(config.addr.port(), 3000);
        assert_eq!(config.max_payload, 1_000_000);
        assert_eq!(config.history_limit, 1000);
        assert_eq!(config.rate_burst, 40);
        assert!(config.cors_origins.is_empty());
    }

    #[test]
    fn rejects_zero_rate() {
        let config = Config::parse_from(["switchboard", "--rate-limit", "0"]);
        assert!(matches!(config.validate(), Err(ConfigError::RateLimit(_))));
    }

    #[test]
    fn rejects_bad_origin() {
        let config = Config::parse_from(["switchboard", "--cors-origin", "example.com"]);
        assert!(matches!(config.validate(), Err(ConfigError::CorsOrigin(_))));
    }

    #[test]
    fn parses_origin_list() {
        let config = Config::parse_from([
            "switchboard",
            "--cors-origin",
            "http://a.test,https://b.test",
        ]);
        config.validate().unwrap();
        assert_eq!(config.cors_origins, ["http://a.test", "https://b.test"]);
    }

    #[test]
    fn rejects_out_of_range_numbers() {
        assert!(Config::try_parse_from(["switchboard", "--max-payload", "10"]).is_err());
        assert!(Config::try_parse_from(["switchboard", "--history-limit", "0"]).is_err());
        assert!(Config::try_parse_from(["switchboard", "--rate-burst", "-1"]).is_err());
        assert!(Config::try_parse_from(["switchboard", "--addr", "nowhere"]).is_err());
    }
}
