// Concurrent sends from 3 clients into one room: every client sees every message exactly once,
// and the room's seqs are 1..90 with no gap.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ack, assertOk, closeAll, collect, connect, join, range, uniqueRoom } from './helpers.mjs';
import { startServer, stopChecked } from './server.mjs';

const PER_CLIENT = 30;
const CLIENTS = 3;
const TOTAL = PER_CLIENT * CLIENTS;

describe('concurrent sends', () => {
  let server;
  const open = [];
  before(async () => {
    server = await startServer(); // default limits: 30 in a volley is within the burst of 40
  });
  after(async () => {
    closeAll(open);
    await stopChecked(server);
  });

  const layouts = {
    'websocket x3': ['websocket', 'websocket', 'websocket'],
    'polling x3': ['polling', 'polling', 'polling'],
    'upgrade x3': ['upgrade', 'upgrade', 'upgrade'],
    'mixed polling + websocket + upgrade': ['polling', 'websocket', 'upgrade'],
  };

  for (const [label, modes] of Object.entries(layouts)) {
    it(`3 clients x ${PER_CLIENT} messages in parallel (${label})`, async () => {
      const room = uniqueRoom('conc');
      const clients = [];
      for (const [i, mode] of modes.entries()) {
        const s = await connect(server.url, { name: `c${i}`, mode, timeout: 8000 });
        open.push(s);
        clients.push(s);
      }
      for (const s of clients) await join(s, room);
      const inboxes = clients.map((s) => collect(s, 'chat:message'));

      const acks = await Promise.all(
        clients.flatMap((s, ci) =>
          Array.from({ length: PER_CLIENT }, (_, k) =>
            s.timeout(10000).emitWithAck('chat:send', { room, text: `c${ci}-${k}`, clientId: `c${ci}-${k}` }),
          ),
        ),
      );
      acks.forEach((r, i) => assertOk(r, `ack #${i}`));
      const ackSeqs = acks.map((r) => r.message.seq).sort((a, b) => a - b);
      assert.deepEqual(ackSeqs, range(1, TOTAL), 'acked seqs are 1..90 with no gap and no duplicate');
      for (const r of acks) assert.equal(r.message.text, r.message.clientId, 'ack matches its own message');

      for (const [ci, inbox] of inboxes.entries()) {
        await inbox.waitForCount(TOTAL, { timeout: 10000 });
        const got = inbox.items.filter((m) => m.room === room);
        const bySeq = new Map();
        for (const m of got) {
          assert.ok(!bySeq.has(m.seq), `client ${ci} received seq ${m.seq} twice`);
          bySeq.set(m.seq, m);
        }
        assert.equal(got.length, TOTAL, `client ${ci} received exactly ${TOTAL} messages`);
        assert.deepEqual([...bySeq.keys()].sort((a, b) => a - b), range(1, TOTAL), `client ${ci} seqs`);
        for (const r of acks) {
          assert.deepEqual(bySeq.get(r.message.seq), r.message, `client ${ci}: message equals the ack`);
        }
      }
      const ids = new Set(acks.map((r) => r.message.id));
      assert.equal(ids.size, TOTAL, 'message ids are unique');

      // the history agrees
      const hist = await ack(clients[0], 'chat:history', { room, limit: 1000 });
      assertOk(hist, 'history');
      assert.deepEqual(
        hist.messages.map((m) => m.seq),
        range(1, TOTAL),
        'history is ascending 1..90',
      );
      closeAll(clients);
    });
  }

  it('fan-out within the default limits: 8 clients each send their burst of 40 at once (320 messages); every socket gets all of them, or is disconnected, never a silent gap', async () => {
    const room = uniqueRoom('fan');
    const SENDERS = 8;
    const BURST = 40; // the default --rate-burst: every one of these sends is allowed
    const T = SENDERS * BURST;
    const senders = [];
    for (let i = 0; i < SENDERS; i += 1) {
      const s = await connect(server.url, { name: `s${i}`, mode: 'websocket' });
      open.push(s);
      senders.push(s);
    }
    const slowPoller = await connect(server.url, { name: 'poller', mode: 'polling' });
    const watcher = await connect(server.url, { name: 'watcher', mode: 'websocket' });
    open.push(slowPoller, watcher);
    const all = [...senders, slowPoller, watcher];
    const labels = [...senders.map((_, i) => `sender ${i} (websocket)`), 'receiver (polling)', 'receiver (websocket)'];
    for (const s of all) await join(s, room);
    const inboxes = all.map((s) => collect(s, 'chat:message'));
    const disconnected = all.map(() => null);
    all.forEach((s, i) =>
      s.on('disconnect', (reason) => {
        disconnected[i] = reason;
      }),
    );

    const acks = await Promise.all(
      senders.flatMap((s, si) =>
        Array.from({ length: BURST }, (_, k) =>
          s
            .timeout(10000)
            .emitWithAck('chat:send', { room, text: `s${si}-${k}` })
            .catch((err) => ({ lost: err.message, si })),
        ),
      ),
    );
    const lostAcks = acks.filter((r) => r.lost && disconnected[r.si] === null);
    assert.equal(lostAcks.length, 0, `${lostAcks.length} acks never arrived at sockets that stayed connected`);
    const okAcks = acks.filter((r) => r.ok);
    assert.equal(okAcks.length, T, `all ${T} sends are within the per-socket limits`);

    // wait until every socket has everything or was disconnected (bounded)
    await Promise.allSettled(
      inboxes.map((ib, i) =>
        Promise.race([
          ib.waitForCount(T, { timeout: 8000 }),
          new Promise((resolve) => all[i].once('disconnect', resolve)),
        ]),
      ),
    );
    const problems = [];
    inboxes.forEach((ib, i) => {
      const seqSet = new Set(ib.items.map((m) => m.seq));
      if (seqSet.size !== ib.items.length) problems.push(`${labels[i]}: duplicates`);
      if (disconnected[i] === null && seqSet.size !== T) {
        problems.push(`${labels[i]}: still connected but received ${seqSet.size}/${T} messages`);
      }
    });
    assert.deepEqual(problems, [], 'chat:message must reach every socket in the room (or the socket must be told, by a disconnect)');
    closeAll(all);
  });
});
