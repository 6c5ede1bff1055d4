//! The pub/sub driver under socketioxide's Redis adapter. It is the adapter's own driver
//! design on a `ConnectionManager`, which reconnects by itself and re-subscribes every channel
//! afterwards: with the stock driver (one multiplexed connection) a Redis restart left the
//! adapter deaf until the process restarted. A connection manager only notices an outage
//! when a command fails, so a keepalive pings it every second: after Redis comes back the
//! subscriptions return within about a second even on a process that publishes nothing.
//!
//! It also gives the room broadcast a barrier ([`ClusterBarrier`]): a process delivers its own
//! messages to its own sockets at once, while messages of other processes reach those sockets
//! through Redis; so before delivering its message N, a process must have handed message N-1
//! (published earlier by another process, under the room lock) to its adapter. Publishing a
//! token to a channel of its own and waiting for it to come back proves that: Redis delivers
//! one connection's messages in order.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, PushInfo, PushKind};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::{mpsc, oneshot};

use crate::sinks::ClusterBarrier;

type Handlers = Arc<RwLock<HashMap<String, mpsc::Sender<ChanItem>>>>;
type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<()>>>>;

/// How long a barrier may wait for its token before delivering anyway.
const BARRIER_WAIT: Duration = Duration::from_secs(1);

/// How often the keepalive pings the pub/sub connection.
const KEEPALIVE: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct ManagedRedisDriver {
    conn: ConnectionManager,
    handlers: Handlers,
    /// This driver's own barrier channel and the barriers waiting for their token.
    barrier_channel: Arc<str>,
    waiters: Waiters,
    next_token: Arc<AtomicU64>,
    /// The keepalive stops once every clone of the driver is gone.
    _alive: Arc<()>,
}

#[derive(Debug)]
pub struct DriverError(redis::RedisError);

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for DriverError {}

impl From<redis::RedisError> for DriverError {
    fn from(error: redis::RedisError) -> Self {
        Self(error)
    }
}

impl ManagedRedisDriver {
    pub async fn connect(url: &str, barrier_channel: String) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(with_resp3(url))?;
        let handlers: Handlers = Arc::default();
        let waiters: Waiters = Arc::default();
        let barrier_channel: Arc<str> = barrier_channel.into();
        let (route, release, barrier) =
            (handlers.clone(), waiters.clone(), barrier_channel.clone());
        let config = ConnectionManagerConfig::new()
            .set_push_sender(move |push: PushInfo| {
                deliver(push, &route, &barrier, &release);
                Ok::<(), std::convert::Infallible>(())
            })
            .set_automatic_resubscription()
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_max_delay(Duration::from_secs(2));
        let mut conn = ConnectionManager::new_with_config(client, config).await?;
        conn.subscribe(barrier_channel.as_ref()).await?;
        let alive = Arc::new(());
        tokio::spawn(keepalive(conn.clone(), Arc::downgrade(&alive)));
        Ok(Self {
            conn,
            handlers,
            barrier_channel,
            waiters,
            next_token: Arc::default(),
            _alive: alive,
        })
    }

    /// Returns once every message Redis delivered to this process before now has been taken by
    /// the adapter (best effort: gives up after [`BARRIER_WAIT`]).
    async fn catch_up(&self) {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let (arrived, arrival) = oneshot::channel();
        self.lock_waiters().insert(token, arrived);
        let published = redis::cmd("PUBLISH")
            .arg(self.barrier_channel.as_ref())
            .arg(token)
            .query_async::<redis::Value>(&mut self.conn.clone())
            .await;
        let came_back =
            published.is_ok() && tokio::time::timeout(BARRIER_WAIT, arrival).await.is_ok();
        self.lock_waiters().remove(&token);
        if !came_back {
            tracing::debug!("cluster barrier gave up; delivering anyway");
            return;
        }
        // Everything before the token is in the adapter's queues: wait until it took it.
        let started = std::time::Instant::now();
        while self.adapter_queues_busy() && started.elapsed() < BARRIER_WAIT {
            tokio::task::yield_now().await;
        }
    }

    fn adapter_queues_busy(&self) -> bool {
        let handlers = self
            .handlers
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        handlers
            .values()
            .any(|sender| sender.capacity() < sender.max_capacity())
    }

    fn lock_waiters(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<()>>> {
        self.waiters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl ClusterBarrier for ManagedRedisDriver {
    fn catch_up(&self) -> BoxFuture<'_, ()> {
        Box::pin(ManagedRedisDriver::catch_up(self))
    }
}

async fn keepalive(mut conn: ConnectionManager, driver: std::sync::Weak<()>) {
    let mut interval = tokio::time::interval(KEEPALIVE);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while driver.strong_count() > 0 {
        interval.tick().await;
        if let Err(error) = redis::cmd("PING").query_async::<String>(&mut conn).await {
            tracing::debug!(%error, "cluster pub/sub connection down; reconnecting");
        }
    }
}

/// Pub/sub pushes need RESP3.
fn with_resp3(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    }
}

fn deliver(push: PushInfo, handlers: &Handlers, barrier: &str, waiters: &Waiters) {
    if !matches!(push.kind, PushKind::Message | PushKind::SMessage) || push.data.len() < 2 {
        return;
    }
    let mut data = push.data.into_iter();
    let (Some(channel), Some(payload)) = (data.next(), data.next()) else {
        return;
    };
    let (Ok(channel), Ok(payload)) = (
        String::from_redis_value(channel),
        Vec::<u8>::from_redis_value(payload),
    ) else {
        tracing::warn!("unreadable pub/sub message from redis");
        return;
    };
    if channel == barrier {
        let token = std::str::from_utf8(&payload)
            .ok()
            .and_then(|token| token.parse().ok());
        let mut waiters = waiters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(arrived) = token.and_then(|token| waiters.remove(&token)) {
            arrived.send(()).ok();
        }
        return;
    }
    let handlers = handlers
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(sender) = handlers.get(&channel)
        && let Err(error) = sender.try_send((channel, payload))
    {
        tracing::warn!(%error, "cluster message dropped: adapter channel full");
    }
}

impl Driver for ManagedRedisDriver {
    type Error = DriverError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        redis::cmd("PUBLISH")
            .arg(chan)
            .arg(val)
            .query_async::<redis::Value>(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        let (sender, receiver) = mpsc::channel(size);
        self.handlers
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(chan.clone(), sender);
        self.conn.clone().subscribe(chan).await?;
        Ok(MessageStream::new(receiver))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        self.handlers
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&chan);
        self.conn.clone().unsubscribe(chan).await?;
        Ok(())
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        let (_, count): (String, u16) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(chan)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(count)
    }
}
