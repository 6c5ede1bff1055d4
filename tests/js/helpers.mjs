// Small helpers shared by the Switchboard compatibility tests.
// No fixed sleeps are used for synchronisation: everything waits for an event or an ack with a timeout.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { io } from 'socket.io-client';

export const DEFAULT_TIMEOUT = 3000;

/** The three transport modes of the contract. */
export const MODES = {
  polling: { transports: ['polling'], upgrade: false },
  websocket: { transports: ['websocket'] },
  // default socket.io-client behaviour: long-polling first, then upgrade to WebSocket
  upgrade: {},
};
export const MODE_NAMES = Object.keys(MODES);

let counter = 0;
/** A fresh room name (fresh room => seq starts at 1). */
export function uniqueRoom(prefix = 'room') {
  counter += 1;
  return `${prefix}-${counter}-${randomBytes(4).toString('hex')}`;
}

/** Waits for one `event` on an emitter (socket, manager, engine) with a timeout. */
export function once(emitter, event, { timeout = DEFAULT_TIMEOUT, filter } = {}) {
  return new Promise((resolve, reject) => {
    const handler = (...args) => {
      if (filter && !filter(...args)) return;
      clearTimeout(timer);
      emitter.off(event, handler);
      resolve(args.length <= 1 ? args[0] : args);
    };
    const timer = setTimeout(() => {
      emitter.off(event, handler);
      reject(new Error(`timed out after ${timeout} ms waiting for "${event}"`));
    }, timeout);
    emitter.on(event, handler);
  });
}

/** emitWithAck with a timeout. */
export function ack(socket, event, ...args) {
  return socket.timeout(DEFAULT_TIMEOUT).emitWithAck(event, ...args);
}

/** emitWithAck with a custom timeout. */
export function ackWithin(timeout, socket, event, ...args) {
  return socket.timeout(timeout).emitWithAck(event, ...args);
}

/**
 * Connects a socket.io client and resolves once it is connected (and, in `upgrade` mode,
 * once the transport was upgraded to WebSocket) and the server answers its events.
 * Rejects with the connect_error.
 *
 * "Answers its events": a server may register its event handlers a moment after the CONNECT
 * ack (socketioxide with an async connect handler), and drop events that arrive in between.
 * That is a server bug, tested on its own in contract.test.mjs and malformed.test.mjs ("right
 * after CONNECT"); the other tests wait for an acked probe here so that they test what they say.
 */
export async function connect(url, options = {}) {
  const socket = await connectOnly(url, options);
  if (options.ready === false) return socket;
  for (let attempt = 1; ; attempt += 1) {
    try {
      await socket.timeout(1000).emitWithAck('chat:history', { room: '__ready_probe__' });
      return socket;
    } catch (err) {
      if (attempt >= 3 || !socket.connected) {
        socket.close();
        throw new Error(`the server never acked a probe after connect (${err.message})`);
      }
    }
  }
}

function connectOnly(url, { name = 'user', mode = 'websocket', auth, timeout = 5000, ready, ...extra } = {}) {
  const socket = io(url, {
    forceNew: true,
    reconnection: false,
    timeout,
    auth: auth === undefined ? { name } : auth,
    ...MODES[mode],
    ...extra,
  });
  const upgraded =
    mode === 'upgrade'
      ? new Promise((resolve, reject) => {
          const engine = socket.io.engine;
          if (engine.transport?.name === 'websocket') return resolve();
          const timer = setTimeout(
            () => reject(new Error(`transport was not upgraded within ${timeout} ms`)),
            timeout,
          );
          engine.once('upgrade', () => {
            clearTimeout(timer);
            resolve();
          });
        })
      : Promise.resolve();
  upgraded.catch(() => {});
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      socket.close();
      reject(new Error(`connect timed out after ${timeout} ms`));
    }, timeout);
    const onConnect = () => {
      cleanup();
      upgraded.then(
        () => resolve(socket),
        (err) => {
          socket.close();
          reject(err);
        },
      );
    };
    const onError = (err) => {
      cleanup();
      socket.close();
      reject(err);
    };
    function cleanup() {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('connect_error', onError);
    }
    socket.on('connect', onConnect);
    socket.on('connect_error', onError);
  });
}

/** Expects the handshake to be refused; resolves with the connect_error. */
export async function connectRefused(url, options) {
  try {
    const socket = await connect(url, options);
    socket.close();
  } catch (err) {
    return err;
  }
  assert.fail('expected the handshake to be refused with connect_error, but the socket connected');
}

/** Records every `event` payload received by `socket`; waitFor(predicate) waits on the list. */
export function collect(socket, event) {
  const items = [];
  const waiters = new Set();
  const handler = (payload) => {
    items.push(payload);
    for (const w of [...waiters]) w.check();
  };
  socket.on(event, handler);
  return {
    items,
    stop() {
      socket.off(event, handler);
    },
    /** Waits until predicate(items) is true. */
    waitFor(predicate, { timeout = DEFAULT_TIMEOUT, what = `${event} condition` } = {}) {
      return new Promise((resolve, reject) => {
        const w = {
          check() {
            let ok = false;
            try {
              ok = predicate(items);
            } catch (err) {
              waiters.delete(w);
              clearTimeout(timer);
              reject(err);
              return;
            }
            if (ok) {
              waiters.delete(w);
              clearTimeout(timer);
              resolve(items);
            }
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(
            new Error(
              `timed out after ${timeout} ms waiting for ${what}; got ${items.length} "${event}": ` +
                JSON.stringify(items).slice(0, 2000),
            ),
          );
        }, timeout);
        waiters.add(w);
        w.check();
      });
    },
    /** Waits until at least n items were received. */
    waitForCount(n, opts = {}) {
      return this.waitFor((list) => list.length >= n, { what: `${n} "${event}" events`, ...opts });
    },
  };
}

