//! The command handlers of the chat contract.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::Mutex as AsyncMutex;

use super::presence::{Departure, Presence};
use super::protocol::{
    HistoryReply, JoinReply, LeaveReply, Message, MessageDraft, PresenceAction, PresenceEvent,
    SendReply, TypingEvent, User,
};
use super::rate_limit::{RateConfig, TokenBucket};
use super::request::{
    HistoryRequest, JoinRequest, LeaveRequest, Limits, SendRequest, TypingRequest,
};
use super::{ConnId, Fanout};
use crate::error::ChatError;
use crate::store::HistoryStore;

/// History returned by `room:join` without `since`, and by `chat:history` without `limit`.
const DEFAULT_HISTORY: usize = 50;
/// Room locks are striped: bounded memory, and one room always maps to the same lock.
const ROOM_LOCK_STRIPES: usize = 64;

/// One connected socket as the chat domain sees it.
pub struct Session {
    pub conn: ConnId,
    pub user: User,
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

pub struct ChatService {
    store: Arc<dyn HistoryStore>,
    fanout: Arc<dyn Fanout>,
    presence: Presence,
    limits: Limits,
    rate: RateConfig,
    /// Held while a room's order matters: store-then-broadcast in `send`, subscribe-then-read
    /// in `join`, so every socket sees a room's messages in `seq` order, none twice or lost.
    room_locks: Vec<AsyncMutex<()>>,
}

impl ChatService {
    pub fn new(
        store: Arc<dyn HistoryStore>,
        fanout: Arc<dyn Fanout>,
        limits: Limits,
        rate: RateConfig,
    ) -> Self {
        Self {
            store,
            fanout,
            presence: Presence::default(),
            limits,
            rate,
            room_locks: (0..ROOM_LOCK_STRIPES)
                .map(|_| AsyncMutex::new(()))
                .collect(),
        }
    }

    pub fn presence(&self) -> &Presence {
        &self.presence
    }

    pub fn open_session(&self, conn: ConnId, user: User) -> Session {
        Session {
            conn,
            user,
            sends: Mutex::new(TokenBucket::new(self.rate)),
            commands: Mutex::new(TokenBucket::new(self.rate)),
        }
    }

    fn room_lock(&self, room: &str) -> &AsyncMutex<()> {
        let mut hasher = DefaultHasher::new();
        room.hash(&mut hasher);
        &self.room_locks[hasher.finish() as usize % ROOM_LOCK_STRIPES]
    }

    fn check_command_rate(&self, session: &Session) -> Result<(), ChatError> {
        if Session::take(&session.commands) {
            Ok(())
        } else {
            Err(ChatError::RateLimited)
        }
    }

    fn check_member(&self, session: &Session, room: &str) -> Result<(), ChatError> {
        if self.presence.is_member(&session.conn, room) {
            Ok(())
        } else {
            Err(ChatError::NotInRoom(room.to_owned()))
        }
    }

    pub async fn join(&self, session: &Session, payload: &Value) -> Result<JoinReply, ChatError> {
        let request = JoinRequest::parse(payload, &self.limits)?;
        self.check_command_rate(session)?;
        let room = request.room;
        let _order = self.room_lock(&room).lock().await;

        if let Some(count) = self.presence.join(&session.conn, &session.user, &room) {
            self.fanout.subscribe(&session.conn, &room).await;
            let event = PresenceEvent {
                room: room.clone(),
                action: PresenceAction::Join,
                user: session.user.clone(),
                count,
            };
            self.fanout.presence(&event, &session.conn).await;
        }

        let epoch = self.store.epoch(&room).await?;
        let history = match request.since {
            Some(since)
                if request
                    .epoch
                    .as_deref()
                    .is_none_or(|theirs| theirs == epoch) =>
            {
                self.store.since(&room, since).await?
            }
            _ => self.store.before(&room, None, DEFAULT_HISTORY).await?,
        };
        Ok(JoinReply {
            members: self.presence.members(&room),
            room,
            epoch,
            history,
        })
    }

    pub async fn leave(&self, session: &Session, payload: &Value) -> Result<LeaveReply, ChatError> {
        let request = LeaveRequest::parse(payload, &self.limits)?;
        self.check_command_rate(session)?;
        let departure = self
            .presence
            .leave(&session.conn, &request.room)
            .ok_or(ChatError::NotInRoom(request.room))?;
        self.fanout
            .unsubscribe(&session.conn, &departure.room)
            .await;
        self.announce_departure(&session.conn, departure).await;
        Ok(LeaveReply {})
    }

    pub async fn send(&self, session: &Session, payload: &Value) -> Result<SendReply, ChatError> {
        let request = SendRequest::parse(payload, &self.limits)?;
        self.check_member(session, &request.room)?;
        if !Session::take(&session.sends) {
            return Err(ChatError::RateLimited);
        }
        let draft = MessageDraft {
            room: request.room,
            from: session.user.clone(),
            text: request.text,
            client_id: request.client_id,
        };
        let message = self.store_and_broadcast(draft).await?;
        Ok(SendReply { message })
    }

    /// A message from outside Socket.IO (the STOMP bridge, the HTTP API): validated like
    /// `chat:send`, stored and broadcast like any other, without a socket, membership or
    /// per-socket rate limit.
    pub async fn post(&self, room: &str, from: User, text: &str) -> Result<Message, ChatError> {
        let request = SendRequest::parse(
            &serde_json::json!({ "room": room, "text": text }),
            &self.limits,
        )?;
        let draft = MessageDraft {
            room: request.room,
            from,
            text: request.text,
            client_id: None,
        };
        self.store_and_broadcast(draft).await
    }

    async fn store_and_broadcast(&self, draft: MessageDraft) -> Result<Message, ChatError> {
        let _order = self.room_lock(&draft.room).lock().await;
        let message = self.store.append(draft).await?;
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
        let limit = request
            .limit
            .unwrap_or(DEFAULT_HISTORY)
            .min(self.limits.history_window);
        let epoch = self.store.epoch(&request.room).await?;
        let messages = match request.after {
            Some(after) => {
                self.store
                    .after(&request.room, after, request.before, limit)
                    .await?
            }
            None => {
                self.store
                    .before(&request.room, request.before, limit)
                    .await?
            }
        };
        Ok(HistoryReply { epoch, messages })
    }

    /// The socket is gone: it leaves every room, and each room hears of it.
    pub async fn close_session(&self, session: &Session) {
        for departure in self.presence.leave_all(&session.conn) {
            self.announce_departure(&session.conn, departure).await;
        }
    }

    async fn announce_departure(&self, conn: &ConnId, departure: Departure) {
        let event = PresenceEvent {
            room: departure.room,
            action: PresenceAction::Leave,
            user: departure.user,
            count: departure.count,
        };
        self.fanout.presence(&event, conn).await;
    }
}
