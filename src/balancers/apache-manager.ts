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
        };
      }),
    };
  });
}

/** What baton sets: drain (Drn, `+N`), maint (Dis `+D` or Stop `+S`), else ready. */
export type ApacheAdmin = 'ready' | 'drain' | 'maint';

export function adminOfStatus(status: readonly string[]): ApacheAdmin {
  if (status.includes('Dis') || status.includes('Stop')) return 'maint';
  if (status.includes('Drn')) return 'drain';
  return 'ready';
}

/**
 * What Apache itself knows of a worker's health: Err (a request to it failed; it rests for its
 * `retry` interval) or HcFl (mod_proxy_hcheck failed). Without either it is believed usable.
 */
export function healthOfStatus(status: readonly string[]): boolean {
  return !status.includes('Err') && !status.includes('HcFl');
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

export function memberOf(w: ManagerWorker): ApacheMember {
  const admin = adminOfStatus(w.status);
  const healthy = healthOfStatus(w.status);
  const state: MemberState = admin !== 'ready' ? admin : healthy ? 'ready' : 'down';
  return {
    name: memberNameOf(w),
    address: w.hostname,
    ...(w.port !== undefined ? { port: w.port } : {}),
    state,
    healthy,
    sessions: w.busy,
    // mod_proxy_balancer does not queue: a request waits for a connection inside its child.
    queued: 0,
    admin,
    workerUrl: w.url,
    status: w.status,
  };
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
