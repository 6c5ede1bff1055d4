// Pure helpers for a room's timeline: messages kept sorted by `seq`, unique.
import type { Message } from './types';

/**
 * Merges `incoming` into `existing` (sorted ascending by seq, no duplicate seq).
 * Returns the merged array and the messages that were really new.
 * A message whose seq is already held is a duplicate and is dropped (the copy
 * already held wins: within one epoch a seq names exactly one message).
 * `existing` is never mutated; when nothing is new the same array is returned.
 */
export function mergeMessages(
  existing: readonly Message[],
  incoming: readonly Message[],
): { messages: Message[]; added: Message[] } {
  if (incoming.length === 0) return { messages: existing as Message[], added: [] };
  const seen = new Set<number>();
  for (const m of existing) seen.add(m.seq);
  const added: Message[] = [];
  for (const m of incoming) {
    if (!isValidSeq(m.seq) || seen.has(m.seq)) continue;
    seen.add(m.seq);
    added.push(m);
  }
  if (added.length === 0) return { messages: existing as Message[], added };
  added.sort((a, b) => a.seq - b.seq);
  const last = existing.length > 0 ? existing[existing.length - 1].seq : -Infinity;
  let messages: Message[];
  if (added[0].seq > last) {
    // Common case: only newer messages, append.
    messages = existing.concat(added);
  } else {
    messages = existing.concat(added).sort((a, b) => a.seq - b.seq);
  }
  return { messages, added };
}

function isValidSeq(seq: unknown): seq is number {
  return typeof seq === 'number' && Number.isInteger(seq) && seq >= 0;
}

/**
 * The highest seq up to which the timeline has no hole, counted from the
 * oldest message held: this is the `since` to send on rejoin, so that a hole
 * (a message missed live) is filled by the server's history.
 * Returns 0 for an empty timeline.
 */
export function contiguousHighWater(messages: readonly Message[]): number {
  if (messages.length === 0) return 0;
  let hw = messages[0].seq;
  for (let i = 1; i < messages.length; i++) {
    if (messages[i].seq === hw + 1) hw = messages[i].seq;
    else if (messages[i].seq > hw + 1) break;
  }
  return hw;
}

/** The highest seq held (0 when empty). */
export function maxSeq(messages: readonly Message[]): number {
  return messages.length === 0 ? 0 : messages[messages.length - 1].seq;
}

/**
 * True when `seq` would leave a hole after the messages held: the caller
 * should backfill with `chat:history { after: contiguousHighWater }`.
 */
export function leavesGap(messages: readonly Message[], seq: number): boolean {
  if (messages.length === 0) return false;
  return seq > contiguousHighWater(messages) + 1;
}
