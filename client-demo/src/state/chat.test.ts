import { describe, expect, it } from 'vitest';
import {
  chatReducer,
  initialChatState,
  rejoinParams,
  totalUnread,
  typingNames,
  ownClientIdsToSave,
  TYPING_TTL_MS,
  type ChatAction,
  type ChatState,
} from './chat';
import type { Message, User } from './types';

const alice: User = { id: 'sa', name: 'alice' };
const bob: User = { id: 'sb', name: 'bob' };
const carol: User = { id: 'sc', name: 'carol' };

let nextId = 0;
const msg = (room: string, seq: number, from: User = bob, extra: Partial<Message> = {}): Message => ({
  id: `id-${++nextId}`,
  room,
  seq,
  from,
  text: `${room}#${seq}`,
  ts: 1000 + seq,
  ...extra,
});

const run = (actions: ChatAction[], start: ChatState = initialChatState) => actions.reduce(chatReducer, start);
const seqs = (s: ChatState, room: string) => s.rooms[room].messages.map((m) => m.seq);

/** alice is signed in and has joined `rooms` (history: seq 1..3 in each). */
function joined(...rooms: string[]): ChatState {
  const actions: ChatAction[] = [{ type: 'identity', me: alice }];
  for (const room of rooms) {
    actions.push({ type: 'joinStart', room });
    actions.push({
      type: 'joinAck',
      room,
      epoch: 'E1',
      members: [alice, bob],
      history: [msg(room, 1), msg(room, 2), msg(room, 3)],
    });
  }
  return run(actions);
}

describe('join and history', () => {
  it('joins a room, makes it active, shows history and members', () => {
    const s = joined('lobby');
    expect(s.order).toEqual(['lobby']);
    expect(s.active).toBe('lobby');
    const r = s.rooms.lobby;
    expect(seqs(s, 'lobby')).toEqual([1, 2, 3]);
    expect(r.epoch).toBe('E1');
    expect(r.members.map((u) => u.name)).toEqual(['alice', 'bob']);
    expect(r.count).toBe(2);
    expect(r.unread).toBe(0);
    expect(r.syncing).toBe(false);
  });

  it('forgets a room whose first join failed', () => {
    const s = run([
      { type: 'joinStart', room: 'x' },
      { type: 'joinFailed', room: 'x', error: { code: 'bad_request', message: 'bad room' } },
    ]);
    expect(s.order).toEqual([]);
    expect(s.active).toBeNull();
    expect(s.joinError).toEqual({ room: 'x', error: { code: 'bad_request', message: 'bad room' } });
    expect(chatReducer(s, { type: 'joinStart', room: 'y' }).joinError).toBeNull();
  });

  it('buffers live messages during a join and applies them after history, no duplicate', () => {
    const s = run([
      { type: 'joinStart', room: 'r' },
      { type: 'message', message: msg('r', 3) },
      { type: 'message', message: msg('r', 4) },
      { type: 'joinAck', room: 'r', epoch: 'E1', members: [alice], history: [msg('r', 2), msg('r', 3)] },
    ]);
    expect(seqs(s, 'r')).toEqual([2, 3, 4]);
  });
});

describe('merging live messages by seq', () => {
  it('appends new messages and drops duplicates', () => {
    const s = run(
      [
        { type: 'message', message: msg('lobby', 4) },
        { type: 'message', message: msg('lobby', 4) },
        { type: 'message', message: msg('lobby', 2) },
        { type: 'message', message: msg('lobby', 5) },
      ],
      joined('lobby'),
    );
    expect(seqs(s, 'lobby')).toEqual([1, 2, 3, 4, 5]);
  });

  it('ignores messages for rooms not joined', () => {
    const start = joined('lobby');
    expect(chatReducer(start, { type: 'message', message: msg('other', 1) })).toBe(start);
  });
});

