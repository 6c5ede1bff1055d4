// Shared e2e harness: the real switchboard binary, a cuttable TCP proxy,
// Debian's chromium driven by playwright-core, and DOM polling helpers.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import { io } from 'socket.io-client';

export const CLIENT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DIST = path.join(CLIENT_DIR, 'dist');
export const ARTIFACTS = path.join(CLIENT_DIR, 'artifacts');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

mkdirSync(ARTIFACTS, { recursive: true });

/** Fast disconnect detection in every test server. */
export const FAST_PING = ['--ping-interval-ms', '1000', '--ping-timeout-ms', '1000'];

export function serverBinary() {
  const bin = process.env.SWITCHBOARD_BIN
    ? path.resolve(process.env.SWITCHBOARD_BIN)
    : path.resolve(CLIENT_DIR, '../target/debug/switchboard');
  if (!existsSync(bin)) {
    throw new Error(
      `switchboard server binary not found at ${bin}.\n` +
        `Build it first ('cargo build' in the repository root) or set SWITCHBOARD_BIN to its path.`,
    );
  }
  if (!existsSync(path.join(DIST, 'index.html'))) {
    throw new Error(`${DIST}/index.html is missing: run 'npm run build' in client-demo first.`);
  }
  return bin;
}

export async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/**
 * Starts the real server on 127.0.0.1:<port> serving client-demo/dist and
 * waits until GET /healthz answers 200 (bounded retry loop).
 */
export async function startServer({ port, args = [], name = 'server' } = {}) {
  const bin = serverBinary();
  port ??= await freePort();
  const argv = [
    '--addr', `127.0.0.1:${port}`,
    '--static-dir', DIST,
    ...FAST_PING,
    '--shutdown-grace-ms', '1000',
    ...args,
  ];
  const child = spawn(bin, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info', NO_COLOR: '1' },
  });
  const log = [];
  const keep = (chunk) => {
    log.push(chunk.toString());
    if (log.length > 5000) log.shift();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  const exit = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const server = {
    url,
    port,
    child,
    log,
    argv,
    async stop() {
      if (exited) return exited;
      child.kill('SIGTERM');
      const res = await Promise.race([exit, delay(15_000, null, { ref: false })]);
      if (res) return res;
      child.kill('SIGKILL');
      return exit;
    },
    saveLog(file = `${name}.log`) {
      writeFileSync(path.join(ARTIFACTS, file), log.join(''));
    },
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) {
      throw new Error(`switchboard exited early (${JSON.stringify(exited)}): ${bin} ${argv.join(' ')}\n${log.join('')}`);
    }
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return server;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`switchboard did not answer GET /healthz 200 within 20 s\n${log.join('')}`);
    }
    await delay(100);
  }
}

/**
 * A TCP proxy in front of the server: `cut()` drops every connection and
 * refuses new ones (the port is closed), `restore()` accepts again on the
 * same port.
 */
export async function startProxy(targetPort) {
  const sockets = new Set();
  let server = null;
  let accepted = 0;
  const listen = (port) =>
    new Promise((resolve, reject) => {
      server = net.createServer((client) => {
        accepted++;
        const upstream = net.connect(targetPort, '127.0.0.1');
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.setNoDelay(true);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => {
            client.destroy();
            upstream.destroy();
          });
        }
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve(server.address().port));
    });
  const port = await listen(0);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    get open() {
      return sockets.size;
    },
    async cut() {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const s of sockets) s.destroy();
      sockets.clear();
      await closed;
    },
    async restore() {
      await listen(port);
    },
    async stop() {
      if (server.listening) await this.cut();
    },
  };
}

export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: run e2e/ensure-chromium.sh (apt-get install chromium)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      '--disable-quic',
    ],
  });
}

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 375, height: 740 };

/** A new context + page at `url`, console errors collected on page.errors. */
export async function openPage(browser, url, viewport = DESKTOP) {
  const context = await browser.newContext({ viewport, reducedMotion: 'reduce' });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.setDefaultTimeout(20_000);
  await page.goto(url);
  return page;
}

export async function shot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

/** Polls `fn` until it returns a truthy value (expect-style, bounded). */
export async function until(fn, { timeout = 20_000, interval = 50, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${message} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    }
    await delay(interval);
  }
}

