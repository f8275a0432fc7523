import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { MemberState } from '../../src/balancers/types.js';
import { fakeBalancer } from '../helpers/memory-balancer.js';
import type { Config } from '../../src/config/config.js';
import { parseConfig } from '../../src/config/load.js';
import { Secrets } from '../../src/config/secrets.js';
import { readJournal } from '../../src/engine/journal.js';
import { ReleaseLock } from '../../src/engine/lock.js';
import { SilentReporter } from '../../src/engine/reporter.js';
import type { Session } from '../../src/engine/session.js';
import { PlanRefusedError, PreflightRefusedError } from '../../src/errors.js';
import { planHash, type Plan } from '../../src/model/plan.js';
import { planFileText, readPlanFile } from '../../src/model/plan-file.js';
import { checkPlan } from '../../src/release/rederive.js';
import { planMarkdown } from '../../src/render/plan-markdown.js';
import { planText } from '../../src/render/plan.js';
import { approvePlan, signAsAuthor } from '../../src/release/approve.js';
import { applyPlan, planPush } from '../../src/release/push.js';
import {
  idleSideSteps,
  rehearseAgainst,
  rehearseOnIdleSide,
  signRehearsal,
  wholePushSteps,
} from '../../src/release/rehearse.js';
import { type Signer, sshSigner } from '../../src/release/review-signatures.js';
import { appPaths, readCurrent, switchAndRestart } from '../../src/model/host-commands.js';
import { RecordingTransports } from '../../src/transport/recording.js';
import { recordHost } from '../helpers/record-host.js';
import { makeSigningKeys, type SigningKeys } from '../fixtures/signing-keys.js';

type Host = 'w1a' | 'w2a' | 'w1b' | 'w2b';

let dir: string;
let config: Config;
let current: Record<Host, string>;
let states: Record<string, MemberState>;
let transports: RecordingTransports;
let balancer: ReturnType<typeof fakeBalancer>;
let session: Session;
/** Switching to this release fails (a broken release). */
let failSwitchTo: string | undefined;
/** Switching this host to this release succeeds and changes nothing. */
let ignoreSwitchOn: { host: string; dir: string } | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'baton-rehearse-'));
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
  const parsed = parseConfig(
    `app: { name: shop, repo: ./repo, path: /srv/shop, restart: 'true', keep: 3 }
balancer: { driver: haproxy, host: lb.test, backend: web }
clusters:
  a: { internal: prod-a.test, hosts: [{ host: w1a, member: web1a }, { host: w2a, member: web2a }] }
  b: { internal: prod-b.test, hosts: [{ host: w1b, member: web1b }, { host: w2b, member: web2b }] }
`,
    join(dir, 'baton.yml'),
  );
  config = parsed.config as Config;
  current = { w1a: 'v1-1111111', w2a: 'v1-1111111', w1b: 'v1-1111111', w2b: 'v1-1111111' };
  states = { web1a: 'ready', web2a: 'ready', web1b: 'ready', web2b: 'ready' };
  failSwitchTo = undefined;
  ignoreSwitchOn = undefined;
  const paths = appPaths(config.app.path);
  const switchScript = switchAndRestart(paths, 'x', 'true')[2];
  const readScript = readCurrent(paths)[2];
  transports = new RecordingTransports({
    responses: [
      {
        match: (argv) => argv[2] === switchScript,
        answer: (argv, host) => {
          if (argv[5] === failSwitchTo) return { code: 1, stderr: 'restart failed' };
          if (ignoreSwitchOn?.host === host && ignoreSwitchOn.dir === argv[5]) return {};
          current[host as Host] = argv[5] as string;
          return {};
        },
      },
      { match: (argv) => argv[2] === readScript, answer: (_argv, host) => ({ stdout: `${current[host as Host]}\n` }) },
      recordHost(),
    ],
  });
  balancer = fakeBalancer(states);
  session = {
    config,
    transports,
    balancer,
    lock: new ReleaseLock(transports.get('lb.test'), config.lock.path, config.lock.lease),
    secrets: new Secrets(),
    addressOf: async () => ['10.0.0.9'], // every name resolves: the fake fleet's internal hostnames too
    close: async () => undefined,
  };
});

async function plan(): Promise<Plan> {
  return (await planPush(session, 'v2', { by: 'ada' })).plan;
}

