// The client's chat state as a pure reducer: no React, no socket, no clock
// (every action that needs the time carries `now`). Unit-tested in chat.test.ts.
import { contiguousHighWater, mergeMessages } from './timeline';
import type { ErrorInfo, Message, PresenceEvent, TypingEvent, User } from './types';

/** How long a typing indicator lives without a refresh (ms). */
export const TYPING_TTL_MS = 6000;

export type PendingStatus = 'pending' | 'queued' | 'failed';

/** An own message the server has not confirmed yet. */
export interface PendingMessage {
  clientId: string;
  text: string;
  ts: number;
  /** pending: sent, waiting for its ack; queued: waits for a connection; failed: refused */
  status: PendingStatus;
  error?: ErrorInfo;
}

export interface RoomState {
  name: string;
  /** null until the first join ack */
  epoch: string | null;
  /** sorted by seq, unique */
  messages: Message[];
  pending: PendingMessage[];
  members: User[];
  count: number;
  unread: number;
  /** user id -> typing entry */
  typing: Record<string, { user: User; until: number }>;
  /** true while a room:join is in flight (first join or rejoin) */
  syncing: boolean;
  /** false until the first successful join ack */
  joined: boolean;
  /** live messages received while syncing, applied after the join ack */
  buffer: Message[];
  /** last send error, shown next to the input */
  sendError: ErrorInfo | null;
  /** last join error */
  joinError: ErrorInfo | null;
  /** how many times the epoch changed under us (server restart, wiped store) */
  epochResets: number;
}

export interface ChatState {
  me: User | null;
  /** joined rooms in the order they were joined */
  order: string[];
  rooms: Record<string, RoomState>;
  active: string | null;
  /** clientIds this tab generated: marks own messages across reconnects */
  ownClientIds: Record<string, true>;
  /** the last refused first join (the room is not kept), shown by the join form */
  joinError: { room: string; error: ErrorInfo } | null;
}

export type ChatAction =
  | { type: 'identity'; me: User }
  | { type: 'restoreOwn'; clientIds: string[] }
  | { type: 'joinStart'; room: string }
  | { type: 'joinAck'; room: string; epoch: string; members: User[]; history: Message[] }
  | { type: 'joinFailed'; room: string; error: ErrorInfo }
  | { type: 'history'; room: string; epoch: string; messages: Message[] }
  | { type: 'leave'; room: string }
  | { type: 'select'; room: string }
  | { type: 'disconnected' }
  | { type: 'message'; message: Message }
  | { type: 'sendStart'; room: string; clientId: string; text: string; ts: number; queued?: boolean }
  | { type: 'sendRetry'; room: string; clientId: string; queued?: boolean }
  | { type: 'sendQueued'; room: string; clientId: string }
  | { type: 'sendAck'; room: string; clientId: string; message: Message }
  | { type: 'sendFailed'; room: string; clientId: string; error: ErrorInfo }
  | { type: 'discardPending'; room: string; clientId: string }
  | { type: 'clearSendError'; room: string }
  | { type: 'presence'; event: PresenceEvent }
  | { type: 'typing'; event: TypingEvent; now: number }
  | { type: 'tick'; now: number };

export const initialChatState: ChatState = {
  me: null,
  order: [],
  rooms: {},
  active: null,
  ownClientIds: {},
  joinError: null,
};

export function newRoom(name: string): RoomState {
  return {
    name,
    epoch: null,
    messages: [],
    pending: [],
    members: [],
    count: 0,
    unread: 0,
    typing: {},
    syncing: true,
    joined: false,
    buffer: [],
    sendError: null,
    joinError: null,
    epochResets: 0,
  };
}

/** What to send with room:join when (re)joining: `since`/`epoch` once known. */
export function rejoinParams(room: RoomState): { room: string; since?: number; epoch?: string } {
  if (room.epoch === null) return { room: room.name };
  return { room: room.name, since: contiguousHighWater(room.messages), epoch: room.epoch };
}

export function isOwnMessage(state: ChatState, m: Message): boolean {
  if (m.clientId !== undefined && state.ownClientIds[m.clientId]) return true;
  return state.me !== null && m.from.id === state.me.id;
}

function withRoom(state: ChatState, name: string, f: (r: RoomState) => RoomState): ChatState {
  const room = state.rooms[name];
  if (!room) return state;
  const next = f(room);
  if (next === room) return state;
  return { ...state, rooms: { ...state.rooms, [name]: next } };
}

/**
 * Applies messages to a room: merge by seq, drop the pending copies they
 * confirm (by clientId), count unread ones (not own, room not active).
 */
