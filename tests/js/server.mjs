// Starts and stops the real Switchboard server binary for the Node compatibility tests.
//
// Binary: $SWITCHBOARD_BIN, or <repo>/target/debug/switchboard (run `cargo build` first).
// Set SWITCHBOARD_TEST_LOGS=1 to echo the server's stdout/stderr while the tests run.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, '..', '..');
export const BIN = process.env.SWITCHBOARD_BIN
  ? path.resolve(process.env.SWITCHBOARD_BIN)
  : path.join(REPO_ROOT, 'target', 'debug', 'switchboard');

const ECHO_LOGS = process.env.SWITCHBOARD_TEST_LOGS === '1';
const OUTPUT_TAIL_BYTES = 64 * 1024;

// Every child we spawn, so that a crashed test run never leaves servers behind.
const children = new Set();
process.on('exit', () => {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

/** Finds a free TCP port on 127.0.0.1 (listen on port 0, read the port, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

function assertBinary() {
  let ok = false;
  try {
    const st = fs.statSync(BIN);
    ok = st.isFile();
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new Error(
      `Switchboard binary not found at ${BIN}.\n` +
        `Build it first: (cd ${REPO_ROOT} && cargo build)\n` +
        `or point SWITCHBOARD_BIN at an existing binary.`,
    );
  }
}

/**
 * Starts the server and waits until GET /healthz answers 200.
 *
 * @param {object} [options]
 * @param {string[]} [options.args]   extra CLI flags, e.g. ['--rate-limit', '5']
 * @param {number}   [options.port]   port to bind (default: a free one); used to restart on the same port
 * @param {object}   [options.env]    extra environment variables
 * @param {number}   [options.readyTimeoutMs]
 * @returns {Promise<{url: string, port: number, pid: number, stop: Function, output: Function, exited: Promise}>}
 */
export async function startServer({ args = [], port, env = {}, readyTimeoutMs = 20000 } = {}) {
  assertBinary();
  if (port === undefined) port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const url = `http://${addr}`;

  // The server reads its settings from SWITCHBOARD_* env vars too: do not inherit any, so the
  // defaults under test are the real defaults.
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('SWITCHBOARD_')),
  );
  const child = spawn(BIN, ['--addr', addr, ...args], {
    env: { RUST_BACKTRACE: '1', ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);

  let tail = '';
  const panics = []; // lines with "panicked at", kept even when the tail rolls over
  let panicsBeforeStop = null; // how many there were when SIGTERM was sent
  let partial = { stdout: '', stderr: '' };
  const onOutput = (stream) => (chunk) => {
    const text = chunk.toString('utf8');
    if (ECHO_LOGS) process[stream].write(`[switchboard:${port}] ${text}`);
    tail = (tail + text).slice(-OUTPUT_TAIL_BYTES);
    const lines = (partial[stream] + text).split('\n');
    partial[stream] = lines.pop().slice(-4096);
    for (const line of lines) {
      if (line.includes('panicked at') && panics.length < 50) panics.push(line.replace(/\x1b\[[0-9;]*m/g, ''));
    }
  };
  child.stdout.on('data', onOutput('stdout'));
  child.stderr.on('data', onOutput('stderr'));

  let exitInfo = null;
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      children.delete(child);
      resolve(exitInfo);
    });
  });
  const spawnError = new Promise((_, reject) => {
    child.once('error', (err) => reject(new Error(`cannot spawn ${BIN}: ${err.message}`)));
  });
  spawnError.catch(() => {});

  // Bounded readiness poll on /healthz.
  const deadline = Date.now() + readyTimeoutMs;
  let lastProblem = 'no answer yet';
  for (;;) {
    if (exitInfo) {
      throw new Error(
        `switchboard exited before it was ready (code ${exitInfo.code}, signal ${exitInfo.signal}) ` +
          `with args ${JSON.stringify(['--addr', addr, ...args])}\n--- output ---\n${tail}`,
      );
    }
    try {
      const res = await Promise.race([
        fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) }),
        spawnError,
      ]);
      await res.arrayBuffer();
      if (res.status === 200) break;
      lastProblem = `GET /healthz answered ${res.status}`;
    } catch (err) {
      if (String(err.message).startsWith('cannot spawn')) throw err;
      lastProblem = err.cause?.code ?? err.message;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      throw new Error(
        `switchboard did not become ready on ${url} within ${readyTimeoutMs} ms (${lastProblem})\n--- output ---\n${tail}`,
      );
    }
    await delay(50); // back-off between readiness polls
  }

  /**
   * Sends SIGTERM and waits for the process to exit. If it does not exit within
   * timeoutMs it is SIGKILLed and the result says forced: true.
   */
  async function stop({ timeoutMs = 15000 } = {}) {
    if (exitInfo) return { ...exitInfo, forced: false, ms: 0 };
    if (panicsBeforeStop === null) panicsBeforeStop = panics.length;
    const t0 = Date.now();
    child.kill('SIGTERM');
    const timedOut = Symbol('timeout');
    let timer;
    const result = await Promise.race([
      exited,
      new Promise((resolve) => {
        timer = setTimeout(() => resolve(timedOut), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (result === timedOut) {
      child.kill('SIGKILL');
      const info = await exited;
      return { ...info, forced: true, ms: Date.now() - t0 };
    }
    return { ...result, forced: false, ms: Date.now() - t0 };
  }

  return {
    url,
    port,
    pid: child.pid,
    stop,
    exited,
    output: () => tail,
    /** Every panic line so far. */
    panics: () => [...panics],
    /** Panic lines printed before stop() sent SIGTERM (i.e. during normal operation). */
    panicsWhileRunning: () => panics.slice(0, panicsBeforeStop ?? panics.length),
    /** Panic lines printed after SIGTERM (during shutdown). */
    panicsDuringShutdown: () => (panicsBeforeStop === null ? [] : panics.slice(panicsBeforeStop)),
    isRunning: () => exitInfo === null,
  };
}

/** GET /healthz and return {status, body}. */
export async function healthz(url) {
  const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(3000) });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, headers: res.headers, body };
}

/**
 * Stops a server started by startServer and fails if it panicked while it was running
 * (a panic in a handler task is otherwise invisible to the clients, apart from a missing ack).
 * Panics during shutdown are checked by the dedicated SIGTERM test in recovery.test.mjs.
 */
export async function stopChecked(server) {
  if (!server) return undefined;
  const res = await server.stop();
  const text = server.output().replace(/\x1b\[[0-9;]*m/g, '');
  const panics = server.panicsWhileRunning();
  if (panics.length > 0) {
    throw new Error(`switchboard on port ${server.port} panicked:\n${panics.join('\n')}\n--- output tail ---\n${text.slice(-4000)}`);
  }
  return res;
}
