// chat:send errors are shown next to the input.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  PHONE,
  DESKTOP,
  joinRoom,
  launchBrowser,
  openPage,
  sendMessage,
  shot,
  signIn,
  startServer,
  timeline,
  waitMessage,
} from './helpers.mjs';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

const errorShown = (page, code) =>
  page.waitForFunction(
    (c) => document.querySelector('[data-testid="send-error"]')?.getAttribute('data-code') === c,
    code,
  );

describe('send errors', () => {
  test('an oversize message shows too_large next to the input', { timeout: 60_000 }, async () => {
    const server = await startServer({ name: 'too-large', args: ['--max-text', '50', '--max-room-len', '16'] });
    const page = await openPage(browser, `${server.url}/`, PHONE);
    try {
      await signIn(page, 'alice');
      // A refused join (room name over --max-room-len) is explained under the form.
      await page.getByLabel('Room', { exact: true }).fill('a-room-name-that-is-too-long');
      await page.getByRole('button', { name: 'Join', exact: true }).click();
      await page.getByTestId('join-error').waitFor();
      assert.equal(await page.getByTestId('join-error').getAttribute('data-code'), 'bad_request');
      assert.equal(await page.getByTestId('room-tab').count(), 0);
      await joinRoom(page, 'limits');
      assert.equal(await page.getByTestId('join-error').count(), 0);
      const long = 'x'.repeat(51);
      await sendMessage(page, long);
      await errorShown(page, 'too_large');
      const error = page.getByTestId('send-error');
      assert.match(await error.textContent(), /too long|too_large/i);
      assert.equal(await error.getAttribute('role'), 'alert');
      // The input points at the error, and the refused message is marked failed.
      const input = page.getByLabel('Message', { exact: true });
      assert.equal(await input.getAttribute('aria-invalid'), 'true');
      await waitMessage(page, long, 'failed');
      await shot(page, 'errors-01-too-large-375');

      // A message at the limit goes through and clears the error.
      const ok = 'y'.repeat(50);
      await sendMessage(page, ok);
      await waitMessage(page, ok);
      assert.equal(await page.getByTestId('send-error').count(), 0);
      await page.getByRole('button', { name: 'Discard', exact: true }).click();
      await page.waitForFunction(() => !document.querySelector('[data-status="failed"]'));
      const tl = await timeline(page);
      assert.deepEqual(tl.map((m) => [m.seq, m.status]), [[1, 'confirmed']]);
      assert.deepEqual(page.errors, []);
    } finally {
      await page.context().close();
      server.saveLog();
      await server.stop();
    }
  });

  test('sending too fast shows rate_limited', { timeout: 60_000 }, async () => {
    const server = await startServer({ name: 'rate', args: ['--rate-limit', '1', '--rate-burst', '2'] });
    const page = await openPage(browser, `${server.url}/`, DESKTOP);
    try {
      await signIn(page, 'alice');
      await joinRoom(page, 'fast');
      for (let i = 1; i <= 4; i++) await sendMessage(page, `quick ${i}`);
      await errorShown(page, 'rate_limited');
      await waitMessage(page, 'quick 1');
      await waitMessage(page, 'quick 2');
      await shot(page, 'errors-02-rate-limited-desktop');
      assert.deepEqual(page.errors, []);
    } finally {
      await page.context().close();
      server.saveLog();
      await server.stop();
    }
  });
});
