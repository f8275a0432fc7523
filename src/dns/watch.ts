// What still reaches the old host after cut-over: the proxy's access log (one line per
// request, `EPOCH STATUS "USER-AGENT"`, the same for Varnish, nginx and Apache), counted per
// minute. baton's own verification requests are left out.
export const VERIFY_AGENT = 'baton-dns-verify';

export interface LogEntry {
  at: Date;
  status: number;
}

export function parseAccessLog(text: string): LogEntry[] {
  return text.split('\n').flatMap((line) => {
    const m = /^(\d+(?:\.\d+)?) (\d{3}) "(.*)"$/.exec(line.trim());
    if (!m || m[3] === VERIFY_AGENT) return [];
    return [{ at: new Date(Number(m[1]) * 1000), status: Number(m[2]) }];
  });
}

export interface MinuteCount {
  minute: string;
  requests: number;
}

/** Requests per minute (UTC, `YYYY-MM-DDTHH:MM`), oldest first, empty minutes included from the first to `now`. */
export function perMinute(entries: readonly LogEntry[], now: Date, since?: Date): MinuteCount[] {
  const key = (d: Date) => d.toISOString().slice(0, 16);
  const counts = new Map<string, number>();
  for (const e of entries) counts.set(key(e.at), (counts.get(key(e.at)) ?? 0) + 1);
  const firstMs = since?.getTime() ?? Math.min(...entries.map((e) => e.at.getTime()), now.getTime());
  const out: MinuteCount[] = [];
  for (let t = Math.floor(firstMs / 60_000) * 60_000; t <= now.getTime(); t += 60_000) {
    const k = key(new Date(t));
    out.push({ minute: k, requests: counts.get(k) ?? 0 });
  }
  return out;
}

export interface WatchVerdict {
  lastRequest?: string;
  /** Seconds since the last request (or since cut-over, when none came). */
  quietSeconds: number;
  horizonPassed: boolean;
  /** The proxy may go: the horizon has passed and it was quiet long enough. */
  finishable: boolean;
  /** Seconds until it may go, at the earliest. */
  waitSeconds: number;
}

export function verdict(
  entries: readonly LogEntry[],
  o: { now: Date; cutoverAt: Date; horizon?: Date; quietMs: number },
): WatchVerdict {
  const last = entries.reduce<Date | undefined>((acc, e) => (!acc || e.at > acc ? e.at : acc), undefined);
  const quietFrom = last && last > o.cutoverAt ? last : o.cutoverAt;
  const quietMs = Math.max(0, o.now.getTime() - quietFrom.getTime());
  const horizonPassed = o.horizon !== undefined && o.now >= o.horizon;
  const waitHorizon = o.horizon ? Math.max(0, o.horizon.getTime() - o.now.getTime()) : Infinity;
  const waitQuiet = Math.max(0, o.quietMs - quietMs);
  const wait = Math.max(waitHorizon, waitQuiet);
  return {
    ...(last && { lastRequest: last.toISOString() }),
    quietSeconds: Math.floor(quietMs / 1000),
    horizonPassed,
    finishable: horizonPassed && quietMs >= o.quietMs,
    waitSeconds: Number.isFinite(wait) ? Math.ceil(wait / 1000) : -1,
  };
}