export function closeAll(...sockets) {
  for (const s of sockets.flat()) {
    if (s) s.close();
  }
}

/** Asserts a successful ack `{ ok: true, ... }`. */
export function assertOk(res, what = 'ack') {
  assert.ok(res && typeof res === 'object', `${what}: ack must be an object, got ${JSON.stringify(res)}`);
  assert.equal(res.ok, true, `${what}: expected ok:true, got ${JSON.stringify(res).slice(0, 500)}`);
  return res;
}

/** Asserts an error ack `{ ok: false, error: { code, message: string } }`. */
export function assertError(res, code, what = 'ack') {
  assert.ok(res && typeof res === 'object', `${what}: ack must be an object, got ${JSON.stringify(res)}`);
  assert.equal(res.ok, false, `${what}: expected ok:false (${code}), got ${JSON.stringify(res).slice(0, 500)}`);
  assert.ok(res.error && typeof res.error === 'object', `${what}: error must be an object: ${JSON.stringify(res)}`);
  assert.equal(res.error.code, code, `${what}: expected error code ${code}, got ${JSON.stringify(res.error)}`);
  assert.equal(typeof res.error.message, 'string', `${what}: error.message must be a string: ${JSON.stringify(res.error)}`);
  return res;
}

/** Asserts the contract's User shape. */
export function assertUser(user, what = 'user') {
  assert.ok(user && typeof user === 'object', `${what} must be an object: ${JSON.stringify(user)}`);
  assert.equal(typeof user.id, 'string', `${what}.id must be a string: ${JSON.stringify(user)}`);
  assert.ok(user.id.length > 0, `${what}.id must not be empty`);
  assert.equal(typeof user.name, 'string', `${what}.name must be a string: ${JSON.stringify(user)}`);
}

/** Asserts the contract's Message shape. */
export function assertMessage(m, { room, text, from, clientId } = {}) {
  assert.ok(m && typeof m === 'object', `message must be an object: ${JSON.stringify(m)}`);
  assert.ok(
    (typeof m.id === 'string' && m.id.length > 0) || Number.isSafeInteger(m.id),
    `message.id must be a non-empty string (or an integer): ${JSON.stringify(m)}`,
  );
  assert.equal(typeof m.room, 'string', `message.room: ${JSON.stringify(m)}`);
  assert.ok(Number.isSafeInteger(m.seq) && m.seq >= 1, `message.seq must be an integer >= 1: ${JSON.stringify(m)}`);
  assertUser(m.from, 'message.from');
  assert.equal(typeof m.text, 'string', `message.text: ${JSON.stringify(m)}`);
  assert.ok(Number.isSafeInteger(m.ts), `message.ts must be integer ms since the epoch: ${JSON.stringify(m)}`);
  const now = Date.now();
  assert.ok(
    Math.abs(now - m.ts) < 60_000,
    `message.ts must be ms since the Unix epoch close to now (${now}), got ${m.ts}`,
  );
  if (room !== undefined) assert.equal(m.room, room, 'message.room');
  if (text !== undefined) assert.equal(m.text, text, 'message.text');
  if (from !== undefined) assert.deepEqual({ id: m.from.id, name: m.from.name }, from, 'message.from');
  if (clientId !== undefined) assert.equal(m.clientId, clientId, 'message.clientId');
  return m;
}

/** Joins a room and asserts success. */
export async function join(socket, room, extra = {}) {
  const res = await ack(socket, 'room:join', { room, ...extra });
  return assertOk(res, `room:join ${room}`);
}

/** Sends a chat message and asserts success; returns the Message. */
export async function send(socket, room, text, extra = {}) {
  const res = await ack(socket, 'chat:send', { room, text, ...extra });
  assertOk(res, `chat:send to ${room}`);
  return res.message;
}

export function seqs(messages) {
  return messages.map((m) => m.seq);
}

export function range(from, to) {
  const out = [];
  for (let i = from; i <= to; i += 1) out.push(i);
  return out;
}

/**
 * A healthy-client check: `a` sends in `room` and gets an ok ack, and `b` receives the chat:message.
 * Both must already have joined `room`.
 */
export async function assertCanChat(a, b, room, text = `ping-${randomBytes(3).toString('hex')}`) {
  assert.ok(a.connected, 'healthy client A must still be connected');
  assert.ok(b.connected, 'healthy client B must still be connected');
  const got = once(b, 'chat:message', { filter: (m) => m && m.text === text && m.room === room });
  const res = await ack(a, 'chat:send', { room, text });
  assertOk(res, 'healthy client chat:send');
  const m = await got;
  assert.equal(m.seq, res.message.seq);
}
