// Measuring a push in the lab: load through the public frontend for the whole push, the
// balancer's own retry/redispatch counters before and after, and the push's wall time.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadConfig } from '../src/config/load.js';
import { readJournal, type JournalRecord } from '../src/engine/journal.js';
import { openSession } from '../src/engine/session.js';
import { startLoad, type LoadReport } from '../test/lab/load.js';
import { repoRoot } from './repo-root.js';

export const ROOT = repoRoot();
export const LAB_CONFIG = `${ROOT}/test/lab/baton.haproxy.yml`;
export const PUBLIC_URL = 'http://10.213.7.2/';

/** The public frontend of the balancer `configFile` drives (HAProxy :80, Apache :8080, nginx :8088). */
export function publicUrlOf(port: number): string {
  return `http://10.213.7.2:${port}/`;
}

export interface PushMeasurement {
  tag: string;
  exitCode: number;
  seconds: number;
  /** baton's own figures from --json: forward and reversal time inside the process. */
  forwardSeconds?: number;
  reversalSeconds?: number;
  outcome?: string;
  /** From the command's start to its journal's first step; and the journal's first step to its last. */
  timeToFirstStepSeconds?: number;
  journalSpanSeconds?: number;
  /** The wait for each drained cluster's last in-flight request, from the journal. */
  drainSeconds?: Record<string, number>;
  /** The stage step (upload, unpack, and the build where it runs on the hosts), from the journal. */
  stageSeconds?: number;
  /** With an artifact built once: the bytes the stage step sent, over every host (its journal record). */
  stageSentBytes?: number;
  /** What a failed push said (its --json error message). */
  error?: string;
  load: LoadReport;
  redispatches: number;
  retries: number;
  http5xx: number;
  /** baton's peak resident memory (the kernel's VmHWM), in MiB. */
  peakRssMiB?: number;
}

export interface LoadShape {
  /** Clients sending ordinary requests back to back. */
  concurrency: number;
  /** Clients sending only /slow?ms=2000, so slow requests are in flight at every drain. */
  slowClients: number;
  /** Seconds of load before the push starts and after it ends. */
  padSeconds: number;
  /** Whether clients reuse connections (keep-alive), as browsers do. */
  keepAlive: boolean;
}

export const DEFAULT_LOAD: LoadShape = { concurrency: 16, slowClients: 4, padSeconds: 2, keepAlive: true };

/** The command-line options every lab benchmark takes (for node:util parseArgs). */
export const LOAD_OPTIONS = {
  'per-cluster': { type: 'string', default: '2' },
  concurrency: { type: 'string', default: String(DEFAULT_LOAD.concurrency) },
  'slow-clients': { type: 'string', default: String(DEFAULT_LOAD.slowClients) },
  pad: { type: 'string', default: String(DEFAULT_LOAD.padSeconds) },
  keepalive: { type: 'string', default: 'on' },
} as const;

/** The load shape those options ask for. */
export function shapeOf(values: {
  concurrency: string;
  'slow-clients': string;
  pad: string;
  keepalive: string;
}): LoadShape {
  if (values.keepalive !== 'on' && values.keepalive !== 'off')
    throw new Error(`--keepalive ${values.keepalive}: expected on or off`);
  return {
    concurrency: Number(values.concurrency),
    slowClients: Number(values['slow-clients']),
    padSeconds: Number(values.pad),
    keepAlive: values.keepalive === 'on',
  };
}

/** Bring the lab up (idempotent) with the given number of app hosts per cluster. */
export function labUp(perCluster: number): void {
  execFileSync('bash', [`${ROOT}/test/lab/lab.sh`, 'up'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, LAB_PER_CLUSTER: String(perCluster) },
  });
}

