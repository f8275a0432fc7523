// The expand, gate and contract steps carried out against recording transports and a local HTTP
// server standing in for both clusters: what runs where, what a failing gate reverses, and the
// contract's re-check of the hosts right before it runs.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBlueGreenPlan } from '../../plans/blue-green.js';
import { buildContractPlan } from '../../plans/contract.js';
import type { Config } from '../../src/config/config.js';
import { parseConfig } from '../../src/config/load.js';
import { Secrets } from '../../src/config/secrets.js';
import { summarizeConfig } from '../../src/config/summary.js';
import { execute } from '../../src/engine/executor.js';
import { Journal } from '../../src/engine/journal.js';
import { SilentReporter } from '../../src/engine/reporter.js';
import { OperationFailedError } from '../../src/errors.js';
import type { ObservedState, Step, StepKind, StepOf } from '../../src/model/plan.js';
import { releaseFor } from '../../src/model/release.js';
import type { StepEnv } from '../../src/steps/env.js';
import { runContract, runExpand, runGate, runReverseExpand } from '../../src/steps/migrate.js';
import { stepKind } from '../../src/steps/registry.js';
import { RecordingTransports } from '../../src/transport/recording.js';

let server: Server;
let port = 0;
const seen: string[] = [];
// The old release on the expanded schema: /healthz works, /orders reads a column the expand dropped.
beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(`${req.headers.host} ${req.url}`);
    res
      .writeHead(req.url === '/orders' ? 500 : 200)
      .end(req.url === '/orders' ? 'column orders.total does not exist' : 'ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const dir = mkdtempSync(join(tmpdir(), 'baton-migrate-steps-'));
function config(migrate: string): Config {
  const yml = `app: {name: shop, repo: /srv/git/shop, path: /srv/shop, restart: systemctl restart shop}
balancer: {driver: haproxy, host: lb1.example.com, backend: web}
clusters:
  a: {internal: 'prod-a.internal:${port}', hosts: [web-1.prod-a, web-2.prod-a]}
  b: {internal: 'prod-b.internal:${port}', hosts: [web-1.prod-b]}
resolve: {prod-a.internal: 127.0.0.1, prod-b.internal: 127.0.0.1}
smoke:
  checks: [{path: /healthz}]
  deadline: 300ms
migrate:
${migrate}`;
  const file = join(dir, 'baton.yml');
  writeFileSync(file, yml);
  const { config: c, issues } = parseConfig(yml, file);
  expect(issues).toEqual([]);
  return c as Config;
}
const MIGRATE = `  expand: ./manage.py migrate
  reverse: ./manage.py migrate shop 0041
  contract: ./manage.py migrate shop 0043_drop_total
  timeout: 90s
`;

function env(c: Config, transports = new RecordingTransports()): StepEnv & { transports: RecordingTransports } {
  const endpoints = Object.fromEntries(
    ['web-1.prod-a', 'web-2.prod-a', 'web-1.prod-b'].map((h) => [h, { address: '127.0.0.1', port }]),
  );
  return { config: c, secrets: new Secrets(), transports, endpoints } as unknown as StepEnv & {
    transports: RecordingTransports;
  };
}

const release = releaseFor('v7', 'abc1234def');
const observed = (run: string | null = 'v6-aaaaaaa'): ObservedState => ({
  observedAt: '2026-11-27T00:00:00Z',
  balancer: { driver: 'haproxy', host: 'lb1.example.com', backend: 'web' },
  hosts: [
    { host: 'web-1.prod-a', cluster: 'a', member: 'a1', address: '10.0.0.11', memberState: 'ready', release: run },
    { host: 'web-2.prod-a', cluster: 'a', member: 'a2', address: '10.0.0.12', memberState: 'ready', release: run },
    { host: 'web-1.prod-b', cluster: 'b', member: 'b1', address: '10.0.0.21', memberState: 'ready', release: run },
  ],
});
const pushPlan = (c: Config) =>
  buildBlueGreenPlan({
    config: c,
    observed: observed(),
    release,
    createdBy: 'ada',
    now: new Date('2026-11-27T00:00:00Z'),
  });
/** The plan's one step of a kind (its id is the kind's name in these plans). */
const stepOf = <K extends StepKind>(steps: Step[], kind: K) =>
  steps.find((s) => s.kind === kind && s.id === kind) as StepOf<K>;
const progress = () => undefined;

describe('migrate in baton.yml', () => {
  it('defaults to the first host of cluster a, the smoke checks as the gate, and 5 minutes', () => {
    const c = config('  expand: ./manage.py migrate\n');
    expect(c.migrate).toEqual({
      host: 'web-1.prod-a',
      expand: './manage.py migrate',
      timeout: 300_000,
      gate: c.smoke.checks,
      gateDeadline: 2000,
    });
  });

  it('is named in the one-line summary of baton.yml', () => {
    expect(summarizeConfig(config(MIGRATE))).toBe(
      'app shop, 2+1 hosts, balancer haproxy on lb1.example.com (backend web), 1 smoke check, ' +
        'schema migrations on web-1.prod-a (reversible, with contract)',
    );
    expect(summarizeConfig(config('  expand: ./manage.py migrate\n'))).toMatch(
      /schema migrations on web-1\.prod-a \(no reverse\)$/,
    );
  });

  it('takes a host of either cluster and a gate of its own', () => {
    const c = config('  host: web-1.prod-b\n  expand: ./manage.py migrate\n  gate: [{path: /orders, contains: ok}]\n');
    expect(c.migrate?.host).toBe('web-1.prod-b');
    expect(config('  host: WEB-2.prod-a\n  expand: ./manage.py migrate\n').migrate?.host).toBe('web-2.prod-a');
    expect(c.migrate?.gate).toEqual([{ path: '/orders', contains: 'ok', method: 'GET', status: 200 }]);
  });
});

describe('the expand step', () => {
  it('runs migrate.expand in the new release on the migrate host only, within migrate.timeout', async () => {
    const c = config(MIGRATE);
    const e = env(c);
    const expand = stepOf(pushPlan(c).forward, 'expand');
    expect(await runExpand(expand, e, progress)).toEqual({
      expanded: 'v7-abc1234',
      host: 'web-1.prod-a',
      ledger: '/srv/shop/migrations/expanded',
    });
    expect(e.transports.calls).toHaveLength(1);
    const call = e.transports.calls[0] as unknown as { host: string; argv: string[]; opts: { timeoutMs?: number } };
    expect(call.host).toBe('web-1.prod-a');
    expect(call.argv.slice(3)).toEqual(['sh', '/srv/shop', 'v7-abc1234', './manage.py migrate']);
    expect(call.opts.timeoutMs).toBe(90_000);
  });

  it('is undone by migrate.reverse in the same release directory', async () => {
    const c = config(MIGRATE);
    const e = env(c);
    const undo = stepOf(pushPlan(c).forward, 'expand').undo[0] as StepOf<'reverse-expand'>;
    expect(await runReverseExpand(undo, e, progress)).toEqual({ reversed: 'v7-abc1234', host: 'web-1.prod-a' });
    expect(e.transports.runsOn('web-1.prod-a')[0]?.slice(3)).toEqual([
      'sh',
      '/srv/shop',
      'v7-abc1234',
      './manage.py migrate shop 0041',
    ]);
  });

  it('changes production and is undone even when it fails part-way', () => {
    expect(stepKind('expand')).toMatchObject({ changesProduction: true, undoWhenFailed: true });
    expect(stepKind('gate')).toMatchObject({ changesProduction: false, undoWhenFailed: false });
    expect(stepKind('contract')).toMatchObject({ changesProduction: true, undoWhenFailed: false });
  });
});

describe('the gate step', () => {
  it("checks the release still serving through each cluster's internal name and against each host", async () => {
    const c = config(MIGRATE);
    seen.length = 0;
    expect(await runGate(stepOf(pushPlan(c).forward, 'gate'), env(c))).toEqual({ passed: 5 });
    expect(seen.sort()).toEqual([
      `127.0.0.1:${port} /healthz`,
      `127.0.0.1:${port} /healthz`,
      `127.0.0.1:${port} /healthz`,
      `prod-a.internal:${port} /healthz`,
      `prod-b.internal:${port} /healthz`,
    ]);
  });

  it('fails naming what the old release could not do on the expanded schema', async () => {
    const c = config(`${MIGRATE}  gate: [{path: /healthz}, {path: /orders}]\n`);
    const err = await runGate(stepOf(pushPlan(c).forward, 'gate'), env(c)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationFailedError);
    expect((err as Error).message).toMatch(/^the release still serving fails its checks on the expanded schema:/);
    expect((err as Error).message).toContain(`GET /orders on prod-b.internal:${port}`);
  });

  it(
    'failing, reverses the push: the expand undone, ' + 'the staging removed, the lock released, nothing drained',
    async () => {
      const c = config(`${MIGRATE}  gate: [{path: /orders}]\n`);
      const e = env(c);
      const ran: string[] = [];
      const result = await execute({
        steps: pushPlan(c).forward,
        run: async (s) => {
          ran.push(s.id);
          // The lock and the staging are other tests' business; the migration steps run for real.
          if (['expand', 'gate', 'undo-expand'].includes(s.id))
            return stepKind((s as Step).kind).run(s as Step, { ...e, wayBack: {} }, progress);
          return undefined;
        },
        journal: new Journal(mkdtempSync(join(tmpdir(), 'baton-journal-')), 'run-1'),
        reporter: new SilentReporter(),
      });
      expect(result.outcome).toBe('reversed');
      expect(result.failedStep).toBe('gate');
      expect(ran).toEqual(['lock', 'stage', 'expand', 'gate', 'undo-expand', 'undo-stage', 'undo-lock']);
      expect(e.transports.runsOn('web-1.prod-a').map((argv) => argv.at(-1))).toEqual([
        './manage.py migrate',
        './manage.py migrate shop 0041',
      ]);
    },
  );
});

describe('the contract step', () => {
  const onNew = observed('v7-abc1234');
  function hosts(current: Record<string, string>, ledger: string) {
    return new RecordingTransports({
      responses: [
        {
          match: (argv) => (argv[2] ?? '').includes('readlink "$1"'),
          answer: (_argv, host) => ({ stdout: `${current[host] ?? ''}\n` }),
        },
        { match: (argv) => (argv[2] ?? '').startsWith('cat "$1"'), answer: { stdout: ledger ? `${ledger}\n` : '' } },
      ],
    });
  }
  const every = (dir: string) => ({ 'web-1.prod-a': dir, 'web-2.prod-a': dir, 'web-1.prod-b': dir });

  it('checks every host again, then runs migrate.contract in the release they run', async () => {
    const c = config(MIGRATE);
    const step = stepOf(
      buildContractPlan({ config: c, observed: onNew, ledger: 'v7-abc1234', createdBy: 'ada' }).forward,
      'contract',
    );
    const e = env(c, hosts(every('v7-abc1234'), 'v7-abc1234'));
    expect(await runContract(step, e, progress)).toEqual({ contracted: 'v7-abc1234', host: 'web-1.prod-a' });
    const last = e.transports.runsOn('web-1.prod-a').at(-1) as string[];
    expect(last.slice(3)).toEqual(['sh', '/srv/shop', 'v7-abc1234', './manage.py migrate shop 0043_drop_total']);
  });

  it('refuses, running nothing, when a host went back to an older release since the plan was made', async () => {
    const c = config(MIGRATE);
    const step = stepOf(
      buildContractPlan({ config: c, observed: onNew, ledger: 'v7-abc1234', createdBy: 'ada' }).forward,
      'contract',
    );
    const e = env(c, hosts({ ...every('v7-abc1234'), 'web-1.prod-b': 'v6-aaaaaaa' }, 'v7-abc1234'));
    const err = await runContract(step, e, progress).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(OperationFailedError);
    expect((err as OperationFailedError).exitCode).toBe(1);
    expect((err as Error).message).toContain('web-1.prod-b runs v6-aaaaaaa');
    expect(
      e.transports.calls.some(
        (call) => call.kind === 'run' && call.argv.at(-1) === './manage.py migrate shop 0043_drop_total',
      ),
    ).toBe(false);
  });

  it('refuses when the ledger names another release than the plan', async () => {
    const c = config(MIGRATE);
    const step = stepOf(
      buildContractPlan({ config: c, observed: onNew, ledger: 'v7-abc1234', createdBy: 'ada' }).forward,
      'contract',
    );
    const e = env(c, hosts(every('v8-bbbbbbb'), 'v8-bbbbbbb'));
    await expect(runContract(step, e, progress)).rejects.toThrow(/the ledger now names v8-bbbbbbb, not v7-abc1234/);
  });
});
