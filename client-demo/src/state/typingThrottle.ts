// When to send chat:typing: typing:true at most once per THROTTLE_MS while the
// user types, typing:false after IDLE_MS without input, on send, or when the
// input is emptied. Pure: the caller passes the time and performs the sends.
export const TYPING_THROTTLE_MS = 2000;
export const TYPING_IDLE_MS = 3000;

export interface TypingThrottle {
  typing: boolean;
  lastSentAt: number;
  lastInputAt: number;
}

export const idleTyping: TypingThrottle = { typing: false, lastSentAt: -Infinity, lastInputAt: -Infinity };

export type TypingSend = boolean | null;

/** The user edited the input; `hasText` is whether it holds any text now. */
export function typingInput(s: TypingThrottle, now: number, hasText: boolean): [TypingThrottle, TypingSend] {
  if (!hasText) return s.typing ? [{ ...s, typing: false, lastInputAt: now }, false] : [s, null];
  if (!s.typing || now - s.lastSentAt >= TYPING_THROTTLE_MS) {
    return [{ typing: true, lastSentAt: now, lastInputAt: now }, true];
  }
  return [{ ...s, lastInputAt: now }, null];
}

/** Called periodically: stop typing after IDLE_MS without input. */
export function typingIdleCheck(s: TypingThrottle, now: number): [TypingThrottle, TypingSend] {
  if (s.typing && now - s.lastInputAt >= TYPING_IDLE_MS) return [{ ...s, typing: false }, false];
  return [s, null];
}

/** The message was sent: typing stops. */
export function typingSent(s: TypingThrottle): [TypingThrottle, TypingSend] {
  return s.typing ? [{ ...s, typing: false }, false] : [s, null];
}