describe('pending -> confirmed', () => {
  it('shows an own message as pending until its ack, then confirmed once', () => {
    let s = run([{ type: 'sendStart', room: 'lobby', clientId: 'c1', text: 'hi', ts: 5 }], joined('lobby'));
    expect(s.rooms.lobby.pending).toEqual([{ clientId: 'c1', text: 'hi', ts: 5, status: 'pending' }]);
    expect(s.ownClientIds.c1).toBe(true);

    const confirmed = msg('lobby', 4, alice, { clientId: 'c1', text: 'hi' });
    // The broadcast arrives before the ack (the server emits, then acks).
    s = chatReducer(s, { type: 'message', message: confirmed });
    expect(s.rooms.lobby.pending).toEqual([]);
    s = chatReducer(s, { type: 'sendAck', room: 'lobby', clientId: 'c1', message: confirmed });
    expect(seqs(s, 'lobby')).toEqual([1, 2, 3, 4]);
    expect(s.rooms.lobby.messages[3].clientId).toBe('c1');
  });

  it('ack alone confirms too (and fills in clientId if the server omitted it)', () => {
    const m = msg('lobby', 4, alice, { text: 'yo' });
    const s = run(
      [
        { type: 'sendStart', room: 'lobby', clientId: 'c2', text: 'yo', ts: 1 },
        { type: 'sendAck', room: 'lobby', clientId: 'c2', message: m },
      ],
      joined('lobby'),
    );
    expect(s.rooms.lobby.pending).toEqual([]);
    expect(s.rooms.lobby.messages.at(-1)).toMatchObject({ seq: 4, clientId: 'c2' });
  });

  it('a refused send is marked failed with the error shown; discard clears it', () => {
    const error = { code: 'too_large', message: 'text over 50 characters' };
    let s = run(
      [
        { type: 'sendStart', room: 'lobby', clientId: 'c3', text: 'x'.repeat(60), ts: 1 },
        { type: 'sendFailed', room: 'lobby', clientId: 'c3', error },
      ],
      joined('lobby'),
    );
    expect(s.rooms.lobby.pending[0]).toMatchObject({ status: 'failed', error });
    expect(s.rooms.lobby.sendError).toEqual(error);
    s = chatReducer(s, { type: 'discardPending', room: 'lobby', clientId: 'c3' });
    expect(s.rooms.lobby.pending).toEqual([]);
    expect(s.rooms.lobby.sendError).toBeNull();
  });

  it('a pending send is queued on disconnect and confirmed by the rejoin history', () => {
    let s = run(
      [{ type: 'sendStart', room: 'lobby', clientId: 'c4', text: 'late', ts: 1 }, { type: 'disconnected' }],
      joined('lobby'),
    );
    expect(s.rooms.lobby.pending[0].status).toBe('queued');
    s = chatReducer(s, {
      type: 'joinAck',
      room: 'lobby',
      epoch: 'E1',
      members: [alice],
      history: [msg('lobby', 4, alice, { clientId: 'c4', text: 'late' })],
    });
    expect(s.rooms.lobby.pending).toEqual([]);
    expect(seqs(s, 'lobby')).toEqual([1, 2, 3, 4]);
  });
});

