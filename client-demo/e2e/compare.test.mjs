// The Socket.IO vs STOMP comparison pane: with the server's STOMP bridge on (RabbitMQ on this
// machine, Web-STOMP on 127.0.0.1:15674), a message sent in the browser shows up in the pane
// once per path, matched by id, with each path's latency. Without the bridge (or without a
// usable /config.json) the pane is absent.
//
// RabbitMQ missing: the bridge tests fail when REQUIRE_SERVICES=1, else they are skipped with
// a loud SKIPPED line (run /work/main/scripts/services.sh to start it).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  DESKTOP,
  PHONE,
  joinRoom,
  launchBrowser,
  openPage,
  sendMessage,
  shot,
  signIn,
  startServer,
  timeline,
  until,
  waitMessage,
} from './helpers.mjs';

const STOMP_URL = 'stomp://guest:guest@127.0.0.1:61613/';
const WEB_STOMP = 'ws://127.0.0.1:15674/ws';
// Needs encoding: ' ' -> ~20, '.' -> ~2E (see src/sinks/stomp/routing.rs).
const ROOM = 'compare room.1';
const DESTINATION = '/topic/chat.compare~20room~2E1';

function portOpen(port, host = '127.0.0.1', timeout = 2000) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeout, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

const [webStompUp, stompUp] = await Promise.all([portOpen(15674), portOpen(61613)]);
const servicesUp = webStompUp && stompUp;
const REQUIRED = process.env.REQUIRE_SERVICES === '1';
const missing = `RabbitMQ ${!webStompUp ? 'Web-STOMP (127.0.0.1:15674)' : ''}${!webStompUp && !stompUp ? ' and ' : ''}${!stompUp ? 'STOMP (127.0.0.1:61613)' : ''} unreachable`;
let skipBridge = false;
if (!servicesUp) {
  if (!REQUIRED) {
    skipBridge = `${missing} (run scripts/services.sh; REQUIRE_SERVICES=1 makes this a failure)`;
    console.log(`\n${'!'.repeat(78)}\n!!! SKIPPED: compare.test.mjs STOMP bridge tests: ${skipBridge}\n${'!'.repeat(78)}\n`);
  }
}

/** The comparison pane's row for a message text: {id, seq, socketio, stomp} (latencies as numbers or null). */
async function compareRows(page) {
  return page.$$eval('[data-testid="compare-row"]', (rows) =>
    rows.map((tr) => {
      const lat = (path) => {
        const v = tr.querySelector(`[data-testid="latency-${path}"]`)?.getAttribute('data-latency') ?? '';
        return v === '' ? null : Number(v);
      };
      return {
        id: tr.getAttribute('data-id'),
        seq: Number(tr.getAttribute('data-seq')),
        text: tr.querySelector('.compare-text')?.textContent ?? '',
        socketio: lat('socketio'),
        stomp: lat('stomp'),
        cells: [...tr.querySelectorAll('td')].map((td) => td.textContent),
      };
    }),
  );
}

/** Waits until the pane shows `text` on both paths; returns that row. */
async function waitBothPaths(page, text) {
  return until(
    async () => {
      const row = (await compareRows(page)).find((r) => r.text === text);
      return row && row.socketio !== null && row.stomp !== null ? row : null;
    },
    { message: `"${text}" on both paths in the comparison pane` },
  );
}

async function waitSubscribed(page, destination) {
  await page.waitForFunction(
    (d) => document.querySelector('[data-testid="compare"]')?.getAttribute('data-subscribed') === d,
    destination,
  );
}

const statusText = (page, path) => page.getByTestId(`compare-status-${path}`).textContent();

function assertLatency(value, label) {
  assert.equal(typeof value, 'number', `${label} latency should be a number`);
  assert.ok(Number.isInteger(value), `${label} latency ${value} should be whole ms`);
  // Same machine, same clock: a few ms; allow slack for a loaded CI box.
  assert.ok(value > -50 && value < 5000, `${label} latency ${value} ms is implausible`);
}

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

