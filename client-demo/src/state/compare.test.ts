import { describe, expect, it } from 'vitest';
import {
  MAX_ROWS,
  compareReducer,
  initialCompare,
  isMissing,
  matchStats,
  parseCompareConfig,
  parseStompBody,
  pathStats,
  percentile,
  socketIoStatusLine,
  stompStatusLine,
  subscriptionLine,
  type CompareAction,
  type CompareState,
} from './compare';
import type { Message } from './types';

const msg = (seq: number, ts: number, room = 'r', id = `m${seq}`): Message => ({
  id,
  room,
  seq,
  ts,
  from: { id: 'u1', name: 'alice' },
  text: `hello ${seq}`,
});

const run = (actions: CompareAction[], from: CompareState = initialCompare) => actions.reduce(compareReducer, from);
const ready = run([
  { type: 'configured', enabled: true, url: 'ws://127.0.0.1:15674/ws' },
  { type: 'room', room: 'r', now: 1000 },
]);

describe('config', () => {
  it('is on only with a webStompUrl', () => {
    expect(parseCompareConfig(null)).toBeNull();
    expect(parseCompareConfig({ webStompUrl: null })).toBeNull();
    expect(parseCompareConfig({ webStompUrl: '' })).toBeNull();
    expect(parseCompareConfig('nope')).toBeNull();
    expect(parseCompareConfig({ webStompUrl: 'ws://h:15674/ws', stompChatPrefix: '/topic/chat.' })).toEqual({
      url: 'ws://h:15674/ws',
      login: 'guest',
      passcode: 'guest',
      chatPrefix: '/topic/chat.',
    });
  });

  it('takes login, passcode and prefix when given', () => {
    expect(
      parseCompareConfig({ webStompUrl: 'wss://x/ws', webStompLogin: 'bob', webStompPasscode: 's3', stompChatPrefix: '/topic/c.' }),
    ).toEqual({ url: 'wss://x/ws', login: 'bob', passcode: 's3', chatPrefix: '/topic/c.' });
    expect(parseCompareConfig({ webStompUrl: 'ws://x/ws', webStompLogin: 7 })?.login).toBe('guest');
  });
});

describe('matching by id', () => {
  it('puts both arrivals of one message on one row, with each latency', () => {
    const s = run(
      [
        { type: 'received', path: 'socketio', message: msg(1, 5000), at: 5012 },
        { type: 'received', path: 'stomp', message: msg(1, 5000), at: 5031.6 },
      ],
      ready,
    );
    expect(s.rows).toHaveLength(1);
    expect(s.rows[0]).toMatchObject({ id: 'm1', seq: 1, from: 'alice', text: 'hello 1' });
    expect(s.rows[0].socketio).toEqual({ at: 5012, latency: 12 });
    expect(s.rows[0].stomp).toEqual({ at: 5031.6, latency: 32 });
  });

  it('matches whichever path comes first, and keeps the first arrival of duplicates', () => {
    const s = run(
      [
        { type: 'received', path: 'stomp', message: msg(1, 100), at: 110 },
        { type: 'received', path: 'stomp', message: msg(1, 100), at: 190 },
        { type: 'received', path: 'socketio', message: msg(1, 100), at: 120 },
      ],
      ready,
    );
    expect(s.rows).toHaveLength(1);
    expect(s.rows[0].stomp?.latency).toBe(10);
    expect(s.rows[0].socketio?.latency).toBe(20);
  });

  it('matches by id, not by seq', () => {
    const s = run(
      [
        { type: 'received', path: 'socketio', message: msg(1, 100, 'r', 'a'), at: 110 },
        { type: 'received', path: 'stomp', message: msg(1, 100, 'r', 'b'), at: 110 },
      ],
      ready,
    );
    expect(s.rows.map((r) => [r.id, !!r.socketio, !!r.stomp])).toEqual([
      ['a', true, false],
      ['b', false, true],
    ]);
  });

  it('keeps the newest first and at most MAX_ROWS', () => {
    const actions: CompareAction[] = [];
    for (let i = 1; i <= MAX_ROWS + 5; i++) actions.push({ type: 'received', path: 'socketio', message: msg(i, i), at: i + 1 });
    actions.push({ type: 'received', path: 'stomp', message: msg(3, 3), at: 9 }); // arrives late: row dropped already
    const s = run(actions, ready);
    expect(s.rows).toHaveLength(MAX_ROWS);
    expect(s.rows[0].seq).toBe(MAX_ROWS + 5);
    expect(s.rows.at(-1)!.seq).toBe(6);
    // The late arrival of a row dropped already makes a row older than all others: dropped too.
    expect(s.rows.some((r) => r.seq === 3 || r.stomp)).toBe(false);
  });

  it('ignores other rooms, and everything while disabled or without a room', () => {
    let s = run([{ type: 'received', path: 'socketio', message: msg(1, 1, 'other'), at: 2 }], ready);
    expect(s.rows).toEqual([]);
    s = run([{ type: 'received', path: 'socketio', message: msg(1, 1), at: 2 }], initialCompare);
    expect(s.rows).toEqual([]);
    s = run([{ type: 'room', room: null, now: 5 }, { type: 'received', path: 'socketio', message: msg(1, 1), at: 2 }], ready);
    expect(s.rows).toEqual([]);
  });

  it('a room change starts over', () => {
    let s = run([{ type: 'received', path: 'socketio', message: msg(1, 1), at: 2 }], ready);
    s = run(
      [
        { type: 'subscribing', room: 'r', destination: '/topic/chat.r' },
        { type: 'room', room: 'q', now: 50 },
      ],
      s,
    );
    expect(s).toMatchObject({ room: 'q', since: 50, rows: [], subscription: null });
    expect(compareReducer(s, { type: 'room', room: 'q', now: 60 })).toBe(s);
  });
});