// ---- App actions and DOM queries ------------------------------------------

export async function signIn(page, name) {
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByRole('button', { name: 'Connect', exact: true }).click();
  await waitConnected(page);
}

export async function waitConnected(page) {
  await page.waitForFunction(
    () => document.querySelector('[data-testid="conn-status"]')?.textContent === 'connected',
  );
}

export async function transport(page) {
  return page.getByTestId('transport').getAttribute('data-transport');
}

/** Joins `room` and waits until its join ack was applied (epoch shown, not syncing). */
export async function joinRoom(page, room) {
  await page.getByLabel('Room', { exact: true }).fill(room);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await waitSynced(page, room);
}

export async function waitSynced(page, room) {
  await page.waitForFunction(
    (r) => {
      const sec = document.querySelector(`[data-testid="room"][data-room="${CSS.escape(r)}"]`);
      const ep = sec?.querySelector('[data-testid="epoch"]');
      return !!ep && ep.getAttribute('data-epoch') !== '' && !ep.textContent.includes('syncing');
    },
    room,
  );
}

export async function epochOf(page) {
  return page.getByTestId('epoch').getAttribute('data-epoch');
}

export async function sendMessage(page, text) {
  const input = page.getByLabel('Message', { exact: true });
  await input.fill(text);
  await input.press('Enter');
}

/** The timeline of the active room: [{seq, status, own, text, author}] */
export async function timeline(page) {
  return page.$$eval('[data-testid="messages"] [data-testid="message"]', (items) =>
    items.map((li) => ({
      seq: li.hasAttribute('data-seq') ? Number(li.getAttribute('data-seq')) : null,
      status: li.getAttribute('data-status'),
      own: li.getAttribute('data-own') === 'true',
      text: li.querySelector('.text')?.textContent ?? '',
      author: li.querySelector('.author')?.textContent ?? '',
    })),
  );
}

export async function memberNames(page) {
  return page.locator('[data-testid="member"] .member-name').allTextContents();
}

/** Waits until the active room shows a confirmed message with this exact text. */
export async function waitMessage(page, text, status = 'confirmed') {
  await page.waitForFunction(
    ([t, st]) =>
      [...document.querySelectorAll('[data-testid="messages"] [data-testid="message"]')].some(
        (li) => li.querySelector('.text')?.textContent === t && li.getAttribute('data-status') === st,
      ),
    [text, status],
  );
}

/** Asserts a timeline is strictly contiguous by seq (no gap, no duplicate). */
export function assertContiguous(assert, items, from, to) {
  const seqs = items.filter((m) => m.seq !== null).map((m) => m.seq);
  const expected = Array.from({ length: to - from + 1 }, (_, i) => from + i);
  assert.deepEqual(seqs, expected, `timeline seqs ${JSON.stringify(seqs)} should be ${from}..${to}`);
}

/** A headless Node socket.io client ("another client") for sending messages. */
export async function nodeClient(url, name) {
  const socket = io(url, { auth: { name }, transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  // Readiness probe: the server may drop an event sent right after the
  // CONNECT packet (see protocol.test.mjs), so wait until one is answered
  // before this helper's callers rely on acks. Bounded: 20 tries.
  for (let i = 0; ; i++) {
    try {
      await socket.timeout(250).emitWithAck('chat:history', { room: '__probe__' });
      break;
    } catch (e) {
      if (i >= 20) throw new Error(`${name}: the server never answered chat:history: ${e.message}`);
    }
  }
  return {
    socket,
    async join(room, extra = {}) {
      const res = await socket
        .timeout(5000)
        .emitWithAck('room:join', { room, ...extra })
        .catch((e) => {
          throw new Error(`${name}: room:join ${room}: ${e.message}`);
        });
      if (!res.ok) throw new Error(`join failed: ${JSON.stringify(res)}`);
      return res;
    },
    async send(room, text) {
      const res = await socket
        .timeout(5000)
        .emitWithAck('chat:send', { room, text })
        .catch((e) => {
          throw new Error(`${name}: chat:send ${room} ${JSON.stringify(text)}: ${e.message}`);
        });
      if (!res.ok) throw new Error(`send failed: ${JSON.stringify(res)}`);
      return res.message;
    },
    close() {
      socket.close();
    },
  };
}
