// Benchmark (not a test): the same messages over Socket.IO and over the STOMP bridge.
// A Socket.IO client sends N messages (a window of outstanding acks); a second Socket.IO
// client and an @stomp/stompjs client on RabbitMQ Web-STOMP both receive them. Prints one JSON
// line: messages/s confirmed on each path, lost counts, and latency p50/p99 (receive time
// minus the message's `ts`) per path, for the same messages.
//
//   node bench-stomp-bridge.mjs [--messages 5000] [--window 32] [--bin ../../target/release/switchboard]

import { Client as StompClient } from '@stomp/stompjs';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { startServer } from './server.mjs';

const arg = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 ? process.argv[index + 1] : fallback;
};
const MESSAGES = Number(arg('messages', 5000));
const WINDOW = Number(arg('window', 32));
if (arg('bin')) process.env.SWITCHBOARD_BIN = arg('bin');

const server = await startServer({
  args: ['--stomp-url', 'stomp://guest:guest@127.0.0.1:61613/', '--rate-limit', '1000000', '--rate-burst', '1000000'],
});
const room = `bench-${Date.now()}`;
const connect = (name) =>
  new Promise((resolve, reject) => {
    const socket = io(server.url, { auth: { name }, transports: ['websocket'] });
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
const sender = await connect('sender');
const receiver = await connect('receiver');
await sender.emitWithAck('room:join', { room });
await receiver.emitWithAck('room:join', { room });

const viaSocketIo = new Map();
const viaStomp = new Map();
receiver.on('chat:message', (m) => viaSocketIo.set(m.id, Date.now() - m.ts));

const stomp = new StompClient({
  webSocketFactory: () => new WebSocket('ws://127.0.0.1:15674/ws', ['v12.stomp']),
  connectHeaders: { login: 'guest', passcode: 'guest' },
  reconnectDelay: 0,
});
await new Promise((resolve) => {
  stomp.onConnect = () => {
    stomp.subscribe(`/topic/chat.${room}`, (frame) => {
      const m = JSON.parse(frame.body);
      viaStomp.set(m.id, Date.now() - m.ts);
    }, { receipt: 'subscribed' });
    stomp.watchForReceipt('subscribed', resolve);
  };
  stomp.activate();
});

const ids = [];
const started = Date.now();
let next = 0;
async function worker() {
  while (next < MESSAGES) {
    const i = next++;
    const ack = await sender.timeout(10000).emitWithAck('chat:send', { room, text: `m${i}` });
    if (ack.ok) ids.push(ack.message.id);
  }
}
await Promise.all(Array.from({ length: WINDOW }, worker));
const sentSeconds = (Date.now() - started) / 1000;
const deadline = Date.now() + 15000;
while ((viaStomp.size < ids.length || viaSocketIo.size < ids.length) && Date.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 20));
}
const allSeconds = (Date.now() - started) / 1000;
const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};
const path = (received) => {
  const latencies = ids.filter((id) => received.has(id)).map((id) => received.get(id));
  return { received: latencies.length, lost: ids.length - latencies.length, p50_ms: percentile(latencies, 50), p99_ms: percentile(latencies, 99), max_ms: Math.max(...latencies) };
};
const health = await (await fetch(`${server.url}/healthz`)).json();
console.log(JSON.stringify({
  messages: ids.length,
  acked_per_s: Math.round(ids.length / sentSeconds),
  bridged_per_s: Math.round(viaStomp.size / allSeconds),
  socketio: path(viaSocketIo),
  stomp: path(viaStomp),
  bridge: health.stomp,
}));
await stomp.deactivate();
sender.close();
receiver.close();
await server.stop();
