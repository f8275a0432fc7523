// What `baton report` draws, assembled from a run's journal and its plan: pure, so it is tested
// from synthetic journals. Times are milliseconds since the run began.
import type { JournalRecord } from '../engine/journal.js';
import { perCluster, type MemberSample, type TrafficSample } from '../engine/traffic.js';
import type { Window } from '../model/canary.js';
import { reverseSteps, type Plan, type Step } from '../model/plan.js';

export interface TimelineBar {
  /** Row: a host, or `balancer` for steps that only change the balancer. */
  row: string;
  step: string;
  title: string;
  phase: 'forward' | 'reverse';
  start: number;
  /** Absent: the step began and never ended (killed, or still running). */
  end?: number;
  status: 'ok' | 'fail' | 'pending';
  error?: string;
}

export interface RatePoint {
  t: number;
  rps: number;
  http5xxPerSecond: number;
}

export interface SessionsPoint {
  t: number;
  a: number;
  b: number;
}

/** What one canary step held and judged: its share, the weights it set, and its verdict with both sides' figures. */
export interface CanaryFigures {
  step: string;
  /** The share of public traffic, in percent. */
  weight: number;
  weights?: Record<string, number>;
  /** too-few: fewer than minRequests reached the canary, not judged. */
  verdict: 'pass' | 'too-few' | 'fail';
  /** For a failed step: the rule it failed (max5xxRatio, maxRelative5xx, maxConnectionErrorRatio, …). */
  metric?: string;
  /** members: canary and stable compared; backend: the backend-wide ratio alone. */
  scope?: string;
  canary?: Window;
  stable?: Window;
  /** For a failed step: its error, which says the values the rule compared. */
  error?: string;
  note?: string;
  /** Each Prometheus query as last asked: its value against its bounds. */
  queries?: QueryFigures[];
}

/** One Prometheus query of a canary step, as its journal says it. */
export interface QueryFigures {
  query: string;
  verdict: 'pass' | 'fail' | 'no-data';
  /** The value as text (absent: no data). */
  shown?: string;
  max?: number;
  min?: number;
  message?: string;
}

/** Members in the pool per cluster at a sample. */
export interface PoolPoint {
  t: number;
  a: number;
  b: number;
}

// Where the run belongs: what its journal says, else its plan (a run begun by an older baton says nothing).
function environmentOf(begin: JournalRecord | undefined, plan: Plan | undefined): { environment?: string } {
  const said =
    begin?.event === 'run-begin' && typeof begin.environment === 'string' ? begin.environment : plan?.environment;
  return said === undefined ? {} : { environment: said };
}

/** What a signed approval verified as: the allowed_signers principal, or why it does not count. */
export type ApprovalCheck = { principal: string } | { problem: string };

export interface ReportData {
  run: string;
  command: string;
  tag: string;
  by: string;
  /** The environment the run was in (its journal, else its plan); absent: baton.yml alone. */
  environment?: string;
  startedAt: string;
  outcome: string;
  durationMs?: number;
  planHash?: string;
  /**
   * `by` is what the reviewer wrote (not trusted); `verified` the principal its signature verifies as, else
   * `unverified` says why.
   */
  approvals: { by: string; at: string; signed: boolean; verified?: string; unverified?: string }[];
  /** The releases the hosts ran when the plan was made, and the one it moves to. */
  change?: { from: string[]; to: string; tag: string; commit: string };
  /** Requests and 5xx the balancer counted while the run lasted (sums of the samples' increases). */
  totals?: { requests: number; http5xx: number; ratio: number };
  pool: PoolPoint[];
  /** Preflight's findings that were not ok when the plan was made, and who overrode a refusal, why. */
  preflight?: {
    findings: { check: string; outcome: string; message: string }[];
    overridden?: { reason: string; by: string };
  };
  /** The run's plan could not be read: why (the report then has no hosts, approvals or change). */
  planProblem?: string;
  rows: string[];
  bars: TimelineBar[];
  rates: RatePoint[];
  sessions: SessionsPoint[];
  /** Where a reversal turned: when it began, why, and the step that failed. */
  reversal?: { t: number; reason: string; failedStep?: string };
  /** The canary steps that ended, in order: absent when the run had none. */
  canary?: CanaryFigures[];
  notes: string[];
}

