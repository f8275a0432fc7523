import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildBlueGreenPlan } from '../../plans/blue-green.js';
import type { Config } from '../../src/config/config.js';
import { execute } from '../../src/engine/executor.js';
import { Journal, readJournal } from '../../src/engine/journal.js';
import { SilentReporter } from '../../src/engine/reporter.js';
import type { ObservedState, Step } from '../../src/model/plan.js';
import { planHash, reverseSteps } from '../../src/model/plan.js';
import { releaseFor } from '../../src/model/release.js';
import { observedFixture } from '../fixtures/observed.js';

const config = {
  app: { name: 'shop', keep: 5 },
  balancer: { host: 'lb', backend: 'web', driver: 'haproxy' },
  clusters: {
    a: { id: 'a', internal: 'prod-a.example.com', hosts: [] },
    b: { id: 'b', internal: 'prod-b.example.com', hosts: [] },
  },
} as unknown as Config;

const observed: ObservedState = observedFixture({ differ: { w2b: { memberState: 'maint', release: 'v0-bbbbbbb' } } });
const release = releaseFor('v2', 'cccccccccccccccccccccccccccccccccccccccc');

function plan() {
  return buildBlueGreenPlan({ config, observed, release, createdBy: 'tester', now: new Date('2026-11-27T00:00:00Z') });
}

