//! The command handlers of the chat contract.

use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::presence::Memberships;
use super::protocol::{
    HistoryReply, JoinReply, LeaveReply, Message, MessageDraft, PresenceAction, PresenceEvent,
    SendReply, TypingEvent, User,
};
use super::rate_limit::{RateConfig, TokenBucket};
use super::request::{
    HistoryRequest, JoinRequest, LeaveRequest, Limits, SendRequest, TypingRequest,
};
use super::{ConnId, Fanout};
use crate::api::metrics::names;
use crate::auth::room_allowed;
use crate::error::ChatError;
use crate::store::{Departure, HistoryStore, RoomLocks, Roster};

/// History returned by `room:join` without `since`, and by `chat:history` without `limit`.
const DEFAULT_HISTORY: usize = 50;

/// One connected socket as the chat domain sees it.
pub struct Session {
    pub conn: ConnId,
    pub user: User,
    /// Rooms this connection may join (exact names or `prefix*`); None: any room.
    pub allowed_rooms: Option<Vec<String>>,
    sends: Mutex<TokenBucket>,
    /// Join, leave, typing and history share a bucket of their own, so that they neither
    /// flood the server nor eat into the message budget.
    commands: Mutex<TokenBucket>,
}

impl Session {
    fn take(bucket: &Mutex<TokenBucket>) -> bool {
        bucket
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .try_take()
    }
}

/// Where chat state lives: in this process, or shared by a cluster.
#[derive(Clone)]
pub struct Backends {
    pub history: Arc<dyn HistoryStore>,
    pub roster: Arc<dyn Roster>,
    /// Held while a room's order matters: store-then-broadcast in `send`, subscribe-then-read
    /// in `join`, so every socket sees a room's messages in `seq` order, none twice or lost.
    pub locks: Arc<dyn RoomLocks>,
}

/// A roster removal that failed (the store was unavailable) and is retried by `maintain`.
struct PendingDeparture {
    room: String,
    conn: ConnId,
    user: User,
}

pub struct ChatService {
    backends: Backends,
    fanout: Arc<dyn Fanout>,
    memberships: Memberships,
    pending_departures: Mutex<Vec<PendingDeparture>>,
    limits: Limits,
    rate: RateConfig,
}

impl ChatService {
    pub fn new(
        backends: Backends,
        fanout: Arc<dyn Fanout>,
        limits: Limits,
        rate: RateConfig,
    ) -> Self {
        Self {
            backends,
            fanout,
            memberships: Memberships::default(),
            pending_departures: Mutex::default(),
            limits,
            rate,
        }
    }

    pub fn roster(&self) -> &Arc<dyn Roster> {
        &self.backends.roster
    }

    pub fn history_store(&self) -> &Arc<dyn HistoryStore> {
        &self.backends.history
    }

    pub fn open_session(
        &self,
        conn: ConnId,
        user: User,
        allowed_rooms: Option<Vec<String>>,
    ) -> Session {
        Session {
            conn,
            user,
            allowed_rooms,
            sends: Mutex::new(TokenBucket::new(self.rate)),
            commands: Mutex::new(TokenBucket::new(self.rate)),
        }
    }

    fn check_command_rate(&self, session: &Session) -> Result<(), ChatError> {
        if Session::take(&session.commands) {
            Ok(())
        } else {
            metrics::counter!(names::RATE_LIMITED).increment(1);
            Err(ChatError::RateLimited)
        }
    }

    fn check_member(&self, session: &Session, room: &str) -> Result<(), ChatError> {
        if self.memberships.is_member(&session.conn, room) {
            Ok(())
        } else {
            Err(ChatError::NotInRoom(room.to_owned()))
        }
    }

    pub async fn join(&self, session: &Session, payload: &Value) -> Result<JoinReply, ChatError> {
        let request = JoinRequest::parse(payload, &self.limits)?;
        self.check_command_rate(session)?;
        if !room_allowed(&session.allowed_rooms, &request.room) {
            return Err(ChatError::Forbidden(request.room));
        }
        let room = request.room;
        let _order = self.backends.locks.lock(&room).await?;

        if self.memberships.join(&session.conn, &room) {
            let added = self
                .backends
                .roster
                .add(&room, &session.conn, &session.user)
                .await;
            let count = match added {
                Ok(count) => count,
                Err(error) => {
                    self.memberships.leave(&session.conn, &room);
                    return Err(error.into());
                }
            };
            self.fanout.subscribe(&session.conn, &room).await;
            let event = PresenceEvent {
                room: room.clone(),
                action: PresenceAction::Join,
                user: session.user.clone(),
                count,
            };
            self.fanout.presence(&event, &session.conn).await;
        }

        let history = &self.backends.history;
        let epoch = history.epoch(&room).await?;
        let messages = match request.since {
            Some(since)
                if request
                    .epoch
                    .as_deref()
                    .is_none_or(|theirs| theirs == epoch) =>
            {
                history.since(&room, since).await?
            }
            _ => history.before(&room, None, DEFAULT_HISTORY).await?,
        };
        Ok(JoinReply {
            members: self.backends.roster.members(&room).await?,
            room,
            epoch,
            history: messages,
        })
    }

    pub async fn leave(&self, session: &Session, payload: &Value) -> Result<LeaveReply, ChatError> {
        let request = LeaveRequest::parse(payload, &self.limits)?;
        self.check_command_rate(session)?;
        if !self.memberships.leave(&session.conn, &request.room) {
            return Err(ChatError::NotInRoom(request.room));
        }
        self.fanout.unsubscribe(&session.conn, &request.room).await;
        self.depart(request.room, &session.conn, &session.user)
            .await;
        Ok(LeaveReply {})
    }

