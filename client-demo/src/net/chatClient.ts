// The side-effecting part: owns the socket.io-client socket, turns its events
// into reducer actions and the user's intents into emits. All decisions about
// the timeline live in the pure modules under src/state/.
import { io, type Socket } from 'socket.io-client';
import {
  chatReducer,
  initialChatState,
  rejoinParams,
  ownClientIdsToSave,
  type ChatAction,
  type ChatState,
} from '../state/chat';
import {
  connectionReducer,
  initialConnection,
  type ConnectionAction,
  type ConnectionState,
  type TransportName,
} from '../state/connection';
import { createStore, type Store } from '../state/store';
import { contiguousHighWater, leavesGap } from '../state/timeline';
import {
  idleTyping,
  typingIdleCheck,
  typingInput,
  typingSent,
  type TypingSend,
  type TypingThrottle,
} from '../state/typingThrottle';
import type { Ack, ErrorInfo, HistoryOk, JoinOk, Message, PresenceEvent, SendOk, TypingEvent } from '../state/types';

const ACK_TIMEOUT_MS = 10_000;
/** room:join is retried on a live connection when its ack is this late. */
const JOIN_TIMEOUT_MS = 4_000;
const HISTORY_PAGE = 100;
const SESSION_KEY = 'switchboard.session';

export interface SavedSession {
  name: string;
  rooms: string[];
  active: string | null;
  /** clientIds of own messages, so they stay marked as own after a reload */
  own?: string[];
}

export interface AppConfig {
  [key: string]: unknown;
}