function applyMessages(state: ChatState, room: RoomState, incoming: readonly Message[]): RoomState {
  const mine = incoming.filter((m) => m.room === room.name || m.room === undefined);
  const { messages, added } = mergeMessages(room.messages, mine);
  const confirmed = new Set<string>();
  for (const m of mine) if (m.clientId !== undefined) confirmed.add(m.clientId);
  const pending = confirmed.size
    ? room.pending.filter((p) => !confirmed.has(p.clientId))
    : room.pending;
  let unread = room.unread;
  if (state.active !== room.name) {
    for (const m of added) if (!isOwnMessage(state, m)) unread++;
  }
  // A message from someone ends their typing indicator.
  let typing = room.typing;
  for (const m of added) {
    if (typing[m.from.id]) {
      typing = { ...typing };
      delete typing[m.from.id];
    }
  }
  if (messages === room.messages && pending === room.pending && unread === room.unread && typing === room.typing) {
    return room;
  }
  return { ...room, messages, pending, unread, typing };
}

function updatePending(
  room: RoomState,
  clientId: string,
  f: (p: PendingMessage) => PendingMessage,
): RoomState {
  let changed = false;
  const pending = room.pending.map((p) => {
    if (p.clientId !== clientId) return p;
    changed = true;
    return f(p);
  });
  return changed ? { ...room, pending } : room;
}

export function chatReducer(state: ChatState, action: ChatAction): ChatState {
  switch (action.type) {
    case 'identity':
      return { ...state, me: action.me };

    case 'restoreOwn': {
      if (action.clientIds.length === 0) return state;
      const ownClientIds = { ...state.ownClientIds };
      for (const id of action.clientIds) ownClientIds[id] = true;
      return { ...state, ownClientIds };
    }

    case 'joinStart': {
      const existing = state.rooms[action.room];
      if (existing) {
        return withRoom(state, action.room, (r) => ({ ...r, syncing: true, joinError: null }));
      }
      return {
        ...state,
        joinError: null,
        order: [...state.order, action.room],
        rooms: { ...state.rooms, [action.room]: newRoom(action.room) },
        active: action.room,
      };
    }

    case 'joinAck': {
      const room = state.rooms[action.room];
      if (!room) return state; // left meanwhile
      let base: RoomState = {
        ...room,
        members: dedupeUsers(action.members),
        count: action.members.length,
        syncing: false,
        joined: true,
        joinError: null,
        typing: {},
      };
      if (room.epoch !== null && room.epoch !== action.epoch) {
        // New lifetime of the room's sequence: the old seqs mean nothing now.
        base = {
          ...base,
          messages: [],
          unread: 0,
          epochResets: room.epochResets + 1,
        };
      }
      const reset = room.epoch !== null && room.epoch !== action.epoch;
      base = { ...base, epoch: action.epoch, buffer: [] };
      // History first, then what arrived live while the join was in flight.
      let next = applyMessages(state, base, [...action.history, ...room.buffer]);
      // A first join or a reset view starts read: only what is missed on a
      // rejoin within the same epoch counts as unread.
      if ((!room.joined || reset) && next.unread !== 0) next = { ...next, unread: 0 };
      return withRoomValue(state, next);
    }

    case 'joinFailed': {
      const room = state.rooms[action.room];
      if (!room) return state;
      if (!room.joined) {
        // A first join that failed: forget the room, say why.
        return { ...removeRoom(state, action.room), joinError: { room: action.room, error: action.error } };
      }
      return withRoom(state, action.room, (r) => ({ ...r, syncing: false, joinError: action.error }));
    }

    case 'history': {
      const room = state.rooms[action.room];
      if (!room || room.syncing || room.epoch !== action.epoch) return state;
      return withRoomValue(state, applyMessages(state, room, action.messages));
    }

    case 'leave':
      return removeRoom(state, action.room);

    case 'select': {
      if (!state.rooms[action.room]) return state;
      const s = { ...state, active: action.room };
      return withRoom(s, action.room, (r) => (r.unread === 0 ? r : { ...r, unread: 0 }));
    }

    case 'disconnected': {
      const rooms: Record<string, RoomState> = {};
      for (const [name, r] of Object.entries(state.rooms)) {
        rooms[name] = {
          ...r,
          syncing: true,
          typing: {},
          pending: r.pending.map((p) => (p.status === 'pending' ? { ...p, status: 'queued' } : p)),
        };
      }
      return { ...state, rooms };
    }

    case 'message': {
      const m = action.message;
      const room = state.rooms[m.room];
      if (!room) return state;
      if (room.syncing) {
        return withRoom(state, m.room, (r) => ({ ...r, buffer: [...r.buffer, m] }));
      }
      return withRoomValue(state, applyMessages(state, room, [m]));
    }

    case 'sendStart': {
      const s: ChatState = {
        ...state,
        ownClientIds: { ...state.ownClientIds, [action.clientId]: true },
      };
      return withRoom(s, action.room, (r) => ({
        ...r,
        sendError: null,
        pending: [
          ...r.pending,
          {
            clientId: action.clientId,
            text: action.text,
            ts: action.ts,
            status: action.queued ? 'queued' : 'pending',
          },
        ],
      }));
    }

    case 'sendRetry':
      return withRoom(state, action.room, (r) => ({
        ...updatePending(r, action.clientId, (p) => ({
          ...p,
          status: action.queued ? 'queued' : 'pending',
          error: undefined,
        })),
        sendError: null,
      }));

    case 'sendQueued':
      return withRoom(state, action.room, (r) =>
        updatePending(r, action.clientId, (p) => (p.status === 'pending' ? { ...p, status: 'queued' } : p)),
      );

    case 'sendAck': {
      const room = state.rooms[action.room];
      if (!room) return state;
      const msg: Message = { ...action.message, clientId: action.message.clientId ?? action.clientId };
      const dropped = { ...room, pending: room.pending.filter((p) => p.clientId !== action.clientId) };
      if (room.syncing) {
        return withRoomValue(state, { ...dropped, buffer: [...room.buffer, msg] });
      }
      return withRoomValue(state, applyMessages(state, dropped, [msg]));
    }

    case 'sendFailed':
      return withRoom(state, action.room, (r) => ({
        ...updatePending(r, action.clientId, (p) => ({ ...p, status: 'failed', error: action.error })),
        sendError: action.error,
      }));

    case 'discardPending':
      return withRoom(state, action.room, (r) => ({
        ...r,
        pending: r.pending.filter((p) => p.clientId !== action.clientId),
        sendError: null,
      }));

    case 'clearSendError':
      return withRoom(state, action.room, (r) => (r.sendError === null ? r : { ...r, sendError: null }));

    case 'presence': {
      const e = action.event;
      return withRoom(state, e.room, (r) => {
        let members = r.members;
        if (e.action === 'join') {
          if (!members.some((u) => u.id === e.user.id)) members = [...members, e.user];
        } else {
          members = members.filter((u) => u.id !== e.user.id);
        }
        let typing = r.typing;
        if (e.action === 'leave' && typing[e.user.id]) {
          typing = { ...typing };
          delete typing[e.user.id];
        }
        const count = typeof e.count === 'number' && e.count >= 0 ? e.count : members.length;
        return { ...r, members, count, typing };
      });
    }

    case 'typing': {
      const e = action.event;
      if (state.me && e.user.id === state.me.id) return state;
      return withRoom(state, e.room, (r) => {
        const typing = { ...r.typing };
        if (e.typing) typing[e.user.id] = { user: e.user, until: action.now + TYPING_TTL_MS };
        else if (typing[e.user.id]) delete typing[e.user.id];
        else return r;
        return { ...r, typing };
      });
    }

    case 'tick': {
      let changed = false;
      const rooms: Record<string, RoomState> = {};
      for (const [name, r] of Object.entries(state.rooms)) {
        const expired = Object.entries(r.typing).filter(([, t]) => t.until <= action.now);
        if (expired.length === 0) {
          rooms[name] = r;
          continue;
        }
        changed = true;
        const typing = { ...r.typing };
        for (const [id] of expired) delete typing[id];
        rooms[name] = { ...r, typing };
      }
      return changed ? { ...state, rooms } : state;
    }
  }
}