describe('stats', () => {
  it('percentile is nearest-rank', () => {
    expect(percentile([], 50)).toBeNull();
    expect(percentile([7], 50)).toBe(7);
    expect(percentile([4, 1, 3, 2], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4, 5], 50)).toBe(3);
    expect(percentile(Array.from({ length: 100 }, (_, i) => 100 - i), 95)).toBe(95);
    expect(percentile([1, 2, 3], 0)).toBe(1);
    expect(percentile([1, 2, 3], 100)).toBe(3);
  });

  it('counts, p50, p95 and max per path; matches and deltas', () => {
    const actions: CompareAction[] = [];
    [10, 30, 20].forEach((lat, i) =>
      actions.push({ type: 'received', path: 'socketio', message: msg(i + 1, 1000), at: 1000 + lat }),
    );
    [15, 40].forEach((lat, i) => actions.push({ type: 'received', path: 'stomp', message: msg(i + 1, 1000), at: 1000 + lat }));
    actions.push({ type: 'received', path: 'stomp', message: msg(9, 1000), at: 1005 });
    const s = run(actions, ready);
    expect(pathStats(s.rows, 'socketio')).toEqual({ count: 3, p50: 20, p95: 30, max: 30 });
    expect(pathStats(s.rows, 'stomp')).toEqual({ count: 3, p50: 15, p95: 40, max: 40 });
    // deltas: seq1 15-10=5, seq2 40-30=10
    expect(matchStats(s.rows)).toEqual({ both: 2, onlySocketio: 1, onlyStomp: 1, p50Delta: 5 });
    expect(pathStats([], 'stomp')).toEqual({ count: 0, p50: null, p95: null, max: null });
  });

  it('an arrival is missing once the other path is 5 s ahead', () => {
    const s = run([{ type: 'received', path: 'socketio', message: msg(1, 100), at: 1000 }], ready);
    expect(isMissing(s.rows[0], 'stomp', 3000)).toBe(false);
    expect(isMissing(s.rows[0], 'stomp', 6001)).toBe(true);
    expect(isMissing(s.rows[0], 'socketio', 99_999)).toBe(false);
  });
});

describe('STOMP frames', () => {
  it('reads the Socket.IO JSON, rejects anything else', () => {
    expect(parseStompBody(JSON.stringify(msg(2, 3)))).toEqual(msg(2, 3));
    expect(parseStompBody('{"room":"r","action":"join"}')).toBeNull();
    expect(parseStompBody('not json')).toBeNull();
  });
});

describe('status lines', () => {
  it('Socket.IO', () => {
    expect(socketIoStatusLine({ phase: 'connected', transport: 'websocket', attempt: 0 })).toBe(
      'Socket.IO: connected (websocket)',
    );
    expect(socketIoStatusLine({ phase: 'reconnecting', transport: null, attempt: 3 })).toBe(
      'Socket.IO: reconnecting… (attempt 3)',
    );
    expect(socketIoStatusLine({ phase: 'connecting', transport: null, attempt: 0 })).toBe('Socket.IO: connecting…');
  });

  it('STOMP: connecting, subscribed, reconnecting with the reason, stopped', () => {
    let s = run([{ type: 'stompConnecting' }], ready);
    expect(stompStatusLine(s)).toBe('STOMP: connecting to ws://127.0.0.1:15674/ws…');
    expect(subscriptionLine(s)).toBeNull();
    s = run([{ type: 'stompConnected' }, { type: 'subscribing', room: 'r', destination: '/topic/chat.r' }], s);
    expect(stompStatusLine(s)).toBe('STOMP: connected to ws://127.0.0.1:15674/ws');
    expect(subscriptionLine(s)).toBe('subscribing to /topic/chat.r…');
    s = compareReducer(s, { type: 'subscribed', destination: '/topic/chat.other' });
    expect(s.subscription?.active).toBe(false);
    s = compareReducer(s, { type: 'subscribed', destination: '/topic/chat.r' });
    expect(subscriptionLine(s)).toBe('subscribed to /topic/chat.r');
    s = run([{ type: 'stompError', error: 'Access refused' }, { type: 'stompClosed' }], s);
    expect(s.subscription).toMatchObject({ active: false });
    expect(subscriptionLine(s)).toBeNull();
    expect(stompStatusLine(s)).toBe('STOMP: reconnecting… (Access refused)');
    s = run([{ type: 'stompClosed' }], s);
    expect(stompStatusLine(s)).toBe('STOMP: reconnecting… (attempt 2) (Access refused)');
    s = run([{ type: 'stompConnected' }], s);
    expect(s.stomp).toMatchObject({ phase: 'connected', attempt: 0, error: null });
    s = run([{ type: 'stompStopped' }, { type: 'stompClosed' }], s);
    expect(stompStatusLine(s)).toBe('STOMP: not connected');
  });
});
