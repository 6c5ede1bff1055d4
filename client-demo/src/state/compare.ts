// The Socket.IO vs STOMP comparison pane as a pure reducer: the same chat messages of the
// current room arrive over both paths; they are matched by message `id`, and each path's
// latency is its receive time minus the message's `ts` (the server's clock, in ms).
import type { ConnectionState } from './connection';
import type { Message } from './types';
import { DEFAULT_CHAT_PREFIX } from './routingKey';

export type PathName = 'socketio' | 'stomp';
export const PATHS: readonly PathName[] = ['socketio', 'stomp'];

/** Rows kept per room (older ones are dropped, and leave the stats). */
export const MAX_ROWS = 200;

export interface CompareConfig {
  url: string;
  login: string;
  passcode: string;
  chatPrefix: string;
}

/** The pane's settings from /config.json, or null when the bridge is off (or the file is unusable). */
export function parseCompareConfig(config: unknown): CompareConfig | null {
  if (!config || typeof config !== 'object') return null;
  const c = config as Record<string, unknown>;
  const url = c.webStompUrl;
  if (typeof url !== 'string' || url.trim() === '') return null;
  const str = (v: unknown, fallback: string) => (typeof v === 'string' && v !== '' ? v : fallback);
  return {
    url: url.trim(),
    login: str(c.webStompLogin, 'guest'),
    passcode: str(c.webStompPasscode, 'guest'),
    chatPrefix: str(c.stompChatPrefix, DEFAULT_CHAT_PREFIX),
  };
}

export interface Arrival {
  /** local receive time, ms since the epoch */
  at: number;
  /** at - message.ts, whole ms */
  latency: number;
}

export interface CompareRow {
  id: string;
  seq: number;
  ts: number;
  from: string;
  text: string;
  socketio?: Arrival;
  stomp?: Arrival;
}

export type StompPhase = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'error';

export interface StompStatus {
  phase: StompPhase;
  url: string | null;
  /** failed connection attempts since the last successful connect */
  attempt: number;
  error: string | null;
}

export interface Subscription {
  room: string;
  destination: string;
  /** true once the broker confirmed the SUBSCRIBE (receipt): from then on nothing is missed */
  active: boolean;
}

export interface CompareState {
  /** /config.json said the bridge is on */
  enabled: boolean;
  /** the room being compared (the app's current room) */
  room: string | null;
  /** since when this room is compared (ms since the epoch) */
  since: number | null;
  rows: CompareRow[];
  stomp: StompStatus;
  subscription: Subscription | null;
  /** STOMP frames that could not be read as a chat message */
  badFrames: number;
}

export type CompareAction =
  | { type: 'configured'; enabled: boolean; url: string | null }
  | { type: 'room'; room: string | null; now: number }
  | { type: 'received'; path: PathName; message: Message; at: number }
  | { type: 'stompConnecting' }
  | { type: 'stompConnected' }
  | { type: 'stompClosed'; error?: string | null }
  | { type: 'stompError'; error: string }
  | { type: 'stompStopped' }
  | { type: 'subscribing'; room: string; destination: string }
  | { type: 'subscribed'; destination: string }
  | { type: 'badFrame' };

export const initialCompare: CompareState = {
  enabled: false,
  room: null,
  since: null,
  rows: [],
  stomp: { phase: 'idle', url: null, attempt: 0, error: null },
  subscription: null,
  badFrames: 0,
};

export function isChatMessage(m: unknown): m is Message {
  if (!m || typeof m !== 'object') return false;
  const x = m as Record<string, unknown>;
  return (
    typeof x.id === 'string' &&
    typeof x.room === 'string' &&
    typeof x.seq === 'number' &&
    typeof x.ts === 'number' &&
    Number.isFinite(x.ts) &&
    typeof x.text === 'string'
  );
}

/** Parses a STOMP frame body: the exact JSON the Socket.IO clients get, or null. */
export function parseStompBody(body: string): Message | null {
  try {
    const m: unknown = JSON.parse(body);
    return isChatMessage(m) ? m : null;
  } catch {
    return null;
  }
}

