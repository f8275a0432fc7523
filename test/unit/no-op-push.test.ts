// Issue 32 item 4: a push of the release every host already runs and serves changes nothing
// ("No changes", as Terraform says), a partly-deployed fleet is planned only where it differs,
// and --force REASON pushes every cluster anyway, recorded in the plan and journaled.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { buildBlueGreenPlan } from '../../plans/blue-green.js';
import { clustersServing } from '../../plans/up-to-date.js';
import type { MemberState } from '../../src/balancers/types.js';
import { fakeBalancer } from '../helpers/memory-balancer.js';
import type { Config } from '../../src/config/config.js';
import { parseConfig } from '../../src/config/load.js';
import { Secrets } from '../../src/config/secrets.js';
import { readJournal } from '../../src/engine/journal.js';
import { ReleaseLock } from '../../src/engine/lock.js';
import { SilentReporter } from '../../src/engine/reporter.js';
import type { Session } from '../../src/engine/session.js';
import { PlanRefusedError } from '../../src/errors.js';
import {
  changesNothing,
  clustersLeftAlone,
  planHash,
  reverseSteps,
  sealPlan,
  type ObservedHost,
  type Plan,
  type Step,
} from '../../src/model/plan.js';
import { planFileText, readPlanFile } from '../../src/model/plan-file.js';
import { releaseFor } from '../../src/model/release.js';
import { checkPlan } from '../../src/release/rederive.js';
import { applyPlan, checkNothingToDo, planPush } from '../../src/release/push.js';
import { idleSideSteps } from '../../src/release/rehearse.js';
import { planMarkdown } from '../../src/render/plan-markdown.js';
import { noChangesJson, noChangesText, planText } from '../../src/render/plan.js';
import { appPaths, readCurrent, switchAndRestart } from '../../src/model/host-commands.js';
import { RecordingTransports } from '../../src/transport/recording.js';
import { observedFixture, planConfigFixture, type FixtureHost } from '../fixtures/observed.js';
import { recordHost } from '../helpers/record-host.js';

const release = releaseFor('v2', 'c'.repeat(40));
const onTarget = release.dir;
const config = planConfigFixture();
const at = new Date('2026-11-27T00:00:00Z');

function build(
  differ: Partial<Record<FixtureHost, Partial<ObservedHost>>> = {},
  extra: { forced?: Plan['forced']; config?: Config; hold?: boolean } = {},
): Plan {
  const observed = observedFixture({ release: onTarget, differ });
  return buildBlueGreenPlan({
    config: extra.config ?? config,
    observed,
    release,
    createdBy: 'ada',
    now: at,
    ...(extra.forced ? { forced: extra.forced } : {}),
    ...(extra.hold ? { hold: true } : {}),
  });
}

const ids = (steps: readonly Step[]) => steps.map((s) => s.id);

