import { useEffect, useLayoutEffect, useRef, useState, type FormEvent, type KeyboardEvent, type ReactNode } from 'react';
import { isOwnMessage, typingNames, type ChatState, type PendingMessage, type RoomState } from '../state/chat';
import type { Message } from '../state/types';

/** Unsent drafts per room, kept while switching rooms. */
const drafts = new Map<string, string>();

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const fmtTime = (ts: number) => (Number.isFinite(ts) ? timeFmt.format(new Date(ts)) : '');

export function RoomView(props: {
  room: RoomState;
  chat: ChatState;
  connected: boolean;
  onSend: (text: string) => void;
  onInput: (text: string) => void;
  onLeave: () => void;
  onRetry: (clientId: string) => void;
  onDiscard: (clientId: string) => void;
  /** shown under the room (the Socket.IO vs STOMP comparison) */
  children?: ReactNode;
}) {
  const { room, chat } = props;
  const [text, setText] = useState(() => drafts.get(room.name) ?? '');
  const [membersOpen, setMembersOpen] = useState(() => typeof window === 'undefined' || window.innerWidth >= 760);
  const listRef = useRef<HTMLOListElement>(null);
  const stick = useRef(true);
  const inputRef = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    drafts.set(room.name, text);
  }, [room.name, text]);

  // Keep the newest message in view unless the user scrolled up.
  useLayoutEffect(() => {
    const el = listRef.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [room.messages, room.pending]);

  const onScroll = () => {
    const el = listRef.current;
    if (el) stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
  };

  const submit = (e?: FormEvent) => {
    e?.preventDefault();
    if (!text.trim()) return;
    props.onSend(text);
    setText('');
    stick.current = true;
    inputRef.current?.focus();
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      submit();
    }
  };

  const typers = typingNames(room);
  const errorId = `send-error-${room.name}`;

  return (
    <section className="room" aria-label={`Chat in ${room.name}`} data-testid="room" data-room={room.name}>
      <header className="room-head">
        <div className="room-title">
          <h2 data-testid="active-room"># {room.name}</h2>
          <span className="muted small" data-testid="epoch" data-epoch={room.epoch ?? ''}>
            {room.syncing ? 'syncing…' : room.epoch ? `epoch ${shortEpoch(room.epoch)}` : ''}
          </span>
        </div>
        <button type="button" className="secondary" onClick={props.onLeave}>
          Leave
        </button>
      </header>

      <div className="room-body">
        <div className="timeline">
          {room.epochResets > 0 && (
            <p className="notice" data-testid="epoch-notice" data-resets={room.epochResets}>
              The server restarted: this room’s history was reloaded.
            </p>
          )}
          {room.joinError && (
            <p className="error" role="alert" data-testid="join-error">
              Rejoin failed: {room.joinError.code}: {room.joinError.message}
            </p>
          )}
          <ol className="messages" ref={listRef} onScroll={onScroll} data-testid="messages" aria-label="Timeline">
            {room.messages.length === 0 && room.pending.length === 0 && !room.syncing && (
              <li className="placeholder">No messages yet.</li>
            )}
            {room.messages.map((m) => (
              <MessageItem key={`${m.seq}:${m.id}`} m={m} own={isOwnMessage(chat, m)} />
            ))}
            {room.pending.map((p) => (
              <PendingItem
                key={p.clientId}
                p={p}
                name={chat.me?.name ?? ''}
                onRetry={() => props.onRetry(p.clientId)}
                onDiscard={() => props.onDiscard(p.clientId)}
              />
            ))}
          </ol>
          <p className="typing" data-testid="typing" aria-live="polite">
            {typers.length === 0
              ? '\u00a0'
              : typers.length === 1
                ? `${typers[0]} is typing…`
                : `${typers.slice(0, -1).join(', ')} and ${typers.at(-1)} are typing…`}
          </p>
          <form className="composer" onSubmit={submit}>
            <label htmlFor="composer-input" className="sr-only">
              Message
            </label>
            <textarea
              id="composer-input"
              ref={inputRef}
              name="message"
              rows={1}
              placeholder={props.connected ? `Message #${room.name}` : 'Offline: messages are queued'}
              value={text}
              aria-describedby={room.sendError ? errorId : undefined}
              aria-invalid={room.sendError ? true : undefined}
              onChange={(e) => {
                setText(e.target.value);
                props.onInput(e.target.value);
              }}
              onKeyDown={onKeyDown}
            />
            <button type="submit" disabled={!text.trim()}>
              Send
            </button>
            {room.sendError && (
              <p className="error send-error" id={errorId} role="alert" data-testid="send-error" data-code={room.sendError.code}>
                {errorText(room.sendError.code, room.sendError.message)}
              </p>
            )}
          </form>
        </div>

        <details
          className="members"
          open={membersOpen}
          onToggle={(e) => setMembersOpen((e.currentTarget as HTMLDetailsElement).open)}
        >
          <summary>
            Members <span data-testid="member-count" data-count={room.count}>{room.count}</span>
          </summary>
          <ul data-testid="member-list" aria-label="Members">
            {room.members.map((u) => (
              <li key={u.id} data-testid="member" data-user-id={u.id}>
                <span className="avatar" aria-hidden="true">
                  {(u.name[0] ?? '?').toUpperCase()}
                </span>
                <span className="member-name">{u.name}</span>
                {chat.me?.id === u.id && <span className="muted"> (you)</span>}
              </li>
            ))}
          </ul>
        </details>
      </div>
      {props.children}
    </section>
  );
}