function withRoomValue(state: ChatState, room: RoomState): ChatState {
  if (state.rooms[room.name] === room) return state;
  return { ...state, rooms: { ...state.rooms, [room.name]: room } };
}

function removeRoom(state: ChatState, name: string): ChatState {
  if (!state.rooms[name]) return state;
  const rooms = { ...state.rooms };
  delete rooms[name];
  const idx = state.order.indexOf(name);
  const order = state.order.filter((n) => n !== name);
  let active = state.active;
  if (active === name) {
    active = order.length === 0 ? null : order[Math.min(idx, order.length - 1)];
  }
  let s: ChatState = { ...state, rooms, order, active };
  if (active !== null && active !== state.active) {
    s = withRoom(s, active, (r) => ({ ...r, unread: 0 }));
  }
  return s;
}

function dedupeUsers(users: readonly User[]): User[] {
  const seen = new Set<string>();
  const out: User[] = [];
  for (const u of users) {
    if (!u || seen.has(u.id)) continue;
    seen.add(u.id);
    out.push(u);
  }
  return out;
}

/** Names of the users typing in a room, sorted. */
export function typingNames(room: RoomState): string[] {
  return Object.values(room.typing)
    .map((t) => t.user.name)
    .sort();
}

/**
 * The newest clientIds this tab sent, to save with the session: they keep own
 * messages marked as own after a reload, when the socket id (the guest
 * user's id) has changed.
 */
export function ownClientIdsToSave(state: ChatState, max = 500): string[] {
  return Object.keys(state.ownClientIds).slice(-max);
}

export function totalUnread(state: ChatState): number {
  return state.order.reduce((n, r) => n + (state.rooms[r]?.unread ?? 0), 0);
}
