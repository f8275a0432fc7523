// What every balancer driver (haproxy, apache, nginx) offers; steps never know which one they drive.
import { isRaised } from '../transport/privilege.js';

export type MemberState = 'ready' | 'drain' | 'maint' | 'down';

export interface Member {
  /** Member name in the balancer (haproxy server name, apache worker route/URL, nginx server address). */
  name: string;
  /** Address the balancer sends traffic to (IP or host name), without the port. */
  address: string;
  port?: number;
  /** Administrative state as the balancer reports it. */
  state: MemberState;
  /** Health-check view, when the balancer has one. */
  healthy?: boolean;
  /**
   * Where the balancer itself rests a member after failed requests before it tries it again
   * (Apache's Err, for the worker's `retry`): how long it still will, and the whole rest. Absent: not resting.
   */
  resting?: { leftMs: number; retryMs: number };
  /** Requests or sessions in flight on this member right now. */
  sessions: number;
  /** Requests queued for this member. */
  queued: number;
  /**
   * Most requests the balancer sends it at once (HAProxy maxconn), where the balancer has such a limit and it is set.
   */
  limit?: number;
}

/** Counters of the public backend, for the post-flip watch and the benchmarks. */
export interface BackendCounters {
  requests: number;
  http5xx: number;
  /** Requests retried on, or redispatched to, another member. */
  redispatches: number;
  retries: number;
}

/**
 * How long a member took to answer, as one balancer keeps it: cumulative where the balancer logs every
 * request's time (access log), or a moving mean where it keeps only that (HAProxy's rtime).
 */
export interface LatencyReading {
  /** Requests whose time is counted, so far. */
  timed: number;
  /** Access log: the milliseconds those requests took, summed. */
  totalMs?: number;
  /**
   * HAProxy `rtime`: the mean response time of the member's last min(timed, 1024) requests, in whole
   * milliseconds (each new request weighs 1/1024 of it once 1024 were counted).
   */
  recentMs?: number;
}

/** One member's cumulative counts. */
export interface MemberCounters {
  requests: number;
  http5xx: number;
  /** Its response times, one reading per balancer (a pair's in the order of its balancers); absent: not kept. */
  latency?: LatencyReading[];
  /**
   * Attempts at it that it did not answer: connections refused, reset or timed out, whether the balancer then
   * retried, redispatched to another member or gave up (not in `requests`). Absent: the driver cannot count them.
   */
  failed?: number;
}

/** What sample() reads. */
export interface TrafficRead {
  members: Member[];
  requests?: number;
  http5xx?: number;
  /**
   * With peers: the members whose state differs between balancers, as `name: state on host, …` (a sample never fails on
   * it).
   */
  divergent?: string[];
}

export interface DrainProgress {
  /** Sessions still in flight per member being drained. */
  busy: Record<string, number>;
  elapsedMs: number;
}

/** A sticky session the balancer keeps: a stick-table entry binding a client's key to a member. */
export interface StickySession {
  key: string;
  /** Time until the entry expires; each request of the session resets it to the table's expire. */
  expiresInMs: number;
}

/** What the balancer knows of the users still bound to members (sticky sessions). */
export interface SessionRead {
  /** Sessions bound to each member (from a stick table); absent when the balancer cannot list them. */
  bound?: Record<string, StickySession[]>;
  /** Per member, ms since it last took a request, where the balancer keeps it; null: never since it started. */
  idleMs: Record<string, number | null>;
  /** Requests in flight per member (as sessions() reads them), from the same round trip. */
  inFlight: Record<string, number>;
}

/** A file the driver replaces on one host (written beside itself, renamed over it), and the baton.yml key naming it. */
export interface WrittenFile {
  host: string;
  path: string;
  what: string;
}

/**
 * Whether a driver can weigh members, and the weights it takes: whole numbers from `min` to `max`
 * (the balancer's own range, narrowed to what baton sets: never 0, which is a drain by another name).
 * A weight is relative: among ready members, each gets new requests in proportion to its weight
 * (two members weighted 1 and 19 get 5 % and 95 %). Where it cannot, `reason` says why in one sentence.
 */
