// What still reaches the old host after cut-over: the proxy's access log (one line per
// request, `EPOCH STATUS CLIENT "USER-AGENT"`, the same for Varnish, nginx and Apache; proxies
// installed before the client was logged write no CLIENT), counted per minute and per client
// address — which resolvers or clients still hold the old address. No path or query is logged:
// they may carry secrets. baton's own verification requests are left out.
export const VERIFY_AGENT = 'baton-dns-verify';

export interface LogEntry {
  at: Date;
  status: number;
  /** The client's address, when the proxy logs it. */
  client?: string;
}

export function parseAccessLog(text: string): LogEntry[] {
  return text.split('\n').flatMap((line) => {
    const m = /^(\d+(?:\.\d+)?) (\d{3})(?: ([0-9A-Fa-f:.]+))? "(.*)"$/.exec(line.trim());
    if (!m || m[4] === VERIFY_AGENT) return [];
    // A proxy listening on both families may log an IPv4 client as IPv4-mapped IPv6 (::ffff:10.0.0.7).
    const client = m[3]?.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
    return [{ at: new Date(Number(m[1]) * 1000), status: Number(m[2]), ...(client && { client }) }];
  });
}

export interface ClientCount {
  address: string;
  requests: number;
  /** Its last request (ISO). */
  last: string;
}

/** Requests per client address, most first (then the latest first); requests without one are left out. */
export function perClient(entries: readonly LogEntry[]): ClientCount[] {
  const by = new Map<string, { requests: number; last: Date }>();
  for (const e of entries) {
    if (!e.client) continue;
    const c = by.get(e.client) ?? { requests: 0, last: e.at };
    c.requests += 1;
    if (e.at > c.last) c.last = e.at;
    by.set(e.client, c);
  }
  return [...by]
    .map(([address, c]) => ({ address, requests: c.requests, last: c.last.toISOString() }))
    .sort((x, y) => y.requests - x.requests || y.last.localeCompare(x.last));
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
