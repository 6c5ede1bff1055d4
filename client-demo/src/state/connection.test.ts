import { describe, expect, it } from 'vitest';
import { connectionReducer, initialConnection, parseForcedTransport, type ConnectionAction } from './connection';

const run = (actions: ConnectionAction[]) => actions.reduce(connectionReducer, initialConnection);

describe('connection status', () => {
  it('tracks transport upgrades, disconnects and reconnect attempts', () => {
    let s = run([
      { type: 'start', name: 'alice', forced: null },
      { type: 'connected', socketId: 's1', transport: 'polling' },
      { type: 'transport', transport: 'websocket' },
    ]);
    expect(s).toMatchObject({ phase: 'connected', transport: 'websocket', connects: 1, reconnects: 0 });
    s = [
      { type: 'disconnected', reason: 'transport close' },
      { type: 'attempt', attempt: 1 },
      { type: 'connectError', message: 'xhr poll error', willRetry: true },
      { type: 'attempt', attempt: 2 },
    ].reduce((acc, a) => connectionReducer(acc, a as ConnectionAction), s);
    expect(s).toMatchObject({ phase: 'reconnecting', transport: null, attempt: 2 });
    s = connectionReducer(s, { type: 'connected', socketId: 's2', transport: 'polling' });
    expect(s).toMatchObject({ phase: 'connected', attempt: 0, reconnects: 1, socketId: 's2' });
  });

  it('a refused handshake is final', () => {
    const s = run([
      { type: 'start', name: ' ', forced: null },
      { type: 'connectError', message: 'unauthorized', willRetry: false },
    ]);
    expect(s).toMatchObject({ phase: 'refused', error: 'unauthorized' });
  });

  it('parses ?transport=', () => {
    expect(parseForcedTransport('?transport=polling')).toBe('polling');
    expect(parseForcedTransport('?a=1&transport=websocket')).toBe('websocket');
    expect(parseForcedTransport('?transport=carrier-pigeon')).toBeNull();
    expect(parseForcedTransport('')).toBeNull();
  });
});
