// Durations in baton.yml are written the way people say them: 500ms, 60s, 2m, 1h.
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
export const DURATION_PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;

/** Milliseconds for a duration string such as `60s`; undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_PATTERN.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]);
}

export interface DurationBounds {
  minMs: number;
  maxMs: number;
}

const HOUR_MS = 3_600_000;
/** Any duration baton waits for: up to a day (a timer of 25 days or more would fire at once). */
export const DEFAULT_DURATION_BOUNDS: DurationBounds = { minMs: 0, maxMs: 24 * HOUR_MS };
/** A release lock's lease: long enough to be renewed, short enough that a forgotten lock ends. */
export const LEASE_BOUNDS: DurationBounds = { minMs: 10_000, maxMs: 7 * 24 * HOUR_MS };

/** What is wrong with `text` as a duration within `bounds`, or undefined when it is one. */
export function durationProblem(text: string, bounds: DurationBounds = DEFAULT_DURATION_BOUNDS): string | undefined {
  const ms = parseDuration(text);
  if (ms === undefined) return 'expected a duration such as 500ms, 60s or 2m';
  if (!(ms <= bounds.maxMs)) return `expected at most ${formatDuration(bounds.maxMs)}`;
  if (ms < bounds.minMs) return `expected at least ${formatDuration(bounds.minMs)}`;
  return undefined;
}

/** The shortest readable form of a duration in milliseconds. */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
