// One range query to Prometheus (GET /api/v1/query_range) within a time limit: the answer's
// status and body as they came, for src/model/canary-query.ts to read, or what kept it from
// coming. A URL may carry credentials (user:password@, from a secret): they are sent as basic
// authentication, and no message ever names the URL.
import { httpRequest, type HttpAnswer } from './http.js';

export interface RangeQuery {
  query: string;
  /** Unix seconds. */
  start: number;
  end: number;
  /** Seconds between points. */
  step: number;
}

export type PrometheusAnswer = { status: number; body: string } | { error: string };

/** Asks `base` (http://prometheus:9090, or one with a path prefix) for `q`; never rejects. */
export async function askPrometheus(
  base: string,
  q: RangeQuery,
  opts: { timeoutMs: number; resolve?: Record<string, string> },
): Promise<PrometheusAnswer> {
  let url: URL;
  try {
    url = new URL(`${base.replace(/\/+$/, '')}/api/v1/query_range`);
  } catch {
    return { error: 'the Prometheus URL is not a URL' };
  }
  const auth: Record<string, string> = url.username
    ? {
        authorization: `Basic ${Buffer.from(
          `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`,
        ).toString('base64')}`,
      }
    : {};
  url.username = '';
  url.password = '';
  url.search = new URLSearchParams({
    query: q.query,
    start: String(q.start),
    end: String(q.end),
    step: String(q.step),
    // Prometheus gives up on its own a little before baton does, and says so.
    timeout: `${Math.max(1, Math.floor((opts.timeoutMs * 0.9) / 1000))}s`,
  }).toString();
  let a: HttpAnswer;
  try {
    a = await httpRequest(url.toString(), {
      timeoutMs: opts.timeoutMs,
      headers: { accept: 'application/json', ...auth },
      ...(opts.resolve ? { resolve: opts.resolve } : {}),
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { error: e.code === 'ETIMEDOUT' ? `no answer within ${opts.timeoutMs} ms` : (e.code ?? 'no answer') };
  }
  return { status: a.status, body: a.body };
}
