import { useState, type FormEvent } from 'react';
import type { ChatState } from '../state/chat';

export function Rooms(props: { chat: ChatState; onJoin: (room: string) => void; onSelect: (room: string) => void }) {
  const [room, setRoom] = useState('');
  const trimmed = room.trim();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!trimmed) return;
    props.onJoin(trimmed);
    setRoom('');
  };
  const { chat } = props;
  return (
    <nav className="rooms" aria-label="Rooms">
      <form className="join" onSubmit={submit}>
        <label htmlFor="join-room">Room</label>
        <div className="row">
          <input
            id="join-room"
            name="room"
            maxLength={64}
            placeholder="e.g. lobby"
            value={room}
            onChange={(e) => setRoom(e.target.value)}
          />
          <button type="submit" disabled={!trimmed}>
            Join
          </button>
        </div>
        {chat.joinError && (
          <p className="error" role="alert" data-testid="join-error" data-code={chat.joinError.error.code}>
            Could not join “{chat.joinError.room}”: {chat.joinError.error.message || chat.joinError.error.code} (
            {chat.joinError.error.code})
          </p>
        )}
      </form>
      <ul className="room-list" role="tablist" aria-label="Joined rooms">
        {chat.order.map((name) => {
          const r = chat.rooms[name];
          const selected = chat.active === name;
          return (
            <li key={name} role="presentation">
              <button
                type="button"
                role="tab"
                aria-selected={selected}
                className={`room-tab${selected ? ' selected' : ''}`}
                data-testid="room-tab"
                data-room={name}
                onClick={() => props.onSelect(name)}
              >
                <span className="room-name"># {name}</span>
                {r.syncing && <span className="syncing" title="syncing" aria-label="syncing">…</span>}
                {r.unread > 0 && (
                  <span className="badge" data-testid="unread" aria-label={`${r.unread} unread`}>
                    {r.unread > 99 ? '99+' : r.unread}
                  </span>
                )}
              </button>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}
