// Malformed inputs: wrong types, missing fields, wrong payload kinds, out-of-range numbers, bad room
// names, unknown events, and raw garbage Engine.IO packets over long-polling and WebSocket.
// Each one gets a bad_request ack, or a closed connection / HTTP 4xx; after each, a separate healthy
// pair of clients can still chat.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import {
  ack,
  assertCanChat,
  assertError,
  assertOk,
  closeAll,
  collect,
  connect,
  join,
  once,
  send,
  uniqueRoom,
} from './helpers.mjs';
import { startServer, stopChecked } from './server.mjs';

const SEP = '\x1e'; // Engine.IO v4 polling payload separator

describe('malformed inputs', () => {
  let server;
  const open = [];
  let healthyRoom;
  let h1;
  let h2;

  before(async () => {
    server = await startServer({ args: ['--rate-limit', '100000', '--rate-burst', '100000'] });
    healthyRoom = uniqueRoom('healthy');
    h1 = await connect(server.url, { name: 'healthy-1', mode: 'websocket' });
    h2 = await connect(server.url, { name: 'healthy-2', mode: 'polling' });
    open.push(h1, h2);
    await join(h1, healthyRoom);
    await join(h2, healthyRoom);
  });
  after(async () => {
    closeAll(open);
    await stopChecked(server);
  });

  const healthy = async () => {
    await assertCanChat(h1, h2, healthyRoom);
    await assertCanChat(h2, h1, healthyRoom);
  };

  describe('over socket.io (acked events)', () => {
    for (const mode of ['websocket', 'polling']) {
      describe(mode, () => {
        let abuser;
        let room; // a room the abuser has joined
        const fresh = async () => {
          abuser = await connect(server.url, { name: `abuser-${mode}`, mode });
          open.push(abuser);
          room = uniqueRoom('abuse');
          await join(abuser, room);
        };
        before(fresh);

        const R = () => room;
        const cases = [
          ['room:join room is a number', 'room:join', () => [{ room: 5 }]],
          ['room:join room is an array', 'room:join', () => [{ room: ['a'] }]],
          ['room:join missing room', 'room:join', () => [{}]],
          ['room:join null payload', 'room:join', () => [null]],
          ['room:join no payload', 'room:join', () => []],
          ['room:join string payload', 'room:join', () => ['general']],
          ['room:join number payload', 'room:join', () => [42]],
          ['room:join array payload', 'room:join', () => [['general']]],
          ['room:join binary payload', 'room:join', () => [Buffer.from('general')]],
          ['room:join empty room', 'room:join', () => [{ room: '' }]],
          ['room:join room with NUL', 'room:join', () => [{ room: 'a\u0000b' }]],
          ['room:join room with newline', 'room:join', () => [{ room: 'a\nb' }]],
          ['room:join room with DEL', 'room:join', () => [{ room: 'a\u007fb' }]],
          ['room:join room of 65 chars', 'room:join', () => [{ room: 'r'.repeat(65) }]],
          ['room:join since 1e300', 'room:join', () => [{ room: R(), since: 1e300 }]],
          ['room:join since -1', 'room:join', () => [{ room: R(), since: -1 }]],
          ['room:join since 1.5', 'room:join', () => [{ room: R(), since: 1.5 }]],
          ['room:join since as a string', 'room:join', () => [{ room: R(), since: '3' }]],
          ['room:leave room is a number', 'room:leave', () => [{ room: 5 }]],
          ['room:leave null payload', 'room:leave', () => [null]],
          ['room:leave room with control char', 'room:leave', () => [{ room: 'a\u0001' }]],
          ['chat:send text is an array', 'chat:send', () => [{ room: R(), text: [] }]],
          ['chat:send text is a number', 'chat:send', () => [{ room: R(), text: 42 }]],
          ['chat:send text is null', 'chat:send', () => [{ room: R(), text: null }]],
          ['chat:send missing text', 'chat:send', () => [{ room: R() }]],
          ['chat:send missing room', 'chat:send', () => [{ text: 'hi' }]],
          ['chat:send empty text', 'chat:send', () => [{ room: R(), text: '' }]],
          ['chat:send room is an object', 'chat:send', () => [{ room: { nested: 1 }, text: 'hi' }]],
          ['chat:send array payload', 'chat:send', () => [[R(), 'hi']]],
          ['chat:send string payload', 'chat:send', () => ['hi']],
          ['chat:send no payload', 'chat:send', () => []],
          ['chat:send room with tab', 'chat:send', () => [{ room: 'a\tb', text: 'hi' }]],
          ['chat:history limit 2.5', 'chat:history', () => [{ room: R(), limit: 2.5 }]],
          ['chat:history limit -1', 'chat:history', () => [{ room: R(), limit: -1 }]],
          ['chat:history after -5', 'chat:history', () => [{ room: R(), after: -5 }]],
          ['chat:history after 1e300', 'chat:history', () => [{ room: R(), after: 1e300 }]],
          ['chat:history before as a string', 'chat:history', () => [{ room: R(), before: 'x' }]],
          ['chat:history string payload', 'chat:history', () => [R()]],
          ['chat:history null payload', 'chat:history', () => [null]],
        ];

        for (const [label, event, args] of cases) {
          it(`${label} -> bad_request (or closed), server keeps working`, async () => {
            if (!abuser.connected) await fresh();
            const disconnected = once(abuser, 'disconnect', { timeout: 4000 });
            disconnected.catch(() => {});
            const outcome = await Promise.race([
              abuser
                .timeout(3000)
                .emitWithAck(event, ...args())
                .then(
                  (res) => ({ res }),
                  (err) => ({ err }),
                ),
              disconnected.then((reason) => ({ closed: reason })),
            ]);
            if (outcome.closed === undefined) {
              assert.ok(!outcome.err, `no ack and no close for ${label}: ${outcome.err?.message}`);
              assertError(outcome.res, 'bad_request', label);
              // the same socket still works
              assertOk(await ack(abuser, 'chat:history', { room }), `abuser still served after ${label}`);
            }
            await healthy();
          });
        }

        it('none of the malformed calls stored a message', async () => {
          if (!abuser.connected) await fresh();
          const res = await ack(abuser, 'chat:history', { room });
          assertOk(res);
          assert.deepEqual(res.messages, []);
        });
      });
    }
  });

  describe('chat:typing (no ack) with bad payloads', () => {
    const bad = [
      ['typing is a string', (room) => ({ room, typing: 'yes' })],
      ['missing typing', (room) => ({ room })],
      ['room is a number', () => ({ room: 5, typing: true })],
      ['null payload', () => null],
      ['string payload', () => 'typing'],
      ['array payload', (room) => [room, true]],
    ];
    for (const [label, payload] of bad) {
      it(`${label}: nothing is broadcast, server keeps working`, async () => {
        const room = uniqueRoom('typ');
        const a = await connect(server.url, { name: 'typist', mode: 'websocket' });
        const b = await connect(server.url, { name: 'watcher', mode: 'websocket' });
        open.push(a, b);
        await join(a, room);
        await join(b, room);
        const typB = collect(b, 'chat:typing');
        const msgsB = collect(b, 'chat:message');
        a.emit('chat:typing', payload(room));
        if (a.connected) {
          const m = await send(a, room, 'sentinel'); // queued after anything the typing caused
          await msgsB.waitFor((l) => l.some((x) => x.id === m.id));
          assert.deepEqual(typB.items, [], `a malformed chat:typing (${label}) must not be broadcast`);
          a.emit('chat:typing', { room, typing: true });
          const [ev] = await typB.waitForCount(1);
          assert.equal(ev.typing, true, 'a valid chat:typing still works');
        }
        await healthy();
        closeAll(a, b);
      });
    }
  });

  it('unknown events with odd payloads are ignored', async () => {
    const room = uniqueRoom('unk');
    const a = await connect(server.url, { name: 'odd', mode: 'websocket' });
    open.push(a);
    await join(a, room);
    a.emit('💥', { x: 1 });
    a.emit('admin:shutdown');
    a.emit('__proto__', { polluted: true });
    a.emit('constructor', null);
    a.emit('room:join ', { room }); // trailing space: not a known event
    a.emit('x'.repeat(1000), 'y');
    const m = await send(a, room, 'still alive');
    assert.equal(m.seq, 1);
    assert.ok(a.connected);
    await healthy();
  });

  // ---------------------------------------------------------------------------------------------
  // Raw Engine.IO over long-polling (fetch)
  // ---------------------------------------------------------------------------------------------
  describe('raw long-polling garbage', () => {
    const base = () => `${server.url}/socket.io/?EIO=4&transport=polling`;

    /** Real handshake: engine open, then socket.io CONNECT with auth. Returns the session URL. */
    async function handshake(name = 'raw-poll') {
      const res = await fetch(base(), { signal: AbortSignal.timeout(3000) });
      assert.equal(res.status, 200, 'polling handshake');
      const text = await res.text();
      assert.equal(text[0], '0', `open packet expected, got ${text.slice(0, 100)}`);
      const openPkt = JSON.parse(text.slice(1));
      assert.equal(typeof openPkt.sid, 'string');
      const q = `${base()}&sid=${encodeURIComponent(openPkt.sid)}`;
      const post = await fetch(q, {
        method: 'POST',
        body: `40${JSON.stringify({ name })}`,
        headers: { 'content-type': 'text/plain;charset=UTF-8' },
        signal: AbortSignal.timeout(3000),
      });
      assert.equal(post.status, 200, 'socket.io CONNECT post');
      await post.text();
      const get = await fetch(q, { signal: AbortSignal.timeout(3000) });
      const got = await get.text();
      assert.equal(get.status, 200);
      assert.ok(got.split(SEP).some((p) => p.startsWith('40')), `CONNECT ack expected, got ${got.slice(0, 200)}`);
      return { q, openPkt };
    }

    /** After garbage: is the session closed? A valid acked event must not be answered. */
    async function assertSessionClosed(q, label) {
      const post = await fetch(q, {
        method: 'POST',
        body: '421["chat:history",{"room":"probe"}]',
        headers: { 'content-type': 'text/plain;charset=UTF-8' },
        signal: AbortSignal.timeout(3000),
      });
      await post.text();
      if (post.status >= 400) return; // unknown session: closed
      const get = await fetch(q, { signal: AbortSignal.timeout(5000) }).catch((e) => ({ status: 0, err: e }));
      if (get.status === 0 || get.status >= 400) return;
      const body = await get.text();
      const packets = body.split(SEP);
      assert.ok(
        packets.includes('1') && !packets.some((p) => p.startsWith('431')),
        `after ${label} the session must be closed, but it answered ${JSON.stringify(body.slice(0, 200))}`,
      );
    }

    const garbage = [
      ['unknown engine packet type "9xyz"', '9xyz', 'text/plain;charset=UTF-8'],
      ['truncated event "42["', '42[', 'text/plain;charset=UTF-8'],
      ['event that is not an array "42{}"', '42{}', 'text/plain;charset=UTF-8'],
      ['event name not a string "42[1,2]"', '42[1,2]', 'text/plain;charset=UTF-8'],
      ['empty socket.io packet "4"', '4', 'text/plain;charset=UTF-8'],
      ['unknown socket.io packet type "49"', '49', 'text/plain;charset=UTF-8'],
      ['a packet then garbage', `3${SEP}zz${SEP}`, 'text/plain;charset=UTF-8'],
      ['binary blob', Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0xff]), 'application/octet-stream'],
      ['invalid UTF-8', Buffer.from([0x34, 0x32, 0xc3, 0x28, 0xa0, 0xa1]), 'text/plain;charset=UTF-8'],
      ['bad base64 binary packet "b!!!"', 'b!!!', 'text/plain;charset=UTF-8'],
    ];

    for (const [label, body, contentType] of garbage) {
      it(`POST ${label} -> HTTP 4xx or closed session; others unaffected`, async () => {
        const { q } = await handshake();
        const res = await fetch(q, {
          method: 'POST',
          body,
          headers: { 'content-type': contentType },
          signal: AbortSignal.timeout(3000),
        });
        await res.text();
        assert.ok(res.status < 500, `HTTP ${res.status} for ${label}: a client error must not be a 5xx`);
        if (res.status < 400) await assertSessionClosed(q, label);
        await healthy();
      });
    }

    it('POST to an unknown sid -> HTTP 400', async () => {
      const res = await fetch(`${base()}&sid=doesnotexist`, { method: 'POST', body: '3' });
      await res.text();
      assert.equal(res.status, 400);
      await healthy();
    });

    it('GET with a bad EIO version or transport -> HTTP 4xx', async () => {
      for (const url of [
        `${server.url}/socket.io/?EIO=99&transport=polling`,
        `${server.url}/socket.io/?EIO=4&transport=carrier-pigeon`,
        `${server.url}/socket.io/?transport=polling`,
      ]) {
        const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
        await res.text();
        assert.ok(res.status >= 400 && res.status < 500, `${url} -> ${res.status}`);
      }
      await healthy();
    });

    it('a POST over the max payload -> HTTP 413 and the session is closed', async () => {
      const { q, openPkt } = await handshake();
      assert.equal(openPkt.maxPayload, 1_000_000, 'the open packet advertises maxPayload = --max-payload');
      const res = await fetch(q, {
        method: 'POST',
        body: `42["chat:send",{"room":"x","text":"${'z'.repeat(1_100_000)}"}]`,
        headers: { 'content-type': 'text/plain;charset=UTF-8' },
        signal: AbortSignal.timeout(5000),
      });
      await res.text();
      assert.equal(res.status, 413);
      await assertSessionClosed(q, 'an oversized POST');
      await healthy();
    });

    it('the open packet advertises the default ping settings', async () => {
      const { openPkt } = await handshake();
      assert.equal(openPkt.pingInterval, 25000);
      assert.equal(openPkt.pingTimeout, 20000);
      assert.ok(Array.isArray(openPkt.upgrades) && openPkt.upgrades.includes('websocket'));
    });
  });

  // ---------------------------------------------------------------------------------------------
  // Raw Engine.IO over WebSocket (ws)
  // ---------------------------------------------------------------------------------------------
  describe('raw websocket garbage', () => {
    /** Opens a raw WebSocket, reads the open packet, does the socket.io CONNECT with auth. */
    function rawConnect(name = 'raw-ws') {
      return new Promise((resolve, reject) => {
        const ws = new WebSocket(`${server.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
        const inbox = [];
        const timer = setTimeout(() => reject(new Error('raw websocket handshake timed out')), 3000);
        ws.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        ws.on('message', (data, isBinary) => {
          const text = isBinary ? null : data.toString();
          inbox.push(text);
          if (text?.startsWith('0')) ws.send(`40${JSON.stringify({ name })}`);
          else if (text?.startsWith('40')) {
            clearTimeout(timer);
            resolve({ ws, inbox });
          } else if (text === '2') ws.send('3');
        });
      });
    }

    /** Sends `garbage`; the server must close the connection (a close packet "1" may come first). */
    async function assertClosedBy(ws, inbox, garbage, label, binary = false) {
      const closed = new Promise((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) resolve('already');
        ws.once('close', (code) => resolve(code));
      });
      ws.send(garbage, { binary });
      let timer;
      const outcome = await Promise.race([
        closed.then(() => 'closed'),
        new Promise((resolve) => {
          timer = setTimeout(() => resolve('still open after 3 s'), 3000);
        }),
      ]);
      clearTimeout(timer);
      assert.equal(outcome, 'closed', `after ${label} the server must close the WebSocket (got: ${outcome})`);
    }

    const garbage = [
      ['unknown engine packet type "9xyz"', '9xyz'],
      ['truncated event "42["', '42['],
      ['event that is not an array "42{}"', '42{}'],
      ['event name not a string "42[1,2]"', '42[1,2]'],
      ['empty socket.io packet "4"', '4'],
      ['empty text frame', ''],
      ['a second open packet "0"', '0'],
      ['binary blob', Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0xff]), true],
      ['invalid UTF-8 text frame', Buffer.from([0x34, 0x32, 0xc3, 0x28]), false],
    ];

    for (const [label, data, binary] of garbage) {
      it(`${label} -> connection closed; others unaffected`, async () => {
        const { ws, inbox } = await rawConnect();
        try {
          await assertClosedBy(ws, inbox, data, label, binary ?? false);
        } finally {
          ws.terminate();
        }
        await healthy();
      });
    }

    it('a raw client that behaves gets normal acks, even for an event sent right after CONNECT (x50)', async () => {
      const N = 50;
      const failed = [];
      for (let i = 0; i < N; i += 1) {
        const { ws } = await rawConnect(`raw-good-${i}`); // resolves as the CONNECT ack "40" arrives
        try {
          const room = uniqueRoom('raw');
          const answer = new Promise((resolve) => {
            ws.on('message', (d) => {
              const t = d.toString();
              if (t.startsWith('431')) resolve(JSON.parse(t.slice(3))[0]);
            });
          });
          ws.send(`421${JSON.stringify(['room:join', { room }])}`);
          let timer;
          const res = await Promise.race([
            answer,
            new Promise((resolve) => {
              timer = setTimeout(() => resolve('no ack within 1 s'), 1000);
            }),
          ]);
          clearTimeout(timer);
          if (!(res && res.ok === true && res.room === room)) failed.push({ i, res });
        } finally {
          ws.terminate();
        }
      }
      assert.deepEqual(failed, [], `${failed.length}/${N} room:join sent right after the CONNECT ack got no ack`);
    });

    it('a frame over the max payload closes the raw WebSocket', async () => {
      const { ws, inbox } = await rawConnect();
      try {
        await assertClosedBy(
          ws,
          inbox,
          `42["chat:send",{"room":"x","text":"${'z'.repeat(1_100_000)}"}]`,
          'a 1.1 MB frame',
        );
      } finally {
        ws.terminate();
      }
      await healthy();
    });
  });
});