function newClientId(): string {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  // randomUUID needs a secure context; plain http on a LAN address is not one.
  const bytes = new Uint8Array(16);
  if (c && typeof c.getRandomValues === 'function') c.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function errorFrom(err: unknown, fallback: string): ErrorInfo {
  if (err && typeof err === 'object' && 'code' in err) return err as ErrorInfo;
  return { code: 'internal', message: err instanceof Error ? err.message : fallback };
}

export class ChatClient {
  readonly chat: Store<ChatState, ChatAction> = createStore(chatReducer, initialChatState);
  readonly conn: Store<ConnectionState, ConnectionAction> = createStore(connectionReducer, initialConnection);
  config: AppConfig | null = null;

  private socket: Socket | null = null;
  /** bumped on every connect and disconnect: acks from an older one are stale */
  private generation = 0;
  private typing = new Map<string, TypingThrottle>();
  private typingTimer: ReturnType<typeof setInterval> | null = null;
  private backfilling = new Set<string>();
  private serverKickTimer: ReturnType<typeof setTimeout> | null = null;
  private kicks = 0;
  /** observers of every live chat:message with its receive time (the comparison pane) */
  private messageListeners = new Set<(m: Message, receivedAt: number) => void>();

  constructor(private readonly storage: Storage | null = safeSessionStorage()) {
    this.chat.subscribe(() => this.saveSession());
  }

  /** Calls `listener` with every live `chat:message` and the time it arrived. Returns an unsubscribe. */
  onChatMessage(listener: (m: Message, receivedAt: number) => void): () => void {
    this.messageListeners.add(listener);
    return () => this.messageListeners.delete(listener);
  }

  get connected(): boolean {
    return this.socket?.connected ?? false;
  }

  /** The session saved by this tab (name and rooms), restored after a reload. */
  savedSession(): SavedSession | null {
    try {
      const raw = this.storage?.getItem(SESSION_KEY);
      if (!raw) return null;
      const s = JSON.parse(raw) as SavedSession;
      if (typeof s.name !== 'string' || !Array.isArray(s.rooms)) return null;
      return s;
    } catch {
      return null;
    }
  }

  private saveSession(): void {
    const name = this.conn.getState().name;
    if (!this.storage || !name) return;
    const s = this.chat.getState();
    const saved: SavedSession = { name, rooms: s.order, active: s.active, own: ownClientIdsToSave(s) };
    try {
      this.storage.setItem(SESSION_KEY, JSON.stringify(saved));
    } catch {
      /* storage full or disabled: no restore after reload */
    }
  }

  /** Fetches the optional /config.json (a 404 or bad JSON is ignored). */
  async loadConfig(fetchImpl: typeof fetch = fetch): Promise<AppConfig | null> {
    try {
      const res = await fetchImpl('/config.json', { headers: { accept: 'application/json' } });
      if (!res.ok) return null;
      const json: unknown = await res.json();
      this.config = json && typeof json === 'object' ? (json as AppConfig) : null;
    } catch {
      this.config = null;
    }
    return this.config;
  }

  signIn(
    name: string,
    forced: TransportName | null,
    restoreRooms: string[] = [],
    active: string | null = null,
    own: string[] = [],
  ): void {
    this.signOut(false);
    this.conn.dispatch({ type: 'start', name, forced });
    this.chat.dispatch({ type: 'restoreOwn', clientIds: own });
    for (const room of restoreRooms) this.chat.dispatch({ type: 'joinStart', room });
    if (active && this.chat.getState().rooms[active]) this.chat.dispatch({ type: 'select', room: active });

    const transports: TransportName[] = forced ? [forced] : ['polling', 'websocket'];
    const socket = io({
      path: '/socket.io/',
      auth: { name },
      transports,
      upgrade: forced === null,
      reconnection: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 3000,
      randomizationFactor: 0.3,
      timeout: 5000,
    });
    this.socket = socket;
    this.kicks = 0;

    const manager = socket.io;
    manager.on('open', () => {
      const engine = manager.engine;
      this.conn.dispatch({ type: 'transport', transport: engine.transport.name });
      engine.on('upgrade', (t: { name: string }) => {
        if (this.socket === socket) this.conn.dispatch({ type: 'transport', transport: t.name });
      });
    });
    manager.on('reconnect_attempt', (attempt) => {
      if (this.socket === socket) this.conn.dispatch({ type: 'attempt', attempt });
    });

    socket.on('connect', () => {
      if (this.socket !== socket) return;
      this.generation++;
      this.kicks = 0;
      this.conn.dispatch({
        type: 'connected',
        socketId: socket.id ?? '',
        transport: manager.engine?.transport?.name ?? null,
      });
      this.chat.dispatch({ type: 'identity', me: { id: socket.id ?? '', name } });
      // First connect: join the rooms restored from the session (if any).
      // Every later connect: rejoin every room with since + epoch.
      for (const room of this.chat.getState().order) this.emitJoin(room);
    });

    socket.on('connect_error', (err: Error) => {
      if (this.socket !== socket) return;
      this.conn.dispatch({ type: 'connectError', message: err.message, willRetry: socket.active });
    });

    socket.on('disconnect', (reason) => {
      if (this.socket !== socket) return;
      this.generation++;
      this.backfilling.clear();
      this.conn.dispatch({ type: 'disconnected', reason });
      this.chat.dispatch({ type: 'disconnected' });
      if (reason === 'io server disconnect') {
        // The server closed our session (e.g. it is shutting down): socket.io
        // does not reconnect by itself then, so try again with a backoff.
        const delay = Math.min(500 * 2 ** this.kicks++, 5000);
        this.serverKickTimer = setTimeout(() => {
          if (this.socket === socket && !socket.connected) socket.connect();
        }, delay);
      }
    });

    socket.on('chat:message', (m: Message) => {
      const receivedAt = Date.now();
      for (const listener of [...this.messageListeners]) listener(m, receivedAt);
      this.onMessage(m);
    });
    socket.on('room:presence', (event: PresenceEvent) => this.chat.dispatch({ type: 'presence', event }));
    socket.on('chat:typing', (event: TypingEvent) =>
      this.chat.dispatch({ type: 'typing', event, now: Date.now() }),
    );

    if (this.typingTimer === null) {
      this.typingTimer = setInterval(() => this.onTimer(), 1000);
    }
  }

  signOut(clear = true): void {
    if (this.serverKickTimer) clearTimeout(this.serverKickTimer);
    this.serverKickTimer = null;
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.removeAllListeners();
      socket.io.removeAllListeners();
      socket.disconnect();
    }
    if (this.typingTimer !== null) clearInterval(this.typingTimer);
    this.typingTimer = null;
    this.typing.clear();
    this.backfilling.clear();
    this.generation++;
    if (clear) {
      try {
        this.storage?.removeItem(SESSION_KEY);
      } catch {
        /* ignore */
      }
      this.conn.dispatch({ type: 'signOut' });
      // Reset the chat state by leaving every room locally.
      for (const room of [...this.chat.getState().order]) this.chat.dispatch({ type: 'leave', room });
    }
  }

  join(room: string): void {
    room = room.trim();
    if (!room) return;
    if (this.chat.getState().rooms[room]) {
      this.select(room);
      return;
    }
    this.chat.dispatch({ type: 'joinStart', room });
    if (this.connected) this.emitJoin(room);
  }

  leave(room: string): void {
    this.stopTyping(room);
    this.typing.delete(room);
    this.chat.dispatch({ type: 'leave', room });
    if (this.connected) this.socket?.emit('room:leave', { room }, () => {});
  }

  select(room: string): void {
    this.chat.dispatch({ type: 'select', room });
  }

  send(room: string, text: string): void {
    if (!text.trim()) return;
    const r = this.chat.getState().rooms[room];
    if (!r) return;
    this.stopTyping(room);
    const clientId = newClientId();
    const ready = this.connected && !r.syncing;
    this.chat.dispatch({ type: 'sendStart', room, clientId, text, ts: Date.now(), queued: !ready });
    if (ready) this.emitSend(room, clientId, text);
  }

  retry(room: string, clientId: string): void {
    const r = this.chat.getState().rooms[room];
    const p = r?.pending.find((x) => x.clientId === clientId);
    if (!r || !p) return;
    const ready = this.connected && !r.syncing;
    this.chat.dispatch({ type: 'sendRetry', room, clientId, queued: !ready });
    if (ready) this.emitSend(room, clientId, p.text);
  }

  discard(room: string, clientId: string): void {
    this.chat.dispatch({ type: 'discardPending', room, clientId });
  }

  clearSendError(room: string): void {
    this.chat.dispatch({ type: 'clearSendError', room });
  }

  /** The message input changed. */
  inputChanged(room: string, text: string): void {
    const prev = this.typing.get(room) ?? idleTyping;
    const [next, send] = typingInput(prev, Date.now(), text.trim().length > 0);
    this.typing.set(room, next);
    this.emitTyping(room, send, send === true && prev.typing);
  }

  private stopTyping(room: string): void {
    const cur = this.typing.get(room);
    if (!cur) return;
    const [next, send] = typingSent(cur);
    this.typing.set(room, next);
    this.emitTyping(room, send);
  }

  /**
   * A refresh of "still typing" is volatile: worthless once late, never buffered. A change
   * (started or stopped typing) is not: socket.io-client drops a volatile packet while the
   * transport is busy (a long-polling POST in flight), which would leave the others showing
   * the wrong state until the indicator expires.
   */
  private emitTyping(room: string, send: TypingSend, refresh = false): void {
    if (send === null || !this.socket?.connected) return;
    const target = refresh ? this.socket.volatile : this.socket;
    target.emit('chat:typing', { room, typing: send });
  }

  private onTimer(): void {
    const now = Date.now();
    for (const [room, s] of this.typing) {
      const [next, send] = typingIdleCheck(s, now);
      if (next !== s) this.typing.set(room, next);
      this.emitTyping(room, send);
    }
    this.chat.dispatch({ type: 'tick', now });
  }

  private emitJoin(room: string): void {
    const socket = this.socket;
    const r = this.chat.getState().rooms[room];
    if (!socket || !r) return;
    const gen = this.generation;
    const params = rejoinParams(r);
    this.chat.dispatch({ type: 'joinStart', room });
    socket.timeout(JOIN_TIMEOUT_MS).emit('room:join', params, (err: Error | null, res: Ack<JoinOk>) => {
      if (gen !== this.generation || this.socket !== socket) return; // a later connect rejoins
      if (err) {
        // No answer in time on a live connection: try again.
        if (socket.connected) this.emitJoin(room);
        return;
      }
      if (!res || typeof res !== 'object') {
        this.chat.dispatch({ type: 'joinFailed', room, error: { code: 'internal', message: 'bad join ack' } });
        return;
      }
      if (!res.ok) {
        this.chat.dispatch({ type: 'joinFailed', room, error: errorFrom(res.error, 'join refused') });
        return;
      }
      this.chat.dispatch({
        type: 'joinAck',
        room,
        epoch: String(res.epoch),
        members: Array.isArray(res.members) ? res.members : [],
        history: Array.isArray(res.history) ? res.history : [],
      });
      this.flushQueued(room);
    });
  }

  /** Sends the messages written while the room was not connected. */
  private flushQueued(room: string): void {
    const r = this.chat.getState().rooms[room];
    if (!r || !this.connected) return;
    for (const p of r.pending) {
      if (p.status !== 'queued') continue;
      this.chat.dispatch({ type: 'sendRetry', room, clientId: p.clientId });
      this.emitSend(room, p.clientId, p.text);
    }
  }

  private emitSend(room: string, clientId: string, text: string): void {
    const socket = this.socket;
    if (!socket) return;
    const gen = this.generation;
    socket
      .timeout(ACK_TIMEOUT_MS)
      .emit('chat:send', { room, text, clientId }, (err: Error | null, res: Ack<SendOk>) => {
        if (this.socket !== socket) return;
        if (gen !== this.generation || (err && !socket.connected)) {
          // The connection dropped before the ack: the rejoin history tells
          // whether it was stored; if not, it is sent again after the rejoin.
          this.chat.dispatch({ type: 'sendQueued', room, clientId });
          return;
        }
        if (err) {
          this.chat.dispatch({
            type: 'sendFailed',
            room,
            clientId,
            error: { code: 'timeout', message: 'no answer from the server' },
          });
          return;
        }
        if (res && res.ok) {
          this.chat.dispatch({ type: 'sendAck', room, clientId, message: res.message });
        } else {
          this.chat.dispatch({
            type: 'sendFailed',
            room,
            clientId,
            error: errorFrom(res && !res.ok ? res.error : null, 'send refused'),
          });
        }
      });
  }

  private onMessage(m: Message): void {
    if (!m || typeof m !== 'object' || typeof m.room !== 'string') return;
    const r = this.chat.getState().rooms[m.room];
    const gap = r !== undefined && !r.syncing && leavesGap(r.messages, m.seq);
    this.chat.dispatch({ type: 'message', message: m });
    if (gap) this.backfill(m.room);
  }

  /** A live message skipped some seqs: fetch what lies between. */
  private backfill(room: string, rounds = 0): void {
    const socket = this.socket;
    const r = this.chat.getState().rooms[room];
    if (!socket || !r || r.syncing || r.epoch === null || this.backfilling.has(room) || rounds > 20) return;
    const after = contiguousHighWater(r.messages);
    this.backfilling.add(room);
    const gen = this.generation;
    socket
      .timeout(ACK_TIMEOUT_MS)
      .emit('chat:history', { room, after, limit: HISTORY_PAGE }, (err: Error | null, res: Ack<HistoryOk>) => {
        this.backfilling.delete(room);
        if (gen !== this.generation || this.socket !== socket || err || !res?.ok) return;
        const messages = Array.isArray(res.messages) ? res.messages : [];
        this.chat.dispatch({ type: 'history', room, epoch: String(res.epoch), messages });
        const now = this.chat.getState().rooms[room];
        if (now && messages.length > 0 && contiguousHighWater(now.messages) < now.messages.at(-1)!.seq) {
          this.backfill(room, rounds + 1);
        }
      });
  }
}

function safeSessionStorage(): Storage | null {
  try {
    return typeof sessionStorage === 'undefined' ? null : sessionStorage;
  } catch {
    return null;
  }
}
