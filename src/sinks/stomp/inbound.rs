//! Inbound: chat messages posted by other systems through the broker.
//!
//! A second connection SUBSCRIBEs to the inbound destination (default
//! `/queue/switchboard.inbound`, a durable queue shared by every node: competing consumers)
//! with `ack:client-individual` and a RabbitMQ `prefetch-count`. Each MESSAGE carries a `room`
//! header and a JSON body `{ "text": string, "from"?: string }`; it becomes a real chat message
//! from `User { id: "stomp:<from or broker>", name: <from or STOMP> }` and is then ACKed, so a
//! message is never lost if this node dies before posting it (it is redelivered instead).
//!
//! A frame that cannot become a message (no room header, body not JSON, no text, refused by
//! chat validation) is NACKed with `requeue:false`: RabbitMQ then drops it, or dead-letters it
//! when the queue has a dead-letter exchange (e.g. a policy setting `dead-letter-exchange` on
//! `switchboard.inbound`), which is how to keep rejects for inspection. A frame whose
//! `x-switchboard-origin` is this node's id is ACKed and ignored, so a broker routing our own
//! output back to us cannot make a loop.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::codec::Frame;
use super::connection::{Backoff, Link, LinkError, error_text};
use super::queue::Throttle;
use super::url::BrokerUrl;
use crate::chat::ChatService;
use crate::chat::protocol::User;

/// Unacknowledged messages the broker may push to us at once.
const PREFETCH: u32 = 32;
/// Longest `from`, like a Socket.IO user name.
const MAX_FROM_CHARS: usize = 64;
const LOG_EVERY: Duration = Duration::from_secs(5);
const SUBSCRIPTION_ID: &str = "switchboard-inbound";

/// What to do with one inbound MESSAGE.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Post {
        room: String,
        from: User,
        text: String,
    },
    /// Our own output came back: acknowledge and ignore.
    OwnEcho,
    Reject(String),
}

#[derive(Deserialize)]
struct Body {
    text: String,
    #[serde(default)]
    from: Option<String>,
}

/// Reads a MESSAGE frame (pure, so it is tested without a broker).
pub fn decide(frame: &Frame, node_id: &str) -> Decision {
    if frame.get("x-switchboard-origin") == Some(node_id) {
        return Decision::OwnEcho;
    }
    let Some(room) = frame.get("room") else {
        return Decision::Reject("no room header".into());
    };
    let body: Body = match serde_json::from_slice(&frame.body) {
        Ok(body) => body,
        Err(error) => {
            return Decision::Reject(format!("body is not {{\"text\": string}}: {error}"));
        }
    };
    let from = match body.from.as_deref().map(str::trim) {
        None => User {
            id: "stomp:broker".into(),
            name: "STOMP".into(),
        },
        Some(name) if valid_from(name) => User {
            id: format!("stomp:{name}"),
            name: name.to_owned(),
        },
        Some(_) => return Decision::Reject("from must be 1..64 characters".into()),
    };
    Decision::Post {
        room: room.to_owned(),
        from,
        text: body.text,
    }
}

fn valid_from(name: &str) -> bool {
    let chars = name.chars().count();
    (1..=MAX_FROM_CHARS).contains(&chars) && !name.chars().any(char::is_control)
}

pub struct Consumer {
    pub url: BrokerUrl,
    pub destination: String,
    pub node_id: String,
    pub chat: Arc<ChatService>,
    pub shared: Arc<Shared>,
    pub stop: CancellationToken,
    pub rejects: Throttle,
}

impl Consumer {
    /// Runs until `stop`: connect, subscribe, consume, reconnect.
    pub async fn run(self) {
        let mut backoff = Backoff::new();
        let failures = Throttle::new(LOG_EVERY);
        let mut connected_before = false;
        while !self.stop.is_cancelled() {
            let opened = tokio::select! {
                opened = Link::open(&self.url) => opened,
                () = self.stop.cancelled() => return,
            };
            let error = match opened {
                Ok(mut link) => {
                    if connected_before {
                        self.shared.reconnects.fetch_add(1, Ordering::Relaxed);
                    }
                    connected_before = true;
                    backoff.reset();
                    self.shared.in_connected.store(true, Ordering::SeqCst);
                    let served = self.serve(&mut link).await;
                    self.shared.in_connected.store(false, Ordering::SeqCst);
                    match served {
                        Ok(()) => {
                            link.disconnect().await;
                            return;
                        }
                        Err(error) => error,
                    }
                }
                Err(error) => error,
            };
            if let Some(count) = failures.ready(1) {
                tracing::warn!(%error, failures = count, "STOMP inbound connection failed; retrying with backoff");
            }
            tokio::select! {
                () = tokio::time::sleep(backoff.next_delay()) => {}
                () = self.stop.cancelled() => return,
            }
        }
    }