describe('which steps a rehearsal runs', () => {
  it(
    'on production: the first cluster up to its smoke check, staged on its hosts only, ' +
      'never returned to the pool on the new release',
    async () => {
      const p = await plan();
      const { cluster, forward, reverse } = idleSideSteps(p);
      expect(cluster).toBe('a');
      expect(forward.map((s) => s.id)).toEqual(['lock', 'drain-a', 'stage', 'wait-drain-a', 'activate-a', 'smoke-a']);
      expect(forward.find((s) => s.id === 'stage')?.hosts).toEqual(['w1a', 'w2a']);
      expect(reverse.map((s) => s.id)).toEqual(['undo-activate-a', 'undo-stage', 'undo-drain-a', 'undo-lock']);
      expect(reverse.find((s) => s.id === 'undo-stage')?.hosts).toEqual(['w1a', 'w2a']);
      // The plan's own steps, not copies with other logic: same ids, kinds, titles.
      const activate = p.forward.find((s) => s.id === 'activate-a');
      expect(forward.find((s) => s.id === 'activate-a')).toBe(activate);
    },
  );

  it('against staging: the whole push but its final unlock, reversed whole, the lock released last', async () => {
    const { forward, reverse } = wholePushSteps(await plan());
    expect(forward.at(-1)?.id).toBe('ready-b');
    expect(reverse[0]?.id).toBe('undo-ready-b');
    expect(reverse.at(-1)?.id).toBe('undo-lock');
  });
});

describe('rehearsing on the idle side', () => {
  it(
    'passes when forward reaches the new release and reverse restores the planned state; ' +
      'cluster b is never touched',
    async () => {
      const p = await plan();
      // What planning read (preflight's probes on every host) is not the rehearsal's doing.
      transports.calls.length = 0;
      const r = await rehearseOnIdleSide(session, p, { reporter: new SilentReporter(), by: 'ada' });
      expect(r.rehearsal).toMatchObject({
        by: 'ada',
        hash: p.hash,
        outcome: 'passed',
        against: 'cluster a of production, out of the pool',
      });
      expect(r.needsAttention).toBe(false);
      expect(r.plan.rehearsals).toEqual([r.rehearsal]);
      expect(r.plan.hash).toBe(p.hash);
      expect(current).toEqual({ w1a: 'v1-1111111', w2a: 'v1-1111111', w1b: 'v1-1111111', w2b: 'v1-1111111' });
      expect(balancer.log).toEqual(['drain web1a,web2a', 'ready web1a,web2a']);
      const touchedB = transports.calls.filter(
        (c) => c.host.endsWith('b') && c.kind === 'run' && c.argv[2] !== readCurrent(appPaths('/srv/shop'))[2],
      );
      expect(touchedB).toEqual([]);
      // It did switch cluster a to the new release in between.
      const switches = transports
        .runsOn('w1a')
        .filter((a) => a[2] === switchAndRestart(appPaths('/srv/shop'), 'x', 'true')[2])
        .map((a) => a[5]);
      expect(switches).toEqual([p.release.dir, 'v1-1111111']);
      const events = readJournal(r.journal);
      expect(events[0]).toMatchObject({ event: 'run-begin', command: 'rehearse', plan: p.hash });
      expect(events.at(-1)).toMatchObject({ event: 'run-end', outcome: 'succeeded' });
    },
  );

  it('fails, undoing what ran, when the new release does not come up; production ends where it started', async () => {
    const p = await plan();
    failSwitchTo = p.release.dir;
    const r = await rehearseOnIdleSide(session, p, { reporter: new SilentReporter(), by: 'ada' });
    expect(r.rehearsal.outcome).toBe('failed');
    expect(r.rehearsal.detail).toMatch(/forward failed at activate-a/);
    expect(r.needsAttention).toBe(false);
    expect(Object.values(states)).toEqual(['ready', 'ready', 'ready', 'ready']);
    expect(current.w1a).toBe('v1-1111111');
  });

  it('says so when the reverse does not bring production back to the planned state', async () => {
    const p = await plan();
    ignoreSwitchOn = { host: 'w2a', dir: 'v1-1111111' }; // the switch back "succeeds" and changes nothing
    const r = await rehearseOnIdleSide(session, p, { reporter: new SilentReporter(), by: 'ada' });
    expect(r.rehearsal.outcome).toBe('failed');
    expect(r.rehearsal.detail).toBe(`after reverse: w2a: ran v1-1111111, runs ${p.release.dir} now`);
    expect(r.needsAttention).toBe(true);
    expect(readJournal(r.journal).at(-1)).toMatchObject({ event: 'run-end', outcome: 'needs-attention' });
  });

  it('refuses a plan made from a state that has since changed, before touching anything', async () => {
    const p = await plan();
    states.web1b = 'maint';
    const before = transports.calls.length;
    await expect(rehearseOnIdleSide(session, p, { reporter: new SilentReporter() })).rejects.toThrow(PlanRefusedError);
    expect(
      transports.calls
        .slice(before)
        .every((c) => c.kind === 'run' && c.argv[2] === readCurrent(appPaths('/srv/shop'))[2]),
    ).toBe(true);
    expect(balancer.log).toEqual([]);
  });

  it('refuses an altered plan', async () => {
    const p = await plan();
    p.forward[1]!.members = ['web1b'];
    await expect(rehearseOnIdleSide(session, p, { reporter: new SilentReporter() })).rejects.toThrow(/altered/);
  });
});