function MessageItem({ m, own }: { m: Message; own: boolean }) {
  return (
    <li
      className={`msg${own ? ' own' : ''}`}
      data-testid="message"
      data-seq={m.seq}
      data-status="confirmed"
      data-own={own ? 'true' : 'false'}
      data-client-id={m.clientId}
    >
      <div className="meta">
        <span className="author">{m.from?.name ?? '?'}</span>
        <time dateTime={new Date(m.ts).toISOString()}>{fmtTime(m.ts)}</time>
        <span className="seq" title="sequence number">
          #{m.seq}
        </span>
        {own && (
          <span className="state ok" title="confirmed by the server">
            ✓
          </span>
        )}
      </div>
      <div className="text">{m.text}</div>
    </li>
  );
}

function PendingItem(props: { p: PendingMessage; name: string; onRetry: () => void; onDiscard: () => void }) {
  const { p } = props;
  const label = p.status === 'failed' ? 'not sent' : p.status === 'queued' ? 'queued' : 'sending…';
  return (
    <li
      className={`msg own ${p.status}`}
      data-testid="message"
      data-status={p.status}
      data-own="true"
      data-client-id={p.clientId}
    >
      <div className="meta">
        <span className="author">{props.name}</span>
        <time dateTime={new Date(p.ts).toISOString()}>{fmtTime(p.ts)}</time>
        <span className="state">{label}</span>
      </div>
      <div className="text">{p.text}</div>
      {p.status === 'failed' && (
        <div className="actions">
          <button type="button" className="link" onClick={props.onRetry}>
            Retry
          </button>
          <button type="button" className="link" onClick={props.onDiscard}>
            Discard
          </button>
        </div>
      )}
    </li>
  );
}

function errorText(code: string, message: string): string {
  switch (code) {
    case 'too_large':
      return `Message too long${message ? `: ${message}` : ''} (too_large)`;
    case 'rate_limited':
      return `Slow down: too many messages (rate_limited)`;
    case 'not_in_room':
      return `You are not in this room (not_in_room)`;
    default:
      return `${message || 'Send failed'} (${code})`;
  }
}

function shortEpoch(epoch: string): string {
  return epoch.length > 12 ? `${epoch.slice(0, 8)}…` : epoch;
}
