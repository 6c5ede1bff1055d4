// Node socket.io 4.8 reference server for the Switchboard benchmarks (bench/run.sh).
//
// It speaks the Switchboard chat contract v1.1 (shared chat-contract.md) closely enough for the
// load generator's scenarios: handshake auth `{name}`, `room:join` {room, since?, epoch?} with
// history and members, `room:leave`, `chat:send` with a per-room gap-free `seq`, the
// `chat:message` broadcast to the whole room (sender included), `chat:typing`, `chat:history`,
// `room:presence`, and an in-memory history ring per room. No rate limiting (the benchmark runs
// Switchboard with its limits raised out of the way).
//
//   node server.mjs --port 3100 [--host 127.0.0.1] [--history-limit 1000]
//                   [--ping-interval-ms 25000] [--ping-timeout-ms 20000] [--max-payload 1000000]

import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Server } from 'socket.io';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '3100' },
    host: { type: 'string', default: '127.0.0.1' },
    'history-limit': { type: 'string', default: '1000' },
    'ping-interval-ms': { type: 'string', default: '25000' },
    'ping-timeout-ms': { type: 'string', default: '20000' },
    'max-payload': { type: 'string', default: '1000000' },
  },
});

const HISTORY_LIMIT = Number(args['history-limit']);
const DEFAULT_HISTORY = 50;
const MAX_TEXT = 4000;
const MAX_ROOM_LEN = 64;
const MAX_NAME_LEN = 64;
const MAX_CLIENT_ID = 128;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** One room: its epoch, next seq and a ring of the last HISTORY_LIMIT messages. */
class Room {
  constructor() {
    this.epoch = randomUUID();
    this.seq = 0;
    this.ring = new Array(HISTORY_LIMIT);
    this.start = 0; // index of the oldest message
    this.len = 0;
  }
  push(msg) {
    if (this.len < HISTORY_LIMIT) {
      this.ring[(this.start + this.len) % HISTORY_LIMIT] = msg;
      this.len += 1;
    } else {
      this.ring[this.start] = msg;
      this.start = (this.start + 1) % HISTORY_LIMIT;
    }
  }
  at(i) {
    return this.ring[(this.start + i) % HISTORY_LIMIT];
  }
  /** Every retained message with seq > since. */
  since(since) {
    const out = [];
    for (let i = 0; i < this.len; i++) {
      const m = this.at(i);
      if (m.seq > since) out.push(m);
    }
    return out;
  }
  /** The last `limit` messages with seq < before (all when before is undefined). */
  lastBefore(limit, before) {
    const out = [];
    for (let i = this.len - 1; i >= 0 && out.length < limit; i--) {
      const m = this.at(i);
      if (before === undefined || m.seq < before) out.push(m);
    }
    return out.reverse();
  }
  /** The first `limit` messages with after < seq (< before). */
  firstAfter(limit, after, before) {
    const out = [];
    for (let i = 0; i < this.len && out.length < limit; i++) {
      const m = this.at(i);
      if (m.seq > after && (before === undefined || m.seq < before)) out.push(m);
    }
    return out;
  }
}

const rooms = new Map();
function roomState(name) {
  let r = rooms.get(name);
  if (!r) {
    r = new Room();
    rooms.set(name, r);
  }
  return r;
}

const err = (code, message) => ({ ok: false, error: { code, message } });
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const validRoom = (r) =>
  typeof r === 'string' && r.length >= 1 && r.length <= MAX_ROOM_LEN && !CONTROL.test(r);
const validSeq = (n) => n === undefined || (Number.isSafeInteger(n) && n >= 0);

const httpServer = createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'ok', connections: io.engine.clientsCount }));
    return;
  }
  res.writeHead(404);
  res.end();
});

const io = new Server(httpServer, {
  path: '/socket.io/',
  serveClient: false,
  maxHttpBufferSize: Number(args['max-payload']),
  pingInterval: Number(args['ping-interval-ms']),
  pingTimeout: Number(args['ping-timeout-ms']),
});

io.use((socket, next) => {
  const name = socket.handshake.auth?.name;
  if (typeof name !== 'string') return next(new Error('unauthorized'));
  const trimmed = name.trim();
  if (trimmed.length < 1 || trimmed.length > MAX_NAME_LEN || CONTROL.test(trimmed)) {
    return next(new Error('unauthorized'));
  }
  socket.data.user = { id: socket.id, name: trimmed };
  next();
});