export type Weighing = { can: true; min: number; max: number } | { can: false; reason: string };

/** A command run through `sudo -n` on one host. */
export interface RaisedCommand {
  host: string;
  argv: string[];
}

export interface Balancer {
  readonly driver: 'haproxy' | 'apache' | 'nginx';
  /** Members of the public backend. */
  members(): Promise<Member[]>;
  /** Stop sending new requests to these members; in-flight ones finish. */
  drain(names: readonly string[]): Promise<void>;
  /** Put these members back in rotation. */
  ready(names: readonly string[]): Promise<void>;
  /**
   * Return `ready` to the pool and drain `drain` in one change, for a driver where each change
   * costs something (nginx: a reload). Drivers without it get ready, then drain.
   */
  switchPool?(ready: readonly string[], drain: readonly string[]): Promise<void>;
  /** Whether members can be weighed here, and in what range (no round trip). */
  weighing(): Weighing;
  /** Every member's weight as the running balancer holds it (1 where nobody set one). */
  weights(): Promise<Record<string, number>>;
  /**
   * Give these members these weights (the others keep theirs), then read them back: a weight the
   * balancer did not take is an error naming the member. Drain and ready are untouched: a drained
   * member keeps its weight and takes no new requests. Refused before any change (UserError) when
   * weighing() says it cannot, for a weight outside its range or not whole, and for a member the
   * backend does not have.
   */
  setWeights(weights: Readonly<Record<string, number>>): Promise<void>;
  /** Cut the sessions still open on these members (only when the config allows it). */
  cutOff(names: readonly string[]): Promise<void>;
  /** Sessions in flight per member name. */
  sessions(names: readonly string[]): Promise<Record<string, number>>;
  counters(): Promise<BackendCounters>;
  /**
   * Requests and 5xx answers per member of the public backend, cumulative (what a canary's analysis
   * compares over a window). Drivers that count no 5xx per member leave it out.
   */
  memberCounters?(): Promise<Record<string, MemberCounters>>;
  /** Whether memberCounters() counts each member's failed attempts (MemberCounters.failed). */
  readonly countsFailedAttempts?: boolean;
  /**
   * Members and whatever request counts are cheap to read, for sampling traffic while a run lasts
   * (every ~500 ms): one round trip where the balancer allows it; counts it cannot take cheaply
   * are left out. Without it, the sampler reads members() and, now and then, counters().
   */
  sample?(): Promise<TrafficRead>;
  /**
   * Sticky sessions of these members: the entries of stick table `table` bound to them (when a
   * table is named), and how long since each last took a request. Drivers that cannot tell leave it out.
   */
  stickySessions?(names: readonly string[], table?: string): Promise<SessionRead>;
  /**
   * Drop the stick-table entries bound to these members, so users who come back later are balanced afresh; returns how
   * many were dropped.
   */
  forgetSessions?(names: readonly string[], table: string): Promise<number>;
  /**
   * Tell the balancer these members are healthy now, where it runs health checks of its own: baton
   * has checked them (local health, smoke) a moment ago, and waiting for the checks to rise again
   * would only confirm it. The checks go on and take down a member that fails them.
   */
  vouchHealthy?(names: readonly string[]): Promise<void>;
  /** Check the balancer's own configuration (haproxy -c, apachectl configtest, nginx -t). */
  configTest(): Promise<void>;
  /**
   * The raised commands (`sudo -n -- …`) the driver may run, on which balancer host: what preflight asks `sudo -n -l`
   * about.
   */
  raisedCommands?(): RaisedCommand[];
  /**
   * The files on the balancer host(s) the driver replaces without sudo: what preflight checks the SSH user may write.
   */
  writtenFiles?(): WrittenFile[];
  /** Let go of what the driver keeps open for the run (haproxy: its runtime API channel). */
  close?(): Promise<void>;
}

/** The commands of `argv` that are raised, as run on `host`. */
export function onlyRaised(host: string, argvs: readonly string[][]): RaisedCommand[] {
  return argvs.filter(isRaised).map((argv) => ({ host, argv }));
}
