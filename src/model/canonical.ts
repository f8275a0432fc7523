// Hashes that do not depend on key order: a plan reviewed on one machine hashes the same on another.
import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every depth. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function digest(value: unknown): string {
  return `sha256:${sha256(canonicalJson(value))}`;
}