describe('a push of the release every host already runs and serves', () => {
  it('has no step at all: nothing locked, drained, staged or restarted, and nothing to reverse', () => {
    const p = build();
    expect(p.forward).toEqual([]);
    expect(changesNothing(p)).toBe(true);
    expect(reverseSteps(p.forward)).toEqual([]);
    expect(clustersLeftAlone(p)).toEqual(['a', 'b']);
  });

  it('is still a sealed plan that re-derives from baton.yml, and survives its file', () => {
    const p = build();
    const { hash, ...rest } = p;
    expect(planHash(rest)).toBe(hash);
    expect(() => checkPlan(p, config)).not.toThrow();
    const file = join(mkdtempSync(join(tmpdir(), 'baton-noop-')), 'plan.json');
    writeFileSync(file, planFileText(p));
    expect(readPlanFile(file)).toEqual(p);
  });

  it('says "No changes" naming the clusters, the tag and its commit, for a person and for --json', () => {
    const p = build();
    expect(noChangesText(p)).toBe(
      'No changes: every host of clusters a and b runs v2 (commit ccccccc) and serves; nothing to do.',
    );
    expect(noChangesJson(p)).toMatchObject({
      changes: false,
      outcome: 'nothing-to-do',
      kind: 'push',
      tag: 'v2',
      commit: 'c'.repeat(40),
      release: onTarget,
      clusters: ['a', 'b'],
      productionChanged: false,
    });
    expect(planMarkdown(p)).toContain(
      '**No changes**: every host of clusters a and b runs v2 (commit ccccccc) and serves; nothing to do.',
    );
  });

  it.each([
    ['a member drained', { w2a: { memberState: 'drain' } }, 'a'],
    ['a member in maintenance', { w1b: { memberState: 'maint' } }, 'b'],
    ['a member failing its health checks', { w1a: { memberState: 'down' } }, 'a'],
    ['a host on another release', { w2b: { release: 'v1-aaaaaaa' } }, 'b'],
    ['a host with no release', { w1a: { release: null } }, 'a'],
    ['a host on the same tag at another commit (the tag moved)', { w1b: { release: 'v2-ddddddd' } }, 'b'],
  ] as const)('is not a no-op with %s: that cluster is pushed, the other left alone', (_what, differ, cluster) => {
    const p = build(differ as Partial<Record<FixtureHost, Partial<ObservedHost>>>);
    expect(changesNothing(p)).toBe(false);
    expect(p.forward.filter((s) => s.cluster).every((s) => s.cluster === cluster)).toBe(true);
    expect(clustersLeftAlone(p)).toEqual([cluster === 'a' ? 'b' : 'a']);
  });
});

describe('a partly-deployed fleet', () => {
  const partly = { w1b: { release: 'v1-aaaaaaa' }, w2b: { release: 'v1-aaaaaaa' } } as const;

  it('plans only the cluster that differs: the one already serving is never drained', () => {
    const p = build(partly);
    expect(ids(p.forward)).toEqual([
      'lock',
      'drain-b',
      'stage',
      'wait-drain-b',
      'activate-b',
      'smoke-b',
      'ready-b',
      'unlock',
    ]);
    expect(p.forward.find((s) => s.id === 'stage')?.hosts).toEqual(['w1b', 'w2b']);
    expect(ids(reverseSteps(p.forward))).toEqual([
      'undo-ready-b',
      'undo-ready-wait-b',
      'undo-activate-b',
      'undo-stage',
      'undo-drain-b',
      'undo-lock',
    ]);
    expect(planText(p)).toContain(
      `Left alone: cluster a already runs ${onTarget} on every host and serves (not drained, not restarted)`,
    );
  });

  it('follows --first for the clusters it pushes, and leaves the serving one out whichever goes first', () => {
    const p = buildBlueGreenPlan({
      config,
      observed: observedFixture({ release: onTarget, differ: { w1a: { release: 'v1-aaaaaaa' } } }),
      release,
      createdBy: 'ada',
      now: at,
      first: 'b',
    });
    expect(ids(p.forward)).toEqual([
      'lock',
      'drain-a',
      'stage',
      'wait-drain-a',
      'activate-a',
      'smoke-a',
      'ready-a',
      'unlock',
    ]);
  });

  it(
    'restarts every host of a cluster it drains, also one already on the release, ' +
      'but stages only where it is missing',
    () => {
      const p = build({ w2b: { release: 'v1-aaaaaaa' } });
      expect(p.forward.find((s) => s.id === 'activate-b')?.hosts).toEqual(['w1b', 'w2b']);
      expect(p.forward.find((s) => s.id === 'stage')?.hosts).toEqual(['w2b']);
      expect(p.forward.find((s) => s.id === 'stage')?.undo[0]?.hosts).toEqual(['w2b']);
    },
  );

  it('re-derives, and rehearses on the cluster it pushes', () => {
    const p = build(partly);
    expect(() => checkPlan(p, config)).not.toThrow();
    const { cluster, forward } = idleSideSteps(p);
    expect(cluster).toBe('b');
    expect(ids(forward)).toEqual(['lock', 'drain-b', 'stage', 'wait-drain-b', 'activate-b', 'smoke-b']);
  });

  it('on nginx needs no flip: there is no second cluster to drain in the same change', () => {
    const nginx = planConfigFixture({ balancer: { host: 'lb', backend: 'web', driver: 'nginx' } });
    const p = buildBlueGreenPlan({
      config: nginx,
      observed: {
        ...observedFixture({ release: onTarget, differ: partly }),
        balancer: { driver: 'nginx', host: 'lb', backend: 'web' },
      },
      release,
      createdBy: 'ada',
      now: at,
    });
    expect(p.forward.some((s) => s.kind === 'flip')).toBe(false);
    expect(p.forward.filter((s) => s.kind === 'drain').map((s) => s.cluster)).toEqual(['b']);
  });

  it('refuses (exit 3) a plan that drains the cluster baton.yml leaves alone, naming the step', () => {
    const full = build({}, { forced: { reason: 'r', by: 'ada' } });
    const { forced: _forced, hash: _hash, format: _format, observedDigest: _digest, ...parts } = full;
    const unforced = sealPlan(parts);
    expect(() => checkPlan(unforced, config)).toThrow(PlanRefusedError);
    expect(() => checkPlan(unforced, config)).toThrow(
      /step "drain-a" \(drain\) is in the plan; baton.yml makes no such step/,
    );
  });
});

