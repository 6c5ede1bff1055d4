// Wire types of the Switchboard chat contract (v1.1).

export interface User {
  id: string;
  name: string;
}

export interface Message {
  id: string;
  room: string;
  seq: number;
  from: User;
  text: string;
  /** ms since the Unix epoch */
  ts: number;
  clientId?: string;
}

export interface ErrorInfo {
  code: string;
  message: string;
}

export type Ack<T> = ({ ok: true } & T) | { ok: false; error: ErrorInfo };

export interface JoinRequest {
  room: string;
  since?: number;
  epoch?: string;
}

export interface JoinOk {
  room: string;
  epoch: string;
  members: User[];
  history: Message[];
}

export interface SendOk {
  message: Message;
}

export interface HistoryOk {
  epoch: string;
  messages: Message[];
}

export interface PresenceEvent {
  room: string;
  action: 'join' | 'leave';
  user: User;
  count: number;
}

export interface TypingEvent {
  room: string;
  user: User;
  typing: boolean;
}
