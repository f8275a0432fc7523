// Parsing balancer-manager's XML (`?b=NAME&xml=1`, Apache 2.4) into balancers and workers,
// and what a worker's status words mean for baton.
import type { BackendCounters, Member, MemberState } from './types.js';

export interface ManagerWorker {
  /** Worker URL as Apache names it, e.g. http://10.0.0.11:8000. */
  url: string;
  hostname: string;
  port?: number;
  route: string;
  /** Status words: Init, Ign, Drn, Dis, Stop, Err, Stby, HcFl, Ok, … */
  status: string[];
  /** Requests in flight on this worker (shared memory, across every child). */
  busy: number;
  /**
   * lbfactor, as the manager shows it (`1.00`-`100.00`): the worker's share of new requests relative to the others'.
   */
  loadFactor: number;
  /** Times the balancer chose this worker (each attempt, including ones that failed). */
  elected: number;
  /** Times the worker was tried again after its error-state retry interval. */
  retries: number;
  /** When a request to it last failed (`error_time`, whole seconds, Apache's clock), in ms since the epoch. */
  errorTime?: number;
  /** Its `retry`, in ms: printed only when the BalancerMember line sets one (else Apache's 60 s). */
  retryMs?: number;
  transferred: number;
  read: number;
}

export interface ManagerBalancer {
  /** Without the `balancer://` prefix. */
  name: string;
  nonce: string;
  maxattempts?: number;
  /** How it picks a worker (byrequests, bytraffic, bybusyness, heartbeat). */
  lbmethod?: string;
  workers: ManagerWorker[];
  /** Apache's clock when it answered (the answer's Date header, whole seconds), in ms since the epoch. */
  now?: number;
}

