// Room names to STOMP destinations: the TypeScript twin of `room_routing_key` in
// src/sinks/stomp/routing.rs (read its module doc). Both sides must agree byte for byte,
// so the unit tests use the Rust tests' vectors.
//
// - every byte of the room's UTF-8 outside [A-Za-z0-9_-] becomes `~XX` (upper-case hex);
// - a key longer than MAX_KEY_LEN becomes `~~` + the SHA-256 of the room name (lower-case hex).

/** Longest key of the short form (the Rust MAX_KEY_LEN). */
export const MAX_KEY_LEN = 240;
export const DEFAULT_CHAT_PREFIX = '/topic/chat.';
export const DEFAULT_PRESENCE_PREFIX = '/topic/presence.';

const utf8 = new TextEncoder();

function isPlain(byte: number): boolean {
  return (
    (byte >= 0x30 && byte <= 0x39) || // 0-9
    (byte >= 0x41 && byte <= 0x5a) || // A-Z
    (byte >= 0x61 && byte <= 0x7a) || // a-z
    byte === 0x5f || // _
    byte === 0x2d // -
  );
}

/** The short form of the key, whatever its length (no hashing). */
export function escapeRoom(room: string): string {
  let key = '';
  for (const byte of utf8.encode(room)) {
    key += isPlain(byte) ? String.fromCharCode(byte) : '~' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return key;
}

/** The key when it needs no hashing (the usual case), else null: use roomRoutingKey. */
export function shortRoutingKey(room: string): string | null {
  const key = escapeRoom(room);
  return key.length <= MAX_KEY_LEN ? key : null;
}

/** The routing key of `room`, exactly as the server's `room_routing_key` computes it. */
export async function roomRoutingKey(room: string): Promise<string> {
  const key = shortRoutingKey(room);
  if (key !== null) return key;
  return '~~' + toHex(await sha256(utf8.encode(room)));
}

export async function chatDestination(room: string, prefix = DEFAULT_CHAT_PREFIX): Promise<string> {
  return prefix + (await roomRoutingKey(room));
}

export async function presenceDestination(room: string, prefix = DEFAULT_PRESENCE_PREFIX): Promise<string> {
  return prefix + (await roomRoutingKey(room));
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * SHA-256 with WebCrypto. `crypto.subtle` only exists in a secure context (https or
 * localhost): on a plain-http LAN address fall back to a small JS implementation.
 */
export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  const subtle = globalThis.crypto?.subtle;
  if (subtle && typeof subtle.digest === 'function') {
    return new Uint8Array(await subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>));
  }
  return sha256Js(data);
}

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** Plain SHA-256 (FIPS 180-4), for when WebCrypto is unavailable. Exported for tests. */
export function sha256Js(data: Uint8Array): Uint8Array {
  const bitLen = data.length * 8;
  const padded = new Uint8Array(Math.ceil((data.length + 9) / 64) * 64);
  padded.set(data);
  padded[data.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bitLen / 2 ** 32));
  view.setUint32(padded.length - 4, bitLen >>> 0);
  const h = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const w = new Uint32Array(64);
  const rotr = (x: number, n: number) => (x >>> n) | (x << (32 - n));
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(off + i * 4);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K[i] + w[i]) >>> 0;
      const S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) >>> 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) >>> 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) >>> 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) outView.setUint32(i * 4, h[i]);
  return out;
}
