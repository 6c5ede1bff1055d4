// The side-effecting part of the comparison pane: owns the @stomp/stompjs client (Web-STOMP
// over the browser's native WebSocket), subscribes to the current room's chat topic, and
// feeds both paths' arrivals into the pure reducer in src/state/compare.ts.
import { Client, ReconnectionTimeMode, type IFrame, type IMessage, type StompSubscription } from '@stomp/stompjs';
import {
  compareReducer,
  initialCompare,
  parseCompareConfig,
  parseStompBody,
  type CompareAction,
  type CompareConfig,
  type CompareState,
} from '../state/compare';
import { roomRoutingKey } from '../state/routingKey';
import { createStore, type Store } from '../state/store';
import type { ChatClient } from './chatClient';

export class StompCompare {
  readonly store: Store<CompareState, CompareAction> = createStore(compareReducer, initialCompare);

  private config: CompareConfig | null = null;
  private client: Client | null = null;
  private sub: StompSubscription | null = null;
  private subDestination: string | null = null;
  private receipts = 0;
  private unsubscribers: (() => void)[] = [];

  constructor(private readonly chat: ChatClient) {}

  /** Applies /config.json (null when it failed): the pane exists only with a webStompUrl. */
  configure(appConfig: unknown): void {
    this.dispose();
    this.config = parseCompareConfig(appConfig);
    this.store.dispatch({ type: 'configured', enabled: this.config !== null, url: this.config?.url ?? null });
    if (!this.config) return;
    this.unsubscribers.push(
      this.chat.onChatMessage((message, at) => this.store.dispatch({ type: 'received', path: 'socketio', message, at })),
      this.chat.chat.subscribe(() => this.sync()),
      this.chat.conn.subscribe(() => this.sync()),
    );
    this.sync();
  }

  dispose(): void {
    for (const u of this.unsubscribers.splice(0)) u();
    this.stop();
  }

  /** Follows the app: STOMP is connected while signed in, subscribed to the current room. */
  private sync(): void {
    const config = this.config;
    if (!config) return;
    const phase = this.chat.conn.getState().phase;
    const signedIn = phase !== 'signed-out' && phase !== 'refused';
    const room = signedIn ? this.chat.chat.getState().active : null;
    if (this.store.getState().room !== room) {
      this.store.dispatch({ type: 'room', room, now: Date.now() });
      this.unsubscribe();
      void this.subscribeCurrent();
    }
    if (signedIn && !this.client) this.start(config);
    else if (!signedIn && this.client) this.stop();
  }

  private start(config: CompareConfig): void {
    const client = new Client({
      brokerURL: config.url,
      connectHeaders: { login: config.login, passcode: config.passcode },
      connectionTimeout: 5000,
      reconnectDelay: 1000,
      maxReconnectDelay: 10_000,
      reconnectTimeMode: ReconnectionTimeMode.EXPONENTIAL,
      heartbeatIncoming: 10_000,
      heartbeatOutgoing: 10_000,
      debug: () => {},
    });
    client.onConnect = () => {
      if (this.client !== client) return;
      this.store.dispatch({ type: 'stompConnected' });
      void this.subscribeCurrent();
    };
    client.onStompError = (frame: IFrame) => {
      if (this.client !== client) return;
      this.store.dispatch({ type: 'stompError', error: stompErrorText(frame) });
      // An ERROR ends the session, but RabbitMQ's Web-STOMP keeps the WebSocket open for a
      // while: close it now so the reconnect (with backoff) starts at once.
      client.forceDisconnect();
    };
    client.onWebSocketClose = (event: CloseEvent) => {
      if (this.client !== client) return;
      // The subscription died with the connection; onConnect subscribes again.
      this.sub = null;
      this.subDestination = null;
      const hadError = this.store.getState().stomp.error !== null;
      this.store.dispatch({
        type: 'stompClosed',
        error: hadError ? undefined : `WebSocket closed, code ${event?.code ?? '?'}`,
      });
    };
    this.client = client;
    this.store.dispatch({ type: 'stompConnecting' });
    client.activate();
  }

  private stop(): void {
    const client = this.client;
    this.client = null;
    this.sub = null;
    this.subDestination = null;
    if (client) {
      void client.deactivate().catch(() => {});
      this.store.dispatch({ type: 'stompStopped' });
    }
  }

  private unsubscribe(): void {
    const sub = this.sub;
    this.sub = null;
    this.subDestination = null;
    if (sub && this.client?.connected) {
      try {
        sub.unsubscribe();
      } catch {
        /* the connection is going away anyway */
      }
    }
  }

  private async subscribeCurrent(): Promise<void> {
    const client = this.client;
    const config = this.config;
    const room = this.store.getState().room;
    if (!client || !config || !client.connected || room === null) return;
    const destination = config.chatPrefix + (await roomRoutingKey(room));
    // Anything may have changed while hashing: only the newest call subscribes.
    if (this.client !== client || !client.connected || this.store.getState().room !== room) return;
    if (this.sub && this.subDestination === destination) return;
    this.unsubscribe();
    this.store.dispatch({ type: 'subscribing', room, destination });
    // A receipt tells when the broker has the subscription: from then on nothing is missed.
    const receipt = `sub-${++this.receipts}`;
    client.watchForReceipt(receipt, () => {
      if (this.client === client && this.subDestination === destination) {
        this.store.dispatch({ type: 'subscribed', destination });
      }
    });
    this.sub = client.subscribe(destination, (frame) => this.onFrame(frame), { receipt });
    this.subDestination = destination;
  }

  private onFrame(frame: IMessage): void {
    const at = Date.now();
    const message = parseStompBody(frame.body);
    if (!message) {
      this.store.dispatch({ type: 'badFrame' });
      return;
    }
    this.store.dispatch({ type: 'received', path: 'stomp', message, at });
  }
}

/** "Bad CONNECT: Access refused for user 'guest'" from a broker's ERROR frame (kept short). */
export function stompErrorText(frame: Pick<IFrame, 'headers' | 'body'>): string {
  const head = frame.headers?.message?.trim() || 'ERROR frame';
  const detail = (frame.body ?? '').split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
  const text = detail && detail !== head ? `${head}: ${detail}` : head;
  return text.length > 120 ? `${text.slice(0, 119)}…` : text;
}
