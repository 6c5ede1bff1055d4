// Connection status as a pure reducer: phase, live transport, reconnect attempts.
export type Phase = 'signed-out' | 'connecting' | 'connected' | 'reconnecting' | 'refused';
export type TransportName = 'polling' | 'websocket';

export interface ConnectionState {
  phase: Phase;
  name: string | null;
  /** the live Engine.IO transport, null when there is none */
  transport: string | null;
  /** forced by ?transport=..., null when polling may upgrade to WebSocket */
  forced: TransportName | null;
  /** the current reconnect attempt (0 when connected) */
  attempt: number;
  /** successful connects after the first one */
  reconnects: number;
  connects: number;
  error: string | null;
  socketId: string | null;
  lastDisconnect: string | null;
}

export type ConnectionAction =
  | { type: 'start'; name: string; forced: TransportName | null }
  | { type: 'connected'; socketId: string; transport: string | null }
  | { type: 'transport'; transport: string | null }
  | { type: 'disconnected'; reason: string }
  | { type: 'attempt'; attempt: number }
  | { type: 'connectError'; message: string; willRetry: boolean }
  | { type: 'signOut' };

export const initialConnection: ConnectionState = {
  phase: 'signed-out',
  name: null,
  transport: null,
  forced: null,
  attempt: 0,
  reconnects: 0,
  connects: 0,
  error: null,
  socketId: null,
  lastDisconnect: null,
};

export function connectionReducer(s: ConnectionState, a: ConnectionAction): ConnectionState {
  switch (a.type) {
    case 'start':
      return { ...initialConnection, phase: 'connecting', name: a.name, forced: a.forced };
    case 'connected':
      return {
        ...s,
        phase: 'connected',
        socketId: a.socketId,
        transport: a.transport,
        attempt: 0,
        error: null,
        connects: s.connects + 1,
        reconnects: s.connects > 0 ? s.reconnects + 1 : s.reconnects,
      };
    case 'transport':
      return s.transport === a.transport ? s : { ...s, transport: a.transport };
    case 'disconnected':
      if (s.phase === 'signed-out') return s;
      return { ...s, phase: 'reconnecting', transport: null, socketId: null, lastDisconnect: a.reason };
    case 'attempt':
      if (s.phase === 'signed-out') return s;
      return { ...s, phase: 'reconnecting', attempt: a.attempt };
    case 'connectError':
      if (s.phase === 'signed-out') return s;
      return { ...s, phase: a.willRetry ? (s.connects > 0 ? 'reconnecting' : 'connecting') : 'refused', error: a.message };
    case 'signOut':
      return { ...initialConnection };
  }
}

/** `?transport=polling|websocket` forces one transport; anything else: null. */
export function parseForcedTransport(search: string): TransportName | null {
  const t = new URLSearchParams(search).get('transport');
  return t === 'polling' || t === 'websocket' ? t : null;
}
