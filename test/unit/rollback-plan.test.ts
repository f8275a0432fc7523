import { describe, expect, it } from 'vitest';
import { buildRollbackPlan } from '../../plans/rollback.js';
import type { Config } from '../../src/config/config.js';
import type { ObservedHost, ObservedState } from '../../src/model/plan.js';
import { remainingSteps } from '../../src/release/resume.js';
import { replay } from '../../src/engine/run-state.js';
import { buildBlueGreenPlan } from '../../plans/blue-green.js';
import { releaseFor } from '../../src/model/release.js';

const config = {
  app: { name: 'shop', keep: 5 },
  balancer: { host: 'lb', backend: 'web', driver: 'haproxy' },
  clusters: { a: { id: 'a', internal: 'prod-a', hosts: [] }, b: { id: 'b', internal: 'prod-b', hosts: [] } },
} as unknown as Config;

function state(
  a: [ObservedHost['memberState'], string],
  b: [ObservedHost['memberState'], string],
  maint2b = false,
): ObservedState {
  const host = (h: string, c: 'a' | 'b', s: ObservedHost['memberState'], r: string): ObservedHost => ({
    host: h,
    cluster: c,
    member: h.replace('w', 'web'),
    address: '10.0.0.1',
    memberState: s,
    release: r,
  });
  return {
    observedAt: 't',
    balancer: { driver: 'haproxy', host: 'lb', backend: 'web' },
    hosts: [
      host('w1a', 'a', a[0], a[1]),
      host('w2a', 'a', a[0], a[1]),
      host('w1b', 'b', b[0], b[1]),
      host('w2b', 'b', maint2b ? 'maint' : b[0], b[1]),
    ],
  };
}
const back = { w1a: 'v1-aaaaaaa', w2a: 'v1-aaaaaaa', w1b: 'v1-aaaaaaa', w2b: 'v1-aaaaaaa' };

describe('rollback plan', () => {
  it('is warm when the other cluster still serves the old release: draining the new side comes first', () => {
    const p = buildRollbackPlan({
      config,
      observed: state(['ready', 'v2-bbbbbbb'], ['ready', 'v1-aaaaaaa']),
      targets: back,
      createdBy: 't',
    });
    expect(p.warm).toBe(true);
    expect(p.untouched).toEqual(['b']);
    expect(p.forward.map((s) => s.id)).toEqual([
      'lock',
      'drain-a',
      'wait-drain-a',
      'activate-a',
      'smoke-a',
      'ready-a',
      'unlock',
    ]);
    expect(p.forward.find((s) => s.id === 'activate-a')?.releases).toEqual({ w1a: 'v1-aaaaaaa', w2a: 'v1-aaaaaaa' });
  });

  it('switches and restarts only the hosts of a cluster not on their target, and its undo puts back only those', () => {
    // A push cut off part-way through a cluster: one host switched, the other still on the old release.
    const observed = state(['drain', 'v2-bbbbbbb'], ['ready', 'v1-aaaaaaa']);
    observed.hosts[1] = { ...observed.hosts[1]!, release: 'v1-aaaaaaa' };
    const p = buildRollbackPlan({
      config,
      observed,
      targets: back,
      createdBy: 't',
      poolAfter: ['web1a', 'web2a', 'web1b', 'web2b'],
    });
    const activate = p.forward.find((s) => s.id === 'activate-a');
    expect(activate).toMatchObject({ hosts: ['w1a'], releases: { w1a: 'v1-aaaaaaa' } });
    expect(activate?.undo).toMatchObject([{ hosts: ['w1a'], releases: { w1a: 'v2-bbbbbbb' } }]);
    expect(p.forward.find((s) => s.id === 'smoke-a')?.hosts).toEqual(['w1a', 'w2a']);
  });

  it('is cold when no cluster runs the old release: cluster by cluster', () => {
    const p = buildRollbackPlan({
      config,
      observed: state(['ready', 'v2-bbbbbbb'], ['ready', 'v2-bbbbbbb']),
      targets: back,
      createdBy: 't',
    });
    expect(p.warm).toBe(false);
    expect(p.forward.filter((s) => s.kind === 'drain').map((s) => s.id)).toEqual(['drain-a', 'drain-b']);
  });

  it('takes a cluster a push left drained first, and returns it to the pool before draining the other', () => {
    const p = buildRollbackPlan({
      config,
      observed: state(['ready', 'v2-bbbbbbb'], ['drain', 'v2-bbbbbbb']),
      targets: back,
      createdBy: 't',
      poolAfter: ['web1a', 'web2a', 'web1b', 'web2b'],
    });
    const ids = p.forward.map((s) => s.id);
    expect(ids.indexOf('ready-b')).toBeLessThan(ids.indexOf('drain-a'));
    expect(p.forward.find((s) => s.id === 'ready-b')?.members).toEqual(['web1b', 'web2b']);
  });

  it('leaves a member in maintenance out of the pool', () => {
    const p = buildRollbackPlan({
      config,
      observed: state(['ready', 'v2-bbbbbbb'], ['ready', 'v2-bbbbbbb'], true),
      targets: back,
      createdBy: 't',
    });
    expect(p.forward.find((s) => s.id === 'ready-b')?.members).toEqual(['web1b']);
    expect(p.forward.find((s) => s.id === 'drain-b')?.members).toEqual(['web1b']);
  });

  it(
    'on nginx, returns the first cluster and drains the second in one flip, ' + 'in whichever order the clusters go',
    () => {
      const nginx = { ...config, balancer: { ...config.balancer, driver: 'nginx' } } as unknown as Config;
      const cold = buildRollbackPlan({
        config: nginx,
        observed: state(['ready', 'v2-bbbbbbb'], ['ready', 'v2-bbbbbbb']),
        targets: back,
        createdBy: 't',
      });
      expect(cold.forward.map((s) => s.id)).toEqual([
        'lock',
        'drain-a',
        'wait-drain-a',
        'activate-a',
        'smoke-a',
        'flip-a',
        'wait-drain-b',
        'activate-b',
        'smoke-b',
        'ready-b',
        'unlock',
      ]);
      const drainedB = buildRollbackPlan({
        config: nginx,
        observed: state(['ready', 'v2-bbbbbbb'], ['drain', 'v2-bbbbbbb']),
        targets: back,
        createdBy: 't',
        poolAfter: ['web1a', 'web2a', 'web1b', 'web2b'],
      });
      expect(drainedB.forward.find((s) => s.kind === 'flip')).toMatchObject({
        id: 'flip-b',
        readyMembers: ['web1b', 'web2b'],
        members: ['web1a', 'web2a'],
      });
      const warm = buildRollbackPlan({
        config: nginx,
        observed: state(['ready', 'v2-bbbbbbb'], ['ready', 'v1-aaaaaaa']),
        targets: back,
        createdBy: 't',
      });
      expect(warm.forward.some((s) => s.kind === 'flip')).toBe(false);
    },
  );

  it('has nothing to do when every host already runs its target in the pool', () => {
    const p = buildRollbackPlan({
      config,
      observed: state(['ready', 'v1-aaaaaaa'], ['ready', 'v1-aaaaaaa']),
      targets: back,
      createdBy: 't',
    });
    expect(p.forward).toEqual([]);
  });
});