/** Every balancer in the manager's XML; throws with the start of the answer when it is not that XML. */
export function parseManagerXml(xml: string): ManagerBalancer[] {
  if (!xml.includes('<httpd:manager'))
    throw new Error(`expected balancer-manager XML, got: ${xml.trim().slice(0, 200) || '(nothing)'}`);
  return blocks(xml, 'balancer').map((b) => {
    const maxattempts = tag(b, 'maxattempts');
    const lbmethod = tag(b, 'lbmethod');
    return {
      name: (tag(b, 'name') ?? '').replace(/^balancer:\/\//, ''),
      nonce: tag(b, 'nonce') ?? '',
      ...(maxattempts !== undefined ? { maxattempts: Number(maxattempts) } : {}),
      ...(lbmethod !== undefined ? { lbmethod } : {}),
      workers: blocks(b, 'worker').map((w) => {
        const port = Number(tag(w, 'port'));
        const errorTime = Date.parse(tag(w, 'error_time') ?? '');
        const retry = Number(tag(w, 'retry') ?? NaN);
        return {
          url: tag(w, 'name') ?? '',
          hostname: tag(w, 'hostname') ?? '',
          ...(Number.isInteger(port) && port > 0 ? { port } : {}),
          route: tag(w, 'route') ?? '',
          status: (tag(w, 'status') ?? '').split(/\s+/).filter(Boolean),
          busy: num(tag(w, 'busy')),
          // Apache 2.4 prints it twice, both times from the same value.
          loadFactor: num(tag(w, 'loadfactor')),
          elected: num(tag(w, 'elected')),
          retries: num(tag(w, 'retries')),
          transferred: num(tag(w, 'transferred')),
          read: num(tag(w, 'read')),
          ...(Number.isFinite(errorTime) ? { errorTime } : {}),
          ...(Number.isFinite(retry) && retry >= 0 ? { retryMs: retry * 1000 } : {}),
        };
      }),
    };
  });
}

/**
 * Apache's clock from a manager answer read with its headers (`curl -D -`): the Date header before
 * the XML, in ms since the epoch; undefined when there is none.
 */
export function dateOfAnswer(stdout: string): number | undefined {
  const at = stdout.indexOf('<');
  const head = at < 0 ? stdout : stdout.slice(0, at);
  const m = /^date:[ \t]*(.+?)\r?$/im.exec(head);
  const t = m ? Date.parse(m[1] as string) : NaN;
  return Number.isFinite(t) ? t : undefined;
}

/**
 * How long a worker in error state rests when its BalancerMember sets no `retry` (mod_proxy.h,
 * PROXY_WORKER_DEFAULT_RETRY).
 */
export const APACHE_DEFAULT_RETRY_MS = 60_000;

/**
 * How long Apache still rests a worker in error state (Err) at `now` (Apache's clock) before it
 * tries it again: 0 when it is not in Err or its rest is over. Nothing shortens the rest from
 * outside: balancer-manager's form sets only the I N D H R S C flags, never Err
 * (mod_proxy_balancer.c, balancer_process_balancer_worker). Apache clears Err itself, at the first
 * request that considers the worker once `error_time + retry` has passed (proxy_util.c,
 * ap_proxy_retry_worker), or when mod_proxy_hcheck's checks pass again. error_time and the Date
 * are whole seconds, so a second is added: the rest is never said over early. Without a clock or
 * an error_time the whole rest is left.
 */
export function restLeftMs(w: ManagerWorker, now: number | undefined): number {
  if (!w.status.includes('Err')) return 0;
  const retry = w.retryMs ?? APACHE_DEFAULT_RETRY_MS;
  if (now === undefined || w.errorTime === undefined) return retry;
  return Math.min(retry + 1000, Math.max(0, w.errorTime + retry + 1000 - now));
}

/** What baton sets: drain (Drn, `+N`), maint (Dis `+D` or Stop `+S`), else ready. */
export type ApacheAdmin = 'ready' | 'drain' | 'maint';

export function adminOfStatus(status: readonly string[]): ApacheAdmin {
  if (status.includes('Dis') || status.includes('Stop')) return 'maint';
  if (status.includes('Drn')) return 'drain';
  return 'ready';
}

/** A member with Apache's own view kept beside the common one. */
export interface ApacheMember extends Member {
  admin: ApacheAdmin;
  workerUrl: string;
  status: string[];
}

/** The member name baton uses: the worker's route when it has one, else its URL. */
export function memberNameOf(w: ManagerWorker): string {
  return w.route || w.url;
}

/**
 * A worker as a member, at Apache's clock `now` (a manager answer's Date). A worker in Err whose
 * rest is over is healthy: Apache tries it on the next request that considers it, as a fresh one
 * (it shows Err until then, which without traffic is forever). One still resting is down, and
 * says how long it still rests.
 */
export function memberOf(w: ManagerWorker, now?: number): ApacheMember {
  const admin = adminOfStatus(w.status);
  const leftMs = restLeftMs(w, now);
  const healthy = !w.status.includes('HcFl') && leftMs === 0;
  const state: MemberState = admin !== 'ready' ? admin : healthy ? 'ready' : 'down';
  return {
    name: memberNameOf(w),
    address: w.hostname,
    ...(w.port !== undefined ? { port: w.port } : {}),
    state,
    healthy,
    ...(leftMs > 0 ? { resting: { leftMs, retryMs: w.retryMs ?? APACHE_DEFAULT_RETRY_MS } } : {}),
    sessions: w.busy,
    // mod_proxy_balancer does not queue: a request waits for a connection inside its child.
    queued: 0,
    admin,
    workerUrl: w.url,
    status: w.status,
  };
}

/** Every worker of a manager read as a member, at the read's clock. */
export function membersOf(b: ManagerBalancer): ApacheMember[] {
  return b.workers.map((w) => memberOf(w, b.now));
}

/**
 * Counters of one balancer from the manager alone: `requests` is every election (one per
 * attempt at a worker), `retries` the workers' retry counts (tries after an error-state rest).
 * Redispatches and 5xx answers are not in the XML; the driver adds them from the error log.
 */
export function managerCounters(b: ManagerBalancer): Pick<BackendCounters, 'requests' | 'retries'> {
  return {
    requests: b.workers.reduce((n, w) => n + w.elected, 0),
    retries: b.workers.reduce((n, w) => n + w.retries, 0),
  };
}

function blocks(xml: string, name: string): string[] {
  const re = new RegExp(`<httpd:${name}>([\\s\\S]*?)</httpd:${name}>`, 'g');
  return [...xml.matchAll(re)].map((m) => m[1] as string);
}

function tag(xml: string, name: string): string | undefined {
  const m = new RegExp(`<httpd:${name}>([^<]*)</httpd:${name}>`).exec(xml);
  return m ? unescapeXml((m[1] as string).trim()) : undefined;
}

function unescapeXml(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

function num(v: string | undefined): number {
  const n = Number(v);
  return v === undefined || v === '' || !Number.isFinite(n) ? 0 : n;
}
