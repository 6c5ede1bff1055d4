//! The four scenarios: connect, fanout, rooms, recovery.

use crate::client::{self, Client, Handler, ack_ok};
use crate::stats::{self, Bits, SEQ, TEXT, find_str, find_u64, now_us};
use crate::{Cli, ConnectArgs, FanoutArgs, RecoveryArgs, RoomsArgs, Scenario, polling};
use futures_util::stream::{self, FuturesUnordered, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn name(s: &Scenario) -> &'static str {
    match s {
        Scenario::Connect(_) => "connect",
        Scenario::Fanout(_) => "fanout",
        Scenario::Rooms(_) => "rooms",
        Scenario::Recovery(_) => "recovery",
    }
}

pub async fn run(cli: &Cli) -> Result<Value, String> {
    match &cli.scenario {
        Scenario::Connect(a) => connect(cli, a).await,
        Scenario::Fanout(a) => fanout(cli, a).await,
        Scenario::Rooms(a) => rooms(cli, a).await,
        Scenario::Recovery(a) => recovery(cli, a).await,
    }
}

fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

/// Connects `n` WebSocket clients, `concurrency` at a time. Returns the clients (None where
/// the connection failed) and the distinct errors with their counts.
async fn connect_many(
    cli: &Cli,
    n: usize,
    prefix: &str,
    make: impl Fn(usize) -> Handler,
) -> (Vec<Option<Client>>, Vec<(String, usize)>) {
    let addr = cli.addr;
    let mut done: Vec<(usize, Result<Client, String>)> = stream::iter(0..n)
        .map(|i| {
            let handler = make(i);
            let name = format!("{prefix}{i}");
            async move { (i, client::connect(addr, &name, handler).await) }
        })
        .buffer_unordered(cli.concurrency.max(1))
        .collect()
        .await;
    done.sort_by_key(|(i, _)| *i);
    let mut errors: Vec<(String, usize)> = Vec::new();
    let clients = done
        .into_iter()
        .map(|(_, r)| match r {
            Ok(c) => Some(c),
            Err(e) => {
                match errors.iter_mut().find(|(m, _)| *m == e) {
                    Some((_, k)) => *k += 1,
                    None => errors.push((e, 1)),
                }
                None
            }
        })
        .collect();
    (clients, errors)
}

fn errors_json(errors: &[(String, usize)]) -> Value {
    Value::Array(
        errors
            .iter()
            .take(5)
            .map(|(m, k)| json!({ "error": m, "count": k }))
            .collect(),
    )
}

/// Joins every connected client to its room (`room_of(i)`), `concurrency` at a time; returns
/// each client's ack (None where it failed or the client is missing).
async fn join_all(
    cli: &Cli,
    clients: &[Option<Client>],
    room_of: impl Fn(usize) -> String,
) -> Vec<Option<String>> {
    let mut acks: Vec<(usize, Option<String>)> = stream::iter(clients.iter().enumerate())
        .map(|(i, c)| {
            let fut = c
                .as_ref()
                .map(|c| c.emit_ack("room:join", &json!({ "room": room_of(i) })));
            async move {
                match fut {
                    Some(f) => (i, f.await.filter(|a| ack_ok(a))),
                    None => (i, None),
                }
            }
        })
        .buffer_unordered(cli.concurrency.max(1))
        .collect()
        .await;
    acks.sort_by_key(|(i, _)| *i);
    acks.into_iter().map(|(_, a)| a).collect()
}

fn server_rss(cli: &Cli) -> Option<(u64, u64)> {
    cli.server_pid.and_then(stats::rss)
}

// ---------------------------------------------------------------------------------------------
// connect