describe('comparison pane with the STOMP bridge on', { skip: skipBridge }, () => {
  let server;
  before(async () => {
    if (!servicesUp) throw new Error(`REQUIRE_SERVICES=1 but ${missing}`);
    server = await startServer({ name: 'compare-bridge', args: ['--stomp-url', STOMP_URL] });
  });
  after(async () => {
    server?.saveLog();
    await server?.stop();
  });

  test('a message shows on both paths with numeric latencies (desktop and 375 px)', { timeout: 90_000 }, async () => {
    const config = await (await fetch(`${server.url}/config.json`)).json();
    assert.equal(config.webStompUrl, WEB_STOMP);
    assert.equal(config.stompChatPrefix, '/topic/chat.');

    const alice = await openPage(browser, `${server.url}/`, DESKTOP);
    const bob = await openPage(browser, `${server.url}/`, PHONE);
    try {
      await signIn(alice, 'alice');
      await signIn(bob, 'bob');
      await joinRoom(alice, ROOM);
      await joinRoom(bob, ROOM);
      // Nothing is missed once the broker confirmed the subscription (a topic drops messages
      // nobody is subscribed to), so wait for it before sending.
      await waitSubscribed(alice, DESTINATION);
      await waitSubscribed(bob, DESTINATION);

      await until(async () => /^Socket\.IO: connected \((websocket|polling)\)$/.test((await statusText(alice, 'socketio')).trim()), {
        message: 'the Socket.IO status line',
      });
      assert.equal((await statusText(alice, 'stomp')).trim(), `STOMP: connected to ${WEB_STOMP}`);
      assert.equal((await alice.getByTestId('compare-detail-stomp').textContent()).trim(), `subscribed to ${DESTINATION}`);
      assert.equal(await alice.getByTestId('compare').getAttribute('data-room'), ROOM);

      const text = 'hello over both paths';
      await sendMessage(alice, text);
      await waitMessage(alice, text);
      const [mine] = (await timeline(alice)).filter((m) => m.text === text);

      for (const [who, page] of [['alice', alice], ['bob', bob]]) {
        const row = await waitBothPaths(page, text);
        assert.equal(row.seq, mine.seq, `${who}: the row is the message with seq ${mine.seq}`);
        assert.ok(row.id, `${who}: the row carries the message id`);
        assertLatency(row.socketio, `${who} Socket.IO`);
        assertLatency(row.stomp, `${who} STOMP`);
        assert.match(row.cells[2], /^-?\d+ ms$/, `${who}: Socket.IO cell ${row.cells[2]}`);
        assert.match(row.cells[3], /^-?\d+ ms$/, `${who}: STOMP cell ${row.cells[3]}`);
        // Matched by id: one row per message, not one per path.
        assert.equal((await compareRows(page)).filter((r) => r.text === text).length, 1);
        for (const path of ['socketio', 'stomp']) {
          const stats = page.getByTestId(`compare-stats-${path}`);
          assert.equal(await stats.getAttribute('data-count'), '1', `${who} ${path} count`);
          assert.match(await stats.getAttribute('data-p50'), /^-?\d+$/, `${who} ${path} p50`);
        }
      }
      // Both browsers saw the same message id.
      const [a] = (await compareRows(alice)).filter((r) => r.text === text);
      const [b] = (await compareRows(bob)).filter((r) => r.text === text);
      assert.equal(a.id, b.id);

      // A few more, so the stats have something to show in the screenshots.
      for (let i = 2; i <= 4; i++) await sendMessage(bob, `message ${i} from bob`);
      for (let i = 2; i <= 4; i++) {
        await waitBothPaths(alice, `message ${i} from bob`);
        await waitBothPaths(bob, `message ${i} from bob`);
      }
      assert.equal(await alice.getByTestId('compare-stats-stomp').getAttribute('data-count'), '4');
      assert.equal(await alice.getByTestId('compare-row').count(), 4);
      assert.match(await alice.getByTestId('compare-summary').textContent(), /^4 matched/);

      await shot(alice, 'compare-01-both-paths-desktop');
      await shot(bob, 'compare-02-both-paths-375');
      // The pane scrolls on its own on a phone: its table, scrolled into view.
      await bob.getByTestId('compare-table').evaluate((el) => el.scrollIntoView({ block: 'end' }));
      await shot(bob, 'compare-02b-table-375');
      assert.deepEqual(alice.errors, []);
      assert.deepEqual(bob.errors, []);
    } finally {
      await alice.context().close();
      await bob.context().close();
    }
  });

  test('switching rooms resubscribes to the new room', { timeout: 60_000 }, async () => {
    const page = await openPage(browser, `${server.url}/`, DESKTOP);
    try {
      await signIn(page, 'carol');
      await joinRoom(page, ROOM);
      await waitSubscribed(page, DESTINATION);
      await joinRoom(page, 'café/2');
      await waitSubscribed(page, '/topic/chat.caf~C3~A9~2F2');
      assert.equal(await page.getByTestId('compare').getAttribute('data-room'), 'café/2');
      await sendMessage(page, 'second room');
      const row = await waitBothPaths(page, 'second room');
      assertLatency(row.stomp, 'STOMP');
      // Only this room's messages are compared.
      assert.equal(await page.getByTestId('compare-row').count(), 1);
      assert.deepEqual(page.errors, []);
    } finally {
      await page.context().close();
    }
  });

  test('a refused STOMP login shows in the status line; /config.json failing hides the pane', { timeout: 60_000 }, async () => {
    // webStompLogin/webStompPasscode from /config.json are used when present.
    const context = await browser.newContext({ viewport: DESKTOP });
    await context.route('**/config.json', (route) =>
      route.fulfill({
        contentType: 'application/json',
        body: JSON.stringify({
          webStompUrl: WEB_STOMP,
          webStompLogin: 'guest',
          webStompPasscode: 'not-the-password',
          stompChatPrefix: '/topic/chat.',
          stompPresencePrefix: '/topic/presence.',
        }),
      }),
    );
    const page = await context.newPage();
    try {
      await page.goto(`${server.url}/`);
      await signIn(page, 'dave');
      await joinRoom(page, ROOM);
      await until(async () => /^STOMP: (reconnecting…|error).*\(.+\)$/.test((await statusText(page, 'stomp')).trim()), {
        message: 'the STOMP status to show the refused login and why',
      });
      assert.equal(await page.getByTestId('compare').getAttribute('data-subscribed'), '');
      // Socket.IO still works, and the pane still lists what arrives over it.
      await sendMessage(page, 'only socket.io');
      await waitMessage(page, 'only socket.io');
      await until(async () => (await compareRows(page)).some((r) => r.text === 'only socket.io' && r.socketio !== null && r.stomp === null), {
        message: 'the Socket.IO-only row',
      });
      await shot(page, 'compare-03-stomp-refused-desktop');
    } finally {
      await context.close();
    }

    const broken = await browser.newContext({ viewport: PHONE });
    await broken.route('**/config.json', (route) => route.fulfill({ status: 500, body: 'oops' }));
    const page2 = await broken.newPage();
    try {
      await page2.goto(`${server.url}/`);
      await signIn(page2, 'erin');
      await joinRoom(page2, ROOM);
      await sendMessage(page2, 'no pane');
      await waitMessage(page2, 'no pane');
      assert.equal(await page2.getByTestId('compare').count(), 0);
    } finally {
      await broken.close();
    }
  });
});

describe('comparison pane with the STOMP bridge off', () => {
  let server;
  before(async () => {
    server = await startServer({ name: 'compare-off' });
  });
  after(async () => {
    server?.saveLog();
    await server?.stop();
  });

  test('the pane is absent', { timeout: 60_000 }, async () => {
    const config = await (await fetch(`${server.url}/config.json`)).json();
    assert.equal(config.webStompUrl, null);
    const page = await openPage(browser, `${server.url}/`, DESKTOP);
    try {
      // The app has fetched /config.json by the time it is connected and has a room.
      const configLoaded = page.waitForResponse((r) => r.url().endsWith('/config.json')).catch(() => null);
      await page.reload();
      await configLoaded;
      await signIn(page, 'frank');
      await joinRoom(page, ROOM);
      await sendMessage(page, 'bridge is off');
      await waitMessage(page, 'bridge is off');
      assert.equal(await page.getByTestId('compare').count(), 0);
      await shot(page, 'compare-04-bridge-off-desktop');
      assert.deepEqual(page.errors, []);
    } finally {
      await page.context().close();
    }
  });
});
