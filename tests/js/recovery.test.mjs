// Recovery with room:join { since, epoch } after a disconnect, and epoch changes across a restart.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { io } from 'socket.io-client';
import {
  MODES,
  ack,
  assertOk,
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

describe('recovery with since/epoch', () => {
  let server;
  const open = [];
  before(async () => {
    server = await startServer({ args: ['--rate-limit', '100000', '--rate-burst', '100000'] });
  });
  after(async () => {
    closeAll(open);
    await stopChecked(server);
  });
  const client = async (name, mode = 'websocket', extra = {}) => {
    const s = await connect(server.url, { name, mode, ...extra });
    open.push(s);
    return s;
  };

  for (const mode of ['websocket', 'polling']) {
    it(`a client that reconnects gets exactly the messages it missed (${mode})`, async () => {
      const room = uniqueRoom('rec');
      const a = await client('alice', mode);
      const b = await client('bob');
      const ja = await join(a, room);
      await join(b, room);
      const seenA = collect(a, 'chat:message');
      for (let i = 1; i <= 3; i += 1) await send(b, room, `before ${i}`);
      await seenA.waitForCount(3);
      const lastSeq = Math.max(...seqs(seenA.items));
      const epoch = ja.epoch;
      assert.equal(lastSeq, 3);

      const presB = collect(b, 'room:presence');
      a.disconnect();
      await presB.waitFor((l) => l.some((p) => p.action === 'leave'), { what: 'leave of A' });

      const missed = [];
      for (let i = 1; i <= 5; i += 1) missed.push(await send(b, room, `missed ${i}`));

      a.connect();
      await once(a, 'connect', { timeout: 5000 });
      const rj = await join(a, room, { since: lastSeq, epoch });
      assert.equal(rj.epoch, epoch, 'same server lifetime => same epoch');
      assert.deepEqual(seqs(rj.history), [4, 5, 6, 7, 8], 'history = exactly the missed seqs');
      assert.deepEqual(rj.history, missed, 'history = exactly the missed messages');

      // and live messages continue after the recovered ones
      const live = await send(b, room, 'live');
      assert.equal(live.seq, 9);
      await seenA.waitFor((l) => l.some((m) => m.id === live.id));
      const all = [...seenA.items.filter((m) => m.seq <= lastSeq), ...rj.history, ...seenA.items.filter((m) => m.seq > lastSeq)];
      assert.deepEqual(seqs(all), range(1, 9), 'no gap, no duplicate');
    });
  }

  it('a wrong epoch makes the server ignore since and return the last 50', async () => {
    const room = uniqueRoom('epoch');
    const a = await client('alice');
    const ja = await join(a, room);
    for (let i = 1; i <= 60; i += 1) await send(a, room, `e${i}`);
    const b = await client('bob');
    const good = await join(b, room, { since: 55, epoch: ja.epoch });
    assert.deepEqual(seqs(good.history), range(56, 60), 'right epoch: since honoured');
    const c = await client('carol');
    const bad = await join(c, room, { since: 55, epoch: `${ja.epoch}-not-this-one` });
    assert.equal(bad.epoch, ja.epoch, 'the ack carries the server epoch');
    assert.deepEqual(seqs(bad.history), range(11, 60), 'wrong epoch: since ignored, last 50 returned');
    const d = await client('dave');
    const bad2 = await join(d, room, { since: 100, epoch: 'bogus' });
    assert.deepEqual(seqs(bad2.history), range(11, 60), 'wrong epoch with since beyond the last seq');
  });

  it('a dropped transport reconnects automatically and a re-join with since fills the gap exactly', async () => {
    const room = uniqueRoom('drop');
    const b = await client('bob');
    await join(b, room);
    const a = io(server.url, {
      forceNew: true,
      auth: { name: 'alice' },
      transports: ['websocket'],
      reconnection: true,
      reconnectionDelay: 50,
      reconnectionDelayMax: 200,
      randomizationFactor: 0,
    });
    open.push(a);
    const seen = new Map(); // seq -> message; duplicates are counted
    let duplicates = 0;
    let last = 0;
    let epoch = null;
    let check = () => {};
    const record = (m) => {
      if (m.room !== room) return;
      if (seen.has(m.seq)) duplicates += 1;
      seen.set(m.seq, m);
      last = Math.max(last, m.seq);
      check();
    };
    a.on('chat:message', record);
    const rejoins = [];
    a.on('connect', () => {
      const payload = epoch === null ? { room } : { room, since: last, epoch };
      const p = ack(a, 'room:join', payload).then((res) => {
        assertOk(res, 'rejoin');
        if (epoch !== null) assert.equal(res.epoch, epoch, 'same epoch on rejoin');
        epoch = res.epoch;
        res.history.forEach(record);
        check();
        return res;
      });
      p.catch(() => {});
      rejoins.push(p);
    });
    await once(a, 'connect', { timeout: 5000 });
    await rejoins[0];

    const total = 30;
    const disconnected = once(a, 'disconnect', { timeout: 5000 });
    for (let i = 1; i <= total; i += 1) {
      await send(b, room, `d${i}`);
      if (i === 8) {
        // simulate a dropped connection mid-stream (no close handshake)
        const ws = a.io.engine.transport.ws;
        if (typeof ws.terminate === 'function') ws.terminate();
        else ws.close();
      }
    }
    await disconnected;
    // wait until A has everything (recovered through the rejoin history and live messages)
    await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`A has ${seen.size}/${total} messages after 8 s; rejoins ${rejoins.length}`)),
        8000,
      );
      check = () => {
        if (seen.size >= total && rejoins.length >= 2) {
          clearTimeout(timer);
          resolve();
        }
      };
      check();
    });
    await Promise.all(rejoins);
    assert.ok(rejoins.length >= 2, 'A reconnected and re-joined');
    assert.equal(duplicates, 0, 'no message delivered twice');
    assert.deepEqual([...seen.keys()].sort((x, y) => x - y), range(1, total), 'every seq exactly once');
  });
});