/** Run `command` (argv) under load and return what the client and the balancer saw. */
export async function underLoad(
  argv: string[],
  shape: LoadShape,
  configFile = LAB_CONFIG,
  url = PUBLIC_URL,
  /** Runs the measured thing instead of `argv` (a push signalled part-way, say). */
  runner: () => Promise<{ code: number; stdout: string; peakRssMiB?: number }> = () => run(argv),
): Promise<{
  exitCode: number;
  seconds: number;
  startedAt: number;
  stdout: string;
  load: LoadReport;
  redispatches: number;
  retries: number;
  http5xx: number;
  peakRssMiB?: number;
}> {
  // One driver instance reads the counters before and after: access-log counts start at its first read.
  const session = await openSession(await loadConfig(configFile));
  let measured;
  try {
    const before = await session.balancer.counters();
    const fast = startLoad({
      url,
      seconds: 3600,
      concurrency: shape.concurrency,
      timeout: 15_000,
      keepAlive: shape.keepAlive,
    });
    const slow = startLoad({
      url,
      seconds: 3600,
      concurrency: shape.slowClients,
      slowEvery: 1,
      slowPath: '/slow?ms=2000',
      timeout: 15_000,
      keepAlive: shape.keepAlive,
    });
    await sleep(shape.padSeconds * 1000);
    const startedAt = Date.now();
    const t0 = performance.now();
    const { code, stdout, peakRssMiB } = await runner();
    const seconds = (performance.now() - t0) / 1000;
    await sleep(shape.padSeconds * 1000);
    const report = mergeReports(await fast.stop(), await slow.stop());
    measured = {
      code,
      stdout,
      seconds,
      startedAt,
      report,
      before,
      after: await session.balancer.counters(),
      peakRssMiB,
    };
  } finally {
    await session.close();
  }
  const { code, stdout, seconds, startedAt, report, before, after, peakRssMiB } = measured;
  return {
    exitCode: code,
    seconds: round(seconds),
    startedAt,
    stdout,
    load: report,
    redispatches: after.redispatches - before.redispatches,
    retries: after.retries - before.retries,
    http5xx: after.http5xx - before.http5xx,
    ...(peakRssMiB !== undefined ? { peakRssMiB } : {}),
  };
}

/** `baton push TAG` as a user runs it, timed from the command's start to its end. */
export async function measurePush(
  tag: string,
  shape: LoadShape,
  configFile = LAB_CONFIG,
  url = PUBLIC_URL,
): Promise<PushMeasurement> {
  const r = await underLoad(
    ['node', `${ROOT}/bin/run.js`, 'push', tag, '-c', configFile, '--json'],
    shape,
    configFile,
    url,
  );
  let parsed: { forwardMs?: number; reversalMs?: number; outcome?: string; journal?: string } = {};
  let error: string | undefined;
  try {
    const json = JSON.parse(r.stdout) as typeof parsed & { error?: { message?: string; result?: typeof parsed } };
    parsed = json.error?.result ?? json;
    error = json.error?.message;
  } catch {
    // a failed push prints its error as JSON too; anything else stays unparsed
  }
  const phases = parsed.journal ? journalPhases(parsed.journal, r.startedAt) : undefined;
  return {
    tag,
    exitCode: r.exitCode,
    seconds: r.seconds,
    ...(phases ?? {}),
    ...(parsed.forwardMs !== undefined ? { forwardSeconds: round(parsed.forwardMs / 1000) } : {}),
    ...(parsed.reversalMs !== undefined ? { reversalSeconds: round(parsed.reversalMs / 1000) } : {}),
    ...(parsed.outcome ? { outcome: parsed.outcome } : {}),
    ...(error !== undefined && r.exitCode !== 0 ? { error } : {}),
    load: r.load,
    redispatches: r.redispatches,
    retries: r.retries,
    http5xx: r.http5xx,
    ...(r.peakRssMiB !== undefined ? { peakRssMiB: r.peakRssMiB } : {}),
  };
}

/** Push without load (to set the starting release). */
export async function quietPush(tag: string, configFile = LAB_CONFIG, extra: string[] = []): Promise<number> {
  return (await run(['node', `${ROOT}/bin/run.js`, 'push', tag, '-c', configFile, ...extra])).code;
}

