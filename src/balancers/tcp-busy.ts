// Whether a TCP connection between a balancer and a member carries a request now, from what
// `ss -ti` tells of it (no root needed): an idle pooled keep-alive connection — which a backend may
// keep open for a minute or more — is not a user waiting. The last data each way says which side
// spoke last: a request is outstanding while the balancer spoke after the member last answered.
import type { Connection } from './nginx-commands.js';

/**
 * Activity this recent counts as in flight whichever way it went: a response still streaming, or
 * a request and its answer in the same kernel tick (timestamps are jiffies: 4 ms apart at HZ=250).
 * It is also how long after its last answer a drain can end.
 */
export const RECENT_MS = 250;

/** Which end of the connection `ss` ran on: the balancer (it sends requests) or the member (it answers them). */
export type ConnectionSide = 'balancer' | 'member';

/**
 * True when the connection may carry a request: data queued either way, no timing to judge by,
 * a request sent and nothing ever answered on it, the request side spoke last, or anything
 * happened within RECENT_MS. A tie older than that (request and answer in one tick) is idle.
 */
export function carriesRequest(c: Connection, side: ConnectionSide, recentMs = RECENT_MS): boolean {
  const t = c.tcp;
  if (!t) return true;
  if (t.recvQ > 0 || t.sendQ > 0) return true;
  if (t.lastSendMs === undefined || t.lastRecvMs === undefined) return true;
  if (Math.min(t.lastSendMs, t.lastRecvMs) < recentMs) return true;
  // The balancer sends requests and receives answers; the member the other way round.
  const [lastRequestMs, lastAnswerMs, requestBytes, answerBytes] =
    side === 'balancer'
      ? [t.lastSendMs, t.lastRecvMs, t.bytesSent, t.bytesReceived]
      : [t.lastRecvMs, t.lastSendMs, t.bytesReceived, t.bytesSent];
  if (requestBytes > 0 && answerBytes === 0) return true;
  return lastRequestMs < lastAnswerMs;
}

/** The `ss -ti` detail line's counters and timers for one connection (absent fields are 0 bytes, or unknown times). */
export function parseTcpInfo(line: string, recvQ: number, sendQ: number): NonNullable<Connection['tcp']> {
  const num = (name: string): number | undefined => {
    const m = new RegExp(`(?:^|\\s)${name}:(\\d+)`).exec(line);
    return m ? Number(m[1]) : undefined;
  };
  const lastSendMs = num('lastsnd');
  const lastRecvMs = num('lastrcv');
  return {
    recvQ,
    sendQ,
    bytesSent: num('bytes_sent') ?? 0,
    bytesReceived: num('bytes_received') ?? 0,
    ...(lastSendMs !== undefined ? { lastSendMs } : {}),
    ...(lastRecvMs !== undefined ? { lastRecvMs } : {}),
  };
}