describe('rehearsing against staging', () => {
  it('pushes the whole plan there and reverses it whole', async () => {
    const p = await plan();
    const r = await rehearseAgainst(session, p, {
      reporter: new SilentReporter(),
      by: 'ada',
      against: 'staging/baton.yml',
    });
    expect(r.rehearsal).toMatchObject({ outcome: 'passed', against: 'staging/baton.yml', hash: p.hash });
    expect(balancer.log).toEqual([
      'drain web1a,web2a',
      'ready web1a,web2a',
      'drain web1b,web2b',
      'ready web1b,web2b',
      'drain web1b,web2b',
      'ready web1b,web2b',
      'drain web1a,web2a',
      'ready web1a,web2a',
    ]);
    expect(Object.values(current)).toEqual(['v1-1111111', 'v1-1111111', 'v1-1111111', 'v1-1111111']);
  });
});

describe('apply and what baton.yml requires', () => {
  let keys: SigningKeys;
  let ada: Signer;
  beforeAll(() => {
    keys = makeSigningKeys(['ada', 'bob']);
    ada = sshSigner(keys.key.ada!);
  });
  beforeEach(() => {
    config.require = {
      rehearsal: true,
      approvals: 1,
      authorApprovalCounts: false,
      allowedSigners: keys.allowedSigners,
    };
  });

  it('refuses an unrehearsed, unapproved plan (exit 3) before anything changes', async () => {
    const p = await signAsAuthor(await plan(), ada);
    const err = await applyPlan(session, p, { reporter: new SilentReporter() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlanRefusedError);
    expect((err as PlanRefusedError).details).toHaveLength(2);
    expect(balancer.log).toEqual([]);
  });

  it("applies the plan once rehearsed and approved, each signed, and not on its author's own approval", async () => {
    const p = await signAsAuthor(await plan(), ada);
    const unsigned = await rehearseOnIdleSide(session, p, { reporter: new SilentReporter(), by: 'ada' });
    const rehearsed = (await signRehearsal(unsigned, ada)).plan;
    expect(rehearsed.rehearsals).toEqual([
      {
        ...unsigned.rehearsal,
        signature: expect.stringContaining('SSH SIGNATURE'),
        key: expect.stringMatching(/^SHA256:/),
      },
    ]);
    const ownApproval = (await approvePlan(rehearsed, 'ada', ada)).plan;
    const refused = await applyPlan(session, ownApproval, { reporter: new SilentReporter(), by: 'ci' }).catch(
      (e: unknown) => e,
    );
    expect((refused as PlanRefusedError).details).toEqual([
      expect.stringMatching(/it has 0; ada@example.com made the plan/),
    ]);
    const approved = (await approvePlan(ownApproval, 'bob', sshSigner(keys.key.bob!))).plan;
    const result = await applyPlan(session, approved, { reporter: new SilentReporter(), by: 'ci' });
    expect(result.outcome).toBe('succeeded');
    expect(Object.values(current)).toEqual(Array(4).fill(p.release.dir));
  });

  it('applies with an override, and journals who overrode and why right after the run begins', async () => {
    const p = await plan();
    const result = await applyPlan(session, p, {
      reporter: new SilentReporter(),
      by: 'ada',
      overrideRequirements: 'incident 42',
    });
    expect(result.outcome).toBe('succeeded');
    const events = readJournal(result.journal);
    expect(events[0]?.event).toBe('run-begin');
    expect(events[1]).toMatchObject({ event: 'note' });
    expect((events[1] as { message: string }).message).toMatch(
      /^requirements overridden by ada: incident 42 \(unmet: /,
    );
  });
});

describe('preflight in the plan', () => {
  const refuseConfig = () => {
    balancer.configTest = async () => {
      throw new Error('[ALERT] haproxy.cfg:12: unknown keyword');
    };
  };

  it('records what preflight found in the plan, under its hash, and apply still accepts the plan', async () => {
    const p = await plan();
    expect(p.preflight?.findings.map((f) => f.check)).toContain('balancer-config');
    expect(p.preflight?.overridden).toBeUndefined();
    const { hash: _h, ...rest } = p;
    expect(planHash(rest)).toBe(p.hash);
    expect(planHash({ ...rest, preflight: { findings: [] } })).not.toBe(p.hash);
    expect(() => checkPlan(p, config)).not.toThrow();
    // Written and read back whole, and shown to the reviewer.
    const file = join(dir, 'plan.json');
    writeFileSync(file, planFileText(p));
    expect(readPlanFile(file)).toEqual(p);
    expect(planMarkdown(p)).toContain('## Preflight (when the plan was made)');
  });

  it('says what it is reading before it asks any host, and when it has read it', async () => {
    const lines: { line: string; callsSoFar: number }[] = [];
    transports.calls.length = 0;
    await planPush(session, 'v2', {
      by: 'ada',
      progress: (line) => lines.push({ line, callsSoFar: transports.calls.length }),
    });
    expect(lines[0]).toEqual({
      line: 'reading tag v2 and production: connecting to 5 hosts (lb.test and 4 app hosts); preflight',
      callsSoFar: 0,
    });
    expect(lines[1]?.line).toMatch(/^read in \d+\.\d s: planning$/);
    expect(lines).toHaveLength(2);
  });

  it('refuses to plan (exit 6) when preflight refuses, naming the refusal', async () => {
    refuseConfig();
    const err = await planPush(session, 'v2', { by: 'ada' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PreflightRefusedError);
    expect((err as PreflightRefusedError).exitCode).toBe(6);
    expect((err as Error).message).toContain(
      'the haproxy configuration on lb.test does not validate: [ALERT] haproxy.cfg:12: unknown keyword',
    );
  });

  it('plans anyway with --override-preflight, recording who and why, and the run journals it', async () => {
    refuseConfig();
    const p = (await planPush(session, 'v2', { by: 'ada', overridePreflight: 'config fixed by hand, reload pending' }))
      .plan;
    expect(p.preflight?.overridden).toEqual({ reason: 'config fixed by hand, reload pending', by: 'ada' });
    expect(planMarkdown(p)).toContain(
      '**Preflight refused (1 finding) and was overridden** by ada: config fixed by hand, reload pending',
    );
    expect(planText(p)).toMatch(
      /^Preflight:\n {2}REFUSED +balancer-config +the haproxy configuration on lb\.test does not validate/m,
    );
    expect(planText(p)).toContain('  overridden by ada: config fixed by hand, reload pending');
    const result = await applyPlan(session, p, { reporter: new SilentReporter(), by: 'ada' });
    const notes = readJournal(result.journal).filter((e) => e.event === 'note') as { message: string }[];
    expect(notes.map((n) => n.message)).toContainEqual(
      expect.stringMatching(
        new RegExp(
          /^preflight refused and was overridden by ada: config fixed by hand, reload pending \(refused: /.source +
            /the haproxy configuration/.source,
        ),
      ),
    );
  });

  it('refuses a plan file whose preflight record is not findings', () => {
    const file = join(dir, 'bad.json');
    const withBadFinding = {
      format: 'baton-plan/1',
      hash: 'x',
      release: { tag: 'v2', commit: 'a'.repeat(40), dir: 'v2-aaaaaaaaaaaa' },
      observed: { hosts: [] },
      forward: [],
      preflight: { findings: [{ check: 'disk' }] },
    };
    writeFileSync(file, JSON.stringify(withBadFinding));
    expect(() => readPlanFile(file)).toThrow(/preflight finding 0 is not a check, an outcome/);
  });
});
