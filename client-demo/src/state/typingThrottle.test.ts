import { describe, expect, it } from 'vitest';
import {
  idleTyping,
  typingIdleCheck,
  typingInput,
  typingSent,
  TYPING_IDLE_MS,
  TYPING_THROTTLE_MS,
} from './typingThrottle';

describe('typing throttle', () => {
  it('sends typing:true at once, then at most once per throttle window', () => {
    let [s, send] = typingInput(idleTyping, 0, true);
    expect(send).toBe(true);
    [s, send] = typingInput(s, 100, true);
    expect(send).toBeNull();
    [s, send] = typingInput(s, TYPING_THROTTLE_MS - 1, true);
    expect(send).toBeNull();
    [s, send] = typingInput(s, TYPING_THROTTLE_MS, true);
    expect(send).toBe(true);
  });

  it('sends typing:false after idle, on send and when emptied, once', () => {
    let [s] = typingInput(idleTyping, 0, true);
    let send;
    [s, send] = typingIdleCheck(s, TYPING_IDLE_MS - 1);
    expect(send).toBeNull();
    [s, send] = typingIdleCheck(s, TYPING_IDLE_MS);
    expect(send).toBe(false);
    [s, send] = typingIdleCheck(s, TYPING_IDLE_MS * 2);
    expect(send).toBeNull();

    [s] = typingInput(s, 10_000, true);
    [s, send] = typingSent(s);
    expect(send).toBe(false);
    [s, send] = typingSent(s);
    expect(send).toBeNull();

    [s] = typingInput(s, 20_000, true);
    [s, send] = typingInput(s, 20_001, false);
    expect(send).toBe(false);
    [, send] = typingInput(s, 20_002, false);
    expect(send).toBeNull();
  });
});