/** Users in a room, each once. */
function members(room) {
  const sids = io.sockets.adapter.rooms.get(room);
  const seen = new Map();
  if (sids) {
    for (const sid of sids) {
      const s = io.sockets.sockets.get(sid);
      if (s && !seen.has(s.data.user.id)) seen.set(s.data.user.id, s.data.user);
    }
  }
  return [...seen.values()];
}

function count(room) {
  return io.sockets.adapter.rooms.get(room)?.size ?? 0;
}

io.on('connection', (socket) => {
  const user = socket.data.user;
  const reply = (ack, value) => {
    if (typeof ack === 'function') ack(value);
  };

  socket.on('room:join', (p, ack) => {
    if (!isObj(p) || !validRoom(p.room) || !validSeq(p.since)) {
      return reply(ack, err('bad_request', 'invalid room:join payload'));
    }
    if (p.epoch !== undefined && typeof p.epoch !== 'string') {
      return reply(ack, err('bad_request', 'invalid epoch'));
    }
    const r = roomState(p.room);
    const already = socket.rooms.has(p.room);
    socket.join(p.room);
    if (!already) {
      socket.to(p.room).emit('room:presence', { room: p.room, action: 'join', user, count: count(p.room) });
    }
    const history =
      p.since !== undefined && (p.epoch === undefined || p.epoch === r.epoch)
        ? r.since(p.since)
        : r.lastBefore(DEFAULT_HISTORY);
    reply(ack, { ok: true, room: p.room, epoch: r.epoch, members: members(p.room), history });
  });

  socket.on('room:leave', (p, ack) => {
    if (!isObj(p) || !validRoom(p.room)) return reply(ack, err('bad_request', 'invalid room'));
    if (!socket.rooms.has(p.room)) return reply(ack, err('not_in_room', 'not in room'));
    socket.leave(p.room);
    socket.to(p.room).emit('room:presence', { room: p.room, action: 'leave', user, count: count(p.room) });
    reply(ack, { ok: true });
  });

  socket.on('chat:send', (p, ack) => {
    if (!isObj(p) || !validRoom(p.room) || typeof p.text !== 'string' || p.text.trim() === '') {
      return reply(ack, err('bad_request', 'invalid chat:send payload'));
    }
    if (
      p.clientId !== undefined &&
      (typeof p.clientId !== 'string' || p.clientId.length < 1 || p.clientId.length > MAX_CLIENT_ID)
    ) {
      return reply(ack, err('bad_request', 'invalid clientId'));
    }
    if (p.text.length > MAX_TEXT) return reply(ack, err('too_large', 'text too long'));
    if (!socket.rooms.has(p.room)) return reply(ack, err('not_in_room', 'not in room'));
    const r = roomState(p.room);
    r.seq += 1;
    const message = { id: randomUUID(), room: p.room, seq: r.seq, from: user, text: p.text, ts: Date.now() };
    if (p.clientId !== undefined) message.clientId = p.clientId;
    r.push(message);
    io.to(p.room).emit('chat:message', message);
    reply(ack, { ok: true, message });
  });

  socket.on('chat:typing', (p) => {
    if (!isObj(p) || !validRoom(p.room) || typeof p.typing !== 'boolean') return;
    if (!socket.rooms.has(p.room)) return;
    socket.to(p.room).emit('chat:typing', { room: p.room, user, typing: p.typing });
  });

  socket.on('chat:history', (p, ack) => {
    if (!isObj(p) || !validRoom(p.room) || !validSeq(p.before) || !validSeq(p.after) || !validSeq(p.limit)) {
      return reply(ack, err('bad_request', 'invalid chat:history payload'));
    }
    if (p.limit === 0) return reply(ack, err('bad_request', 'limit must be positive'));
    if (!socket.rooms.has(p.room)) return reply(ack, err('not_in_room', 'not in room'));
    const r = roomState(p.room);
    const limit = Math.min(p.limit ?? DEFAULT_HISTORY, HISTORY_LIMIT);
    const messages =
      p.after !== undefined ? r.firstAfter(limit, p.after, p.before) : r.lastBefore(limit, p.before);
    reply(ack, { ok: true, epoch: r.epoch, messages });
  });

  socket.on('disconnecting', () => {
    for (const room of socket.rooms) {
      if (room === socket.id) continue;
      socket
        .to(room)
        .emit('room:presence', { room, action: 'leave', user, count: Math.max(0, count(room) - 1) });
    }
  });
});

httpServer.listen(Number(args.port), args.host, () => {
  const { address, port } = httpServer.address();
  console.log(`node reference listening on ${address}:${port} (pid ${process.pid})`);
});

const stop = () => {
  io.close();
  httpServer.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
