// One HTTP check against one target: request (with the host name pinned like curl
// --resolve), judge the answer, retry with growing sleeps until a deadline.
import { createRequire } from 'node:module';
import { UserError } from '../errors.js';
import type { SmokeCheckConfig } from '../config/config.js';
import { type Backoff, backoffDelay, type Clock, DEFAULT_BACKOFF, systemClock } from './backoff.js';

// node:http and node:https are loaded by the first request, through require: imported, they were loaded at every
// start of every command that can run a smoke check, and on Node ≥ 22 an import of node:http also loads its
// fetch/WebSocket implementation (undici, ~30 ms), which a request never uses.
const nodeRequire = createRequire(import.meta.url);
const httpModule = (protocol: string): Pick<typeof import('node:http'), 'request'> =>
  protocol === 'https:'
    ? (nodeRequire('node:https') as typeof import('node:https'))
    : (nodeRequire('node:http') as typeof import('node:http'));

export type HttpCheck = Pick<SmokeCheckConfig, 'path' | 'contains' | 'matches' | 'header' | 'maxMs'> & {
  method?: SmokeCheckConfig['method'];
  status?: number;
  /** Headers sent, secrets already read (see resolveCheck). */
  requestHeaders?: Record<string, string>;
};

export interface HttpAnswer {
  status: number;
  /** Lower-case names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  body: string;
  ms: number;
}

export interface RequestOptions {
  method?: string;
  /** Host name → IPv4: connect there, still sending the URL's Host header. */
  resolve?: Record<string, string>;
  /** Sent as well; a name baton sets (Host, Connection) is replaced. */
  headers?: Record<string, string>;
  timeoutMs: number;
}

const MAX_BODY = 1 << 20;

/** One request; rejects on a connection error or timeout, resolves with any status. */
export function httpRequest(url: string, opts: RequestOptions): Promise<HttpAnswer> {
  const u = new URL(url);
  const pinned = opts.resolve?.[u.hostname];
  const mod = httpModule(u.protocol);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = mod.request(
      {
        protocol: u.protocol,
        host: pinned ?? u.hostname,
        port: u.port || undefined,
        path: `${u.pathname}${u.search}`,
        method: opts.method ?? 'GET',
        headers: {
          host: u.host,
          'user-agent': 'baton-check',
          connection: 'close',
          ...lowerCaseNames(opts.headers ?? {}),
        },
        ...(u.protocol === 'https:' ? { servername: u.hostname } : {}),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < MAX_BODY) chunks.push(c);
          size += c.length;
        });
        res.on('end', () => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers))
            if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
          resolve({
            status: res.statusCode ?? 0,
            headers,
            body: Buffer.concat(chunks).toString('utf8'),
            ms: Math.round(performance.now() - started),
          });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs, () =>
      req.destroy(Object.assign(new Error(`timed out after ${opts.timeoutMs} ms`), { code: 'ETIMEDOUT' })),
    );
    req.on('error', reject);
    req.end();
  });
}

function lowerCaseNames(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

/** What is wrong with an answer, or undefined when it passes. */
export function judge(check: HttpCheck, a: HttpAnswer): string | undefined {
  const wrong: string[] = [];
  const status = check.status ?? 200;
  if (a.status !== status) wrong.push(`status ${a.status}, expected ${status}`);
  if (check.contains !== undefined && !a.body.includes(check.contains))
    wrong.push(`body does not contain ${JSON.stringify(check.contains)}`);
  if (check.matches !== undefined && !compile(check).test(a.body)) wrong.push(`body does not match /${check.matches}/`);
  for (const [name, want] of Object.entries(check.header ?? {})) {
    const got = a.headers[name.toLowerCase()];
    if (got === undefined) wrong.push(`no ${name} header, expected ${JSON.stringify(want)}`);
    else if (got.trim() !== want)
      wrong.push(`header ${name} is ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  }
  if (check.maxMs !== undefined && a.ms > check.maxMs) wrong.push(`took ${a.ms} ms, at most ${check.maxMs} ms allowed`);
  return wrong.length === 0 ? undefined : wrong.join('; ');
}

/** `GET /healthz`: how a check is named in results and messages. */
export function checkLabel(check: HttpCheck): string {
  return `${check.method ?? 'GET'} ${check.path}`;
}

/** Where checks are sent: a name for messages and the URL base (scheme, host, port). */
export interface CheckTarget {
  name: string;
  baseUrl: string;
}

export interface CheckResult {
  target: string;
  check: string;
  url: string;
  ok: boolean;
  status?: number;
  ms: number;
  attempts: number;
  /** On success a summary; on failure what came back the last time. */
  detail: string;
}

export interface RetryOptions {
  /** Give up after this time on `clock` (absolute). */
  deadline: number;
  resolve?: Record<string, string>;
  clock?: Clock;
  backoff?: Backoff;
  /** Cap for one attempt; a hung request ends at the deadline anyway. */
  attemptTimeoutMs?: number;
  /** Applied to what came back before it goes into a result: a server may echo a credential. */
  redact?: (text: string) => string;
}

/** Run one check against one target until it passes or the deadline passes. */
export async function runHttpCheck(check: HttpCheck, target: CheckTarget, opts: RetryOptions): Promise<CheckResult> {
  const clock = opts.clock ?? systemClock;
  const url = new URL(check.path, target.baseUrl).toString();
  compile(check);
  let attempts = 0;
  for (;;) {
    attempts++;
    const remaining = opts.deadline - clock.now();
    const timeoutMs = Math.max(500, Math.min(remaining, opts.attemptTimeoutMs ?? 10_000));
    const base = { target: target.name, check: checkLabel(check), url, attempts };
    let result: CheckResult;
    const t0 = performance.now();
    try {
      const a = await httpRequest(url, {
        method: check.method ?? 'GET',
        resolve: opts.resolve,
        timeoutMs,
        ...(check.requestHeaders && { headers: check.requestHeaders }),
      });
      const wrong = judge(check, a);
      const redact = opts.redact ?? ((t: string) => t);
      result = wrong
        ? {
            ...base,
            ok: false,
            status: a.status,
            ms: a.ms,
            detail: redact(`${wrong}; got ${a.status} in ${a.ms} ms, body: ${JSON.stringify(a.body.slice(0, 200))}`),
          }
        : { ...base, ok: true, status: a.status, ms: a.ms, detail: `${a.status} in ${a.ms} ms` };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const ms = Math.round(performance.now() - t0);
      result = {
        ...base,
        ok: false,
        ms,
        detail: `no answer after ${ms} ms: ${e.code && !e.message.includes(e.code) ? `${e.code} ` : ''}${e.message}`,
      };
    }
    if (result.ok) return result;
    const delay = backoffDelay(attempts, opts.backoff ?? DEFAULT_BACKOFF);
    if (clock.now() + delay > opts.deadline) return result;
    await clock.sleep(delay);
  }
}

/** A failed check as one line: check, target and what came back. */
export function describeFailure(r: CheckResult): string {
  return (
    `${r.check} on ${r.target} (${r.url}) ` +
    `failed after ${r.attempts} attempt${r.attempts === 1 ? '' : 's'}: ${r.detail}`
  );
}

function compile(check: HttpCheck): RegExp {
  if (check.matches === undefined) return /(?:)/;
  try {
    return new RegExp(check.matches);
  } catch (err) {
    throw new UserError(
      `smoke check ${checkLabel(check)}: matches ${JSON.stringify(check.matches)} is not a regular ` +
        `expression (${(err as Error).message})`,
    );
  }
}