/** A sample event as the journal keeps it (its record's `ts` is when it was taken). */
type SampleRecord = { event: 'sample'; members: MemberSample[]; requests?: number; http5xx?: number; ts: string };

/** The rows a step is drawn on: its hosts (or the hosts of its releases), else the balancer. */
export function rowsOfStep(step: Step | undefined): string[] {
  const hosts = [...(step?.hosts ?? []), ...Object.keys(step?.releases ?? {})];
  return hosts.length > 0 ? [...new Set(hosts)] : ['balancer'];
}

/**
 * Requests and 5xx per second between consecutive samples' cumulative counters (a counter that went down, a balancer
 * restart, gives no point).
 */
export function ratesFrom(samples: readonly TrafficSample[], t0: number): RatePoint[] {
  const out: RatePoint[] = [];
  for (let i = 1; i < samples.length; i++) {
    const prev = samples[i - 1]!;
    const cur = samples[i]!;
    const seconds = (Date.parse(cur.at) - Date.parse(prev.at)) / 1000;
    if (!(seconds > 0) || cur.requests === undefined || prev.requests === undefined || cur.requests < prev.requests)
      continue;
    const errors =
      cur.http5xx !== undefined && prev.http5xx !== undefined ? Math.max(0, cur.http5xx - prev.http5xx) : 0;
    out.push({
      t: Date.parse(cur.at) - t0,
      rps: (cur.requests - prev.requests) / seconds,
      http5xxPerSecond: errors / seconds,
    });
  }
  return out;
}

/** Requests and 5xx over the run: each counter's increases summed (a reset, a restart, adds nothing). */
export function totalsFrom(samples: readonly TrafficSample[]): ReportData['totals'] {
  let requests = 0;
  let http5xx = 0;
  let counted = false;
  for (let i = 1; i < samples.length; i++) {
    const prev = samples[i - 1]!;
    const cur = samples[i]!;
    if (cur.requests === undefined || prev.requests === undefined || cur.requests < prev.requests) continue;
    counted = true;
    requests += cur.requests - prev.requests;
    if (cur.http5xx !== undefined && prev.http5xx !== undefined && cur.http5xx >= prev.http5xx)
      http5xx += cur.http5xx - prev.http5xx;
  }
  return counted ? { requests, http5xx, ratio: requests > 0 ? http5xx / requests : 0 } : undefined;
}

export interface ReportExtras {
  /** Per approval (same order as the plan's): what its signature verified as. */
  approvalChecks?: readonly ApprovalCheck[];
  /** The plan file exists but cannot be read: why. */
  planProblem?: string;
}

/** A step's bars as its begin opens them: one per row, pending until its end is read. */
function pendingBars(
  steps: ReadonlyMap<string, Step>,
  rec: { step: string; phase: TimelineBar['phase'] },
  title: string,
  start: number,
): TimelineBar[] {
  return rowsOfStep(steps.get(rec.step)).map((row) => ({
    row,
    step: rec.step,
    title,
    phase: rec.phase,
    start,
    status: 'pending',
  }));
}

type StepEnd = Extract<JournalRecord, { event: 'step-ok' | 'step-fail' }>;
type RunEnd = Extract<JournalRecord, { event: 'run-end' }>;

/** What a journal says happened: the step bars, the traffic samples, notes, a reversal and how the run ended. */
interface JournalReading {
  bars: TimelineBar[];
  samples: TrafficSample[];
  canary: CanaryFigures[];
  notes: string[];
  reversal?: ReportData['reversal'];
  end?: RunEnd;
}

