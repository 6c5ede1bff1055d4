// Configurable limits: rate limiting (default and custom), max text, max room length, history limit.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import {
  ack,
  assertError,
  assertOk,
  closeAll,
  collect,
  connect,
  join,
  range,
  send,
  seqs,
  uniqueRoom,
} from './helpers.mjs';
import { startServer, stopChecked } from './server.mjs';

/**
 * Fires `count` chat:send at once (a quick volley) and returns the acks plus the elapsed time.
 */
async function volley(socket, room, count) {
  const t0 = performance.now();
  const acks = await Promise.all(
    Array.from({ length: count }, (_, i) => ack(socket, 'chat:send', { room, text: `v${i}` })),
  );
  return { acks, elapsedMs: performance.now() - t0 };
}

/** Checks a volley against a token bucket of `burst` tokens refilled at `rate` per second. */
function checkVolley({ acks, elapsedMs }, { burst, rate, count }) {
  const ok = acks.filter((r) => r && r.ok === true);
  const limited = acks.filter((r) => r && r.ok === false);
  for (const r of limited) assertError(r, 'rate_limited', 'volley ack');
  assert.equal(ok.length + limited.length, count, `every call of the volley is acked: ${JSON.stringify(acks)}`);
  // Tokens that can have been refilled while the volley ran:
  const refill = Math.floor((elapsedMs / 1000) * rate);
  assert.ok(
    ok.length >= burst && ok.length <= burst + refill,
    `with burst ${burst} at ${rate}/s, a volley of ${count} in ${elapsedMs.toFixed(0)} ms must pass ` +
      `${burst}${refill ? `..${burst + refill}` : ''} calls; passed ${ok.length}`,
  );
  if (refill === 0) assert.equal(limited.length, count - burst, 'the rest is rate_limited');
  assert.ok(limited.length >= 1, 'the call after the burst is rate_limited');
  // refused calls take no seq: the accepted ones are 1..n
  assert.deepEqual(
    ok.map((r) => r.message.seq).sort((a, b) => a - b),
    range(1, ok.length),
    'accepted messages have seq 1..n without gaps',
  );
  return ok.length;
}

/** Retries chat:send until it is accepted (the bucket refilled); bounded. */
async function sendWhenRefilled(socket, room, text, { timeoutMs = 5000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await ack(socket, 'chat:send', { room, text });
    if (res.ok) return res.message;
    assertError(res, 'rate_limited', 'while waiting for the refill');
    if (Date.now() > deadline) assert.fail(`still rate_limited after ${timeoutMs} ms`);
    await delay(100); // bounded retry interval while the bucket refills
  }
}

describe('default limits (20/s, burst 40, max text 4000, room 1..64)', () => {
  let server;
  const open = [];
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    closeAll(open);
    await stopChecked(server);
  });
  const client = async (name) => {
    const s = await connect(server.url, { name, mode: 'websocket' });
    open.push(s);
    return s;
  };

  it('a quick volley of 41 passes the burst of 40, the next is rate_limited; per socket', async () => {
    const room = uniqueRoom('rl');
    const a = await client('spammer');
    const b = await client('bystander');
    await join(a, room);
    await join(b, room);
    const msgsB = collect(b, 'chat:message');
    const passed = checkVolley(await volley(a, room, 41), { burst: 40, rate: 20, count: 41 });
    // the bystander is not limited by A's bucket
    const mb = await send(b, room, 'bystander');
    assert.equal(mb.seq, passed + 1);
    await msgsB.waitFor((l) => l.some((m) => m.id === mb.id));
    assert.equal(
      msgsB.items.filter((m) => m.from.id === a.id).length,
      passed,
      'only the accepted messages were broadcast',
    );
    // A recovers once the bucket refills
    const again = await sendWhenRefilled(a, room, 'after refill');
    assert.equal(again.seq, passed + 2);
  });

  it('limits count characters, not bytes: 4000 x "€" accepted, 4001 too_large; 64 x "é" room accepted', async () => {
    const a = await client('unicode');
    const room = 'é'.repeat(64);
    const j = await join(a, room);
    assert.equal(j.room, room);
    assertError(await ack(a, 'room:join', { room: 'é'.repeat(65) }), 'bad_request', '65 x é');
    const m = await send(a, room, '€'.repeat(4000));
    assert.equal(m.text, '€'.repeat(4000), 'text round-trips unchanged');
    assertError(await ack(a, 'chat:send', { room, text: '€'.repeat(4001) }), 'too_large', '4001 x €');
  });

  it('room names: 64 characters accepted, 65 refused with bad_request', async () => {
    const a = await client('rooms');
    const r64 = `r${'x'.repeat(63)}`;
    const j = await join(a, r64);
    assert.equal(j.room, r64);
    assertError(await ack(a, 'room:join', { room: `r${'x'.repeat(64)}` }), 'bad_request', '65-char room');
  });
});