function run(argv: string[]): Promise<{ code: number; stdout: string; peakRssMiB?: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), {
      stdio: ['ignore', 'pipe', process.env.BENCH_VERBOSE ? 'inherit' : 'ignore'],
      env: { ...process.env, CI: '1' },
    });
    let stdout = '';
    // The kernel keeps the process's high-water mark (VmHWM); its last reading before the exit is the peak.
    let peakKiB = 0;
    const readPeak = () => {
      const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileIfThere(`/proc/${child.pid}/status`));
      if (m) peakKiB = Math.max(peakKiB, Number(m[1]));
    };
    const poll = setInterval(readPeak, 50);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('error', (err) => (clearInterval(poll), reject(err)));
    child.on('close', (code) => {
      clearInterval(poll);
      resolve({ code: code ?? 1, stdout, ...(peakKiB ? { peakRssMiB: round(peakKiB / 1024) } : {}) });
    });
  });
}

function readFileIfThere(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** One report for both kinds of clients; latency percentiles are the fast clients'. */
function mergeReports(fast: LoadReport, slow: LoadReport): LoadReport {
  const add = (a: Record<string, number>, b: Record<string, number>) => {
    const out = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  return {
    requests: fast.requests + slow.requests,
    ok: fast.ok + slow.ok,
    failed: fast.failed + slow.failed,
    failures: add(fast.failures, slow.failures) as LoadReport['failures'],
    failedAfterRetry: fast.failedAfterRetry + slow.failedAfterRetry,
    connectionErrors: add(fast.connectionErrors, slow.connectionErrors),
    byVersion: add(fast.byVersion, slow.byVersion),
    byHost: add(fast.byHost, slow.byHost),
    latencyMs: fast.latencyMs,
    seconds: Math.max(fast.seconds, slow.seconds),
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function round(x: number): number {
  return Math.round(x * 100) / 100;
}

/**
 * Where a run's time went, from its journal: from the command's start to its first step (start-up,
 * config, tag, SSH, observation, plan), and from the first step's start to the last one's end.
 */
export function journalPhases(
  file: string,
  startedAt: number,
):
  | {
      timeToFirstStepSeconds: number;
      journalSpanSeconds: number;
      drainSeconds: Record<string, number>;
      stageSeconds?: number;
      stageSentBytes?: number;
    }
  | undefined {
  const records = readJournal(file);
  const begins = records.filter((e) => e.event === 'step-begin');
  const ends = records.filter((e) => e.event === 'step-ok' || e.event === 'step-fail');
  if (!begins.length || !ends.length) return undefined;
  const first = Date.parse(begins[0]!.ts);
  const last = Date.parse(ends.at(-1)!.ts);
  const stage = records.find((e) => e.event === 'step-ok' && e.step === 'stage');
  return {
    timeToFirstStepSeconds: round((first - startedAt) / 1000),
    journalSpanSeconds: round((last - first) / 1000),
    drainSeconds: drainSecondsOf(records),
    ...(stage && 'ms' in stage ? { stageSeconds: round(stage.ms / 1000) } : {}),
    ...sentBytesOf(stage),
  };
}

/** What an artifact stage step says it sent (absent for the plain stage, which sends the tag to every host). */
function sentBytesOf(stage: JournalRecord | undefined): { stageSentBytes?: number } {
  const changed = stage && 'changed' in stage ? (stage.changed as { sentBytes?: unknown } | undefined) : undefined;
  return typeof changed?.sentBytes === 'number' ? { stageSentBytes: changed.sentBytes } : {};
}

/**
 * How long each wait-drain step took (wait-drain-a, wait-drain-b: the wait for the last in-flight request), by cluster.
 */
function drainSecondsOf(records: JournalRecord[]): Record<string, number> {
  const at = (event: string, step: string) =>
    records.find((e) => e.event === event && 'step' in e && e.step === step)?.ts;
  const out: Record<string, number> = {};
  for (const step of new Set(
    records.flatMap((e) =>
      e.event === 'step-begin' && 'step' in e && /^wait-drain-/.test(String(e.step)) ? [String(e.step)] : [],
    ),
  )) {
    const begin = at('step-begin', step);
    const end = at('step-ok', step) ?? at('step-fail', step);
    if (begin && end) out[step.replace(/^wait-drain-/, '')] = round((Date.parse(end) - Date.parse(begin)) / 1000);
  }
  return out;
}
