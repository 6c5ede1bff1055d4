import { describe, expect, it } from 'vitest';
import { contiguousHighWater, leavesGap, maxSeq, mergeMessages } from './timeline';
import type { Message } from './types';

const bob = { id: 'b', name: 'bob' };
const msg = (seq: number, text = `m${seq}`): Message => ({
  id: `id-${seq}`,
  room: 'r',
  seq,
  from: bob,
  text,
  ts: 1000 + seq,
});
const seqs = (ms: Message[]) => ms.map((m) => m.seq);

describe('mergeMessages', () => {
  it('appends newer messages in seq order', () => {
    const { messages, added } = mergeMessages([msg(1), msg(2)], [msg(4), msg(3)]);
    expect(seqs(messages)).toEqual([1, 2, 3, 4]);
    expect(seqs(added)).toEqual([3, 4]);
  });

  it('drops duplicates by seq, within the incoming batch too', () => {
    const { messages, added } = mergeMessages([msg(1), msg(2)], [msg(2, 'again'), msg(3), msg(3)]);
    expect(seqs(messages)).toEqual([1, 2, 3]);
    expect(messages[1].text).toBe('m2');
    expect(seqs(added)).toEqual([3]);
  });

  it('fills a hole in the middle and keeps the order', () => {
    const { messages } = mergeMessages([msg(1), msg(4)], [msg(3), msg(2), msg(5)]);
    expect(seqs(messages)).toEqual([1, 2, 3, 4, 5]);
  });

  it('returns the same array when nothing is new', () => {
    const existing = [msg(1), msg(2)];
    expect(mergeMessages(existing, [msg(1)]).messages).toBe(existing);
    expect(mergeMessages(existing, []).messages).toBe(existing);
  });

  it('ignores messages without a valid seq', () => {
    const bad = { ...msg(1), seq: -1 };
    const odd = { ...msg(1), seq: 1.5 };
    expect(seqs(mergeMessages([], [bad, odd, msg(2)]).messages)).toEqual([2]);
  });

  it('does not mutate its inputs', () => {
    const existing = [msg(1), msg(3)];
    const incoming = [msg(5), msg(2)];
    mergeMessages(existing, incoming);
    expect(seqs(existing)).toEqual([1, 3]);
    expect(seqs(incoming)).toEqual([5, 2]);
  });
});

describe('contiguousHighWater', () => {
  it('is 0 for an empty timeline', () => {
    expect(contiguousHighWater([])).toBe(0);
  });
  it('is the last seq of a contiguous run starting at the oldest held', () => {
    expect(contiguousHighWater([msg(51), msg(52), msg(53)])).toBe(53);
  });
  it('stops before a hole', () => {
    expect(contiguousHighWater([msg(1), msg(2), msg(4), msg(5)])).toBe(2);
  });
  it('maxSeq and leavesGap', () => {
    expect(maxSeq([msg(1), msg(2)])).toBe(2);
    expect(leavesGap([msg(1), msg(2)], 3)).toBe(false);
    expect(leavesGap([msg(1), msg(2)], 4)).toBe(true);
    expect(leavesGap([], 7)).toBe(false);
  });
});
