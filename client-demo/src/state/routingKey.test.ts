// The vectors are copied from the Rust unit tests in src/sinks/stomp/routing.rs, so the
// browser subscribes to exactly the destination the server publishes to.
import { describe, expect, it } from 'vitest';
import {
  MAX_KEY_LEN,
  chatDestination,
  escapeRoom,
  presenceDestination,
  roomRoutingKey,
  sha256Js,
  shortRoutingKey,
} from './routingKey';

// TRICKY in routing.rs
const TRICKY = [
  'general', 'a.b', 'a~2Eb', 'a*', '#', 'a/b', 'a%2Fb', 'a b', '%', '~', '~~', 'café', '日本語',
  'emoji 🎉', 'chat.general', 'a-b_c', '',
];

function assertSafe(key: string) {
  for (const forbidden of ['.', '*', '#', '/', '%', ' ']) expect(key, `${key} holds ${forbidden}`).not.toContain(forbidden);
  expect(/^[\x00-\x7f]*$/.test(key), `${key} is not ASCII`).toBe(true);
  expect(key.length).toBeLessThanOrEqual(Math.max(MAX_KEY_LEN, 66));
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

describe('room routing key (same vectors as routing.rs)', () => {
  it('keeps plain names', async () => {
    expect(await roomRoutingKey('general')).toBe('general');
    expect(await roomRoutingKey('a-b_C9')).toBe('a-b_C9');
  });

  it('escapes everything else', async () => {
    expect(await roomRoutingKey('a.b')).toBe('a~2Eb');
    expect(await roomRoutingKey('a/b c')).toBe('a~2Fb~20c');
    expect(await roomRoutingKey('café')).toBe('caf~C3~A9');
    expect(await roomRoutingKey('~')).toBe('~7E');
    expect(await chatDestination('x.y')).toBe('/topic/chat.x~2Ey');
    expect(await presenceDestination('x')).toBe('/topic/presence.x');
  });

  it('keys are safe', async () => {
    for (const room of TRICKY) assertSafe(await roomRoutingKey(room));
    const key = await roomRoutingKey('日'.repeat(64));
    expect(key.startsWith('~~')).toBe(true);
    expect(key).toHaveLength(66);
    assertSafe(key);
  });

  it('keys are injective', async () => {
    const rooms = [...TRICKY];
    for (let byte = 1; byte < 128; byte++) rooms.push(String.fromCharCode(byte));
    const alphabet = ['a', '.', '~', '%', '2', 'E', '/', 'é', '~2E'];
    for (const first of alphabet) for (const second of alphabet) rooms.push(first + second);
    rooms.push('日'.repeat(64), '日'.repeat(63) + '本', 'x'.repeat(240), 'x'.repeat(241));
    const seen = new Map<string, string>();
    for (const room of new Set(rooms)) {
      const key = await roomRoutingKey(room);
      const other = seen.get(key);
      if (other !== undefined) throw new Error(`${JSON.stringify(room)} and ${JSON.stringify(other)} share a key`);
      seen.set(key, room);
    }
  });

  it('long keys switch to the hash form', async () => {
    expect(await roomRoutingKey('x'.repeat(240))).toBe('x'.repeat(240));
    expect((await roomRoutingKey('x'.repeat(241))).startsWith('~~')).toBe(true);
    expect((await roomRoutingKey('.'.repeat(81))).startsWith('~~')).toBe(true);
  });

  // Not in routing.rs (it only checks the prefix and length): the exact digests, from
  // `printf %s "$room" | sha256sum`, so both hash paths are pinned.
  it('the hash form is ~~ + lower-case hex SHA-256 of the UTF-8 room name', async () => {
    const vectors: [string, string][] = [
      ['x'.repeat(241), '7dbf05774ebc8b0213e8f74d789e344714ca95a03e019d92c8d48365045b7989'],
      ['日'.repeat(64), 'd73fcaa7c8eafd4daf591c5a32903299d7eb9b13b30dbe3aef7445e70937ae67'],
      ['.'.repeat(81), 'eb7b0297e5b6b33f6680cf9c6b471903832a5caceda3debf8e52cda0a40ab9c3'],
    ];
    for (const [room, digest] of vectors) {
      expect(await roomRoutingKey(room)).toBe(`~~${digest}`);
      expect(hex(sha256Js(new TextEncoder().encode(room)))).toBe(digest);
    }
  });

  it('the JS SHA-256 fallback matches the standard vectors', () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    expect(hex(sha256Js(enc('')))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hex(sha256Js(enc('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    // 56 bytes: the padding spills into a second block.
    expect(hex(sha256Js(enc('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')))).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });

  it('shortRoutingKey is synchronous and null for the hash form', () => {
    expect(shortRoutingKey('compare room.1')).toBe('compare~20room~2E1');
    expect(shortRoutingKey('x'.repeat(241))).toBeNull();
    expect(escapeRoom('emoji 🎉')).toBe('emoji~20~F0~9F~8E~89');
  });
});
