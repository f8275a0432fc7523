// Growing sleeps between attempts, and the clock they are measured on (injected in tests).

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise<void>((r) => setTimeout(r, ms)),
};

export interface Backoff {
  initialMs: number;
  factor: number;
  maxMs: number;
}

/** 100 ms, 150 ms, 225 ms, … up to 2 s. */
export const DEFAULT_BACKOFF: Backoff = { initialMs: 100, factor: 1.5, maxMs: 2000 };

/** The sleep before attempt `attempt + 1` (attempt counts from 1). */
export function backoffDelay(attempt: number, b: Backoff = DEFAULT_BACKOFF): number {
  return Math.min(b.maxMs, Math.round(b.initialMs * b.factor ** (attempt - 1)));
}
