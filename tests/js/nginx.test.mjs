// Two Switchboard processes sharing Redis, behind nginx with the example config in
// deploy/nginx/switchboard.conf: the stock socket.io-client over polling upgraded to
// WebSocket works through the proxy and chats with a client of the other process.
//
// Needs nginx (Debian's package) and Redis on 127.0.0.1:6379. Without them the test fails when
// REQUIRE_SERVICES=1 (CI) and is skipped loudly otherwise.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { io } from 'socket.io-client';
import { REPO_ROOT, freePort, startServer } from './server.mjs';

const required = process.env.REQUIRE_SERVICES === '1';

function nginxBinary() {
  for (const candidate of ['/usr/sbin/nginx', '/usr/bin/nginx']) {
    if (fs.existsSync(candidate)) return candidate;
  }
  return null;
}

function redisReachable() {
  return new Promise((resolve) => {
    const socket = net.connect(6379, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/** The example config with the test's ports put in. */
function exampleConfig(backends, listen) {
  const example = fs.readFileSync(path.join(REPO_ROOT, 'deploy/nginx/switchboard.conf'), 'utf8');
  const servers = example.match(/server 127\.0\.0\.1:\d+;/g);
  assert.equal(servers.length, backends.length, 'the example lists one server per process');
  let config = example;
  servers.forEach((line, index) => { config = config.replace(line, `server 127.0.0.1:${backends[index]};`); });
  return config.replace(/listen \d+;/, `listen 127.0.0.1:${listen};`);
}

async function startNginx(backends) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-nginx-'));
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'switchboard.conf'), exampleConfig(backends, port));
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/switchboard.conf;
}
`);
  const check = spawnSync(nginxBinary(), ['-t', '-p', dir, '-c', path.join(dir, 'nginx.conf')], { encoding: 'utf8' });
  assert.equal(check.status, 0, `nginx -t rejected the example config:\n${check.stderr}`);
  const child = spawn(nginxBinary(), ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10000;
  for (;;) {
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) break;
    } catch { /* not up yet */ }
    assert.ok(Date.now() < deadline, 'nginx did not start');
    await delay(50);
  }
  return { url, stop: () => { child.kill('SIGTERM'); fs.rmSync(dir, { recursive: true, force: true }); } };
}

function connected(socket) {
  return new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
}

test('polling upgraded to WebSocket through nginx, across two processes', async (t) => {
  const missing = [];
  if (!nginxBinary()) missing.push('nginx');
  if (!(await redisReachable())) missing.push('Redis on 127.0.0.1:6379');
  if (missing.length) {
    if (required) assert.fail(`required services missing: ${missing.join(', ')}`);
    console.error(`SKIPPED nginx test: ${missing.join(', ')} not available`);
    t.skip(`${missing.join(', ')} not available`);
    return;
  }
  const prefix = `sbtest-nginx-${process.pid}-${Date.now()}`;
  const args = ['--redis-url', 'redis://127.0.0.1:6379', '--redis-prefix', prefix];
  const first = await startServer({ args });
  const second = await startServer({ args });
  const proxy = await startNginx([first.port, second.port]);
  t.after(async () => { proxy.stop(); await first.stop(); await second.stop(); });

  const viaProxy = io(proxy.url, { auth: { name: 'proxied' }, reconnection: false });
  let opened;
  const upgraded = new Promise((resolve) => {
    viaProxy.io.once('open', () => {
      opened = viaProxy.io.engine.transport.name;
      viaProxy.io.engine.once('upgrade', resolve);
    });
  });
  await connected(viaProxy);
  assert.equal(opened, 'polling', 'the session opens on polling');
  await upgraded;
  assert.equal(viaProxy.io.engine.transport.name, 'websocket', 'upgraded through nginx');

  // Whichever process nginx picked, a client of each process is in the room.
  const direct = [
    io(first.url, { auth: { name: 'direct-1' }, transports: ['websocket'], reconnection: false }),
    io(second.url, { auth: { name: 'direct-2' }, transports: ['websocket'], reconnection: false }),
  ];
  await Promise.all(direct.map(connected));
  t.after(() => { viaProxy.close(); direct.forEach((socket) => socket.close()); });

  for (const socket of [viaProxy, ...direct]) {
    const joined = await socket.timeout(5000).emitWithAck('room:join', { room: 'via-nginx' });
    assert.equal(joined.ok, true);
  }
  const arrivals = direct.map((socket) => new Promise((resolve) => socket.once('chat:message', resolve)));
  const sent = await viaProxy.timeout(5000).emitWithAck('chat:send', { room: 'via-nginx', text: 'through the proxy' });
  assert.equal(sent.ok, true);
  for (const message of await Promise.all(arrivals)) {
    assert.equal(message.text, 'through the proxy');
    assert.equal(message.seq, sent.message.seq);
  }
  const reply = new Promise((resolve) => viaProxy.once('chat:message', resolve));
  const back = await direct[1].timeout(5000).emitWithAck('chat:send', { room: 'via-nginx', text: 'and back' });
  assert.equal(back.ok, true);
  assert.equal((await reply).text, 'and back');
});
