// Two browser users chat through the real server, on each transport setting.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  DESKTOP,
  PHONE,
  joinRoom,
  launchBrowser,
  memberNames,
  openPage,
  sendMessage,
  shot,
  signIn,
  startServer,
  timeline,
  transport,
  until,
  waitMessage,
  waitSynced,
} from './helpers.mjs';

const FLOWS = [
  { label: 'default (polling upgraded to websocket)', query: '', expectTransport: 'websocket', tag: 'default' },
  { label: '?transport=polling', query: '?transport=polling', expectTransport: 'polling', tag: 'polling' },
  { label: '?transport=websocket', query: '?transport=websocket', expectTransport: 'websocket', tag: 'websocket' },
];

describe('chat between two browsers', () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer({ name: 'chat' });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    server?.saveLog();
    await server?.stop();
  });

  for (const flow of FLOWS) {
    test(`alice and bob chat, ${flow.label}`, { timeout: 90_000 }, async () => {
      const room = `lobby-${flow.tag}`;
      const alice = await openPage(browser, `${server.url}/${flow.query}`, DESKTOP);
      const bob = await openPage(browser, `${server.url}/${flow.query}`, PHONE);
      try {
        if (flow.tag === 'default') await shot(bob, `${flow.tag}-00-signin-375`);

        await signIn(alice, 'alice');
        await signIn(bob, 'bob');
        await joinRoom(alice, room);
        await joinRoom(bob, room);

        // The status line shows the live transport (the upgrade, by default).
        await until(async () => (await transport(alice)) === flow.expectTransport, {
          message: `alice's transport to be ${flow.expectTransport}`,
        });
        await until(async () => (await transport(bob)) === flow.expectTransport, {
          message: `bob's transport to be ${flow.expectTransport}`,
        });

        // Presence: alice saw bob join.
        await alice.waitForFunction(
          () => document.querySelector('[data-testid="member-count"]')?.textContent === '2',
        );
        const names = await memberNames(alice);
        assert.deepEqual(names.sort(), ['alice', 'bob']);

        // Typing indicator.
        await alice.getByLabel('Message', { exact: true }).fill('hello b');
        await bob.waitForFunction(() =>
          document.querySelector('[data-testid="typing"]')?.textContent?.includes('alice is typing'),
        );
        if (flow.tag === 'default') await shot(bob, `${flow.tag}-01-typing-375`);
        // Emptying the input sends typing:false at once.
        await alice.getByLabel('Message', { exact: true }).fill('');
        await bob.waitForFunction(() => document.querySelector('[data-testid="typing"]')?.textContent?.trim() === '');
        await alice.getByLabel('Message', { exact: true }).fill('hello b');
        await bob.waitForFunction(() =>
          document.querySelector('[data-testid="typing"]')?.textContent?.includes('alice is typing'),
        );

        // Message: bob sees it, alice sees it confirmed; typing stops.
        await sendMessage(alice, `hello bob via ${flow.tag}`);
        await waitMessage(bob, `hello bob via ${flow.tag}`);
        await waitMessage(alice, `hello bob via ${flow.tag}`);
        const mine = (await timeline(alice)).find((m) => m.text === `hello bob via ${flow.tag}`);
        assert.equal(mine.status, 'confirmed');
        assert.equal(mine.own, true);
        assert.equal(mine.seq, 1);
        await bob.waitForFunction(() => document.querySelector('[data-testid="typing"]')?.textContent?.trim() === '');

        // A reply, sent with the Send button.
        await bob.getByLabel('Message', { exact: true }).fill('hi alice, ça va ? ✓');
        await bob.getByRole('button', { name: 'Send', exact: true }).click();
        await waitMessage(alice, 'hi alice, ça va ? ✓');
        await waitMessage(bob, 'hi alice, ça va ? ✓');
        assert.deepEqual(
          (await timeline(alice)).map((m) => [m.seq, m.author, m.text]),
          [
            [1, 'alice', `hello bob via ${flow.tag}`],
            [2, 'bob', 'hi alice, ça va ? ✓'],
          ],
        );

        // Several rooms: unread count in the room alice is not looking at.
        const side = `side-${flow.tag}`;
        await joinRoom(bob, side);
        await joinRoom(alice, side);
        await alice.getByRole('tab', { name: new RegExp(`# ${room}`) }).click();
        await sendMessage(bob, 'psst, in the side room');
        await waitMessage(bob, 'psst, in the side room');
        const sideTab = alice.locator(`[data-testid="room-tab"][data-room="${side}"]`);
        await alice.waitForFunction(
          (r) =>
            document.querySelector(`[data-testid="room-tab"][data-room="${r}"] [data-testid="unread"]`)?.textContent ===
            '1',
          side,
        );
        await shot(alice, `${flow.tag}-02-unread-desktop`);
        await sideTab.click();
        await waitMessage(alice, 'psst, in the side room');
        assert.equal(await sideTab.getByTestId('unread').count(), 0);
        await alice.getByRole('tab', { name: new RegExp(`# ${room}`) }).click();
        await waitSynced(alice, room);

        if (flow.tag === 'default') {
          await bob.getByRole('tab', { name: new RegExp(`# ${room}`) }).click();
          await waitSynced(bob, room);
          await shot(bob, `${flow.tag}-03-chat-375`);
          await shot(alice, `${flow.tag}-03-chat-desktop`);
        }

        // Bob leaves: alice's member list updates.
        await bob.getByRole('tab', { name: new RegExp(`# ${room}`) }).click();
        await bob.getByRole('button', { name: 'Leave', exact: true }).click();
        await alice.waitForFunction(
          () =>
            document.querySelector('[data-testid="member-count"]')?.textContent === '1' &&
            document.querySelectorAll('[data-testid="member"]').length === 1,
        );
        const left = await memberNames(alice);
        assert.deepEqual(left, ['alice']);

        // A reload shows the history (the tab's session rejoins its rooms).
        await alice.reload();
        await waitSynced(alice, room);
        await waitMessage(alice, `hello bob via ${flow.tag}`);
        await waitMessage(alice, 'hi alice, ça va ? ✓');
        assert.deepEqual(
          (await timeline(alice)).map((m) => [m.seq, m.own]),
          [
            [1, true],
            [2, false],
          ],
        );
        await until(async () => (await transport(alice)) === flow.expectTransport, {
          message: `alice's transport after reload to be ${flow.expectTransport}`,
        });
        await shot(alice, `${flow.tag}-04-after-reload-desktop`);

        assert.deepEqual(alice.errors, [], 'no page errors for alice');
        assert.deepEqual(bob.errors, [], 'no page errors for bob');
      } finally {
        await alice.context().close();
        await bob.context().close();
      }
    });
  }
});
