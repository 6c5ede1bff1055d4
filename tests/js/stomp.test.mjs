// The STOMP bridge seen from a browser-style client: @stomp/stompjs 7 over RabbitMQ's Web-STOMP
// (ws://127.0.0.1:15674/ws) receives exactly what socket.io-client got from the server.
//
// Needs RabbitMQ with the STOMP and Web-STOMP plugins (scripts/services.sh). Without them the
// test prints "SKIPPED: ..." and is skipped, unless REQUIRE_SERVICES=1, where it fails.

import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Client as StompClient } from '@stomp/stompjs';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { startServer, stopChecked } from './server.mjs';

const STOMP_URL = 'stomp://guest:guest@127.0.0.1:61613/';
const WEB_STOMP_URL = 'ws://127.0.0.1:15674/ws';
const TIMEOUT = 10000;

/** The bridge's routing key of a room (src/sinks/stomp/routing.rs; short form only). */
function routingKey(room) {
  return [...new TextEncoder().encode(room)]
    .map((b) => {
      const c = String.fromCharCode(b);
      return /[A-Za-z0-9_-]/.test(c) ? c : `~${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

function reachable(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), TIMEOUT);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Connects stompjs over Web-STOMP and subscribes; resolves once the broker confirmed. */
async function stompSubscribe(destination, onMessage) {
  const client = new StompClient({
    webSocketFactory: () => new WebSocket(WEB_STOMP_URL, ['v12.stomp']),
    connectHeaders: { login: 'guest', passcode: 'guest' },
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    debug: () => {},
  });
  const connected = new Promise((resolve, reject) => {
    client.onConnect = resolve;
    client.onStompError = (frame) => reject(new Error(`STOMP error: ${frame.headers.message}`));
    client.onWebSocketError = () => reject(new Error('Web-STOMP connection failed'));
  });
  client.activate();
  await withTimeout(connected, 'Web-STOMP CONNECTED');
  const receipt = `sub-${randomBytes(4).toString('hex')}`;
  const subscribed = new Promise((resolve) => client.watchForReceipt(receipt, resolve));
  client.subscribe(destination, onMessage, { receipt });
  await withTimeout(subscribed, 'the SUBSCRIBE receipt');
  return client;
}

describe('STOMP bridge over Web-STOMP', () => {
  let server;
  let available = false;

  before(async () => {
    available = (await reachable(61613)) && (await reachable(15674));
    if (!available) {
      if (process.env.REQUIRE_SERVICES === '1') {
        throw new Error('RabbitMQ STOMP/Web-STOMP not reachable and REQUIRE_SERVICES=1');
      }
      process.stderr.write('SKIPPED: RabbitMQ STOMP not reachable (run scripts/services.sh)\n');
      return;
    }
    server = await startServer({ args: ['--stomp-url', STOMP_URL, '--node-id', 'js-node'] });
  });

  after(async () => {
    if (server) await stopChecked(server);
  });

  it('stompjs receives what socket.io-client sent, byte for byte and in order', async (t) => {
    if (!available) return t.skip('RabbitMQ STOMP not reachable');
    const room = `js room.${randomBytes(4).toString('hex')}`;
    const frames = [];
    let arrived;
    const allArrived = new Promise((resolve) => {
      arrived = resolve;
    });
    const COUNT = 5;
    const stomp = await stompSubscribe(`/topic/chat.${routingKey(room)}`, (frame) => {
      frames.push(frame);
      if (frames.length === COUNT) arrived();
    });
    const socket = io(server.url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      auth: { name: 'alice' },
    });
    try {
      const emitted = [];
      socket.on('chat:message', (message) => emitted.push(message));
      const joined = await socket.timeout(TIMEOUT).emitWithAck('room:join', { room });
      assert.equal(joined.ok, true);
      for (let n = 0; n < COUNT; n += 1) {
        const ack = await socket.timeout(TIMEOUT).emitWithAck('chat:send', { room, text: `hello ${n} ✓` });
        assert.equal(ack.ok, true);
      }
      await withTimeout(allArrived, `${COUNT} STOMP messages`);
      assert.equal(emitted.length, COUNT);
      frames.forEach((frame, n) => {
        assert.equal(frame.headers['content-type'], 'application/json');
        assert.equal(frame.headers['x-switchboard-event'], 'chat:message');
        assert.equal(frame.headers['x-switchboard-origin'], 'js-node');
        assert.deepEqual(JSON.parse(frame.body), emitted[n]);
        // serde and JSON.stringify agree on key order and escaping, so the text is the same.
        assert.equal(frame.body, JSON.stringify(emitted[n]));
      });
      assert.deepEqual(
        frames.map((frame) => JSON.parse(frame.body).seq),
        [1, 2, 3, 4, 5],
      );
    } finally {
      socket.close();
      await stomp.deactivate();
    }
  });
});