async fn connect(cli: &Cli, a: &ConnectArgs) -> Result<Value, String> {
    let before = server_rss(cli);
    let t0 = Instant::now();
    let (clients, errors) = connect_many(cli, a.clients, "idle-", |_| Box::new(|_: &str| {})).await;
    let connect_s = t0.elapsed().as_secs_f64();
    let connected = clients.iter().flatten().count();
    eprintln!(
        "connect: {connected}/{} websocket clients in {connect_s:.2}s",
        a.clients
    );
    tokio::time::sleep(Duration::from_secs(a.hold_secs)).await;
    let after = server_rss(cli);
    let alive = clients.iter().flatten().filter(|c| !c.is_lost()).count();
    let per_conn = match (before, after) {
        (Some((b, _)), Some((x, _))) if alive > 0 => Some((x as f64 - b as f64) / alive as f64),
        _ => None,
    };
    let mut out = json!({
        "clients": a.clients,
        "connected": connected,
        "alive_after_hold": alive,
        "connect_errors": errors_json(&errors),
        "connect_failed": a.clients - connected,
        "connect_s": connect_s,
        "connects_per_s": connected as f64 / connect_s,
        "rss_before_bytes": before.map(|r| r.0),
        "rss_after_bytes": after.map(|r| r.0),
        "hwm_after_bytes": after.map(|r| r.1),
        "bytes_per_conn": per_conn,
        "hold_s": a.hold_secs,
    });
    if a.polling_clients > 0 {
        let http = polling::http_client();
        let t1 = Instant::now();
        let addr = cli.addr;
        let results: Vec<Result<tokio::task::JoinHandle<()>, String>> =
            stream::iter(0..a.polling_clients)
                .map(|i| {
                    let http = http.clone();
                    async move { polling::connect(&http, addr, &format!("poll-{i}")).await }
                })
                .buffer_unordered(cli.concurrency.max(1))
                .collect()
                .await;
        let poll_s = t1.elapsed().as_secs_f64();
        let mut perrors: Vec<(String, usize)> = Vec::new();
        let mut tasks = Vec::new();
        for r in results {
            match r {
                Ok(t) => tasks.push(t),
                Err(e) => match perrors.iter_mut().find(|(m, _)| *m == e) {
                    Some((_, k)) => *k += 1,
                    None => perrors.push((e, 1)),
                },
            }
        }
        eprintln!(
            "connect: {}/{} polling clients in {poll_s:.2}s",
            tasks.len(),
            a.polling_clients
        );
        tokio::time::sleep(Duration::from_secs(a.hold_secs)).await;
        let alive_polling = tasks.iter().filter(|t| !t.is_finished()).count();
        let after_polling = server_rss(cli);
        let per_polling = match (after, after_polling) {
            (Some((x, _)), Some((y, _))) if alive_polling > 0 => {
                Some((y as f64 - x as f64) / alive_polling as f64)
            }
            _ => None,
        };
        let o = out.as_object_mut().expect("object");
        o.insert("polling_clients".into(), a.polling_clients.into());
        o.insert("polling_connected".into(), tasks.len().into());
        o.insert(
            "polling_connect_failed".into(),
            (a.polling_clients - tasks.len()).into(),
        );
        o.insert("polling_alive_after_hold".into(), alive_polling.into());
        o.insert("polling_connect_errors".into(), errors_json(&perrors));
        o.insert("polling_connect_s".into(), poll_s.into());
        o.insert(
            "rss_after_polling_bytes".into(),
            after_polling.map(|r| r.0).into(),
        );
        o.insert("bytes_per_polling_conn".into(), per_polling.into());
        for t in tasks {
            t.abort();
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// fanout

struct FanState {
    seen: Bits,
    unique: u64,
    dups: u64,
    out_of_order: u64,
    last_seq: u64,
    hist: Histogram<u64>,
}

async fn fanout(cli: &Cli, a: &FanoutArgs) -> Result<Value, String> {
    const ROOM: &str = "fanout";
    let last_recv = Arc::new(AtomicU64::new(0));
    let states: Vec<Arc<Mutex<FanState>>> = (0..a.clients)
        .map(|_| {
            Arc::new(Mutex::new(FanState {
                seen: Bits::with_capacity(a.messages),
                unique: 0,
                dups: 0,
                out_of_order: 0,
                last_seq: 0,
                hist: stats::new_hist(),
            }))
        })
        .collect();
    let t0 = Instant::now();
    let (clients, errors) = connect_many(cli, a.clients, "fan-", |i| {
        let st = states[i].clone();
        let last_recv = last_recv.clone();
        Box::new(move |p: &str| {
            if !p.starts_with("[\"chat:message\"") {
                return;
            }
            let now = now_us();
            let Some(text) = find_str(p, &TEXT) else {
                return;
            };
            let mut parts = text.split(' ');
            let (Some("f"), Some(idx), Some(sent)) = (parts.next(), parts.next(), parts.next())
            else {
                return;
            };
            let (Ok(idx), Ok(sent)) = (idx.parse::<usize>(), sent.parse::<u64>()) else {
                return;
            };
            let seq = find_u64(p, &SEQ).unwrap_or(0);
            let mut s = st.lock().expect("state");
            if s.seen.set(idx) {
                s.dups += 1;
            } else {
                s.unique += 1;
            }
            if seq <= s.last_seq {
                s.out_of_order += 1;
            }
            s.last_seq = seq;
            stats::record(&mut s.hist, now.saturating_sub(sent));
            drop(s);
            last_recv.fetch_max(now, Ordering::Relaxed);
        })
    })
    .await;
    let connected = clients.iter().flatten().count();
    let joins = join_all(cli, &clients, |_| ROOM.to_string()).await;
    let joined = joins.iter().flatten().count();
    let setup_s = t0.elapsed().as_secs_f64();
    eprintln!("fanout: {connected} connected, {joined} joined in {setup_s:.2}s");
    let Some(sender_idx) = (0..clients.len()).find(|&i| clients[i].is_some() && joins[i].is_some())
    else {
        return Err("no client could connect and join".into());
    };
    // Let the join presence storm settle before measuring.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let sender = clients[sender_idx].as_ref().expect("sender");

    let mut acked = Bits::with_capacity(a.messages);
    let mut acked_ok = 0u64;
    let mut send_errors = 0u64;
    let mut first_error: Option<String> = None;
    let cpu = stats::CpuMark::now(cli.server_pid);
    let first_send = now_us();
    let mut inflight = FuturesUnordered::new();
    let mut handle = |r: (usize, Option<String>)| match r {
        (i, Some(ack)) if ack_ok(&ack) => {
            acked.set(i);
            acked_ok += 1;
        }
        (_, other) => {
            send_errors += 1;
            if first_error.is_none() {
                first_error = Some(other.unwrap_or_else(|| "connection closed".into()));
            }
        }
    };
    for i in 0..a.messages {
        if inflight.len() >= a.window.max(1)
            && let Some(r) = inflight.next().await
        {
            handle(r);
        }
        let text = format!("f {i} {}", now_us());
        let fut = sender.emit_ack("chat:send", &json!({ "room": ROOM, "text": text }));
        inflight.push(async move { (i, fut.await) });
    }
    while let Some(r) = inflight.next().await {
        handle(r);
    }
    let last_ack = now_us();
    eprintln!(
        "fanout: {acked_ok} acked ok, {send_errors} errors in {:.2}s",
        secs(last_ack - first_send)
    );

    // Wait until every live client has every acked message, or the drain time is up.
    let deadline = Instant::now() + Duration::from_secs(a.drain_secs);
    let complete = loop {
        let done = clients.iter().enumerate().all(|(i, c)| match c {
            None => true,
            Some(c) => c.is_lost() || states[i].lock().expect("state").unique >= acked_ok,
        });
        if done || Instant::now() >= deadline {
            break done;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let end = last_recv.load(Ordering::Relaxed).max(first_send + 1);
    let (server_cpu, loadgen_cpu) = cpu.since(cli.server_pid);

    let mut hist = stats::new_hist();
    let (mut deliveries, mut dups, mut lost, mut ooo, mut disconnected) = (0u64, 0, 0, 0, 0);
    for (i, c) in clients.iter().enumerate() {
        if c.is_none() || joins[i].is_none() {
            continue;
        }
        if c.as_ref().is_some_and(|c| c.is_lost()) {
            disconnected += 1;
        }
        let s = states[i].lock().expect("state");
        hist.add(&s.hist).map_err(|e| e.to_string())?;
        deliveries += s.unique;
        dups += s.dups;
        ooo += s.out_of_order;
        lost += (0..a.messages)
            .filter(|&m| acked.get(m) && !s.seen.get(m))
            .count() as u64;
    }
    let duration = secs(end - first_send);
    Ok(json!({
        "clients": a.clients,
        "connected": connected,
        "joined": joined,
        "connect_errors": errors_json(&errors),
        "connect_failed": a.clients - connected,
        "setup_s": setup_s,
        "messages": a.messages,
        "window": a.window,
        "acked_ok": acked_ok,
        "send_errors": send_errors,
        "first_send_error": first_error,
        "send_s": secs(last_ack - first_send),
        "sends_per_s": acked_ok as f64 / secs(last_ack - first_send).max(1e-6),
        "expected_deliveries": acked_ok * joined as u64,
        "deliveries": deliveries,
        "lost": lost,
        "duplicates": dups,
        "out_of_order": ooo,
        "disconnected": disconnected,
        "complete": complete,
        "duration_s": duration,
        "deliveries_per_s": deliveries as f64 / duration,
        "latency": stats::summary(&hist),
        "server_cpu_s": server_cpu,
        "loadgen_cpu_s": loadgen_cpu,
        "server_cpu_us_per_delivery": server_cpu.map(|c| c * 1e6 / deliveries.max(1) as f64),
    }))
}

// ---------------------------------------------------------------------------------------------
// rooms

struct RoomState {
    /// Per room member position (sender % room_size): which of its messages arrived.
    seen: Vec<Bits>,
    unique: u64,
    dups: u64,
    foreign: u64,
    hist: Histogram<u64>,
}

async fn rooms(cli: &Cli, a: &RoomsArgs) -> Result<Value, String> {
    let size = a.room_size.max(1);
    let per_client = ((a.duration_secs as f64) * a.rate).round().max(1.0) as usize;
    let room_count = a.clients.div_ceil(size);
    let last_recv = Arc::new(AtomicU64::new(0));
    let states: Vec<Arc<Mutex<RoomState>>> = (0..a.clients)
        .map(|_| {
            Arc::new(Mutex::new(RoomState {
                seen: vec![Bits::with_capacity(per_client); size],
                unique: 0,
                dups: 0,
                foreign: 0,
                hist: stats::new_hist(),
            }))
        })
        .collect();
    let t0 = Instant::now();
    let (clients, errors) = connect_many(cli, a.clients, "room-", |i| {
        let st = states[i].clone();
        let last_recv = last_recv.clone();
        let my_room = i / size;
        Box::new(move |p: &str| {
            if !p.starts_with("[\"chat:message\"") {
                return;
            }
            let now = now_us();
            let Some(text) = find_str(p, &TEXT) else {
                return;
            };
            let mut it = text.split(' ');
            let (Some("r"), Some(from), Some(k), Some(sent)) =
                (it.next(), it.next(), it.next(), it.next())
            else {
                return;
            };
            let (Ok(from), Ok(k), Ok(sent)) = (
                from.parse::<usize>(),
                k.parse::<usize>(),
                sent.parse::<u64>(),
            ) else {
                return;
            };
            let mut s = st.lock().expect("state");
            if from / size != my_room {
                s.foreign += 1;
                return;
            }
            if s.seen[from % size].set(k) {
                s.dups += 1;
            } else {
                s.unique += 1;
            }
            stats::record(&mut s.hist, now.saturating_sub(sent));
            drop(s);
            last_recv.fetch_max(now, Ordering::Relaxed);
        })
    })
    .await;
    let connected = clients.iter().flatten().count();
    let joins = join_all(cli, &clients, |i| format!("room-{}", i / size)).await;
    let joined = joins.iter().flatten().count();
    let setup_s = t0.elapsed().as_secs_f64();
    eprintln!(
        "rooms: {connected} connected, {joined} joined {room_count} rooms in {setup_s:.2}s; \
         {per_client} messages each"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    let clients: Arc<Vec<Option<Client>>> = Arc::new(clients);
    let ok_sends: Arc<Vec<Mutex<Bits>>> = Arc::new(
        (0..a.clients)
            .map(|_| Mutex::new(Bits::with_capacity(per_client)))
            .collect(),
    );
    let send_errors = Arc::new(AtomicU64::new(0));
    let cpu = stats::CpuMark::now(cli.server_pid);
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let first_send = now_us() + 100_000;
    let period = 1.0 / a.rate.max(1e-3);
    let mut senders = Vec::new();
    for i in 0..a.clients {
        if clients[i].is_none() || joins[i].is_none() {
            continue;
        }
        let clients = clients.clone();
        let ok_sends = ok_sends.clone();
        let send_errors = send_errors.clone();
        let room = format!("room-{}", i / size);
        senders.push(tokio::spawn(async move {
            let c = clients[i].as_ref().expect("client");
            let mut acks = Vec::with_capacity(per_client);
            for k in 0..per_client {
                let at = start + Duration::from_secs_f64((stats::spread(i) + k as f64) * period);
                tokio::time::sleep_until(at).await;
                if c.is_lost() {
                    break;
                }
                let text = format!("r {i} {k} {}", now_us());
                let fut = c.emit_ack("chat:send", &json!({ "room": room, "text": text }));
                let ok_sends = ok_sends.clone();
                let send_errors = send_errors.clone();
                acks.push(tokio::spawn(async move {
                    match fut.await {
                        Some(ack) if ack_ok(&ack) => {
                            ok_sends[i].lock().expect("ok").set(k);
                        }
                        _ => {
                            send_errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }));
            }
            for t in acks {
                let _ = t.await;
            }
        }));
    }
    for s in senders {
        let _ = s.await;
    }
    let last_ack = now_us();

    // Expected per client: every ok-acked message of every member of its room.
    let ok_count: Vec<u64> = (0..a.clients)
        .map(|i| {
            let b = ok_sends[i].lock().expect("ok");
            (0..per_client).filter(|&k| b.get(k)).count() as u64
        })
        .collect();
    let expected = |i: usize| -> u64 {
        let r = i / size;
        (r * size..((r + 1) * size).min(a.clients))
            .map(|m| ok_count[m])
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(a.drain_secs);
    let complete = loop {
        let done = (0..a.clients).all(|i| match &clients[i] {
            None => true,
            Some(_) if joins[i].is_none() => true,
            Some(c) => c.is_lost() || states[i].lock().expect("state").unique >= expected(i),
        });
        if done || Instant::now() >= deadline {
            break done;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let end = last_recv.load(Ordering::Relaxed).max(first_send + 1);
    let (server_cpu, loadgen_cpu) = cpu.since(cli.server_pid);

    let mut hist = stats::new_hist();
    let (mut deliveries, mut expected_total, mut dups, mut lost, mut foreign, mut disconnected) =
        (0u64, 0u64, 0, 0, 0, 0);
    for i in 0..a.clients {
        let Some(c) = &clients[i] else { continue };
        if joins[i].is_none() {
            continue;
        }
        if c.is_lost() {
            disconnected += 1;
        }
        let s = states[i].lock().expect("state");
        hist.add(&s.hist).map_err(|e| e.to_string())?;
        deliveries += s.unique;
        dups += s.dups;
        foreign += s.foreign;
        expected_total += expected(i);
        let r = i / size;
        for m in r * size..((r + 1) * size).min(a.clients) {
            let ok = ok_sends[m].lock().expect("ok");
            lost += (0..per_client)
                .filter(|&k| ok.get(k) && !s.seen[m % size].get(k))
                .count() as u64;
        }
    }
    let duration = secs(end.saturating_sub(first_send).max(1));
    Ok(json!({
        "clients": a.clients,
        "rooms": room_count,
        "room_size": size,
        "connected": connected,
        "joined": joined,
        "connect_errors": errors_json(&errors),
        "connect_failed": a.clients - connected,
        "setup_s": setup_s,
        "rate_per_client": a.rate,
        "messages_per_client": per_client,
        "acked_ok": ok_count.iter().sum::<u64>(),
        "send_errors": send_errors.load(Ordering::Relaxed),
        "send_s": secs(last_ack.saturating_sub(first_send)),
        "expected_deliveries": expected_total,
        "deliveries": deliveries,
        "lost": lost,
        "duplicates": dups,
        "foreign": foreign,
        "disconnected": disconnected,
        "complete": complete,
        "duration_s": duration,
        "deliveries_per_s": deliveries as f64 / duration,
        "latency": stats::summary(&hist),
        "server_cpu_s": server_cpu,
        "loadgen_cpu_s": loadgen_cpu,
        "server_cpu_us_per_delivery": server_cpu.map(|c| c * 1e6 / deliveries.max(1) as f64),
    }))
}

// ---------------------------------------------------------------------------------------------
// recovery

struct RecState {
    seen: Bits,
    /// Seqs up to here (from `start`) have all arrived.
    high: u64,
    start: u64,
    dups: u64,
    epoch: String,
    caught_up_at: Option<u64>,
}

impl RecState {
    fn mark(&mut self, seq: u64, target: u64) {
        if self.seen.set(seq as usize) {
            self.dups += 1;
        }
        while self.seen.get(self.high as usize + 1) {
            self.high += 1;
        }
        if self.caught_up_at.is_none() && self.high >= target {
            self.caught_up_at = Some(now_us());
        }
    }
}

fn rec_handler(st: Arc<Mutex<RecState>>, target: Arc<AtomicU64>) -> Handler {
    Box::new(move |p: &str| {
        if !p.starts_with("[\"chat:message\"") {
            return;
        }
        if let Some(seq) = find_u64(p, &SEQ) {
            let t = target.load(Ordering::Relaxed);
            st.lock().expect("state").mark(seq, t);
        }
    })
}

/// The `epoch` and the history seqs of a `room:join` ack (`[{...}]`).
fn parse_join(ack: &str) -> Option<(String, Vec<u64>)> {
    let v: Value = serde_json::from_str(ack).ok()?;
    let o = v.get(0)?;
    let epoch = o.get("epoch")?.as_str()?.to_string();
    let seqs = o
        .get("history")?
        .as_array()?
        .iter()
        .filter_map(|m| m.get("seq").and_then(Value::as_u64))
        .collect();
    Some((epoch, seqs))
}

/// A reconnected client, when its rejoin was acked, and whether the room's epoch changed.
type Rejoined = (Client, u64, bool);

async fn recovery(cli: &Cli, a: &RecoveryArgs) -> Result<Value, String> {
    const ROOM: &str = "recovery";
    let target = Arc::new(AtomicU64::new(u64::MAX));
    let states: Vec<Arc<Mutex<RecState>>> = (0..a.clients)
        .map(|_| {
            Arc::new(Mutex::new(RecState {
                seen: Bits::default(),
                high: 0,
                start: 0,
                dups: 0,
                epoch: String::new(),
                caught_up_at: None,
            }))
        })
        .collect();
    let (mut clients, errors) = connect_many(cli, a.clients, "rec-", |i| {
        rec_handler(states[i].clone(), target.clone())
    })
    .await;
    let joins = join_all(cli, &clients, |_| ROOM.to_string()).await;
    let mut members = 0usize;
    for (i, j) in joins.iter().enumerate() {
        let Some(ack) = j else { continue };
        let (epoch, seqs) = parse_join(ack).ok_or_else(|| format!("bad join ack: {ack}"))?;
        let mut s = states[i].lock().expect("state");
        let start = seqs.iter().copied().max().unwrap_or(0);
        s.epoch = epoch;
        s.start = start;
        s.high = s.high.max(start);
        members += 1;
    }
    if members == 0 {
        return Err(format!("no client joined; errors {:?}", errors));
    }
    let sender = client::connect(cli.addr, "rec-sender", Box::new(|_: &str| {})).await?;
    let sj = sender.emit_ack("room:join", &json!({ "room": ROOM })).await;
    if !sj.as_deref().is_some_and(ack_ok) {
        return Err(format!("sender join failed: {sj:?}"));
    }
    eprintln!("recovery: {members}/{} joined", a.clients);

    // The sender: `rate` messages per second until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let last_acked = Arc::new(AtomicU64::new(0));
    let send_errors = Arc::new(AtomicU64::new(0));
    let sender = Arc::new(sender);
    let sender_task = {
        let (stop, last_acked, send_errors, sender) = (
            stop.clone(),
            last_acked.clone(),
            send_errors.clone(),
            sender.clone(),
        );
        let period = Duration::from_secs_f64(1.0 / a.rate.max(0.1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            let mut acks = Vec::new();
            let mut k = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                k += 1;
                let fut = sender.emit_ack(
                    "chat:send",
                    &json!({ "room": ROOM, "text": format!("m {k}") }),
                );
                let (last_acked, send_errors) = (last_acked.clone(), send_errors.clone());
                acks.push(tokio::spawn(async move {
                    match fut.await {
                        Some(ack) if ack_ok(&ack) => {
                            if let Some(seq) = find_u64(&ack, &SEQ) {
                                last_acked.fetch_max(seq, Ordering::Relaxed);
                            }
                        }
                        _ => {
                            send_errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }));
            }
            for t in acks {
                let _ = t.await;
            }
            k
        })
    };
    tokio::time::sleep(Duration::from_millis(a.warmup_ms)).await;

    // Drop everyone at once.
    let lost_before_drop = clients.iter().flatten().filter(|c| c.is_lost()).count();
    futures_util::future::join_all(clients.iter_mut().flatten().map(|c| c.close())).await;
    let seq_at_drop = last_acked.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(a.offline_ms)).await;

    // Reconnect everyone at once and rejoin with since + epoch.
    let t0 = now_us();
    let missed_target = last_acked.load(Ordering::Relaxed);
    target.store(missed_target, Ordering::Relaxed);
    let addr = cli.addr;
    let reconnects: Vec<(usize, Result<Rejoined, String>)> =
        stream::iter((0..a.clients).filter(|&i| joins[i].is_some()))
            .map(|i| {
                let st = states[i].clone();
                let handler = rec_handler(st.clone(), target.clone());
                async move {
                    let r = async {
                        let c = client::connect(addr, &format!("rec-{i}"), handler).await?;
                        let (since, epoch) = {
                            let s = st.lock().expect("state");
                            (s.high, s.epoch.clone())
                        };
                        let ack = c
                            .emit_ack(
                                "room:join",
                                &json!({ "room": ROOM, "since": since, "epoch": epoch }),
                            )
                            .await
                            .ok_or("closed before rejoin ack")?;
                        let (new_epoch, seqs) =
                            parse_join(&ack).ok_or_else(|| format!("bad rejoin ack: {ack}"))?;
                        let mut s = st.lock().expect("state");
                        for seq in seqs {
                            s.mark(seq, missed_target);
                        }
                        Ok::<_, String>((c, now_us(), new_epoch != s.epoch))
                    }
                    .await;
                    (i, r)
                }
            })
            .buffer_unordered(a.clients.max(1))
            .collect()
            .await;
    let mut rejoin_errors: Vec<(String, usize)> = Vec::new();
    let mut rejoined = Vec::new();
    let mut epoch_changed = 0u64;
    let mut last_rejoin = t0;
    for (_, r) in reconnects {
        match r {
            Ok((c, at, changed)) => {
                last_rejoin = last_rejoin.max(at);
                epoch_changed += changed as u64;
                rejoined.push(c);
            }
            Err(e) => match rejoin_errors.iter_mut().find(|(m, _)| *m == e) {
                Some((_, k)) => *k += 1,
                None => rejoin_errors.push((e, 1)),
            },
        }
    }
    let rejoin_s = secs(last_rejoin - t0);
    eprintln!(
        "recovery: {} rejoined in {rejoin_s:.2}s (missed up to seq {missed_target})",
        rejoined.len()
    );
    let remaining =
        Duration::from_millis(a.after_ms).saturating_sub(Duration::from_micros(now_us() - t0));
    tokio::time::sleep(remaining).await;
    stop.store(true, Ordering::Relaxed);
    let sent = sender_task.await.map_err(|e| e.to_string())?;
    let final_seq = last_acked.load(Ordering::Relaxed);

    let deadline = Instant::now() + Duration::from_secs(a.drain_secs);
    let complete = loop {
        let done = (0..a.clients)
            .filter(|&i| joins[i].is_some())
            .all(|i| states[i].lock().expect("state").high >= final_seq);
        if done || Instant::now() >= deadline {
            break done;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let (mut gaps, mut dups, mut not_caught_up, mut caught_max) = (0u64, 0u64, 0u64, 0u64);
    for i in (0..a.clients).filter(|&i| joins[i].is_some()) {
        let s = states[i].lock().expect("state");
        gaps += (s.start + 1..=final_seq)
            .filter(|&q| !s.seen.get(q as usize))
            .count() as u64;
        dups += s.dups;
        match s.caught_up_at {
            Some(at) => caught_max = caught_max.max(at.saturating_sub(t0)),
            None => not_caught_up += 1,
        }
    }
    let disconnected = rejoined.iter().filter(|c| c.is_lost()).count();
    Ok(json!({
        "clients": a.clients,
        "joined": members,
        "connect_errors": errors_json(&errors),
        "connect_failed": a.clients - clients.iter().flatten().count(),
        "rate": a.rate,
        "offline_ms": a.offline_ms,
        "seq_at_drop": seq_at_drop,
        "missed_target_seq": missed_target,
        "final_seq": final_seq,
        "sent": sent,
        "send_errors": send_errors.load(Ordering::Relaxed),
        "lost_before_drop": lost_before_drop,
        "rejoined": rejoined.len(),
        "rejoin_errors": errors_json(&rejoin_errors),
        "epoch_changed": epoch_changed,
        "rejoin_s": rejoin_s,
        "catchup_ms": if not_caught_up == 0 { Some(caught_max as f64 / 1000.0) } else { None },
        "not_caught_up": not_caught_up,
        "gaps": gaps,
        "duplicates": dups,
        "disconnected_after_rejoin": disconnected,
        "complete": complete,
    }))
}