describe('unread counts', () => {
  it('counts messages from others in inactive rooms only; selecting clears', () => {
    let s = joined('a', 'b'); // b is active (joined last)
    expect(s.active).toBe('b');
    s = run(
      [
        { type: 'message', message: msg('a', 4) },
        { type: 'message', message: msg('a', 5) },
        { type: 'message', message: msg('a', 5) }, // duplicate: not counted twice
        { type: 'message', message: msg('a', 6, alice) }, // own: not counted
        { type: 'message', message: msg('b', 4) }, // active room: not counted
      ],
      s,
    );
    expect(s.rooms.a.unread).toBe(2);
    expect(s.rooms.b.unread).toBe(0);
    expect(totalUnread(s)).toBe(2);
    s = chatReducer(s, { type: 'select', room: 'a' });
    expect(s.active).toBe('a');
    expect(s.rooms.a.unread).toBe(0);
  });

  it('own messages are recognised by clientId even after the socket id changed', () => {
    let s = run(
      [
        { type: 'select', room: 'a' },
        { type: 'sendStart', room: 'b', clientId: 'cx', text: 't', ts: 1 },
        { type: 'identity', me: { id: 'new-socket-id', name: 'alice' } },
        { type: 'message', message: msg('b', 4, alice, { clientId: 'cx' }) },
      ],
      joined('a', 'b'),
    );
    expect(s.rooms.b.unread).toBe(0);
    s = chatReducer(s, { type: 'message', message: msg('b', 5, bob) });
    expect(s.rooms.b.unread).toBe(1);
  });

  it('own clientIds survive a reload (restoreOwn) and keep own messages out of unread', () => {
    let s = run(
      [
        { type: 'sendStart', room: 'a', clientId: 'k1', text: 't', ts: 1 },
        { type: 'message', message: msg('a', 4, alice, { clientId: 'k1' }) },
      ],
      joined('a'),
    );
    const saved = ownClientIdsToSave(s);
    expect(saved).toEqual(['k1']);
    // After a reload: a new socket id, nothing known until restored.
    s = run(
      [
        { type: 'identity', me: { id: 'reloaded', name: 'alice' } },
        { type: 'restoreOwn', clientIds: saved },
        { type: 'joinStart', room: 'b' },
        { type: 'joinAck', room: 'b', epoch: 'E1', members: [], history: [] },
        { type: 'message', message: msg('a', 5, alice, { clientId: 'k1' }) },
      ],
      initialChatState,
    );
    expect(s.ownClientIds.k1).toBe(true);
  });

  it('messages recovered on a rejoin count as unread in an inactive room', () => {
    let s = run([{ type: 'disconnected' }], joined('a', 'b'));
    s = chatReducer(s, {
      type: 'joinAck',
      room: 'a',
      epoch: 'E1',
      members: [alice],
      history: [msg('a', 4), msg('a', 5)],
    });
    expect(s.rooms.a.unread).toBe(2);
  });
});

describe('reconnect and epoch', () => {
  it('rejoins with since = last contiguous seq and the epoch', () => {
    const s = joined('lobby');
    expect(rejoinParams(s.rooms.lobby)).toEqual({ room: 'lobby', since: 3, epoch: 'E1' });
    const withHole = run(
      [
        { type: 'message', message: msg('lobby', 4) },
        { type: 'message', message: msg('lobby', 6) },
      ],
      s,
    );
    expect(rejoinParams(withHole.rooms.lobby).since).toBe(4);
  });

  it('first join of an unknown room sends neither since nor epoch', () => {
    const s = run([{ type: 'joinStart', room: 'new' }]);
    expect(rejoinParams(s.rooms.new)).toEqual({ room: 'new' });
  });

  it('recovery with the same epoch merges: no gap, no duplicate', () => {
    let s = run([{ type: 'disconnected' }], joined('lobby'));
    expect(s.rooms.lobby.syncing).toBe(true);
    // While rejoining, a live message arrives before the ack.
    s = chatReducer(s, { type: 'message', message: msg('lobby', 6) });
    s = chatReducer(s, {
      type: 'joinAck',
      room: 'lobby',
      epoch: 'E1',
      members: [alice, carol],
      history: [msg('lobby', 3), msg('lobby', 4), msg('lobby', 5), msg('lobby', 6)],
    });
    expect(seqs(s, 'lobby')).toEqual([1, 2, 3, 4, 5, 6]);
    expect(s.rooms.lobby.members.map((u) => u.name)).toEqual(['alice', 'carol']);
    expect(s.rooms.lobby.epochResets).toBe(0);
  });

  it('a new epoch resets the view: new seq 1, 2 are not taken as already seen', () => {
    let s = run([{ type: 'disconnected' }], joined('lobby'));
    s = chatReducer(s, {
      type: 'joinAck',
      room: 'lobby',
      epoch: 'E2',
      members: [alice],
      history: [],
    });
    expect(s.rooms.lobby.epoch).toBe('E2');
    expect(seqs(s, 'lobby')).toEqual([]);
    expect(s.rooms.lobby.epochResets).toBe(1);
    s = chatReducer(s, { type: 'message', message: msg('lobby', 1, carol) });
    s = chatReducer(s, { type: 'message', message: msg('lobby', 2, carol) });
    expect(seqs(s, 'lobby')).toEqual([1, 2]);
    expect(s.rooms.lobby.messages[0].from.name).toBe('carol');
    expect(rejoinParams(s.rooms.lobby)).toEqual({ room: 'lobby', since: 2, epoch: 'E2' });
  });

  it('a new epoch with history replaces the old timeline', () => {
    let s = run([{ type: 'disconnected' }], joined('lobby'));
    s = chatReducer(s, { type: 'message', message: msg('lobby', 2, carol, { text: 'buffered new' }) });
    s = chatReducer(s, {
      type: 'joinAck',
      room: 'lobby',
      epoch: 'E2',
      members: [alice],
      history: [msg('lobby', 1, carol, { text: 'new one' })],
    });
    expect(s.rooms.lobby.messages.map((m) => m.text)).toEqual(['new one', 'buffered new']);
  });

  it('history backfill for another epoch or while syncing is ignored', () => {
    const s = joined('lobby');
    expect(chatReducer(s, { type: 'history', room: 'lobby', epoch: 'OLD', messages: [msg('lobby', 9)] })).toBe(s);
    const filled = chatReducer(s, { type: 'history', room: 'lobby', epoch: 'E1', messages: [msg('lobby', 4)] });
    expect(seqs(filled, 'lobby')).toEqual([1, 2, 3, 4]);
  });
});

