// Synthetic runs for the report: a push with traffic samples, a push that reversed itself, and
// a rollback. Timestamps are given so every bar and rate is exact.
import type { JournalRecord } from '../../src/engine/journal.js';
import type { MemberSample } from '../../src/engine/traffic.js';
import type { Plan, Step } from '../../src/model/plan.js';

const T0 = Date.parse('2026-11-29T10:00:00.000Z');
const ts = (s: number) => new Date(T0 + s * 1000).toISOString();

function step(id: string, kind: Step['kind'], extra: Partial<Step> = {}, undo: Step[] = []): Step {
  // Loose on purpose: the report reads ids and clusters, not each kind's whole shape.
  return { id, kind, title: `${kind} ${id}`, undo, ...extra } as Step;
}

/** A two-cluster push plan: lock and flip on the balancer, stage/activate on each host. */
export function pushPlan(tag: string, kind: 'push' | 'rollback' = 'push'): Plan {
  const forward: Step[] = [
    step('lock', 'lock', {}, [step('unlock', 'unlock')]),
    step('drain-b', 'drain', { cluster: 'b', members: ['web3', 'web4'] }, [
      step('ready-b', 'ready', { members: ['web3', 'web4'] }),
    ]),
    step('stage-b', 'stage', { cluster: 'b', releases: { 'web3.lab': '/srv/app/r2', 'web4.lab': '/srv/app/r2' } }, [
      step('unstage-b', 'unstage', { hosts: ['web3.lab', 'web4.lab'] }),
    ]),
    step('smoke-b', 'smoke', { cluster: 'b', hosts: ['web3.lab', 'web4.lab'] }),
    step('flip', 'flip', { members: ['web1', 'web2'], readyMembers: ['web3', 'web4'] }, [
      step('unflip', 'flip', { members: ['web3', 'web4'] }),
    ]),
    step('unlock', 'unlock'),
  ];
  return {
    format: 'baton-plan/1',
    kind,
    app: 'shop',
    release: { tag, commit: 'c0ffee', dir: tag },
    createdAt: ts(-60),
    createdBy: 'ada',
    observed: { observedAt: ts(-60), balancer: { driver: 'haproxy', host: 'lb', backend: 'app' }, hosts: [] },
    observedDigest: 'sha256:o',
    forward,
    hash: `sha256:plan-${tag}`,
    approvals: [
      { by: 'bob', at: ts(-30), hash: `sha256:plan-${tag}`, signature: '-----BEGIN SSH SIGNATURE-----' },
      { by: 'eve <script>alert(1)</script>', at: ts(-20), hash: `sha256:plan-${tag}` },
    ],
  };
}

function members(a: number, b: number): MemberSample[] {
  return [
    { name: 'web1', cluster: 'a', state: 'ready', sessions: a },
    { name: 'web3', cluster: 'b', state: 'ready', sessions: b },
    { name: 'stray', state: 'ready', sessions: 99 },
  ];
}

type Line = Record<string, unknown> & { event: string };
const records = (run: string, lines: [number, Line][]) =>
  lines.map(([s, l]) => ({ ts: ts(s), run, ...l }) as unknown as JournalRecord);
const begin = (command: string, tag: string, steps: string[]): Line => ({
  event: 'run-begin',
  command,
  plan: `sha256:plan-${tag}`,
  tag,
  by: 'ada',
  steps,
});
const ok = (id: string, phase: 'forward' | 'reverse', s: number, e: number, title = id): [number, Line][] => [
  [s, { event: 'step-begin', step: id, kind: id, title, phase }],
  [e, { event: 'step-ok', step: id, phase, ms: (e - s) * 1000 }],
];
const sample = (s: number, requests: number, http5xx: number, a: number, b: number): [number, Line] => [
  s,
  { event: 'sample', members: members(a, b), requests, http5xx },
];

export interface ReportFixture {
  name: string;
  run: string;
  plan: Plan;
  records: JournalRecord[];
}

