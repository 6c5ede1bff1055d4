//! Socket.IO namespace `/`: the handshake check, and the handler that hands each contract
//! event's raw payload to the chat service and sends back its ack.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Event, Extension, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use socketioxide_core::adapter::DefinedAdapter;

use super::handshake::{Admitted, Gatekeeper};
use super::payload::Payload;
use super::slow_clients::SlowClients;
use crate::api::metrics::names;
use crate::chat::protocol::events;
use crate::chat::{ChatService, Session};
use crate::error::ChatError;

/// What every handler of one socket needs.
struct Connection {
    chat: Arc<ChatService>,
    session: Session,
    slow_clients: SlowClients,
}

type Conn = Extension<Arc<Connection>>;

/// Registers the chat namespace `/` on `io`.
///
/// Everything a socket needs is set up in the connect middleware, which socketioxide awaits
/// before it acknowledges the connection: its connect handler runs in a task spawned after the
/// acknowledgement, so handlers registered there would miss the events of a client that emits
/// as soon as it is connected.
pub fn register_namespace<A: Adapter + DefinedAdapter>(
    io: &SocketIo<A>,
    chat: Arc<ChatService>,
    gatekeeper: Arc<Gatekeeper>,
    slow_clients: SlowClients,
    node_room: Option<String>,
) -> A::InitRes {
    let admit = move |socket: SocketRef<A>, TryData(auth): TryData<Value>| {
        let chat = chat.clone();
        let gatekeeper = gatekeeper.clone();
        let slow_clients = slow_clients.clone();
        let node_room = node_room.clone();
        async move {
            let auth = auth.unwrap_or(Value::Null);
            let admitted = gatekeeper.admit(&socket.id.to_string(), &auth)?;
            if let Some(node_room) = node_room {
                socket.join(node_room);
            }
            attach(&socket, chat, admitted, slow_clients);
            Ok::<(), ChatError>(())
        }
    };
    let on_connect = async |socket: SocketRef<A>| {
        tracing::debug!(sid = %socket.id, transport = ?socket.transport_type(), "connected");
    };
    io.ns("/", on_connect.with(admit))
}

fn attach<A: Adapter>(
    socket: &SocketRef<A>,
    chat: Arc<ChatService>,
    admitted: Admitted,
    slow_clients: SlowClients,
) {
    let session = chat.open_session(socket.id.to_string(), admitted.user, admitted.allowed_rooms);
    socket.extensions.insert(Arc::new(Connection {
        chat,
        session,
        slow_clients,
    }));

    // One handler that routes by event name: socketioxide keeps the handlers registered with
    // `on` in a hash map per socket, about 330 bytes of every idle connection.
    socket.on_fallback(on_event::<A>);
    socket.on_disconnect(on_disconnect::<A>);
}

/// The first argument of an event. The parser gives the arguments after the event name as
/// an array; a missing or undecodable argument is `null`, which validation refuses.
fn first_argument(data: Result<Payload, impl std::fmt::Display>) -> Value {
    match data.map(|Payload(value)| value) {
        Ok(Value::Array(mut arguments)) if !arguments.is_empty() => arguments.swap_remove(0),
        Ok(Value::Array(_)) => Value::Null,
        Ok(other) => other,
        Err(error) => {
            tracing::debug!(%error, "undecodable event payload");
            Value::Null
        }
    }
}

fn reply<A: Adapter, T: Serialize>(ack: AckSender<A>, event: &str, result: Result<T, ChatError>) {
    let code = result.as_ref().err().map_or("ok", ChatError::code);
    metrics::counter!(names::ACKS, "event" => event.to_owned(), "code" => code).increment(1);
    if let Err(error) = &result {
        match error {
            ChatError::Internal(cause) => tracing::error!(%event, %cause, "command failed"),
            ChatError::Unavailable(cause) => tracing::warn!(%event, %cause, "command failed"),
            other => tracing::debug!(%event, code = other.code(), %other, "command refused"),
        }
    }
    if let Err(error) = ack.send(&crate::error::ack(&result)) {
        tracing::debug!(%event, %error, "ack not delivered");
    }
}

async fn on_event<A: Adapter>(
    socket: SocketRef<A>,
    Event(event): Event,
    Extension(conn): Conn,
    TryData(data): TryData<Payload>,
    ack: AckSender<A>,
) {
    let (chat, session) = (&conn.chat, &conn.session);
    let argument = first_argument(data);
    match event.as_str() {
        events::ROOM_JOIN => reply(ack, &event, chat.join(session, &argument).await),
        events::ROOM_LEAVE => reply(ack, &event, chat.leave(session, &argument).await),
        events::CHAT_SEND => reply(ack, &event, chat.send(session, &argument).await),
        events::CHAT_HISTORY => reply(ack, &event, chat.history(session, &argument).await),
        events::CHAT_TYPING => {
            if let Err(error) = chat.typing(session, &argument).await {
                tracing::debug!(code = error.code(), %error, "chat:typing refused");
            }
        }
        _ => tracing::debug!(sid = %socket.id, %event, "unknown event ignored"),
    }
}

async fn on_disconnect<A: Adapter>(
    socket: SocketRef<A>,
    Extension(conn): Conn,
    reason: DisconnectReason,
) {
    tracing::debug!(sid = %conn.session.conn, ?reason, "disconnected");
    conn.slow_clients.on_disconnect(&socket);
    conn.chat.close_session(&conn.session).await;
}