describe('presence, typing and leaving', () => {
  it('updates members and count from room:presence', () => {
    let s = joined('lobby');
    s = chatReducer(s, { type: 'presence', event: { room: 'lobby', action: 'join', user: carol, count: 3 } });
    expect(s.rooms.lobby.members.map((u) => u.name)).toEqual(['alice', 'bob', 'carol']);
    expect(s.rooms.lobby.count).toBe(3);
    s = chatReducer(s, { type: 'presence', event: { room: 'lobby', action: 'join', user: carol, count: 3 } });
    expect(s.rooms.lobby.members).toHaveLength(3);
    s = chatReducer(s, { type: 'presence', event: { room: 'lobby', action: 'leave', user: bob, count: 2 } });
    expect(s.rooms.lobby.members.map((u) => u.name)).toEqual(['alice', 'carol']);
    expect(s.rooms.lobby.count).toBe(2);
  });

  it('shows typing users until typing:false, a message from them, or the TTL', () => {
    let s = joined('lobby');
    s = chatReducer(s, { type: 'typing', event: { room: 'lobby', user: bob, typing: true }, now: 0 });
    s = chatReducer(s, { type: 'typing', event: { room: 'lobby', user: carol, typing: true }, now: 0 });
    expect(typingNames(s.rooms.lobby)).toEqual(['bob', 'carol']);
    s = chatReducer(s, { type: 'typing', event: { room: 'lobby', user: carol, typing: false }, now: 1 });
    expect(typingNames(s.rooms.lobby)).toEqual(['bob']);
    s = chatReducer(s, { type: 'message', message: msg('lobby', 4, bob) });
    expect(typingNames(s.rooms.lobby)).toEqual([]);
    s = chatReducer(s, { type: 'typing', event: { room: 'lobby', user: bob, typing: true }, now: 100 });
    expect(chatReducer(s, { type: 'tick', now: 100 + TYPING_TTL_MS - 1 })).toBe(s);
    s = chatReducer(s, { type: 'tick', now: 100 + TYPING_TTL_MS });
    expect(typingNames(s.rooms.lobby)).toEqual([]);
  });

  it('ignores own typing events', () => {
    const s = joined('lobby');
    expect(chatReducer(s, { type: 'typing', event: { room: 'lobby', user: alice, typing: true }, now: 0 })).toBe(s);
  });

  it('leaving removes the room and activates a neighbour', () => {
    let s = joined('a', 'b', 'c');
    s = chatReducer(s, { type: 'select', room: 'b' });
    s = chatReducer(s, { type: 'leave', room: 'b' });
    expect(s.order).toEqual(['a', 'c']);
    expect(s.active).toBe('c');
    s = chatReducer(s, { type: 'leave', room: 'c' });
    expect(s.active).toBe('a');
    s = chatReducer(s, { type: 'leave', room: 'a' });
    expect(s.active).toBeNull();
  });
});