/**
 * Push v2: every step ok, samples each second (100 requests/s, 2 5xx in the 3rd second), sessions moving from a to b.
 */
export function pushFixture(): ReportFixture {
  const run = '20261129T100000000Z-push01';
  const lines: [number, Line][] = [
    [0, begin('push', 'v2', ['lock', 'drain-b', 'stage-b', 'smoke-b', 'flip', 'unlock'])],
    ...ok('lock', 'forward', 0, 1),
    sample(0, 1000, 5, 10, 0),
    sample(1, 1100, 5, 10, 0),
    ...ok('drain-b', 'forward', 1, 2),
    sample(2, 1200, 5, 10, 0),
    ...ok('stage-b', 'forward', 2, 4),
    sample(3, 1300, 7, 9, 1),
    sample(4, 1400, 7, 8, 2),
    ...ok('smoke-b', 'forward', 4, 5, 'smoke </script><!-- <b>bold</b>'),
    ...ok('flip', 'forward', 5, 6),
    sample(6, 1600, 7, 0, 10),
    ...ok('unlock', 'forward', 6, 6.2),
    [6.3, { event: 'note', message: 'note with <img src=x onerror=alert(1)>' }],
    [6.3, { event: 'run-end', outcome: 'succeeded', ms: 6300 }],
  ];
  return { name: 'push', run, plan: pushPlan('v2'), records: records(run, lines) };
}

/** Push v3-broken: smoke-b fails, the run reverses what it did (unstage-b, ready-b, unlock). No samples. */
export function reversedFixture(): ReportFixture {
  const run = '20261129T101000000Z-brok03';
  const lines: [number, Line][] = [
    [0, begin('push', 'v3-broken', ['lock', 'drain-b', 'stage-b', 'smoke-b', 'flip', 'unlock'])],
    ...ok('lock', 'forward', 0, 1),
    ...ok('drain-b', 'forward', 1, 2),
    ...ok('stage-b', 'forward', 2, 4),
    [4, { event: 'step-begin', step: 'smoke-b', kind: 'smoke', title: 'smoke cluster b', phase: 'forward' }],
    [5, { event: 'step-fail', step: 'smoke-b', phase: 'forward', ms: 1000, error: 'GET /health on web3.lab: 500' }],
    [5, { event: 'reversal-begin', reason: 'smoke-b failed', steps: ['unstage-b', 'ready-b', 'unlock'] }],
    ...ok('unstage-b', 'reverse', 5, 6),
    ...ok('ready-b', 'reverse', 6, 7),
    ...ok('unlock', 'reverse', 7, 7.5),
    [7.5, { event: 'run-end', outcome: 'reversed', ms: 7500 }],
  ];
  return { name: 'reversed', run, plan: pushPlan('v3-broken'), records: records(run, lines) };
}

/** Rollback to v1: the same shape of plan, run forward, with a few samples. */
export function rollbackFixture(): ReportFixture {
  const run = '20261129T102000000Z-roll01';
  const lines: [number, Line][] = [
    [0, begin('rollback', 'v1', ['lock', 'drain-b', 'stage-b', 'smoke-b', 'flip', 'unlock'])],
    sample(0, 5000, 0, 0, 10),
    ...ok('lock', 'forward', 0, 0.5),
    ...ok('drain-b', 'forward', 0.5, 1.5),
    sample(1.5, 5150, 0, 0, 10),
    ...ok('stage-b', 'forward', 1.5, 2.5),
    ...ok('smoke-b', 'forward', 2.5, 3),
    ...ok('flip', 'forward', 3, 3.5),
    sample(3.5, 5450, 1, 10, 0),
    ...ok('unlock', 'forward', 3.5, 3.6),
    [3.6, { event: 'run-end', outcome: 'succeeded', ms: 3600 }],
  ];
  return { name: 'rollback', run, plan: pushPlan('v1', 'rollback'), records: records(run, lines) };
}