describe('server restart', () => {
  it('gives a new epoch and seq restarts at 1; a re-join with the old epoch gets the new messages', async () => {
    const s1 = await startServer();
    const port = s1.port;
    const open = [];
    let s2;
    try {
      const room = uniqueRoom('restart');
      const a = await connect(s1.url, { name: 'alice', mode: 'websocket' });
      open.push(a);
      const j1 = await join(a, room);
      const old = [];
      for (let i = 1; i <= 3; i += 1) old.push(await send(a, room, `old ${i}`));
      assert.deepEqual(seqs(old), [1, 2, 3]);

      const gone = once(a, 'disconnect', { timeout: 15000 });
      const stopped = await s1.stop();
      assert.equal(stopped.forced, false, 'the server exits on SIGTERM (with a connected WebSocket client)');
      await gone;

      s2 = await startServer({ port });
      const c = await connect(s2.url, { name: 'carol', mode: 'websocket' });
      open.push(c);
      const jc = await join(c, room);
      assert.equal(typeof jc.epoch, 'string');
      assert.notEqual(jc.epoch, j1.epoch, 'epoch differs after a restart');
      assert.deepEqual(jc.history, [], 'the in-memory store started empty');
      const fresh = [await send(c, room, 'new 1'), await send(c, room, 'new 2')];
      assert.deepEqual(seqs(fresh), [1, 2], 'seq restarts at 1');
      for (const m of fresh) {
        assert.ok(!old.some((o) => o.id === m.id), 'message ids are unique across restarts');
      }

      // A comes back with its old since/epoch: since (3) must be ignored, else it would miss 1 and 2.
      a.connect();
      await once(a, 'connect', { timeout: 5000 });
      const rj = await join(a, room, { since: 3, epoch: j1.epoch });
      assert.equal(rj.epoch, jc.epoch, 'the new epoch');
      assert.deepEqual(rj.history, fresh, 'old epoch => since ignored, last 50 of the new lifetime');
    } finally {
      closeAll(open);
      await stopChecked(s1);
      await stopChecked(s2);
    }
  });

  it('exits on SIGTERM with clients connected on both transports, cleanly and without panicking', async () => {
    const s = await startServer({ args: ['--shutdown-grace-ms', '2000'] });
    const clients = [];
    try {
      // several sockets sharing several rooms: each disconnect at shutdown is a presence leave
      const rooms = [uniqueRoom('bye'), uniqueRoom('bye'), uniqueRoom('bye')];
      for (let i = 0; i < 8; i += 1) {
        const c = await connect(s.url, { name: `bye${i}`, mode: i % 2 ? 'polling' : 'websocket' });
        clients.push(c);
        for (const room of rooms) await join(c, room);
      }
      const gone = clients.map((c) => once(c, 'disconnect', { timeout: 15000 }));
      // a few clients leave on their own just as the server is told to stop
      const leaving = clients.slice(0, 3);
      closeAll(leaving);
      const res = await s.stop({ timeoutMs: 10000 });
      assert.equal(res.forced, false, `SIGTERM must stop the server within 10 s (grace 2 s); took ${res.ms} ms`);
      assert.equal(res.code, 0, `exit code after SIGTERM: ${JSON.stringify(res)}`);
      await Promise.all(gone);
      assert.deepEqual(s.panicsDuringShutdown(), [], 'the server must not panic while shutting down');
    } finally {
      closeAll(clients);
      await s.stop();
    }
  });

  it('does not panic when clients disconnect while the server shuts down (5 rounds)', async () => {
    const problems = [];
    for (let round = 1; round <= 5; round += 1) {
      const s = await startServer();
      const clients = [];
      try {
        const rooms = [uniqueRoom('race'), uniqueRoom('race')];
        await Promise.all(
          Array.from({ length: 30 }, async (_, i) => {
            const c = await connect(s.url, { name: `r${i}`, mode: i % 2 ? 'polling' : 'websocket' });
            clients.push(c);
            for (const room of rooms) await join(c, room);
          }),
        );
        closeAll(clients); // every client leaves (presence leaves are in flight) ...
        const res = await s.stop({ timeoutMs: 15000 }); // ... as SIGTERM arrives
        if (res.forced) problems.push(`round ${round}: did not exit within 15 s`);
        const panics = s.panicsDuringShutdown();
        if (panics.length) problems.push(`round ${round}: ${panics.length} panic(s): ${panics[0]}`);
      } finally {
        closeAll(clients);
        await s.stop();
      }
    }
    assert.deepEqual(problems, [], 'shutdown with disconnects in flight');
  });
});
