// Handshake: auth.name validation (no JWT configured) and namespaces.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { io } from 'socket.io-client';
import { MODE_NAMES, closeAll, connect, connectRefused, join, once, send, uniqueRoom } from './helpers.mjs';
import { healthz, startServer, stopChecked } from './server.mjs';

describe('handshake', () => {
  let server;
  const open = [];
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    closeAll(open);
    await stopChecked(server);
  });

  const refused = [
    ['no auth at all', { auth: null }],
    ['auth without name', { auth: {} }],
    ['empty name', { auth: { name: '' } }],
    ['whitespace-only name', { auth: { name: '   \t ' } }],
    ['name of 65 characters', { auth: { name: 'n'.repeat(65) } }],
    ['name of 65 characters after trimming', { auth: { name: `  ${'n'.repeat(65)}  ` } }],
    ['numeric name', { auth: { name: 42 } }],
    ['boolean name', { auth: { name: true } }],
    ['null name', { auth: { name: null } }],
    ['array name', { auth: { name: ['alice'] } }],
    ['object name', { auth: { name: { first: 'alice' } } }],
  ];

  for (const mode of MODE_NAMES) {
    describe(`over ${mode}`, () => {
      for (const [label, opts] of refused) {
        it(`refuses ${label} with connect_error "unauthorized"`, async () => {
          const auth = opts.auth === null ? undefined : opts.auth;
          const socket = io(server.url, {
            forceNew: true,
            reconnection: false,
            ...(auth === undefined ? {} : { auth }),
            ...(mode === 'polling'
              ? { transports: ['polling'], upgrade: false }
              : mode === 'websocket'
                ? { transports: ['websocket'] }
                : {}),
          });
          open.push(socket);
          const err = await once(socket, 'connect_error', { timeout: 5000 });
          assert.equal(err.message, 'unauthorized', `connect_error message for ${label}`);
          assert.equal(socket.connected, false);
          socket.close();
        });
      }

      it('accepts a valid name (and names of exactly 1 and 64 characters)', async () => {
        for (const name of ['alice', 'a', 'z'.repeat(64), `  ${'w'.repeat(64)}  `, 'Zoë 🚀']) {
          const s = await connect(server.url, { name, mode });
          open.push(s);
          assert.ok(s.connected, `name ${JSON.stringify(name)} connects`);
          assert.equal(typeof s.id, 'string');
          const room = uniqueRoom('hs');
          const j = await join(s, room);
          const me = j.members.find((u) => u.id === s.id);
          assert.ok(me, `members include self (id = socket id ${s.id}): ${JSON.stringify(j.members)}`);
          assert.ok([name, name.trim()].includes(me.name), `user name is the auth name: ${JSON.stringify(me.name)}`);
          s.close();
        }
      });
    });
  }

  it('refuses an unknown namespace with connect_error', async () => {
    const socket = io(`${server.url}/nope`, {
      forceNew: true,
      reconnection: false,
      auth: { name: 'alice' },
      transports: ['websocket'],
    });
    open.push(socket);
    const err = await once(socket, 'connect_error', { timeout: 5000 });
    assert.ok(err instanceof Error);
    assert.equal(socket.connected, false);
    socket.close();
    // and the root namespace still works
    const ok = await connect(server.url, { name: 'after-nope' });
    open.push(ok);
    const room = uniqueRoom('ns');
    await join(ok, room);
    await send(ok, room, 'still fine');
  });

  it('refuses an unknown namespace over polling too', async () => {
    const socket = io(`${server.url}/nope`, {
      forceNew: true,
      reconnection: false,
      auth: { name: 'alice' },
      transports: ['polling'],
      upgrade: false,
    });
    open.push(socket);
    const err = await once(socket, 'connect_error', { timeout: 5000 });
    assert.ok(err instanceof Error);
    assert.equal(socket.connected, false);
    socket.close();
  });

  it('GET /healthz returns { status: "ok", version, uptime_seconds, connections }', async () => {
    const { status, body, headers } = await healthz(server.url);
    assert.equal(status, 200);
    assert.match(headers.get('content-type') ?? '', /application\/json/);
    assert.equal(body.status, 'ok');
    assert.equal(typeof body.version, 'string');
    assert.ok(body.version.length > 0);
    assert.equal(typeof body.uptime_seconds, 'number');
    assert.ok(body.uptime_seconds >= 0);
    assert.ok(Number.isInteger(body.connections) && body.connections >= 0, `connections: ${body.connections}`);
  });

  it('/healthz connections follows connects and disconnects', async () => {
    // Close everything this file opened; with no client left the count must settle at 0.
    closeAll(open);
    const waitCount = async (expected) => {
      const deadline = Date.now() + 10000;
      let last;
      for (;;) {
        last = (await healthz(server.url)).body.connections;
        if (last === expected) return;
        if (Date.now() > deadline) assert.fail(`healthz connections: expected ${expected}, still ${last} after 10 s`);
        await new Promise((r) => setTimeout(r, 50)); // bounded poll
      }
    };
    await waitCount(0);
    const s1 = await connect(server.url, { name: 'h1', mode: 'websocket' });
    const s2 = await connect(server.url, { name: 'h2', mode: 'polling' });
    open.push(s1, s2);
    await waitCount(2);
    s1.close();
    s2.close();
    await waitCount(0);
  });
});

describe('CORS', () => {
  it('--cors-origin allows the listed origin on the polling endpoint, and not others', async () => {
    const server = await startServer({ args: ['--cors-origin', 'http://allowed.test'] });
    try {
      const url = `${server.url}/socket.io/?EIO=4&transport=polling`;
      const ok = await fetch(url, { headers: { origin: 'http://allowed.test' } });
      await ok.text();
      assert.equal(ok.headers.get('access-control-allow-origin'), 'http://allowed.test');
      const other = await fetch(url, { headers: { origin: 'http://evil.test' } });
      await other.text();
      assert.notEqual(other.headers.get('access-control-allow-origin'), 'http://evil.test');
      assert.notEqual(other.headers.get('access-control-allow-origin'), '*');
      const preflight = await fetch(url, {
        method: 'OPTIONS',
        headers: {
          origin: 'http://allowed.test',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type',
        },
      });
      await preflight.text();
      assert.ok(preflight.status < 300, `preflight status ${preflight.status}`);
      assert.equal(preflight.headers.get('access-control-allow-origin'), 'http://allowed.test');
    } finally {
      await stopChecked(server);
    }
  });
});