describe('--force REASON', () => {
  const forced = { reason: 'restart for the new TLS bundle', by: 'ada' };

  it('plans every cluster although each already serves the release, restarting without staging again', () => {
    const p = build({}, { forced });
    expect(ids(p.forward)).toEqual([
      'lock',
      'drain-a',
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
    expect(p.forced).toEqual(forced);
    expect(planText(p)).toContain('Forced by ada: restart for the new TLS bundle');
    expect(planMarkdown(p)).toContain('**Forced** by ada: restart for the new TLS bundle');
  });

  it('is covered by the hash, kept in the plan file, and re-derives', () => {
    const p = build({}, { forced });
    const { hash, ...rest } = p;
    expect(planHash({ ...rest, forced: { ...forced, reason: 'other' } })).not.toBe(hash);
    expect(() => checkPlan(p, config)).not.toThrow();
    const file = join(mkdtempSync(join(tmpdir(), 'baton-noop-')), 'plan.json');
    writeFileSync(file, planFileText(p));
    expect(readPlanFile(file).forced).toEqual(forced);
  });

  it('refuses a plan file whose force record names no reason', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'baton-noop-')), 'plan.json');
    writeFileSync(file, planFileText({ ...build({}, { forced }), forced: { by: 'ada' } as unknown as Plan['forced'] }));
    expect(() => readPlanFile(file)).toThrow(/a forced push without a reason and who gave it/);
  });
});

it('clustersServing asks for every host on the release directory and ready', () => {
  expect(clustersServing(observedFixture({ release: onTarget }), release)).toEqual(['a', 'b']);
  expect(
    clustersServing(observedFixture({ release: onTarget, differ: { w2a: { memberState: 'down' } } }), release),
  ).toEqual(['b']);
  expect(clustersServing(observedFixture(), release)).toEqual([]);
});

// --- push and apply against fakes: the balancer in memory, hosts that answer what they run ---

type Host = 'w1a' | 'w2a' | 'w1b' | 'w2b';

