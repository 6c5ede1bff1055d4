// Socket.IO binary attachments (a Buffer inside a payload: a BINARY_EVENT with placeholders)
// are decoded like any other payload: extra binary fields are ignored, a binary where text is
// expected is a bad_request, and the connection stays usable.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { startServer } from './server.mjs';

test('binary attachments in payloads', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  for (const transports of [['polling'], ['websocket']]) {
    const socket = io(server.url, { auth: { name: 'bin' }, transports, reconnection: false });
    await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('connect_error', reject); });
    const joined = await socket.timeout(3000).emitWithAck('room:join', { room: 'bin', blob: Buffer.from([1, 2, 3]) });
    assert.equal(joined.ok, true, `join with an extra binary field over ${transports}`);
    const sent = await socket.timeout(3000).emitWithAck('chat:send', { room: 'bin', text: 'with attachment', attachment: Buffer.alloc(64, 7) });
    assert.equal(sent.ok, true);
    assert.equal(sent.message.text, 'with attachment');
    const refused = await socket.timeout(3000).emitWithAck('chat:send', { room: 'bin', text: Buffer.from('not text') });
    assert.equal(refused.ok, false);
    assert.equal(refused.error.code, 'bad_request');
    const again = await socket.timeout(3000).emitWithAck('chat:send', { room: 'bin', text: 'still fine' });
    assert.equal(again.ok, true);
    socket.close();
  }
});