    /// Consumes until `stop` (Ok) or the link fails (Err).
    async fn serve(&self, link: &mut Link) -> Result<(), LinkError> {
        link.send(
            Frame::new("SUBSCRIBE")
                .header("id", SUBSCRIPTION_ID)
                .header("destination", self.destination.clone())
                .header("ack", "client-individual")
                .header("prefetch-count", PREFETCH.to_string()),
        )
        .await?;
        tracing::info!(destination = %self.destination, "STOMP inbound subscribed");
        loop {
            let frame = tokio::select! {
                frame = link.recv() => frame?,
                () = self.stop.cancelled() => return Ok(()),
            };
            match frame.command.as_str() {
                "MESSAGE" => self.handle(link, &frame).await?,
                "ERROR" => return Err(LinkError::Broker(error_text(&frame))),
                _ => {}
            }
        }
    }

    async fn handle(&self, link: &mut Link, frame: &Frame) -> Result<(), LinkError> {
        let outcome = match decide(frame, &self.node_id) {
            Decision::OwnEcho => Ok(false),
            Decision::Reject(reason) => Err(reason),
            Decision::Post { room, from, text } => self
                .chat
                .post(&room, from, &text)
                .await
                .map(|_| true)
                .map_err(|error| format!("chat refused it: {error}")),
        };
        let ack_id = frame
            .get("ack")
            .or_else(|| frame.get("message-id"))
            .unwrap_or_default()
            .to_owned();
        match outcome {
            Ok(posted) => {
                if posted {
                    self.shared.inbound.fetch_add(1, Ordering::Relaxed);
                }
                link.send(Frame::new("ACK").header("id", ack_id)).await
            }
            Err(reason) => {
                self.shared.inbound_rejected.fetch_add(1, Ordering::Relaxed);
                if let Some(count) = self.rejects.ready(1) {
                    tracing::warn!(%reason, rejected = count, "STOMP inbound message rejected");
                }
                link.send(
                    Frame::new("NACK")
                        .header("id", ack_id)
                        .header("requeue", "false"),
                )
                .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(room: Option<&str>, body: &str) -> Frame {
        let mut frame = Frame::new("MESSAGE").header("ack", "1");
        if let Some(room) = room {
            frame = frame.header("room", room);
        }
        frame.body(body.as_bytes().to_vec())
    }

    #[test]
    fn posts_with_and_without_from() {
        assert_eq!(
            decide(&message(Some("r"), r#"{"text":"hi","from":"bot"}"#), "n1"),
            Decision::Post {
                room: "r".into(),
                from: User {
                    id: "stomp:bot".into(),
                    name: "bot".into()
                },
                text: "hi".into()
            }
        );
        match decide(&message(Some("r"), r#"{"text":"hi","extra":1}"#), "n1") {
            Decision::Post { from, .. } => {
                assert_eq!(
                    (from.id.as_str(), from.name.as_str()),
                    ("stomp:broker", "STOMP")
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_bad_frames() {
        for (room, body) in [
            (None, r#"{"text":"hi"}"#),
            (Some("r"), "not json"),
            (Some("r"), r#"{"from":"x"}"#),
            (Some("r"), r#"{"text":5}"#),
            (Some("r"), r#"{"text":"hi","from":""}"#),
            (Some("r"), r#"{"text":"hi","from":7}"#),
        ] {
            assert!(
                matches!(decide(&message(room, body), "n1"), Decision::Reject(_)),
                "{room:?} {body}"
            );
        }
    }

    #[test]
    fn ignores_own_echo() {
        let frame = message(Some("r"), r#"{"text":"hi"}"#).header("x-switchboard-origin", "n1");
        assert_eq!(decide(&frame, "n1"), Decision::OwnEcho);
        assert!(matches!(decide(&frame, "n2"), Decision::Post { .. }));
    }
}