describe('custom limits (--rate-limit 5 --rate-burst 5 --max-text 100 --max-room-len 10)', () => {
  let server;
  const open = [];
  before(async () => {
    server = await startServer({
      args: ['--rate-limit', '5', '--rate-burst', '5', '--max-text', '100', '--max-room-len', '10'],
    });
  });
  after(async () => {
    closeAll(open);
    await stopChecked(server);
  });
  const client = async (name) => {
    const s = await connect(server.url, { name, mode: 'websocket' });
    open.push(s);
    return s;
  };

  it('exactly the burst of 5 passes a quick volley, the 6th is rate_limited', async () => {
    const room = uniqueRoom('r').slice(0, 10);
    const a = await client('spammer');
    const b = await client('bystander');
    await join(a, room);
    await join(b, room);
    const passed = checkVolley(await volley(a, room, 6), { burst: 5, rate: 5, count: 6 });
    const mb = await send(b, room, 'not limited');
    assert.equal(mb.seq, passed + 1, 'another socket is not limited');
    const again = await sendWhenRefilled(a, room, 'refilled');
    assert.equal(again.seq, passed + 2);
  });

  it('rate limiting also applies over long-polling', async () => {
    const room = uniqueRoom('p').slice(0, 10);
    const a = await connect(server.url, { name: 'poller', mode: 'polling' });
    open.push(a);
    await join(a, room);
    checkVolley(await volley(a, room, 6), { burst: 5, rate: 5, count: 6 });
  });

  it('--max-text 100: 100 characters accepted, 101 too_large', async () => {
    const room = uniqueRoom('t').slice(0, 10);
    const a = await client('texter');
    await join(a, room);
    const m = await send(a, room, 'x'.repeat(100));
    assert.equal(m.text.length, 100);
    assertError(await ack(a, 'chat:send', { room, text: 'x'.repeat(101) }), 'too_large', '101 chars');
  });

  it('--max-room-len 10: 10 characters accepted, 11 bad_request', async () => {
    const a = await client('roomer');
    assertOk(await ack(a, 'room:join', { room: 'abcdefghij' }), '10-char room');
    assertError(await ack(a, 'room:join', { room: 'abcdefghijk' }), 'bad_request', '11-char room');
  });
});

describe('--history-limit 5', () => {
  let server;
  const open = [];
  before(async () => {
    server = await startServer({ args: ['--history-limit', '5'] });
  });
  after(async () => {
    closeAll(open);
    await stopChecked(server);
  });

  it('retains only the last 5 messages for join, since and chat:history', async () => {
    const room = uniqueRoom('h');
    const a = await connect(server.url, { name: 'a', mode: 'websocket' });
    open.push(a);
    const ja = await join(a, room);
    for (let i = 1; i <= 8; i += 1) await send(a, room, `m${i}`);

    const h = async (q) => {
      const res = await ack(a, 'chat:history', { room, ...q });
      assertOk(res, `chat:history ${JSON.stringify(q)}`);
      return seqs(res.messages);
    };
    assert.deepEqual(await h({}), [4, 5, 6, 7, 8], 'default history');
    assert.deepEqual(await h({ limit: 50 }), [4, 5, 6, 7, 8], 'limit above the retained window');
    assert.deepEqual(await h({ after: 1 }), [4, 5, 6, 7, 8], 'after an evicted seq');
    assert.deepEqual(await h({ after: 5, limit: 2 }), [6, 7]);
    assert.deepEqual(await h({ before: 6 }), [4, 5]);

    const b = await connect(server.url, { name: 'b', mode: 'websocket' });
    open.push(b);
    const jb = await join(b, room, { since: 0, epoch: ja.epoch });
    assert.deepEqual(seqs(jb.history), [4, 5, 6, 7, 8], 'since 0 = every retained message');
    const c = await connect(server.url, { name: 'c', mode: 'websocket' });
    open.push(c);
    const jc = await join(c, room);
    assert.deepEqual(seqs(jc.history), [4, 5, 6, 7, 8], 'join without since');
  });
});
