// Environments against the real lab (issue 34): staging laid over production's baton.yml, on the
// same balancer host. Their release locks and run records are apart (a push to staging goes
// through while production's lock is held, and neither sees the other's runs); a plan made for
// staging is refused by production with exit 3, and the reverse; status and history name staging.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeLabConfig } from '../../bench/lab-config.js';
import { readJournal } from '../../src/engine/journal.js';
import type { Plan } from '../../src/model/plan.js';
import { currentReleases, onHost, readyAllHaproxyMembers } from './helpers/lab.js';

const USER = 'environments-test';
const LOCK_DIR = `/run/baton/environments-test-${process.pid}`;
let dir: string;
let config: string;

function baton(args: string[], env: Record<string, string> = {}) {
  return execa('node', ['bin/run.js', ...args], {
    reject: false,
    timeout: 180_000,
    env: { CI: '1', BATON_USER: USER, BATON_ENV: '', ...env },
  });
}

async function releases(): Promise<string[]> {
  return [...new Set(Object.values(await currentReleases()))];
}

beforeAll(async () => {
  readyAllHaproxyMembers();
  dir = mkdtempSync(join(tmpdir(), 'baton-environments-'));
  config = writeLabConfig(join(dir, 'baton.yml'), [[['lock', 'path'], `${LOCK_DIR}/lock`]]);
  // The lab has one fleet: staging shares it and its balancer host, and differs only in what this says.
  writeFileSync(
    join(dir, 'baton.staging.yml'),
    '# staging: the same fleet, fewer SSH channels\nssh:\n  concurrency: 4\n',
  );
  const v1 = await baton(['push', 'v1', '-c', config]);
  expect(v1.exitCode, v1.stderr).toBe(0);
});

afterAll(async () => {
  await baton(['unlock', '--force', '--reason', 'environments test cleanup', '--yes', '-c', config]);
  await baton(['unlock', '--force', '--reason', 'environments test cleanup', '--yes', '-c', config, '-e', 'staging']);
});

describe('environments in the lab', () => {
  it('validate --all checks production and staging', async () => {
    const r = await baton(['validate', '--all', '-c', config]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/baton\.yml \+ .*baton\.staging\.yml \(staging\) is valid/);
  });

  it('keeps the locks apart on one balancer host: staging pushes while production is locked', async () => {
    const lock = await baton(['lock', '--reason', 'production freeze', '--lease', '5m', '-c', config]);
    expect(lock.exitCode, lock.stderr).toBe(0);
    try {
      const production = JSON.parse((await baton(['status', '-c', config, '--json'])).stdout) as {
        lock: { state: string; reason?: string };
      };
      expect(production.lock).toMatchObject({ state: 'held', reason: 'production freeze' });
      const stagingStatus = await baton(['status', '-e', 'staging', '-c', config]);
      expect(stagingStatus.stdout).toMatch(/^shop \(staging\): /);
      expect(stagingStatus.stdout).toMatch(/^lock: free$/m);

      const blocked = await baton(['push', 'v2', '-c', config]);
      expect(blocked.exitCode).toBe(4);
      const staged = await baton(['push', 'v2', '-e', 'staging', '-c', config, '--json']);
      expect(staged.exitCode, staged.stderr).toBe(0);
      expect(await releases()).toEqual([expect.stringMatching(/^v2-/)]);

      // On the balancer host: staging's lock and record beside production's, never inside them.
      const listing = await onHost('lb.baton.test', `ls -1 ${LOCK_DIR}`);
      expect(listing.split('\n')).toEqual(expect.arrayContaining(['lock', 'shop-staging.runs', 'shop.runs']));
      expect(listing.split('\n')).not.toContain('lock-staging'); // released at the end of the push
      const stagingRuns = await onHost('lb.baton.test', `ls -1 ${LOCK_DIR}/shop-staging.runs`);
      const run = (JSON.parse(staged.stdout) as { run: string }).run;
      expect(stagingRuns).toContain(`${run}.jsonl`);
      expect(await onHost('lb.baton.test', `ls -1 ${LOCK_DIR}/shop.runs`)).not.toContain(run);
    } finally {
      const unlock = await baton(['unlock', '-c', config]);
      expect(unlock.exitCode, unlock.stderr).toBe(0);
    }
  });

  it("journals the environment, and each environment's history holds only its own runs", async () => {
    const staging = JSON.parse((await baton(['history', '-e', 'staging', '-c', config, '--json'])).stdout) as {
      run: string;
      tag: string;
      environment?: string;
      journal: string;
    }[];
    expect(staging.map((r) => [r.tag, r.environment])).toEqual([['v2', 'staging']]);
    expect(readJournal(staging[0]!.journal)[0]).toMatchObject({ event: 'run-begin', environment: 'staging' });
    expect(dirname(staging[0]!.journal)).toBe(join(dir, '.baton', 'journal-staging'));
    // Production's own runs only: the push its lock refused (v1 before it was a no-op, or a run of its own).
    const production = JSON.parse((await baton(['history', '-c', config, '--json'])).stdout) as {
      run: string;
      tag: string;
      environment?: string;
    }[];
    expect(production.length).toBeGreaterThan(0);
    expect(production.map((r) => r.environment)).toEqual(production.map(() => undefined));
    expect(production.map((r) => r.run)).not.toContain(staging[0]!.run);
    expect(production.map((r) => r.tag)).toContain('v2'); // the push production's own lock refused
    expect((await baton(['history', '-e', 'staging', '-c', config])).stdout.split('\n')[0]).toBe('environment staging');
  });

  it(
    'refuses a plan made for staging under production, ' + "and production's under staging (exit 3), nothing changed",
    async () => {
      const stagingPlan = join(dir, 'staging-v1.json');
      const made = await baton(['plan', 'v1', '-e', 'staging', '-c', config, '-o', stagingPlan]);
      expect(made.exitCode, made.stderr).toBe(0);
      expect((JSON.parse(readFileSync(stagingPlan, 'utf8')) as Plan).environment).toBe('staging');
      const refused = await baton(['apply', stagingPlan, '-c', config]);
      expect(refused.exitCode).toBe(3);
      expect(refused.stderr).toContain(
        'the plan was made for environment "staging"; this run is for baton.yml alone (no environment)',
      );

      const productionPlan = join(dir, 'production-v1.json');
      expect((await baton(['plan', 'v1', '-c', config, '-o', productionPlan])).exitCode).toBe(0);
      const reverse = await baton(['apply', productionPlan, '-c', config], { BATON_ENV: 'staging' });
      expect(reverse.exitCode).toBe(3);
      expect(reverse.stderr).toContain('this run is for environment "staging"');
      expect(await releases()).toEqual([expect.stringMatching(/^v2-/)]);

      // Each in its own environment, the plans are carried out.
      const applied = await baton(['apply', stagingPlan, '-e', 'staging', '-c', config]);
      expect(applied.exitCode, applied.stderr).toBe(0);
      expect(await releases()).toEqual([expect.stringMatching(/^v1-/)]);
    },
  );

  it('draws the report of a staging run with its environment', async () => {
    const out = join(dir, 'staging-report.html');
    const r = await baton(['report', '-e', 'staging', '-c', config, '-o', out]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain('<dt>environment</dt><dd id="environment"><code>staging</code></dd>');
  });
});