    pub async fn send(&self, session: &Session, payload: &Value) -> Result<SendReply, ChatError> {
        let started = std::time::Instant::now();
        let request = SendRequest::parse(payload, &self.limits)?;
        self.check_member(session, &request.room)?;
        if !Session::take(&session.sends) {
            metrics::counter!(names::RATE_LIMITED).increment(1);
            return Err(ChatError::RateLimited);
        }
        let draft = MessageDraft {
            room: request.room,
            from: session.user.clone(),
            text: request.text,
            client_id: request.client_id,
        };
        let message = self.store_and_broadcast(draft).await?;
        metrics::counter!(names::MESSAGES_RECEIVED).increment(1);
        metrics::histogram!(names::SEND_DURATION).record(started.elapsed().as_secs_f64());
        Ok(SendReply { message })
    }

    /// A message from outside Socket.IO (the STOMP bridge, the HTTP API): validated like
    /// `chat:send`, stored and broadcast like any other, without a socket, membership or
    /// per-socket rate limit.
    pub async fn post(&self, room: &str, from: User, text: &str) -> Result<Message, ChatError> {
        let payload = serde_json::json!({ "room": room, "text": text });
        let request = SendRequest::parse(&payload, &self.limits)?;
        let draft = MessageDraft {
            room: request.room,
            from,
            text: request.text,
            client_id: None,
        };
        self.store_and_broadcast(draft).await
    }

    async fn store_and_broadcast(&self, draft: MessageDraft) -> Result<Message, ChatError> {
        let _order = self.backends.locks.lock(&draft.room).await?;
        let message = self.backends.history.append(draft).await?;
        self.fanout.message(&message).await;
        Ok(message)
    }

    /// `chat:typing` has no ack: the error is only for logging.
    pub async fn typing(&self, session: &Session, payload: &Value) -> Result<(), ChatError> {
        let request = TypingRequest::parse(payload, &self.limits)?;
        self.check_member(session, &request.room)?;
        self.check_command_rate(session)?;
        let event = TypingEvent {
            room: request.room,
            user: session.user.clone(),
            typing: request.typing,
        };
        self.fanout.typing(&event, &session.conn).await;
        Ok(())
    }

    pub async fn history(
        &self,
        session: &Session,
        payload: &Value,
    ) -> Result<HistoryReply, ChatError> {
        let request = HistoryRequest::parse(payload, &self.limits)?;
        self.check_member(session, &request.room)?;
        self.check_command_rate(session)?;
        self.page(request).await
    }

    /// `chat:history` for a caller outside Socket.IO (the HTTP API): no membership needed.
    pub async fn read_history(&self, payload: &Value) -> Result<HistoryReply, ChatError> {
        self.page(HistoryRequest::parse(payload, &self.limits)?)
            .await
    }

    async fn page(&self, request: HistoryRequest) -> Result<HistoryReply, ChatError> {
        let limit = request
            .limit
            .unwrap_or(DEFAULT_HISTORY)
            .min(self.limits.history_window);
        let history = &self.backends.history;
        let epoch = history.epoch(&request.room).await?;
        let messages = match request.after {
            Some(after) => {
                history
                    .after(&request.room, after, request.before, limit)
                    .await?
            }
            None => history.before(&request.room, request.before, limit).await?,
        };
        Ok(HistoryReply { epoch, messages })
    }

    /// The socket is gone: it leaves every room, and each room hears of it.
    pub async fn close_session(&self, session: &Session) {
        for room in self.memberships.leave_all(&session.conn) {
            self.fanout.unsubscribe(&session.conn, &room).await;
            self.depart(room, &session.conn, &session.user).await;
        }
    }

    /// Periodic upkeep: keeps this process's roster entries alive, announces the departures
    /// of processes that died, and retries removals that failed while the store was down.
    pub async fn maintain(&self) {
        match self.backends.roster.maintain().await {
            Ok(departures) => {
                for departure in departures {
                    self.announce_departure(departure, "").await;
                }
            }
            Err(error) => tracing::warn!(%error, "roster upkeep failed"),
        }
        let pending = std::mem::take(
            &mut *self
                .pending_departures
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        for PendingDeparture { room, conn, user } in pending {
            self.depart(room, &conn, &user).await;
        }
    }

    /// Removes the connection from the room's roster and tells the room; if the store is
    /// unavailable the removal is queued for `maintain`.
    async fn depart(&self, room: String, conn: &ConnId, user: &User) {
        match self.backends.roster.remove(&room, conn).await {
            Ok(count) => {
                let departure = Departure {
                    room,
                    user: user.clone(),
                    count,
                };
                self.announce_departure(departure, conn).await;
            }
            Err(error) => {
                tracing::warn!(%room, %error, "roster removal deferred");
                self.pending_departures
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .push(PendingDeparture {
                        room,
                        conn: conn.clone(),
                        user: user.clone(),
                    });
            }
        }
    }

    async fn announce_departure(&self, departure: Departure, except: &str) {
        let event = PresenceEvent {
            room: departure.room,
            action: PresenceAction::Leave,
            user: departure.user,
            count: departure.count,
        };
        self.fanout.presence(&event, &except.to_owned()).await;
    }
}
