//! Load generator for Switchboard and the Node socket.io reference server.
//!
//! It speaks Engine.IO v4 / Socket.IO v5 itself (WebSocket, and HTTP long-polling for a share of
//! the `connect` scenario), so thousands of clients cost one task each. Every scenario is bounded
//! in client count and time, talks to a loopback address only, and prints exactly one JSON line
//! on stdout (progress goes to stderr).

mod client;
mod polling;
mod scenarios;
mod stats;
mod ws;

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    about = "Switchboard benchmark load generator (loopback only)"
)]
pub struct Cli {
    /// Server address; must be a loopback address (127.0.0.0/8 or [::1]).
    #[arg(long, default_value = "127.0.0.1:3000", global = true)]
    pub addr: SocketAddr,
    /// Label of the server under test, copied into the JSON result.
    #[arg(long, default_value = "server", global = true)]
    pub label: String,
    /// Round number, copied into the JSON result.
    #[arg(long, default_value_t = 0, global = true)]
    pub round: u32,
    /// Pid of the server process, to read its memory from /proc/<pid>/status.
    #[arg(long, global = true)]
    pub server_pid: Option<u32>,
    /// How many connections are opened at once.
    #[arg(long, default_value_t = 200, global = true)]
    pub concurrency: usize,
    /// Hard limit on the scenario's whole run time, in seconds.
    #[arg(long, default_value_t = 240, global = true)]
    pub max_secs: u64,
    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(Subcommand, Debug)]
pub enum Scenario {
    /// N idle WebSocket clients (plus optional long-polling clients); server RSS per connection.
    Connect(ConnectArgs),
    /// N clients in one room; one sender sends M messages with a window of unacked sends;
    /// deliveries/s, latency, exact lost and duplicate counts.
    Fanout(FanoutArgs),
    /// N clients in N/room-size rooms, each sending at a fixed rate; latency, lost, duplicates.
    Rooms(RoomsArgs),
    /// N clients in one room drop and reconnect all at once while a sender keeps sending;
    /// time until caught up, gaps and duplicates by seq.
    Recovery(RecoveryArgs),
}

#[derive(Args, Debug)]
pub struct ConnectArgs {
    #[arg(long, default_value_t = 2000)]
    pub clients: usize,
    /// Long-polling clients connected after the WebSocket ones (measured separately).
    #[arg(long, default_value_t = 0)]
    pub polling_clients: usize,
    /// Seconds to hold the connections before reading the server's memory.
    #[arg(long, default_value_t = 3)]
    pub hold_secs: u64,
}

#[derive(Args, Debug)]
pub struct FanoutArgs {
    #[arg(long, default_value_t = 300)]
    pub clients: usize,
    #[arg(long, default_value_t = 1000)]
    pub messages: usize,
    /// Sends in flight (sent, not yet acked) at most.
    #[arg(long, default_value_t = 16)]
    pub window: usize,
    /// After the last ack, how long to wait for the last deliveries.
    #[arg(long, default_value_t = 30)]
    pub drain_secs: u64,
}

#[derive(Args, Debug)]
pub struct RoomsArgs {
    #[arg(long, default_value_t = 500)]
    pub clients: usize,
    #[arg(long, default_value_t = 10)]
    pub room_size: usize,
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Messages per second per client.
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 15)]
    pub drain_secs: u64,
}

#[derive(Args, Debug)]
pub struct RecoveryArgs {
    #[arg(long, default_value_t = 200)]
    pub clients: usize,
    /// Messages per second from the sender.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Sending before the drop, in ms.
    #[arg(long, default_value_t = 2000)]
    pub warmup_ms: u64,
    /// Time all clients stay disconnected, in ms.
    #[arg(long, default_value_t = 2000)]
    pub offline_ms: u64,
    /// Sending after the reconnect starts, in ms.
    #[arg(long, default_value_t = 2000)]
    pub after_ms: u64,
    #[arg(long, default_value_t = 15)]
    pub drain_secs: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !cli.addr.ip().is_loopback() {
        eprintln!("loadgen: refusing a non-loopback address {}", cli.addr);
        return ExitCode::from(2);
    }
    stats::init_clock();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let max = std::time::Duration::from_secs(cli.max_secs);
    let result = rt.block_on(async {
        match tokio::time::timeout(max, scenarios::run(&cli)).await {
            Ok(r) => r,
            Err(_) => Err(format!("scenario exceeded --max-secs {}", cli.max_secs)),
        }
    });
    let (line, code) = match result {
        Ok(mut v) => {
            let obj = v.as_object_mut().expect("result object");
            obj.insert("ok".into(), true.into());
            (v, ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            (
                serde_json::json!({ "ok": false, "error": e }),
                ExitCode::from(1),
            )
        }
    };
    let mut line = line;
    let obj = line.as_object_mut().expect("result object");
    obj.insert("scenario".into(), scenarios::name(&cli.scenario).into());
    obj.insert("server".into(), cli.label.clone().into());
    obj.insert("round".into(), cli.round.into());
    println!("{}", serde_json::to_string(&line).expect("json"));
    // Don't wait for thousands of client tasks to wind down.
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    code
}