describe('resume', () => {
  const plan = buildBlueGreenPlan({
    config,
    observed: state(['ready', 'v1-aaaaaaa'], ['ready', 'v1-aaaaaaa']),
    release: releaseFor('v2', 'b'.repeat(40)),
    createdBy: 't',
  });
  const rec = (events: object[]) => ({
    run: 'r',
    journal: 'j',
    plan,
    state: replay(events.map((e) => ({ ts: 't', run: 'r', ...e })) as never),
  });

  it('runs the pending step again, then the rest', () => {
    const r = rec([
      {
        event: 'run-begin',
        command: 'push',
        plan: plan.hash,
        tag: 'v2',
        by: 't',
        steps: plan.forward.map((s) => s.id),
      },
      { event: 'step-begin', step: 'lock', kind: 'lock', title: '', phase: 'forward' },
      { event: 'step-ok', step: 'lock', phase: 'forward', ms: 1 },
      { event: 'step-begin', step: 'drain-a', kind: 'drain', title: '', phase: 'forward' },
    ]);
    const { alreadyDone, remaining } = remainingSteps(r);
    expect(alreadyDone.map((s) => s.id)).toEqual(['lock']);
    expect(remaining[0]?.id).toBe('drain-a');
    expect(remaining.at(-1)?.id).toBe('unlock');
  });

  it('finishes an interrupted reversal instead of going forward', () => {
    const r = rec([
      { event: 'run-begin', command: 'push', plan: plan.hash, tag: 'v2', by: 't', steps: [] },
      { event: 'step-ok', step: 'lock', phase: 'forward', ms: 1 },
      { event: 'step-ok', step: 'drain-a', phase: 'forward', ms: 1 },
      { event: 'step-fail', step: 'stage', phase: 'forward', ms: 1, error: 'x' },
      { event: 'reversal-begin', reason: 'x', steps: ['undo-stage', 'undo-drain-a', 'undo-lock'] },
      { event: 'step-ok', step: 'undo-stage', phase: 'reverse', ms: 1 },
    ]);
    const { remaining, reversal } = remainingSteps(r);
    expect(reversal).toBe(true);
    expect(remaining.map((s) => s.id)).toEqual(['undo-drain-a', 'undo-lock']);
  });
});