/** Reads a run's records in order; `at` turns a record's time into milliseconds since the run began. */
function readRecords(
  records: readonly JournalRecord[],
  steps: ReadonlyMap<string, Step>,
  at: (ts: string) => number,
): JournalReading {
  const reading: JournalReading = { bars: [], samples: [], canary: [], notes: [] };
  const open = new Map<string, TimelineBar[]>();
  let lastFailed: string | undefined;

  const closeStep = (rec: StepEnd) => {
    const key = `${rec.phase}:${rec.step}`;
    // A step that ends without a begin (a journal cut short at its start) is drawn from its duration.
    let ended = open.get(key);
    if (!ended) {
      ended = pendingBars(steps, rec, steps.get(rec.step)?.title ?? rec.step, at(rec.ts) - rec.ms);
      reading.bars.push(...ended);
    }
    open.delete(key);
    for (const bar of ended) {
      bar.end = at(rec.ts);
      bar.status = rec.event === 'step-ok' ? 'ok' : 'fail';
      if (rec.event === 'step-fail') bar.error = rec.error;
    }
    if (rec.event === 'step-fail' && rec.phase === 'forward') lastFailed = rec.step;
    const figures = canaryFigures(rec);
    if (figures) reading.canary.push(figures);
  };

  for (const r of records) {
    const rec = r as JournalRecord | (SampleRecord & { run: string });
    switch (rec.event) {
      case 'step-begin': {
        const started = pendingBars(steps, rec, rec.title, at(rec.ts));
        reading.bars.push(...started);
        open.set(`${rec.phase}:${rec.step}`, started);
        break;
      }
      case 'step-ok':
      case 'step-fail':
        closeStep(rec);
        break;
      case 'reversal-begin':
        reading.reversal = { t: at(rec.ts), reason: rec.reason, ...(lastFailed ? { failedStep: lastFailed } : {}) };
        break;
      case 'run-end':
        reading.end = rec;
        break;
      case 'note':
        reading.notes.push(rec.message);
        break;
      case 'sample':
        reading.samples.push(trafficSample(rec));
        break;
      default:
        break;
    }
  }
  return reading;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** A window as the journal keeps it, when it has that shape (the journal is a file anyone may have edited). */
function windowOf(v: unknown): Window | undefined {
  if (!isObject(v) || !isCount(v.requests) || !isCount(v.http5xx)) return undefined;
  const l = v.latency;
  const latency =
    isObject(l) && isCount(l.ms) && isCount(l.timed) && isCount(l.errMs)
      ? { latency: { ms: l.ms, timed: l.timed, errMs: l.errMs } }
      : {};
  return { requests: v.requests, http5xx: v.http5xx, ...(isCount(v.failed) ? { failed: v.failed } : {}), ...latency };
}

/** What a canary step's end says it held and judged (its result, or what it found when it failed); else undefined. */
function canaryFigures(rec: StepEnd): CanaryFigures | undefined {
  const r = rec.event === 'step-ok' ? rec.changed : rec.found;
  if (rec.phase !== 'forward' || !isObject(r) || !isCount(r.weight)) return undefined;
  const verdict = r.verdict;
  if (verdict !== 'pass' && verdict !== 'too-few' && verdict !== 'fail') return undefined;
  const weights =
    isObject(r.weights) && Object.values(r.weights).every(isCount)
      ? { weights: r.weights as Record<string, number> }
      : {};
  const canary = windowOf(r.canary);
  const stable = windowOf(r.stable);
  return {
    step: rec.step,
    weight: r.weight,
    ...weights,
    verdict,
    ...(typeof r.metric === 'string' ? { metric: r.metric } : {}),
    ...(typeof r.scope === 'string' ? { scope: r.scope } : {}),
    ...(canary ? { canary } : {}),
    ...(stable ? { stable } : {}),
    ...(rec.event === 'step-fail' ? { error: rec.error } : {}),
    ...(typeof r.note === 'string' ? { note: r.note } : {}),
    ...queriesOf(r.queries),
  };
}

/** The queries a canary step's end records, those with the shape a reading has. */
function queriesOf(v: unknown): { queries?: QueryFigures[] } {
  if (!Array.isArray(v)) return {};
  const num = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  const queries = v.flatMap((q: unknown): QueryFigures[] =>
    isObject(q) && typeof q.query === 'string' && ['pass', 'fail', 'no-data'].includes(q.verdict as string)
      ? [
          {
            query: q.query,
            verdict: q.verdict as QueryFigures['verdict'],
            ...(typeof q.shown === 'string' ? { shown: q.shown } : {}),
            ...(num(q.max) ? { max: q.max as number } : {}),
            ...(num(q.min) ? { min: q.min as number } : {}),
            ...(typeof q.message === 'string' ? { message: q.message } : {}),
          },
        ]
      : [],
  );
  return queries.length ? { queries } : {};
}

function trafficSample(rec: SampleRecord): TrafficSample {
  return {
    at: rec.ts,
    members: Array.isArray(rec.members) ? rec.members : [],
    ...(rec.requests !== undefined ? { requests: rec.requests } : {}),
    ...(rec.http5xx !== undefined ? { http5xx: rec.http5xx } : {}),
  };
}

/** The timeline's rows: the balancer first, then hosts in the order the plan meets them, then any other, sorted. */
function rowOrder(bars: readonly TimelineBar[], plan: Plan | undefined): string[] {
  const rowsSeen = new Set(bars.map((b) => b.row));
  const hostOrder = plan
    ? [...new Set(plan.forward.flatMap((s) => rowsOfStep(s)).filter((r) => r !== 'balancer'))]
    : [];
  return [
    ...(rowsSeen.has('balancer') ? ['balancer'] : []),
    ...hostOrder.filter((h) => rowsSeen.has(h)),
    ...[...rowsSeen].filter((r) => r !== 'balancer' && !hostOrder.includes(r)).sort(),
  ];
}

function approvalsOf(plan: Plan | undefined, checks: ReportExtras['approvalChecks']): ReportData['approvals'] {
  return (plan?.approvals ?? []).map((a, i) => {
    const check = checks?.[i];
    return {
      by: a.by,
      at: a.at,
      signed: Boolean(a.signature),
      ...(check ? ('principal' in check ? { verified: check.principal } : { unverified: check.problem }) : {}),
    };
  });
}

/** The releases the hosts ran when the plan was made, and the one it moves to. */
function changeOf(plan: Plan | undefined): Pick<ReportData, 'change'> {
  if (!plan) return {};
  return {
    change: {
      from: [...new Set(plan.observed.hosts.map((h) => h.release).filter((r): r is string => !!r))],
      to: plan.release.dir,
      tag: plan.release.tag,
      commit: plan.release.commit,
    },
  };
}

/** Preflight's findings that were not ok when the plan was made, and the override of a refusal. */
function preflightOf(plan: Plan | undefined): Pick<ReportData, 'preflight'> {
  if (!plan?.preflight) return {};
  return {
    preflight: {
      findings: plan.preflight.findings
        .filter((f) => f.outcome !== 'ok')
        .map((f) => ({ check: f.check, outcome: f.outcome, message: f.message })),
      ...(plan.preflight.overridden ? { overridden: plan.preflight.overridden } : {}),
    },
  };
}

/** Everything the report shows for one run. `plan` absent: rows fall back to the balancer row. */
export function reportData(
  run: string,
  records: readonly JournalRecord[],
  plan?: Plan,
  extras: ReportExtras = {},
): ReportData {
  const begin = records.find((r) => r.event === 'run-begin');
  const t0 = Date.parse(begin?.ts ?? records[0]?.ts ?? new Date(0).toISOString());
  const at = (ts: string) => Date.parse(ts) - t0;
  const steps = new Map<string, Step>();
  for (const s of plan ? [...plan.forward, ...reverseSteps(plan.forward)] : []) steps.set(s.id, s);

  const { bars, samples, canary, notes, reversal, end } = readRecords(records, steps, at);
  const lastTs = records.at(-1)?.ts;
  const totals = totalsFrom(samples);
  const durationMs = end ? end.ms : lastTs ? at(lastTs) : undefined;
  const byCluster = samples.map((s) => ({ t: at(s.at), ...perCluster(s) }));

  return {
    run,
    command: begin?.event === 'run-begin' ? begin.command : 'unknown',
    tag: begin?.event === 'run-begin' ? begin.tag : (plan?.release.tag ?? ''),
    by: begin?.event === 'run-begin' ? begin.by : '',
    ...environmentOf(begin, plan),
    startedAt: new Date(t0).toISOString(),
    outcome: end ? end.outcome : 'unfinished',
    ...(durationMs !== undefined ? { durationMs } : {}),
    ...(plan ? { planHash: plan.hash } : begin?.event === 'run-begin' ? { planHash: begin.plan } : {}),
    approvals: approvalsOf(plan, extras.approvalChecks),
    ...changeOf(plan),
    ...(totals ? { totals } : {}),
    pool: byCluster.map(({ t, a, b }) => ({ t, a: a.inPool, b: b.inPool })),
    ...preflightOf(plan),
    ...(extras.planProblem ? { planProblem: extras.planProblem } : {}),
    rows: rowOrder(bars, plan),
    bars,
    rates: ratesFrom(samples, t0),
    sessions: byCluster.map(({ t, a, b }) => ({ t, a: a.sessions, b: b.sessions })),
    ...(reversal ? { reversal } : {}),
    ...(canary.length ? { canary } : {}),
    notes,
  };
}