describe('blue/green plan', () => {
  it('orders the forward steps cluster by cluster, staging everywhere while the first drain runs', () => {
    expect(plan().forward.map((s) => s.id)).toEqual([
      'lock',
      'drain-a',
      'stage',
      'wait-drain-a',
      'activate-a',
      'smoke-a',
      'ready-a',
      'drain-b',
      'wait-drain-b',
      'activate-b',
      'smoke-b',
      'ready-b',
      'unlock',
    ]);
  });

  it('undoes each host back to its own previous release and each member to its own previous state', () => {
    const p = plan();
    const activateB = p.forward.find((s) => s.id === 'activate-b') as Step;
    expect(activateB.undo[0]?.releases).toEqual({ w1b: 'v1-aaaaaaa', w2b: 'v0-bbbbbbb' });
    const drainB = p.forward.find((s) => s.id === 'drain-b') as Step;
    // web2b was in maintenance before the push: the undo must not put it in the pool.
    expect(drainB.undo[0]?.members).toEqual(['web1b']);
  });

  it('keeps the reverse plan as the undos newest first', () => {
    const ids = reverseSteps(plan().forward).map((s) => s.id);
    expect(ids.slice(0, 4)).toEqual(['undo-ready-b', 'undo-ready-wait-b', 'undo-activate-b', 'undo-drain-b']);
    expect(ids.at(-1)).toBe('undo-lock');
  });

  it('hashes the content, so any edit changes the hash', () => {
    const p = plan();
    const { hash, ...rest } = p;
    expect(planHash(rest)).toBe(hash);
    const edited = structuredClone(rest);
    (edited.forward[2] as Step).members = ['web1b'];
    expect(planHash(edited)).not.toBe(hash);
  });

  it('refuses to drain a cluster while the other has nothing in the pool', () => {
    const drainedB = {
      ...observed,
      hosts: observed.hosts.map((h) => (h.cluster === 'b' ? { ...h, memberState: 'drain' as const } : h)),
    };
    expect(() => buildBlueGreenPlan({ config, observed: drainedB, release, createdBy: 't' })).toThrow(
      /cluster b has no member in the pool .*draining cluster a would leave nothing serving/,
    );
  });

  describe('on nginx, where every pool change is a reload', () => {
    const nginx = { ...config, balancer: { ...config.balancer, driver: 'nginx' } } as unknown as Config;
    const watched = { ...nginx, watch: { duration: 30_000, max5xxRatio: 0.01 } } as unknown as Config;
    const build = (c: Config, hold?: boolean) =>
      buildBlueGreenPlan({ config: c, observed, release, createdBy: 't', ...(hold ? { hold } : {}) });

    it('returns cluster a and drains cluster b in one flip: three pool changes a push, not four', () => {
      const p = build(nginx);
      expect(p.forward.map((s) => s.id)).toEqual([
        'lock',
        'drain-a',
        'stage',
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
      const flip = p.forward.find((s) => s.id === 'flip-a') as Step;
      expect(flip).toMatchObject({ kind: 'flip', cluster: 'a', readyMembers: ['web1a', 'web2a'], members: ['web1b'] });
      expect(p.forward.filter((s) => ['drain', 'ready', 'flip'].includes(s.kind))).toHaveLength(3);
    });

    it('undoes the flip with the opposite flip, then waits for cluster a to finish its requests', () => {
      const flip = build(nginx).forward.find((s) => s.id === 'flip-a') as Step;
      expect(flip.undo.map((u) => [u.kind, u.readyMembers ?? [], u.members])).toEqual([
        ['flip', ['web1b'], ['web1a', 'web2a']],
        ['wait-drain', [], ['web1a', 'web2a']],
      ]);
    });

    it('watches cluster a right after the flip, before waiting on cluster b', () => {
      expect(
        build(watched)
          .forward.map((s) => s.id)
          .slice(6, 9),
      ).toEqual(['flip-a', 'watch-a', 'wait-drain-b']);
    });

    it(
      'keeps ready and drain apart when the push holds after ' + 'the first cluster (both clusters stay in the pool)',
      () => {
        const ids = build(nginx, true).forward.map((s) => s.id);
        expect(ids).toContain('ready-a');
        expect(ids).toContain('drain-b');
        expect(ids).not.toContain('flip-a');
      },
    );

    it(
      'reverses a failure after the flip back through it: b back in the pool and a drained, ' +
        'before a switches back',
      async () => {
        const ran: string[] = [];
        const result = await execute({
          steps: build(nginx).forward,
          run: async (s) => {
            ran.push(s.id);
            if (s.id === 'activate-b') throw new Error('restart failed on w1b');
          },
          journal: new Journal(mkdtempSync(join(tmpdir(), 'baton-journal-')), 'run-1'),
          reporter: new SilentReporter(),
        });
        expect(result.outcome).toBe('reversed');
        expect(ran.slice(ran.indexOf('activate-b') + 1)).toEqual([
          'undo-activate-b',
          'undo-flip-a',
          'undo-flip-wait-a',
          'undo-activate-a',
          'undo-stage',
          'undo-drain-a',
          'undo-lock',
        ]);
      },
    );
  });

  it('refuses a tag that cannot be a directory name', () => {
    expect(() => releaseFor('v1;rm -rf /', 'c'.repeat(40))).toThrow(/cannot name a release directory/);
    expect(() => releaseFor('../etc', 'c'.repeat(40))).toThrow(/cannot name a release directory/);
  });
});

describe('executor', () => {
  function journal() {
    return new Journal(mkdtempSync(join(tmpdir(), 'baton-journal-')), 'run-1');
  }

  it('runs every step and journals begin/ok for each', async () => {
    const j = journal();
    const ran: string[] = [];
    const result = await execute({
      steps: plan().forward,
      run: async (s) => void ran.push(s.id),
      journal: j,
      reporter: new SilentReporter(),
    });
    expect(result.outcome).toBe('succeeded');
    expect(ran).toHaveLength(13);
    const events = readJournal(j.file).map((r) => `${r.event}:${'step' in r ? r.step : ''}`);
    expect(events.filter((e) => e.startsWith('step-ok')).length).toBe(13);
  });

  it('reverses newest first when a smoke check fails, never touching the second cluster', async () => {
    const j = journal();
    const ran: string[] = [];
    const result = await execute({
      steps: plan().forward,
      run: async (s) => {
        ran.push(s.id);
        if (s.id === 'smoke-a') throw new Error('GET /healthz answered 500');
      },
      journal: j,
      reporter: new SilentReporter(),
    });
    expect(result.outcome).toBe('reversed');
    expect(result.failedStep).toBe('smoke-a');
    expect(ran).toEqual([
      'lock',
      'drain-a',
      'stage',
      'wait-drain-a',
      'activate-a',
      'smoke-a',
      'undo-activate-a',
      'undo-stage',
      'undo-drain-a',
      'undo-lock',
    ]);
    expect(ran.some((id) => id.endsWith('-b'))).toBe(false);
    expect(readJournal(j.file).some((r) => r.event === 'reversal-begin')).toBe(true);
  });

  it('undoes a half-done activate too, since undos are idempotent', async () => {
    const ran: string[] = [];
    await execute({
      steps: plan().forward,
      run: async (s) => {
        ran.push(s.id);
        if (s.id === 'activate-b') throw new Error('restart failed on w2b');
      },
      journal: journal(),
      reporter: new SilentReporter(),
    });
    expect(ran.slice(ran.indexOf('activate-b') + 1, ran.indexOf('activate-b') + 3)).toEqual([
      'undo-activate-b',
      'undo-drain-b',
    ]);
  });

  it('stops reversing at the first undo that fails and says production needs attention', async () => {
    const ran: string[] = [];
    const result = await execute({
      steps: plan().forward,
      run: async (s) => {
        ran.push(s.id);
        if (s.id === 'smoke-a') throw new Error('smoke failed');
        if (s.id === 'undo-activate-a') throw new Error('ssh: connection lost');
      },
      journal: journal(),
      reporter: new SilentReporter(),
    });
    expect(result.outcome).toBe('needs-attention');
    expect(result.reversalError?.message).toMatch(/connection lost/);
    expect(ran.at(-1)).toBe('undo-activate-a');
  });

  it('changes nothing when the lock is held', async () => {
    const ran: string[] = [];
    const result = await execute({
      steps: plan().forward,
      run: async (s) => {
        ran.push(s.id);
        if (s.id === 'lock') throw new Error('held by someone');
      },
      journal: journal(),
      reporter: new SilentReporter(),
    });
    expect(ran).toEqual(['lock']);
    expect(result.failedStep).toBe('lock');
  });

  it('holds after the first flip when asked', async () => {
    const j = journal();
    const result = await execute({
      steps: plan().forward,
      run: async () => undefined,
      journal: j,
      reporter: new SilentReporter(),
      holdAfter: 'ready-a',
    });
    expect(result.outcome).toBe('held');
    expect(result.completed.at(-1)).toBe('ready-a');
    expect(readFileSync(j.file, 'utf8')).not.toMatch(/drain-b/);
  });
});
