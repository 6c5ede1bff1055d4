// Recovery: a network cut (through a TCP proxy) and a server restart.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  DESKTOP,
  PHONE,
  assertContiguous,
  epochOf,
  freePort,
  joinRoom,
  launchBrowser,
  nodeClient,
  openPage,
  sendMessage,
  shot,
  signIn,
  startProxy,
  startServer,
  timeline,
  until,
  waitConnected,
  waitMessage,
  waitSynced,
} from './helpers.mjs';

/** Records every Socket.IO frame the page sends (WebSocket frames and polling bodies). */
function recordSent(page) {
  const sent = [];
  page.on('websocket', (ws) => ws.on('framesent', (f) => sent.push(String(f.payload))));
  page.on('request', (r) => {
    const body = r.postData();
    if (body && r.url().includes('/socket.io/')) sent.push(body);
  });
  return sent;
}

const waitDisconnected = (page) =>
  page.waitForFunction(() => document.querySelector('[data-testid="conn-status"]')?.textContent !== 'connected');

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

describe('network cut', () => {
  for (const flow of [
    { tag: 'default', query: '' },
    { tag: 'polling', query: '?transport=polling' },
  ]) {
    test(`recovers the missed messages with since, no gap, no duplicate (${flow.tag})`, { timeout: 90_000 }, async () => {
      const server = await startServer({ name: `cut-${flow.tag}` });
      const proxy = await startProxy(server.port);
      const room = `ops-${flow.tag}`;
      let alice;
      let carol;
      try {
        alice = await openPage(browser, `${proxy.url}/${flow.query}`, flow.tag === 'default' ? PHONE : DESKTOP);
        const sent = recordSent(alice);
        await signIn(alice, 'alice');
        await joinRoom(alice, room);

        carol = await nodeClient(server.url, 'carol');
        await carol.join(room);
        for (let i = 1; i <= 3; i++) await carol.send(room, `before ${i}`);
        await waitMessage(alice, 'before 3');
        const epoch = await epochOf(alice);
        assert.ok(epoch, 'epoch shown');

        // Cut the network: every connection dropped, new ones refused.
        await proxy.cut();
        await waitDisconnected(alice);

        // Meanwhile another client talks, and alice writes while offline.
        for (let i = 1; i <= 5; i++) await carol.send(room, `during ${i}`);
        await sendMessage(alice, 'alice while offline');
        await waitMessage(alice, 'alice while offline', 'queued');
        // The status line counts the reconnect attempts.
        await alice.waitForFunction(
          () => Number(document.querySelector('[data-testid="reconnect-attempt"]')?.getAttribute('data-attempt')) >= 2,
        );
        await shot(alice, `cut-${flow.tag}-01-offline`);

        // Network back: the page reconnects by itself and rejoins with since.
        await proxy.restore();
        await waitConnected(alice);
        await waitSynced(alice, room);
        await waitMessage(alice, 'during 5');
        await waitMessage(alice, 'alice while offline', 'confirmed');
        await carol.send(room, 'after 1');
        await waitMessage(alice, 'after 1');

        const tl = await timeline(alice);
        assertContiguous(assert, tl, 1, 10);
        assert.deepEqual(
          tl.map((m) => m.text),
          ['before 1', 'before 2', 'before 3', 'during 1', 'during 2', 'during 3', 'during 4', 'during 5', 'alice while offline', 'after 1'],
        );
        assert.ok(tl.every((m) => m.status === 'confirmed'), 'nothing left pending');
        const rejoin = sent.find(
          (f) => f.includes('"room:join"') && f.includes('"since":3') && f.includes(`"epoch":"${epoch}"`),
        );
        assert.ok(rejoin, `a room:join with since 3 and the epoch was sent; frames: ${sent.filter((f) => f.includes('room:join')).join(' | ')}`);
        const reconnects = await alice.getByTestId('reconnects').getAttribute('data-count');
        assert.equal(reconnects, '1');
        await shot(alice, `cut-${flow.tag}-02-recovered`);
        assert.deepEqual(alice.errors, []);
      } finally {
        carol?.close();
        await alice?.context().close();
        await proxy.stop();
        server.saveLog();
        await server.stop();
      }
    });
  }
});

describe('server restart', () => {
  test('the page reconnects by itself, takes the new epoch and shows the new messages', { timeout: 90_000 }, async () => {
    const port = await freePort();
    let server = await startServer({ port, name: 'restart-1' });
    const room = 'news';
    let alice;
    let carol;
    let restartDisconnect = null;
    try {
      alice = await openPage(browser, `${server.url}/`, DESKTOP);
      await signIn(alice, 'alice');
      await joinRoom(alice, room);
      carol = await nodeClient(server.url, 'carol');
      await carol.join(room);
      for (let i = 1; i <= 3; i++) await carol.send(room, `old ${i}`);
      await sendMessage(alice, 'alice old');
      await waitMessage(alice, 'alice old');
      const firstEpoch = await epochOf(alice);
      carol.close();

      // Stop the process, start a new one on the same port.
      const exit = await server.stop();
      server.saveLog();
      assert.ok(exit.code === 0 || exit.signal === 'SIGTERM', `first server exit: ${JSON.stringify(exit)}`);
      await waitDisconnected(alice);
      server = await startServer({ port, name: 'restart-2' });

      // A message sent before the page is back (history) ...
      carol = await nodeClient(server.url, 'carol');
      await carol.join(room);
      await carol.send(room, 'new 1');

      await waitConnected(alice);
      restartDisconnect = await alice.getByTestId('status').getAttribute('data-last-disconnect');
      await until(async () => {
        const e = await epochOf(alice);
        return e && e !== firstEpoch;
      }, { message: 'a new epoch in the page' });
      await waitSynced(alice, room);
      await alice.getByTestId('epoch-notice').waitFor();
      await waitMessage(alice, 'new 1');

      // ... and after (live): seq 2, 3 of the new epoch are not "already seen".
      await carol.send(room, 'new 2');
      await carol.send(room, 'new 3');
      await waitMessage(alice, 'new 3');
      await sendMessage(alice, 'alice new');
      await waitMessage(alice, 'alice new');

      const tl = await timeline(alice);
      assertContiguous(assert, tl, 1, 4);
      assert.deepEqual(
        tl.map((m) => m.text),
        ['new 1', 'new 2', 'new 3', 'alice new'],
      );
      assert.ok(tl.every((m) => m.status === 'confirmed'));
      await shot(alice, 'restart-01-new-epoch-desktop');
      console.log(`# page saw the restart as disconnect reason: ${restartDisconnect}`);
      assert.deepEqual(alice.errors, []);
    } finally {
      carol?.close();
      await alice?.context().close();
      server.saveLog();
      await server.stop();
    }
  });
});
