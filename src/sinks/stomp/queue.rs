//! The bounded hand-off between chat and the bridge's connection task.
//!
//! Chat must never wait for the broker, so [`EventQueue::push`] only takes a short lock and
//! returns. When the queue is full the OLDEST event is dropped: a late reader of the stream
//! gains more from recent events than from a complete but stale backlog, and the drop count
//! says how much is missing.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Notify;

/// How often at most the drop warning is logged.
const DROP_LOG_EVERY: Duration = Duration::from_secs(5);

/// One event waiting to be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub destination: String,
    /// `x-switchboard-event`.
    pub event: &'static str,
    /// The JSON the Socket.IO clients get.
    pub body: Bytes,
    /// Connections it was sent on without a receipt coming back.
    pub attempts: u32,
}

/// What became of a pushed event.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// Queued, and the oldest event was dropped to make room.
    DroppedOldest,
    /// Refused: the bridge is shutting down.
    Closed,
}

pub struct EventQueue {
    events: Mutex<VecDeque<Outgoing>>,
    capacity: usize,
    ready: Notify,
    closed: AtomicBool,
    dropped: AtomicU64,
    drop_log: Throttle,
}

impl EventQueue {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            events: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
            capacity,
            ready: Notify::new(),
            closed: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            drop_log: Throttle::new(DROP_LOG_EVERY),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Outgoing>> {
        self.events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds `event` at the back, dropping the oldest if full. Never waits.
    pub fn push(&self, event: Outgoing) -> Pushed {
        if self.is_closed() {
            return Pushed::Closed;
        }
        let outcome = {
            let mut events = self.lock();
            let outcome = if events.len() >= self.capacity {
                events.pop_front();
                Pushed::DroppedOldest
            } else {
                Pushed::Queued
            };
            events.push_back(event);
            outcome
        };
        self.ready.notify_one();
        if outcome == Pushed::DroppedOldest {
            self.count_drops(1);
        }
        outcome
    }

    /// Counts events lost for good (full queue, or given up on) and warns now and then.
    pub fn count_drops(&self, count: u64) {
        let total = self.dropped.fetch_add(count, Ordering::Relaxed) + count;
        if let Some(since_last) = self.drop_log.ready(count) {
            tracing::warn!(
                dropped = since_last,
                dropped_total = total,
                capacity = self.capacity,
                "STOMP bridge queue full or broker unreachable: dropping the oldest events"
            );
        }
    }

    pub fn pop(&self) -> Option<Outgoing> {
        self.lock().pop_front()
    }

    /// Resolves once an event may have been pushed since the last `pop` found none, or the
    /// queue was closed. Holds a permit, so a push between `pop` and this call is not missed.
    pub async fn wait(&self) {
        self.ready.notified().await;
    }

    /// Refuses further events and wakes the consumer.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.ready.notify_one();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Lets a repeated log line through at most once per period, with what it summed up meanwhile.
pub struct Throttle {
    period: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl Throttle {
    pub fn new(period: Duration) -> Self {
        Self {
            period,
            state: Mutex::new((None, 0)),
        }
    }

    /// Adds `count`; returns the sum since the last line when a line is due now.
    pub fn ready(&self, count: u64) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.1 += count;
        let due = state.0.is_none_or(|last| last.elapsed() >= self.period);
        if !due {
            return None;
        }
        state.0 = Some(Instant::now());
        Some(std::mem::take(&mut state.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u8) -> Outgoing {
        Outgoing {
            destination: format!("/topic/chat.{n}"),
            event: "chat:message",
            body: Bytes::from(vec![n]),
            attempts: 0,
        }
    }

    #[test]
    fn keeps_fifo_order() {
        let queue = EventQueue::new(10);
        for n in 0..5 {
            assert_eq!(queue.push(event(n)), Pushed::Queued);
        }
        let popped: Vec<u8> = std::iter::from_fn(|| queue.pop())
            .map(|e| e.body[0])
            .collect();
        assert_eq!(popped, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn drops_the_oldest_when_full() {
        let queue = EventQueue::new(3);
        for n in 0..3 {
            assert_eq!(queue.push(event(n)), Pushed::Queued);
        }
        assert_eq!(queue.push(event(3)), Pushed::DroppedOldest);
        assert_eq!(queue.push(event(4)), Pushed::DroppedOldest);
        assert_eq!(queue.len(), 3);
        assert_eq!(queue.dropped(), 2);
        let popped: Vec<u8> = std::iter::from_fn(|| queue.pop())
            .map(|e| e.body[0])
            .collect();
        assert_eq!(popped, [2, 3, 4]);
    }

    #[test]
    fn refuses_after_close() {
        let queue = EventQueue::new(3);
        queue.close();
        assert_eq!(queue.push(event(0)), Pushed::Closed);
        assert!(queue.is_empty());
    }

    #[tokio::test]
    async fn wait_sees_a_push_made_before_it() {
        let queue = EventQueue::new(3);
        assert!(queue.pop().is_none());
        queue.push(event(0));
        tokio::time::timeout(Duration::from_secs(1), queue.wait())
            .await
            .expect("the permit was kept");
    }

    #[test]
    fn throttle_sums_between_lines() {
        let throttle = Throttle::new(Duration::from_secs(3600));
        assert_eq!(throttle.ready(1), Some(1));
        assert_eq!(throttle.ready(2), None);
        assert_eq!(throttle.ready(3), None);
        let throttle = Throttle::new(Duration::ZERO);
        assert_eq!(throttle.ready(4), Some(4));
        assert_eq!(throttle.ready(5), Some(5));
    }
}