describe('push and apply of a release already running', () => {
  let current: Record<Host, string>;
  let states: Record<string, MemberState>;
  let transports: RecordingTransports;
  let balancer: ReturnType<typeof fakeBalancer>;
  let session: Session;
  let v2: string;
  /** Switching this host fails (its restart exits 1). */
  let failSwitchOn: string | undefined;
  const switchScript = switchAndRestart(appPaths('/srv/shop'), 'x', 'true')[2];
  /** The hosts whose process was restarted (switched), in order. */
  const restarted = () =>
    transports.calls.flatMap((c) => (c.kind === 'run' && c.argv[2] === switchScript ? [c.host] : []));

  beforeEach(() => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-noop-push-'));
    const repo = join(dir, 'repo');
    const git = (...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=T', '-c', 'user.email=t@example.com', '-C', repo, ...args], {
        encoding: 'utf8',
      }).trim();
    execFileSync('git', ['init', '-q', repo]);
    writeFileSync(join(repo, 'app.txt'), 'v2\n');
    git('add', '.');
    git('commit', '-q', '-m', 'v2');
    git('tag', 'v2');
    v2 = releaseFor('v2', git('rev-parse', 'HEAD')).dir;
    const parsed = parseConfig(
      `app: { name: shop, repo: ./repo, path: /srv/shop, restart: 'true', keep: 3 }
balancer: { driver: haproxy, host: lb.test, backend: web }
clusters:
  a: { internal: prod-a.test, hosts: [{ host: w1a, member: web1a }, { host: w2a, member: web2a }] }
  b: { internal: prod-b.test, hosts: [{ host: w1b, member: web1b }, { host: w2b, member: web2b }] }
`,
      join(dir, 'baton.yml'),
    );
    const cfg = parsed.config as Config;
    current = { w1a: v2, w2a: v2, w1b: v2, w2b: v2 };
    failSwitchOn = undefined;
    states = { web1a: 'ready', web2a: 'ready', web1b: 'ready', web2b: 'ready' };
    const readScript = readCurrent(appPaths(cfg.app.path))[2];
    transports = new RecordingTransports({
      responses: [
        {
          match: (argv) => argv[2] === switchScript,
          answer: (argv, host) => {
            if (host === failSwitchOn && argv[5] === v2) return { code: 1, stderr: 'restart failed' };
            current[host as Host] = argv[5] as string;
            return {};
          },
        },
        {
          match: (argv) => argv[2] === readScript,
          answer: (_argv, host) => ({ stdout: `${current[host as Host]}\n` }),
        },
        recordHost(),
      ],
    });
    balancer = fakeBalancer(states);
    session = {
      config: cfg,
      transports,
      balancer,
      lock: new ReleaseLock(transports.get('lb.test'), cfg.lock.path, cfg.lock.lease),
      secrets: new Secrets(),
      addressOf: async () => ['10.0.0.9'],
      close: async () => undefined,
    };
  });

  it('plans nothing: no lock taken, nothing drained or restarted, no archive left to upload', async () => {
    const acquire = vi.spyOn(session.lock, 'acquire');
    const made = await planPush(session, 'v2', { by: 'ada', prepareArtifact: true });
    expect(changesNothing(made.plan)).toBe(true);
    expect(made.artifact).toBeUndefined();
    expect(acquire).not.toHaveBeenCalled();
    expect(balancer.log).toEqual([]);
    expect(restarted()).toEqual([]);
  });

  it(
    'is not refused by preflight, since nothing runs, ' + 'but says what a push that changes something would meet',
    async () => {
      balancer.configTest = async () => {
        throw new Error('[ALERT] haproxy.cfg:12: unknown keyword');
      };
      const { plan } = await planPush(session, 'v2', { by: 'ada' });
      expect(changesNothing(plan)).toBe(true);
      expect(noChangesText(plan)).toMatch(
        new RegExp(
          /\nPreflight would refuse a push that changes something: the haproxy configuration on lb\.test /.source +
            /does not validate/.source,
        ),
      );
    },
  );

  it('still fails on a tag that cannot be resolved', async () => {
    await expect(planPush(session, 'v9', { by: 'ada' })).rejects.toThrow(/v9/);
  });

  it('with --force pushes every cluster, restarting every host, and journals who forced it and why', async () => {
    const { plan, observation } = await planPush(session, 'v2', { by: 'ada', force: 'restart for the new TLS bundle' });
    expect(plan.forced).toEqual({ reason: 'restart for the new TLS bundle', by: 'ada' });
    const result = await applyPlan(session, plan, { reporter: new SilentReporter(), by: 'ada', fresh: observation });
    expect(result.outcome).toBe('succeeded');
    expect(balancer.log).toEqual(['drain web1a,web2a', 'ready web1a,web2a', 'drain web1b,web2b', 'ready web1b,web2b']);
    expect(restarted().sort()).toEqual(['w1a', 'w1b', 'w2a', 'w2b']);
    const notes = readJournal(result.journal).filter((e) => e.event === 'note') as { message: string }[];
    expect(notes.map((n) => n.message)).toContainEqual(
      'pushed whole by force (ada): restart for the new TLS bundle; ' +
        `a cluster already running and serving ${v2} was not left alone`,
    );
  });

  it(
    'pushes only the cluster that differs when the fleet is partly deployed; ' +
      'cluster a is never drained or restarted',
    async () => {
      current.w1b = 'v1-1111111';
      current.w2b = 'v1-1111111';
      const { plan, observation } = await planPush(session, 'v2', { by: 'ada' });
      const result = await applyPlan(session, plan, { reporter: new SilentReporter(), by: 'ada', fresh: observation });
      expect(result.outcome).toBe('succeeded');
      expect(balancer.log).toEqual(['drain web1b,web2b', 'ready web1b,web2b']);
      expect(restarted().sort()).toEqual(['w1b', 'w2b']);
      expect(Object.values(current)).toEqual(Array(4).fill(v2));
    },
  );

  it(
    'runs a partly-deployed push to its end under --hold: there is no other cluster left on the old release to ' +
      'hold back',
    async () => {
      current.w1a = 'v1-1111111';
      current.w2a = 'v1-1111111';
      const { plan, observation } = await planPush(session, 'v2', { by: 'ada', hold: true });
      const result = await applyPlan(session, plan, {
        reporter: new SilentReporter(),
        by: 'ada',
        fresh: observation,
        hold: true,
      });
      expect(result.outcome).toBe('succeeded');
      expect(result.completed.at(-1)).toBe('unlock');
    },
  );

  it('reverses only what it did when the cluster it pushes fails: the cluster left alone stays untouched', async () => {
    current.w1b = 'v1-1111111';
    current.w2b = 'v1-1111111';
    failSwitchOn = 'w2b';
    const { plan, observation } = await planPush(session, 'v2', { by: 'ada' });
    const result = await applyPlan(session, plan, { reporter: new SilentReporter(), by: 'ada', fresh: observation });
    expect(result.outcome).toBe('reversed');
    expect(result.failedStep).toBe('activate-b');
    expect(balancer.log).toEqual(['drain web1b,web2b', 'ready web1b,web2b']);
    expect(restarted().filter((h) => h.endsWith('a'))).toEqual([]);
    expect(current).toEqual({ w1a: v2, w2a: v2, w1b: 'v1-1111111', w2b: 'v1-1111111' });
  });

  it('applies a "No changes" plan file by checking production is still as planned, then running nothing', async () => {
    const { plan } = await planPush(session, 'v2', { by: 'ada' });
    const acquire = vi.spyOn(session.lock, 'acquire');
    await expect(checkNothingToDo(session, plan)).resolves.toBeUndefined();
    expect(acquire).not.toHaveBeenCalled();
    expect(balancer.log).toEqual([]);
  });

  it('refuses (exit 3) a "No changes" plan file once production has changed since', async () => {
    const { plan } = await planPush(session, 'v2', { by: 'ada' });
    current.w2a = 'v1-1111111';
    const err = await checkNothingToDo(session, plan).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlanRefusedError);
    expect((err as PlanRefusedError).exitCode).toBe(3);
    expect((err as Error).message).toContain(`w2a: ran ${v2}, runs v1-1111111 now`);
  });
});
