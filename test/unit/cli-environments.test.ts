// Runs the built CLI (npm test builds first): -e, BATON_ENV and validate --all as a user types them,
// and a plan file made for one environment refused by another (exit 3).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBlueGreenPlan } from '../../plans/blue-green.js';
import { loadConfig } from '../../src/config/load.js';
import { writePlanFile } from '../../src/model/plan-file.js';
import { releaseFor } from '../../src/model/release.js';
import { observedFixture } from '../fixtures/observed.js';

const ROOT = join(import.meta.dirname, '../..');
const baton = (args: string[], cwd: string, env: Record<string, string> = {}) =>
  execa('node', [join(ROOT, 'bin/run.js'), ...args], {
    cwd,
    reject: false,
    env: { NO_COLOR: '1', BATON_ENV: '', ...env },
  });

const BASE = `app: { name: shop, repo: git@git.example.com:shop.git, path: /srv/shop, restart: systemctl restart shop }
balancer: { driver: haproxy, host: lb, backend: web }
clusters:
  a: { internal: prod-a.example.com, hosts: [w1a, w2a] }
  b: { internal: prod-b.example.com, hosts: [w1b, w2b] }
`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'baton-cli-env-'));
  writeFileSync(join(dir, 'baton.yml'), BASE);
  // the same fleet: only the environment tells the plans apart
  writeFileSync(
    join(dir, 'baton.staging.yml'),
    "# staging shares production's hosts in this test\nsmoke:\n  - { path: /healthz }\n",
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('-e and BATON_ENV', { timeout: 60_000 }, () => {
  it('validate -e reads both files and says so', async () => {
    const r = await baton(['validate', '-e', 'staging'], dir);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(
      /^baton\.yml \+ baton\.staging\.yml \(staging\) is valid: app shop, 2\+2 hosts, .*1 smoke check$/,
    );
  });

  it('BATON_ENV does what -e does', async () => {
    const r = await baton(['validate'], dir, { BATON_ENV: 'staging' });
    expect(r.stdout).toContain('(staging) is valid');
  });

  it('an environment without a file is a usage error naming those there are', async () => {
    const r = await baton(['validate', '-e', 'prod'], dir);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toContain(
      'Error: no environment "prod": baton.prod.yml does not exist (environments beside it: staging)',
    );
  });

  it('a name that is no safe word is a usage error', async () => {
    const r = await baton(['status', '-e', '../x'], dir);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toContain('is not an environment name');
  });
});

describe('validate --all', { timeout: 60_000 }, () => {
  it('checks every environment file and places each problem in its file, at its line', async () => {
    const d = mkdtempSync(join(tmpdir(), 'baton-cli-env-all-'));
    try {
      writeFileSync(join(d, 'baton.yml'), BASE);
      writeFileSync(join(d, 'baton.qa.yml'), 'ssh: { concurrency: 4 }\n');
      writeFileSync(join(d, 'baton.staging.yml'), '# staging\nbalancer:\n  drainTimeout: soon\n');
      const r = await baton(['validate', '--all'], d);
      expect(r.exitCode).toBe(64);
      expect(r.stdout.split('\n')).toEqual([
        expect.stringMatching(/^baton\.yml is valid: /),
        expect.stringMatching(/^baton\.yml \+ baton\.qa\.yml \(qa\) is valid: /),
      ]);
      expect(r.stderr).toBe(
        'baton.staging.yml:3:17: balancer.drainTimeout: expected a duration such as 500ms, ' +
          '60s or 2m\n1 problem in baton.yml + baton.staging.yml (staging)',
      );
      const json = await baton(['validate', '--all', '--json'], d);
      expect(JSON.parse(json.stdout)).toMatchObject({
        valid: false,
        environments: [
          { environment: null, valid: true },
          { environment: 'qa', valid: true },
          { environment: 'staging', valid: false },
        ],
      });
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('a plan made for one environment is refused by another', { timeout: 60_000 }, () => {
  const planFor = async (environment?: string) => {
    const config = await loadConfig(join(dir, 'baton.yml'), { environment });
    const plan = buildBlueGreenPlan({
      config,
      observed: observedFixture(),
      release: releaseFor('v2', 'c'.repeat(40)),
      createdBy: 'ada',
      now: new Date('2026-11-27T00:00:00Z'),
    });
    const file = join(dir, `plan-${environment ?? 'production'}.json`);
    writePlanFile(file, plan);
    return file;
  };

  it("staging's plan under production: exit 3", async () => {
    const file = await planFor('staging');
    expect((await baton(['plan', '--from', file, '-e', 'staging'], dir)).exitCode).toBe(0);
    const r = await baton(['plan', '--from', file], dir);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain(
      'Error: the plan was made for environment "staging"; this run is for baton.yml alone (no environment)',
    );
    expect(r.stderr).toContain('Hint: run it with -e staging');
  });

  it("production's plan under staging: exit 3", async () => {
    const file = await planFor();
    expect((await baton(['plan', '--from', file], dir)).exitCode).toBe(0);
    const r = await baton(['plan', '--from', file], dir, { BATON_ENV: 'staging' });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain(
      'Error: the plan was made for baton.yml alone (no environment); this run is for environment "staging"',
    );
  });
});

describe('baton init -e', { timeout: 60_000 }, () => {
  it('writes a commented environment file beside baton.yml that validates, and refuses to overwrite it', async () => {
    const d = mkdtempSync(join(tmpdir(), 'baton-cli-env-init-'));
    try {
      const none = await baton(['init', '-e', 'staging'], d);
      expect(none.exitCode).toBe(64);
      expect(none.stderr).toContain('run `baton init` without -e');
      writeFileSync(join(d, 'baton.yml'), BASE);
      const r = await baton(['init', '-e', 'staging'], d);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toContain('wrote baton.staging.yml');
      expect(readFileSync(join(d, 'baton.staging.yml'), 'utf8')).toMatch(
        /^# The staging environment: what it changes in baton\.yml/,
      );
      expect((await baton(['validate', '-e', 'staging'], d)).exitCode).toBe(0);
      expect((await baton(['init', '-e', 'staging'], d)).exitCode).toBe(64);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
