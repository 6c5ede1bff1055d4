//! The one task that owns the outbound connection: it takes events from the queue in order,
//! SENDs each with a `receipt`, counts an event as published when its RECEIPT arrives, and
//! reconnects with backoff when the connection is lost.
//!
//! Order: one connection and FIFO sending keep each room's events in order on the wire. Events
//! sent without a receipt when a connection drops are sent again, first, on the next one
//! (at-least-once: a subscriber may see such an event twice, in order; `seq` tells).
//! Memory: at most `queue_size` queued plus [`WINDOW`] unconfirmed events.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Shared;
use super::codec::Frame;
use super::connection::{Backoff, Link, LinkError, error_text};
use super::queue::{EventQueue, Outgoing, Throttle};
use super::url::BrokerUrl;

/// Most events sent and not yet confirmed by a RECEIPT.
pub const WINDOW: usize = 256;
/// An event sent on this many connections without a receipt is given up on: it may be what
/// makes the broker close the connection.
const MAX_ATTEMPTS: u32 = 5;
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(5);

pub struct Publisher {
    pub url: BrokerUrl,
    pub node_id: String,
    pub queue: Arc<EventQueue>,
    pub shared: Arc<Shared>,
    /// Cancelled at shutdown: stop (re)connecting; a live connection still flushes.
    pub closing: CancellationToken,
    /// Sent and unconfirmed, by receipt number (ascending = sending order).
    in_flight: BTreeMap<u64, Outgoing>,
    next_receipt: u64,
}

impl Publisher {
    pub fn new(
        url: BrokerUrl,
        node_id: String,
        queue: Arc<EventQueue>,
        shared: Arc<Shared>,
        closing: CancellationToken,
    ) -> Self {
        Self {
            url,
            node_id,
            queue,
            shared,
            closing,
            in_flight: BTreeMap::new(),
            next_receipt: 1,
        }
    }

    /// Runs until shutdown: connect, publish, reconnect.
    pub async fn run(mut self) {
        let mut backoff = Backoff::new();
        let failures = Throttle::new(FAILURE_LOG_EVERY);
        let mut connected_before = false;
        while !self.closing.is_cancelled() {
            let opened = tokio::select! {
                opened = Link::open(&self.url) => opened,
                () = self.closing.cancelled() => break,
            };
            match opened {
                Ok(mut link) => {
                    if connected_before {
                        self.shared.reconnects.fetch_add(1, Ordering::Relaxed);
                    }
                    connected_before = true;
                    backoff.reset();
                    tracing::info!(broker = %self.url.address(), "STOMP bridge connected");
                    self.shared.out_connected.store(true, Ordering::SeqCst);
                    let served = self.serve(&mut link).await;
                    self.shared.out_connected.store(false, Ordering::SeqCst);
                    match served {
                        Ok(()) => {
                            link.disconnect().await;
                            return;
                        }
                        Err(error) => log_failure(&failures, "connection lost", &error),
                    }
                }
                Err(error) => log_failure(&failures, "cannot connect", &error),
            }
            if self.queue.is_closed() {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(backoff.next_delay()) => {}
                () = self.closing.cancelled() => break,
            }
        }
        self.give_up();
    }

    /// Publishes until the queue is closed and drained (Ok) or the link fails (Err).
    async fn serve(&mut self, link: &mut Link) -> Result<(), LinkError> {
        self.resend(link).await?;
        loop {
            self.send_queued(link).await?;
            if self.queue.is_closed() && self.queue.is_empty() && self.in_flight.is_empty() {
                return Ok(());
            }
            let room = self.in_flight.len() < WINDOW;
            tokio::select! {
                frame = link.recv() => self.on_frame(frame?)?,
                () = self.queue.wait(), if room => {}
            }
        }
    }

    /// Sends again, in order, what the previous connection left unconfirmed.
    async fn resend(&mut self, link: &mut Link) -> Result<(), LinkError> {
        let before = self.in_flight.len();
        self.in_flight.retain(|_, event| {
            event.attempts += 1;
            event.attempts <= MAX_ATTEMPTS
        });
        let given_up = before - self.in_flight.len();
        if given_up > 0 {
            self.queue.count_drops(given_up as u64);
        }
        if self.in_flight.is_empty() {
            return Ok(());
        }
        let count = self.in_flight.len() as u64;
        for (receipt, event) in &self.in_flight {
            link.feed(self.send_frame(*receipt, event)).await?;
        }
        link.flush().await?;
        self.shared.resent.fetch_add(count, Ordering::Relaxed);
        tracing::info!(count, "STOMP bridge resent unconfirmed events");
        Ok(())
    }

    /// Sends queued events while the window has room.
    async fn send_queued(&mut self, link: &mut Link) -> Result<(), LinkError> {
        let mut sent = false;
        while self.in_flight.len() < WINDOW {
            let Some(mut event) = self.queue.pop() else {
                break;
            };
            event.attempts = 1;
            let receipt = self.next_receipt;
            self.next_receipt += 1;
            let frame = self.send_frame(receipt, &event);
            self.in_flight.insert(receipt, event);
            self.update_in_flight();
            link.feed(frame).await?;
            sent = true;
        }
        if sent {
            link.flush().await?;
        }
        Ok(())
    }

    fn on_frame(&mut self, frame: Frame) -> Result<(), LinkError> {
        match frame.command.as_str() {
            "RECEIPT" => {
                let receipt = frame.get("receipt-id").and_then(|id| id.parse().ok());
                if receipt.and_then(|id| self.in_flight.remove(&id)).is_some() {
                    self.shared.published.fetch_add(1, Ordering::Relaxed);
                    self.update_in_flight();
                }
                Ok(())
            }
            "ERROR" => {
                // An event the broker refuses must not be resent forever.
                let refused = frame.get("receipt-id").and_then(|id| id.parse().ok());
                if refused.and_then(|id| self.in_flight.remove(&id)).is_some() {
                    self.queue.count_drops(1);
                    self.update_in_flight();
                }
                Err(LinkError::Broker(error_text(&frame)))
            }
            _ => Ok(()),
        }
    }

    fn send_frame(&self, receipt: u64, event: &Outgoing) -> Frame {
        Frame::new("SEND")
            .header("destination", event.destination.clone())
            .header("content-type", "application/json")
            .header("x-switchboard-event", event.event)
            .header("x-switchboard-origin", self.node_id.clone())
            .header("receipt", receipt.to_string())
            .body(event.body.clone())
    }

    fn update_in_flight(&self) {
        self.shared
            .in_flight
            .store(self.in_flight.len() as u64, Ordering::Relaxed);
    }

    /// At shutdown without a connection: what is left is lost; say so.
    fn give_up(&mut self) {
        let lost = self.queue.len() + self.in_flight.len();
        while self.queue.pop().is_some() {}
        self.in_flight.clear();
        self.update_in_flight();
        if lost > 0 {
            tracing::warn!(lost, "STOMP bridge stopped without a broker connection");
            self.queue.count_drops(lost as u64);
        }
    }
}

fn log_failure(throttle: &Throttle, what: &str, error: &LinkError) {
    if let Some(count) = throttle.ready(1) {
        tracing::warn!(%error, failures = count, "STOMP bridge {what}; retrying with backoff");
    }
}
