// The main contract scenarios (see shared/chat-contract.md), run over the three transport modes:
// long-polling only, WebSocket only, and the default polling-then-upgrade.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { io } from 'socket.io-client';
import {
  MODE_NAMES,
  ack,
  assertError,
  assertMessage,
  assertOk,
  assertUser,
  closeAll,
  collect,
  connect,
  join,
  once,
  range,
  send,
  seqs,
  uniqueRoom,
} from './helpers.mjs';
import { startServer, stopChecked } from './server.mjs';

const pick = (u) => ({ id: u.id, name: u.name });
const byId = (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

for (const mode of MODE_NAMES) {
  describe(`contract over ${mode}`, () => {
    let server;
    const open = [];
    const client = async (name, extra = {}) => {
      const s = await connect(server.url, { name, mode, ...extra });
      open.push(s);
      return s;
    };

    before(async () => {
      // Raised rate limit: these scenarios send many messages from one socket; limits are tested elsewhere.
      server = await startServer({ args: ['--rate-limit', '100000', '--rate-burst', '100000'] });
    });
    after(async () => {
      closeAll(open);
      await stopChecked(server);
    });

    it('connects with the expected transport', async () => {
      if (mode === 'upgrade') {
        const s = io(server.url, { forceNew: true, reconnection: false, auth: { name: 'upgrader' } });
        open.push(s);
        const engine = s.io.engine;
        const initial = engine.transport.name;
        const upgraded = once(engine, 'upgrade', { timeout: 5000 });
        await once(s, 'connect', { timeout: 5000 });
        assert.equal(initial, 'polling', 'the default client starts with long-polling');
        await upgraded;
        assert.equal(s.io.engine.transport.name, 'websocket', 'transport after the upgrade event');
        // The upgraded connection carries the protocol.
        const room = uniqueRoom('upg');
        await join(s, room);
        const m = await send(s, room, 'after upgrade');
        assert.equal(m.seq, 1);
      } else {
        const s = await client('transport');
        assert.equal(s.io.engine.transport.name, mode);
      }
    });

    it('calls emitted at connect time (buffered by the client, sent right after CONNECT) are handled', async () => {
      // A React app typically emits room:join in its 'connect' handler, or even before the socket
      // is connected (socket.io-client buffers it and flushes it right after the CONNECT packet).
      const room = uniqueRoom('early');
      const N = 40;
      const sockets = [];
      const failed = [];
      for (let i = 0; i < N; i += 1) {
        // one after the other: the race is between the server's connect handler and the first event
        const s = io(server.url, {
          forceNew: true,
          reconnection: false,
          auth: { name: `early${i}` },
          ...(mode === 'polling'
            ? { transports: ['polling'], upgrade: false }
            : mode === 'websocket'
              ? { transports: ['websocket'] }
              : {}),
        });
        open.push(s);
        sockets.push(s);
        const res = await s
          .timeout(2000)
          .emitWithAck('room:join', { room })
          .catch((err) => ({ err: err.message }));
        if (!res?.ok) failed.push({ i, res });
        s.close();
      }
      assert.deepEqual(
        failed,
        [],
        `${failed.length}/${N} room:join emitted at connect time got no ack (dropped by the server)`,
      );
      closeAll(sockets);
    });

    it('room:join acks { ok, room, epoch, members (self included), history }', async () => {
      const a = await client('alice');
      const room = uniqueRoom();
      const res = await join(a, room);
      assert.equal(res.room, room);
      assert.equal(typeof res.epoch, 'string', `epoch must be a string: ${JSON.stringify(res.epoch)}`);
      assert.ok(res.epoch.length > 0, 'epoch must not be empty');
      assert.ok(Array.isArray(res.members), 'members must be an array');
      res.members.forEach((u) => assertUser(u, 'member'));
      assert.deepEqual(res.members.map(pick), [{ id: a.id, name: 'alice' }], 'members of a fresh room = self');
      assert.ok(Array.isArray(res.history), 'history must be an array');
      assert.deepEqual(res.history, [], 'a fresh room has no history');
    });

    it('two clients see each other: members and presence counts agree', async () => {
      const room = uniqueRoom();
      const a = await client('alice');
      const b = await client('bob');
      const c = await client('carol');
      const presA = collect(a, 'room:presence');
      const presB = collect(b, 'room:presence');
      const presC = collect(c, 'room:presence');

      await join(a, room);
      const jb = await join(b, room);
      assert.deepEqual(
        jb.members.map(pick).sort(byId),
        [
          { id: a.id, name: 'alice' },
          { id: b.id, name: 'bob' },
        ].sort(byId),
        'B sees A and itself',
      );
      const [pa] = await presA.waitForCount(1);
      assert.equal(pa.room, room);
      assert.equal(pa.action, 'join');
      assert.deepEqual(pick(pa.user), { id: b.id, name: 'bob' });
      assert.equal(pa.count, 2, 'count after B joined');
      assert.equal(pa.count, jb.members.length, 'presence count agrees with the member list');

      const jc = await join(c, room);
      assert.equal(jc.members.length, 3);
      await presA.waitForCount(2);
      await presB.waitForCount(1);
      for (const p of [presA.items[1], presB.items[0]]) {
        assert.deepEqual(
          { room: p.room, action: p.action, user: pick(p.user), count: p.count },
          { room, action: 'join', user: { id: c.id, name: 'carol' }, count: 3 },
        );
      }
      // presence goes to the room's *other* sockets: nobody got its own join
      assert.ok(!presA.items.some((p) => p.user.id === a.id), 'A must not get presence about itself');
      assert.ok(!presB.items.some((p) => p.user.id === b.id), 'B must not get presence about itself');

      assertOk(await ack(c, 'room:leave', { room }), 'room:leave');
      await presA.waitForCount(3);
      await presB.waitForCount(2);
      for (const p of [presA.items[2], presB.items[1]]) {
        assert.deepEqual(
          { room: p.room, action: p.action, user: pick(p.user), count: p.count },
          { room, action: 'leave', user: { id: c.id, name: 'carol' }, count: 2 },
        );
      }
      assert.equal(presC.items.filter((p) => p.user.id === c.id).length, 0, 'C got no presence about itself');
    });

    it('room:join is idempotent (no duplicate member, no second presence)', async () => {
      const room = uniqueRoom();
      const a = await client('alice');
      const b = await client('bob');
      await join(a, room);
      await join(b, room);
      const presB = collect(b, 'room:presence');
      const msgsB = collect(b, 'chat:message');
      const again = await join(a, room);
      assert.equal(again.members.length, 2, `members after a second join: ${JSON.stringify(again.members)}`);
      assert.equal(again.members.filter((u) => u.id === a.id).length, 1, 'A listed once');
      // sentinel: everything the server sent B because of the second join is queued before this message
      const m = await send(a, room, 'sentinel');
      await msgsB.waitFor((l) => l.some((x) => x.id === m.id));
      assert.deepEqual(presB.items, [], 'a repeated join must not announce presence again');

      const c = await client('carol');
      const jc = await join(c, room);
      assert.equal(jc.members.length, 3, 'count stays per socket after repeated joins');
    });

    it('room:leave acks { ok } and announces the leave; not_in_room when not joined', async () => {
      const room = uniqueRoom();
      const other = uniqueRoom('other');
      const a = await client('alice');
      const b = await client('bob');
      await join(a, room);
      await join(b, room);
      await join(a, other);
      await join(b, other);
      const presA = collect(a, 'room:presence');
      const msgsB = collect(b, 'chat:message');

      const res = await ack(b, 'room:leave', { room });
      assertOk(res, 'room:leave');
      // (A may still be receiving B's earlier join of `other`: look for the leave)
      const isLeave = (x) => x.action === 'leave';
      await presA.waitFor((l) => l.some(isLeave), { what: 'the leave of B' });
      const p = presA.items.find(isLeave);
      assert.deepEqual(
        { room: p.room, action: p.action, user: pick(p.user), count: p.count },
        { room, action: 'leave', user: { id: b.id, name: 'bob' }, count: 1 },
      );

      assertError(await ack(b, 'room:leave', { room }), 'not_in_room', 'second room:leave');
      assertError(await ack(b, 'chat:send', { room, text: 'hi' }), 'not_in_room', 'chat:send after leave');
      assertError(await ack(b, 'chat:history', { room }), 'not_in_room', 'chat:history after leave');
      assertError(await ack(b, 'room:leave', { room: uniqueRoom('never') }), 'not_in_room', 'leave never joined');

      // B no longer receives messages of the room it left
      const m1 = await send(a, room, 'not for bob');
      const m2 = await send(a, other, 'for bob');
      await msgsB.waitFor((l) => l.some((x) => x.id === m2.id));
      assert.ok(!msgsB.items.some((x) => x.id === m1.id), 'B received a message of a room it left');
    });

    it('chat:send acks { ok, message }, chat:message reaches sender (before the ack) and others; seq 1,2,3', async () => {
      const room = uniqueRoom();
      const a = await client('alice');
      const b = await client('bob');
      await join(a, room);
      await join(b, room);
      const msgsA = collect(a, 'chat:message');
      const msgsB = collect(b, 'chat:message');

      const t0 = Date.now();
      const r1 = await ack(a, 'chat:send', { room, text: 'hello', clientId: 'c-1' });
      assertOk(r1, 'chat:send');
      const m1 = assertMessage(r1.message, { room, text: 'hello', from: { id: a.id, name: 'alice' }, clientId: 'c-1' });
      assert.equal(m1.seq, 1, 'seq starts at 1');
      assert.ok(m1.ts >= t0 - 2000 && m1.ts <= Date.now() + 2000, `ts ${m1.ts} is now-ish`);
      assert.ok(
        msgsA.items.some((x) => x.id === m1.id),
        'the sender must receive chat:message before (or with) the ack',
      );
      assert.deepEqual(msgsA.items.find((x) => x.id === m1.id), m1, 'chat:message equals the acked message');
      await msgsB.waitFor((l) => l.some((x) => x.id === m1.id));
      assert.deepEqual(msgsB.items.find((x) => x.id === m1.id), m1);

      const m2 = await send(b, room, 'hi alice');
      assertMessage(m2, { room, text: 'hi alice', from: { id: b.id, name: 'bob' } });
      assert.equal(m2.seq, 2);
      const m3 = await send(a, room, 'no client id');
      assert.equal(m3.seq, 3);
      assert.ok(m3.clientId === undefined || m3.clientId === null, `clientId absent when not sent: ${m3.clientId}`);
      assert.notEqual(m1.id, m2.id);
      assert.notEqual(m2.id, m3.id);
      assert.ok(m1.ts <= m2.ts && m2.ts <= m3.ts, 'ts does not go backwards');

      await msgsA.waitForCount(3);
      await msgsB.waitForCount(3);
      assert.deepEqual(seqs(msgsA.items), [1, 2, 3]);
      assert.deepEqual(seqs(msgsB.items), [1, 2, 3]);
    });

    it('chat:typing reaches the others but not the sender', async () => {
      const room = uniqueRoom();
      const a = await client('alice');
      const b = await client('bob');
      const c = await client('carol');
      for (const s of [a, b, c]) await join(s, room);
      const typA = collect(a, 'chat:typing');
      const typB = collect(b, 'chat:typing');
      const typC = collect(c, 'chat:typing');

      a.emit('chat:typing', { room, typing: true });
      for (const t of [typB, typC]) {
        const [ev] = await t.waitForCount(1);
        assert.deepEqual({ room: ev.room, user: pick(ev.user), typing: ev.typing }, {
          room,
          user: { id: a.id, name: 'alice' },
          typing: true,
        });
      }
      a.emit('chat:typing', { room, typing: false });
      const evs = await typB.waitForCount(2);
      assert.equal(evs[1].typing, false);
      await typC.waitForCount(2);
      // sentinel on the sender's own queue
      await send(a, room, 'sentinel');
      assert.deepEqual(typA.items, [], 'the sender must not receive its own chat:typing');
    });

    it('chat:history: ascending, after/before/limit semantics, epoch, not_in_room', async () => {
      const room = uniqueRoom();
      const a = await client('alice');
      const j = await join(a, room);
      const sent = [];
      for (let i = 1; i <= 10; i += 1) sent.push(await send(a, room, `m${i}`));
      assert.deepEqual(seqs(sent), range(1, 10));

      const h = async (q) => {
        const res = await ack(a, 'chat:history', { room, ...q });
        assertOk(res, `chat:history ${JSON.stringify(q)}`);
        assert.equal(res.epoch, j.epoch, 'history epoch = join epoch');
        assert.ok(Array.isArray(res.messages));
        return res.messages;
      };
      const all = await h({});
      assert.deepEqual(all, sent, 'full history equals the acked messages, ascending');
      assert.deepEqual(seqs(await h({ limit: 3 })), [8, 9, 10], 'limit 3 = the last 3');
      assert.deepEqual(seqs(await h({ before: 5 })), [1, 2, 3, 4], 'before 5');
      assert.deepEqual(seqs(await h({ before: 5, limit: 2 })), [3, 4], 'before 5 limit 2 = the last 2 before 5');
      assert.deepEqual(seqs(await h({ after: 7 })), [8, 9, 10], 'after 7');
      assert.deepEqual(seqs(await h({ after: 2, limit: 3 })), [3, 4, 5], 'after 2 limit 3 = the first 3 after 2');
      assert.deepEqual(seqs(await h({ after: 0, limit: 1 })), [1], 'after 0 limit 1');
      assert.deepEqual(seqs(await h({ after: 10 })), [], 'after the last');
      assert.deepEqual(seqs(await h({ before: 1 })), [], 'before the first');

      const b = await client('bob');
      assertError(await ack(b, 'chat:history', { room }), 'not_in_room', 'history without joining');
      const jb = await join(b, room);
      assert.deepEqual(jb.history, sent, 'join history = last messages, ascending');
    });

    it('join returns the last 50; since returns every retained message after it', async () => {
      const room = uniqueRoom();
      const a = await client('alice');
      const ja = await join(a, room);
      const sent = [];
      for (let i = 1; i <= 60; i += 1) sent.push(await send(a, room, `n${i}`));

      const b = await client('bob');
      const jb = await join(b, room);
      assert.equal(jb.epoch, ja.epoch, 'epoch stays the same within one server lifetime');
      assert.deepEqual(seqs(jb.history), range(11, 60), 'join without since = the last 50');

      const c = await client('carol');
      const jc = await join(c, room, { since: 0, epoch: ja.epoch });
      assert.deepEqual(seqs(jc.history), range(1, 60), 'since 0 = every retained message (not capped at 50)');
      assert.deepEqual(jc.history, sent);

      const d = await client('dave');
      const jd = await join(d, room, { since: 55, epoch: ja.epoch });
      assert.deepEqual(seqs(jd.history), range(56, 60), 'since 55');

      const def = await ack(a, 'chat:history', { room });
      assert.deepEqual(seqs(def.messages), range(11, 60), 'history default limit 50');
      const big = await ack(a, 'chat:history', { room, limit: 1000 });
      assert.deepEqual(seqs(big.messages), range(1, 60), 'history limit 1000 (at most the retained window)');
    });

    it('a disconnect is a presence leave from every room', async () => {
      const r1 = uniqueRoom('r1');
      const r2 = uniqueRoom('r2');
      const a = await client('alice');
      const b = await client('bob');
      await join(a, r1);
      await join(a, r2);
      await join(b, r1);
      await join(b, r2);
      const presB = collect(b, 'room:presence');
      const aId = a.id;
      a.disconnect();
      const evs = await presB.waitForCount(2);
      const got = evs
        .map((p) => ({ room: p.room, action: p.action, user: pick(p.user), count: p.count }))
        .sort((x, y) => (x.room < y.room ? -1 : 1));
      assert.deepEqual(
        got,
        [r1, r2].sort().map((room) => ({ room, action: 'leave', user: { id: aId, name: 'alice' }, count: 1 })),
      );
      const jb = await join(b, r1); // idempotent join shows the current member list
      assert.deepEqual(jb.members.map(pick), [{ id: b.id, name: 'bob' }]);
    });

    it('a call without an ack callback is still carried out', async () => {
      const room = uniqueRoom();
      const room2 = uniqueRoom('noack');
      const a = await client('alice');
      const b = await client('bob');
      await join(a, room);
      await join(b, room);
      await join(b, room2);
      const msgsB = collect(b, 'chat:message');
      const presB = collect(b, 'room:presence');

      a.emit('chat:send', { room, text: 'sent without ack' });
      const [m] = await msgsB.waitForCount(1);
      assertMessage(m, { room, text: 'sent without ack', from: { id: a.id, name: 'alice' } });
      assert.equal(m.seq, 1);

      a.emit('room:join', { room: room2 });
      const [pj] = await presB.waitForCount(1);
      assert.deepEqual({ room: pj.room, action: pj.action, id: pj.user.id }, { room: room2, action: 'join', id: a.id });
      a.emit('room:leave', { room: room2 });
      const evs = await presB.waitForCount(2);
      assert.deepEqual({ room: evs[1].room, action: evs[1].action, id: evs[1].user.id }, {
        room: room2,
        action: 'leave',
        id: a.id,
      });
      // and an acked call still works afterwards
      const m2 = await send(a, room, 'with ack');
      assert.equal(m2.seq, 2);
    });

    it('an unknown event is ignored and the socket keeps working', async () => {
      const room = uniqueRoom();
      const a = await client('alice');
      const b = await client('bob');
      await join(a, room);
      await join(b, room);
      a.emit('totally:unknown', { room, text: 'x' });
      a.emit('chat:sendd', { room, text: 'typo' });
      a.emit('room:join:extra');
      a.timeout(200).emit('unknown:with-ack', { room }, () => {}); // may never be acked: that is fine
      const msgsB = collect(b, 'chat:message');
      const m = await send(a, room, 'still here');
      assert.equal(m.seq, 1, 'the unknown events did not create messages');
      await msgsB.waitForCount(1);
      assert.ok(a.connected);
      assert.equal(msgsB.items.length, 1);
    });

    it('error codes: not_in_room, bad_request, too_large (4000 accepted, 4001 refused)', async () => {
      const room = uniqueRoom();
      const a = await client('alice');
      assertError(await ack(a, 'chat:send', { room, text: 'hi' }), 'not_in_room', 'send without join');
      assertError(await ack(a, 'chat:history', { room }), 'not_in_room', 'history without join');
      assertError(await ack(a, 'room:leave', { room }), 'not_in_room', 'leave without join');
      assertError(await ack(a, 'room:join', { room: '' }), 'bad_request', 'empty room');
      assertError(await ack(a, 'room:join', {}), 'bad_request', 'missing room');
      assertError(await ack(a, 'room:join', 'general'), 'bad_request', 'string payload');
      await join(a, room);
      assertError(await ack(a, 'chat:send', { room, text: '' }), 'bad_request', 'empty text');
      assertError(await ack(a, 'chat:send', { room }), 'bad_request', 'missing text');
      assertError(await ack(a, 'chat:history', { room, limit: -1 }), 'bad_request', 'negative limit');

      const tooLong = await ack(a, 'chat:send', { room, text: 'x'.repeat(4001) });
      assertError(tooLong, 'too_large', '4001-char text');
      const max = await send(a, room, 'y'.repeat(4000));
      assert.equal(max.text.length, 4000);
      assert.equal(max.seq, 1, 'refused messages do not take a seq');
      const hist = await ack(a, 'chat:history', { room });
      assert.deepEqual(seqs(hist.messages), [1]);
    });
  });
}
