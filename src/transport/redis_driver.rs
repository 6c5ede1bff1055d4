//! The pub/sub driver under socketioxide's Redis adapter. It is the adapter's own driver
//! design on a `ConnectionManager`, which reconnects by itself and re-subscribes every channel
//! afterwards: with the stock driver (one multiplexed connection) a Redis restart left the
//! adapter deaf until the process restarted. A connection manager only notices an outage
//! when a command fails, so a keepalive pings it every second: after Redis comes back the
//! subscriptions return within about a second even on a process that publishes nothing.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, PushInfo, PushKind};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::mpsc;

type Handlers = Arc<RwLock<HashMap<String, mpsc::Sender<ChanItem>>>>;

/// How often the keepalive pings the pub/sub connection.
const KEEPALIVE: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct ManagedRedisDriver {
    conn: ConnectionManager,
    handlers: Handlers,
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
    pub async fn connect(url: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(with_resp3(url))?;
        let handlers: Handlers = Arc::default();
        let route = handlers.clone();
        let config = ConnectionManagerConfig::new()
            .set_push_sender(move |push: PushInfo| {
                deliver(push, &route);
                Ok::<(), std::convert::Infallible>(())
            })
            .set_automatic_resubscription()
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_max_delay(Duration::from_secs(2));
        let conn = ConnectionManager::new_with_config(client, config).await?;
        let alive = Arc::new(());
        tokio::spawn(keepalive(conn.clone(), Arc::downgrade(&alive)));
        Ok(Self {
            conn,
            handlers,
            _alive: alive,
        })
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

fn deliver(push: PushInfo, handlers: &Handlers) {
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
