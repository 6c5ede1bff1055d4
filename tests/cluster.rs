//! Several real processes sharing one Redis: room broadcasts, one history with gap-free `seq`,
//! cluster-wide presence, recovery on another process, ghosts of killed processes, and an
//! epoch that survives process restarts.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Client, ServerProcess, redis_available, unique_prefix};

async fn cluster(prefix: &str, count: usize, extra: &[&str]) -> Vec<ServerProcess> {
    let mut args = vec![
        "--redis-url",
        "redis://127.0.0.1:6379",
        "--redis-prefix",
        prefix,
        "--rate-burst",
        "500",
    ];
    args.extend_from_slice(extra);
    let mut processes = Vec::new();
    for _ in 0..count {
        processes.push(ServerProcess::spawn(&args).await);
    }
    processes
}

fn seqs(messages: &Value) -> Vec<u64> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn three_processes_share_broadcasts_history_and_presence() {
    if !redis_available("three_processes_share_broadcasts_history_and_presence") {
        return;
    }
    let prefix = unique_prefix("three");
    let nodes = cluster(&prefix, 3, &[]).await;
    let mut clients = Vec::new();
    for (index, node) in nodes.iter().enumerate() {
        let mut client = Client::connect(&node.target(), &format!("user{index}")).await;
        let joined = client.join("lobby").await;
        assert_eq!(
            joined["members"].as_array().unwrap().len(),
            index + 1,
            "members are cluster-wide"
        );
        clients.push(client);
    }
    // The first client heard both later joins, with cluster-wide counts.
    for expected in [2, 3] {
        let presence = clients[0].next_event("room:presence").await;
        assert_eq!(
            (presence["action"].as_str(), presence["count"].as_u64()),
            (Some("join"), Some(expected))
        );
    }

    // Concurrent senders on all three processes.
    let mut senders = Vec::new();
    for (index, node) in nodes.iter().enumerate() {
        let mut sender = Client::connect(&node.target(), &format!("sender{index}")).await;
        sender.join("lobby").await;
        senders.push(sender);
    }
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|mut sender| {
            tokio::spawn(async move {
                for i in 0..20 {
                    let ack = sender
                        .call("chat:send", json!({"room": "lobby", "text": i.to_string()}))
                        .await;
                    assert_eq!(ack["ok"], true, "{ack}");
                }
                sender
            })
        })
        .collect();
    let mut senders = Vec::new();
    for task in tasks {
        senders.push(task.await.unwrap());
    }
    for client in &mut clients {
        let mut received = Vec::new();
        while received.len() < 60 {
            received.push(
                client.next_event("chat:message").await["seq"]
                    .as_u64()
                    .unwrap(),
            );
        }
        assert_eq!(
            received,
            (1..=60).collect::<Vec<_>>(),
            "exactly once, in seq order, no gap"
        );
        client.assert_no_event("chat:message").await;
    }

    let mut histories = Vec::new();
    for client in &mut clients {
        let history = client
            .call("chat:history", json!({"room": "lobby", "limit": 100}))
            .await;
        assert_eq!(seqs(&history["messages"]), (1..=60).collect::<Vec<_>>());
        histories.push(history);
    }
    assert!(
        histories.windows(2).all(|pair| pair[0] == pair[1]),
        "identical history everywhere"
    );
    drop(senders);
}

#[tokio::test]
async fn a_client_moved_to_another_process_recovers_with_since() {
    if !redis_available("a_client_moved_to_another_process_recovers_with_since") {
        return;
    }
    let prefix = unique_prefix("moved");
    let nodes = cluster(&prefix, 2, &[]).await;
    let mut talker = Client::connect(&nodes[0].target(), "talker").await;
    talker.join("r").await;
    let mut mover = Client::connect(&nodes[0].target(), "mover").await;
    let epoch = mover.join("r").await["epoch"].as_str().unwrap().to_owned();
    for i in 1..=3 {
        talker
            .call(
                "chat:send",
                json!({"room": "r", "text": format!("seen {i}")}),
            )
            .await;
    }
    drop(mover);
    for i in 1..=4 {
        talker
            .call(
                "chat:send",
                json!({"room": "r", "text": format!("missed {i}")}),
            )
            .await;
    }
    let mut moved = Client::connect(&nodes[1].target(), "mover").await;
    let rejoined = moved
        .call(
            "room:join",
            json!({"room": "r", "since": 3, "epoch": epoch}),
        )
        .await;
    assert_eq!(rejoined["epoch"], epoch.as_str());
    assert_eq!(seqs(&rejoined["history"]), [4, 5, 6, 7]);
}

#[tokio::test]
async fn a_killed_process_leaves_member_lists_within_the_bound() {
    if !redis_available("a_killed_process_leaves_member_lists_within_the_bound") {
        return;
    }
    let prefix = unique_prefix("killed");
    let ttl_ms: u64 = 1500;
    let ttl = ttl_ms.to_string();
    let nodes = cluster(&prefix, 2, &["--presence-ttl-ms", &ttl]).await;
    let mut survivor = Client::connect(&nodes[0].target(), "survivor").await;
    survivor.join("r").await;
    let mut doomed = Client::connect(&nodes[1].target(), "doomed").await;
    assert_eq!(
        doomed.join("r").await["members"].as_array().unwrap().len(),
        2
    );
    survivor.next_event("room:presence").await;

    let mut nodes = nodes;
    let killed_at = Instant::now();
    nodes.pop().unwrap().kill().await;
    let left = survivor
        .next_event_within("room:presence", Duration::from_millis(ttl_ms * 3))
        .await;
    let bound = Duration::from_millis(ttl_ms + ttl_ms / 3 + 500);
    assert!(
        killed_at.elapsed() <= bound,
        "ghost stayed {:?} (bound {bound:?})",
        killed_at.elapsed()
    );
    assert_eq!(left["action"], "leave");
    assert_eq!(left["user"]["name"], "doomed");
    assert_eq!(left["count"], 1);
    let rejoined = survivor.join("r").await;
    assert_eq!(rejoined["members"].as_array().unwrap().len(), 1);
    drop(doomed);
}

#[tokio::test]
async fn epoch_and_seq_survive_a_process_restart() {
    if !redis_available("epoch_and_seq_survive_a_process_restart") {
        return;
    }
    let prefix = unique_prefix("restart");
    let first = cluster(&prefix, 1, &[]).await.pop().unwrap();
    let mut client = Client::connect(&first.target(), "a").await;
    let epoch = client.join("r").await["epoch"].as_str().unwrap().to_owned();
    client
        .call("chat:send", json!({"room": "r", "text": "before"}))
        .await;
    drop(client);
    first.kill().await;

    let second = cluster(&prefix, 1, &[]).await.pop().unwrap();
    let mut client = Client::connect(&second.target(), "a").await;
    let joined = client
        .call(
            "room:join",
            json!({"room": "r", "since": 0, "epoch": epoch}),
        )
        .await;
    assert_eq!(
        joined["epoch"],
        epoch.as_str(),
        "Redis kept the room: same epoch"
    );
    assert_eq!(seqs(&joined["history"]), [1]);
    let ack = client
        .call("chat:send", json!({"room": "r", "text": "after"}))
        .await;
    assert_eq!(ack["message"]["seq"], 2);
}