function byNewest(a: CompareRow, b: CompareRow): number {
  return b.seq - a.seq || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function receive(s: CompareState, path: PathName, m: Message, at: number): CompareState {
  if (!s.enabled || s.room === null || m.room !== s.room) return s;
  const arrival: Arrival = { at, latency: Math.round(at - m.ts) };
  const i = s.rows.findIndex((r) => r.id === m.id);
  if (i >= 0) {
    if (s.rows[i][path]) return s; // a duplicate on the same path: the first arrival counts
    const rows = s.rows.slice();
    rows[i] = { ...rows[i], [path]: arrival };
    return { ...s, rows };
  }
  const row: CompareRow = {
    id: m.id,
    seq: m.seq,
    ts: m.ts,
    from: m.from?.name ?? '?',
    text: m.text,
    [path]: arrival,
  };
  const rows = [row, ...s.rows].sort(byNewest).slice(0, MAX_ROWS);
  return { ...s, rows };
}

export function compareReducer(s: CompareState, a: CompareAction): CompareState {
  switch (a.type) {
    case 'configured':
      return { ...initialCompare, enabled: a.enabled, room: s.room, since: s.since, stomp: { ...initialCompare.stomp, url: a.url } };
    case 'room':
      if (a.room === s.room) return s;
      return { ...s, room: a.room, since: a.room === null ? null : a.now, rows: [], subscription: null };
    case 'received':
      return receive(s, a.path, a.message, a.at);
    case 'stompConnecting':
      return { ...s, stomp: { ...s.stomp, phase: s.stomp.phase === 'idle' ? 'connecting' : s.stomp.phase } };
    case 'stompConnected':
      return { ...s, stomp: { ...s.stomp, phase: 'connected', attempt: 0, error: null } };
    case 'stompClosed':
      // The socket closed: the client retries by itself; subscriptions are gone with it.
      if (s.stomp.phase === 'idle') return s;
      return {
        ...s,
        stomp: { ...s.stomp, phase: 'reconnecting', attempt: s.stomp.attempt + 1, error: a.error ?? s.stomp.error },
        subscription: s.subscription && { ...s.subscription, active: false },
      };
    case 'stompError':
      return { ...s, stomp: { ...s.stomp, phase: s.stomp.phase === 'idle' ? 'idle' : 'error', error: a.error } };
    case 'stompStopped':
      return { ...s, stomp: { ...s.stomp, phase: 'idle', attempt: 0, error: null }, subscription: null };
    case 'subscribing':
      if (a.room !== s.room) return s;
      return { ...s, subscription: { room: a.room, destination: a.destination, active: false } };
    case 'subscribed':
      if (!s.subscription || s.subscription.destination !== a.destination || s.subscription.active) return s;
      return { ...s, subscription: { ...s.subscription, active: true } };
    case 'badFrame':
      return { ...s, badFrames: s.badFrames + 1 };
  }
}

// ---- Derived values -------------------------------------------------------------------

/** Nearest-rank percentile (p in 0..100) of unsorted values; null when empty. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((x, y) => x - y);
  const rank = Math.ceil((Math.min(Math.max(p, 0), 100) / 100) * sorted.length);
  return sorted[Math.max(rank, 1) - 1];
}

export interface PathStats {
  count: number;
  p50: number | null;
  p95: number | null;
  max: number | null;
}

export function pathStats(rows: readonly CompareRow[], path: PathName): PathStats {
  const latencies = rows.flatMap((r) => (r[path] ? [r[path].latency] : []));
  return {
    count: latencies.length,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    max: latencies.length ? Math.max(...latencies) : null,
  };
}

export interface MatchStats {
  /** seen on both paths */
  both: number;
  onlySocketio: number;
  onlyStomp: number;
  /** median of (stomp - socketio) latency over the rows seen on both paths */
  p50Delta: number | null;
}

export function matchStats(rows: readonly CompareRow[]): MatchStats {
  let both = 0;
  let onlySocketio = 0;
  let onlyStomp = 0;
  const deltas: number[] = [];
  for (const r of rows) {
    if (r.socketio && r.stomp) {
      both++;
      deltas.push(r.stomp.latency - r.socketio.latency);
    } else if (r.socketio) onlySocketio++;
    else if (r.stomp) onlyStomp++;
  }
  return { both, onlySocketio, onlyStomp, p50Delta: percentile(deltas, 50) };
}

/** The other path's arrival is overdue (shown as "missing" rather than "waiting"). */
export function isMissing(row: CompareRow, path: PathName, now: number, graceMs = 5000): boolean {
  if (row[path]) return false;
  const first = row.socketio?.at ?? row.stomp?.at ?? now;
  return now - first > graceMs;
}

export function socketIoStatusLine(conn: Pick<ConnectionState, 'phase' | 'transport' | 'attempt'>): string {
  switch (conn.phase) {
    case 'connected':
      return `Socket.IO: connected (${conn.transport ?? 'unknown transport'})`;
    case 'connecting':
      return 'Socket.IO: connecting…';
    case 'reconnecting':
      return conn.attempt > 0 ? `Socket.IO: reconnecting… (attempt ${conn.attempt})` : 'Socket.IO: reconnecting…';
    case 'refused':
      return 'Socket.IO: refused';
    case 'signed-out':
      return 'Socket.IO: signed out';
  }
}

export function stompStatusLine(s: Pick<CompareState, 'stomp'>): string {
  const { phase, url, attempt, error } = s.stomp;
  const where = url ?? '?';
  const why = error ? ` (${error})` : '';
  switch (phase) {
    case 'idle':
      return 'STOMP: not connected';
    case 'connecting':
      return `STOMP: connecting to ${where}…`;
    case 'connected':
      return `STOMP: connected to ${where}`;
    case 'reconnecting':
      return `STOMP: reconnecting…${attempt > 1 ? ` (attempt ${attempt})` : ''}${why}`;
    case 'error':
      return `STOMP: error${why}`;
  }
}

/** What the STOMP side listens to: "subscribed to /topic/chat.x", "subscribing to …", or null. */
export function subscriptionLine(s: Pick<CompareState, 'stomp' | 'subscription'>): string | null {
  const sub = s.subscription;
  if (!sub || s.stomp.phase !== 'connected') return null;
  return sub.active ? `subscribed to ${sub.destination}` : `subscribing to ${sub.destination}…`;
}
