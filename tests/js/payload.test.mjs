// Max payload: a frame over --max-payload closes only that connection, on both transports;
// a frame under it is processed normally (and an over-long text is refused with too_large).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ack,
  assertCanChat,
  assertError,
  closeAll,
  connect,
  join,
  once,
  uniqueRoom,
} from './helpers.mjs';
import { startServer, stopChecked } from './server.mjs';

/** Emits chat:send and expects the connection to be closed instead of an ack. */
async function expectClosedBy(socket, payload, { timeout = 10000 } = {}) {
  const disconnected = once(socket, 'disconnect', { timeout });
  let acked = null;
  socket.emit('chat:send', payload, (res) => {
    acked = res;
  });
  let reason;
  try {
    const args = await disconnected;
    reason = Array.isArray(args) ? args[0] : args;
  } catch (err) {
    assert.fail(
      `the oversized frame did not close the connection within ${timeout} ms; ack: ${JSON.stringify(acked)?.slice(0, 300)}`,
    );
  }
  assert.equal(acked, null, `no ack expected for an oversized frame, got ${JSON.stringify(acked)?.slice(0, 300)}`);
  assert.ok(
    ['transport close', 'transport error', 'io server disconnect', 'parse error'].includes(reason),
    `disconnect reason: ${reason}`,
  );
  return reason;
}

function suite({ label, args, over, under }) {
  describe(label, () => {
    let server;
    const open = [];
    let room;
    let b;
    let c;
    before(async () => {
      server = await startServer({ args: [...args, '--rate-limit', '1000', '--rate-burst', '1000'] });
      room = uniqueRoom('payload');
      b = await connect(server.url, { name: 'bystander-ws', mode: 'websocket' });
      c = await connect(server.url, { name: 'bystander-poll', mode: 'polling' });
      open.push(b, c);
      await join(b, room);
      await join(c, room);
    });
    after(async () => {
      closeAll(open);
      await stopChecked(server);
    });

    for (const mode of ['websocket', 'polling', 'upgrade']) {
      it(`a frame over the max payload closes only that ${mode} connection`, async () => {
        const a = await connect(server.url, { name: `big-${mode}`, mode });
        open.push(a);
        await join(a, room);
        await expectClosedBy(a, { room, text: 'x'.repeat(over) });
        assert.equal(a.connected, false);
        // the others keep working, both ways
        await assertCanChat(b, c, room);
        await assertCanChat(c, b, room);
      });

      it(`a frame under the max payload is processed (too_large ack, still connected) over ${mode}`, async () => {
        const a = await connect(server.url, { name: `mid-${mode}`, mode });
        open.push(a);
        await join(a, room);
        const res = await ack(a, 'chat:send', { room, text: 'y'.repeat(under) });
        assertError(res, 'too_large', `text of ${under} chars in a frame under the max payload`);
        assert.ok(a.connected, 'still connected');
        await assertCanChat(a, b, room);
      });
    }
  });
}

suite({ label: '--max-payload 10000', args: ['--max-payload', '10000'], over: 20000, under: 8000 });
// Default 1 MB (like Node's maxHttpBufferSize); socketioxide's own default would be 100 kB.
suite({ label: 'default max payload (1 MB)', args: [], over: 1_100_000, under: 900_000 });
