// What the app relies on from the server beyond one happy path: an event sent
// right after `connect` (the app rejoins its rooms at once on every reconnect)
// must be handled and acked, on every transport.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { io } from 'socket.io-client';
import { startServer } from './helpers.mjs';

const TRIES = 40;

describe('events right after connect', () => {
  let server;
  before(async () => {
    server = await startServer({ name: 'protocol' });
  });
  after(async () => {
    server?.saveLog();
    await server?.stop();
  });

  for (const transports of [['websocket'], ['polling'], ['polling', 'websocket']]) {
    test(`room:join emitted in the connect handler is acked (${transports.join('+')}, ${TRIES} connections)`, { timeout: 120_000 }, async () => {
      const lost = [];
      for (let i = 0; i < TRIES; i++) {
        const socket = io(server.url, { auth: { name: `p${i}` }, transports, forceNew: true, reconnection: false });
        try {
          const ack = await new Promise((resolve, reject) => {
            socket.once('connect_error', reject);
            socket.once('connect', () => {
              socket.timeout(3000).emit('room:join', { room: `early-${i}` }, (err, res) => (err ? resolve(null) : resolve(res)));
            });
          });
          if (ack === null) lost.push(i);
          else assert.equal(ack.ok, true, JSON.stringify(ack));
        } finally {
          socket.close();
        }
      }
      assert.deepEqual(
        lost,
        [],
        `${lost.length}/${TRIES} room:join events sent right after connect got no ack within 3 s ` +
          '(the server registers its event handlers in an async connect handler, after the CONNECT packet is sent)',
      );
    });
  }
});
