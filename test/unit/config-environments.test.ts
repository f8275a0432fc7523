import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { environmentFile, listEnvironments, overlayData } from '../../src/config/environment.js';
import { loadConfig } from '../../src/config/load.js';
import { journalDir } from '../../src/engine/journal.js';
import { recordDir } from '../../src/engine/run-record.js';
import { ConfigError, UserError } from '../../src/errors.js';

const MINIMAL = readFileSync(join(import.meta.dirname, '../fixtures/config/valid/minimal.yml'), 'utf8');

let dir: string;
let base: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'baton-env-'));
  base = join(dir, 'baton.yml');
  writeFileSync(
    base,
    `${MINIMAL}smoke:\n  - { path: /healthz }\n  - { path: /, contains: Welcome }\nssh: { user: deploy, ` +
      `concurrency: 8 }\n`,
  );
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const env = (name: string, text: string) => writeFileSync(join(dir, `baton.${name}.yml`), text);

describe('overlay semantics', () => {
  it('merges maps key by key, replaces lists and values', () => {
    const merged = overlayData({ a: { x: 1, y: [1, 2], z: { k: 'v' } }, b: 2 }, { a: { y: [3], z: 'flat' }, c: 3 });
    expect(merged).toEqual({ a: { x: 1, y: [3], z: 'flat' }, b: 2, c: 3 });
  });

  it('keeps a key named __proto__ a key', () => {
    const merged = overlayData({ a: 1 }, JSON.parse('{"__proto__": {"polluted": true}}')) as Record<string, unknown>;
    expect(Object.hasOwn(merged, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('reads baton.staging.yml over baton.yml', async () => {
    env(
      'staging',
      'balancer:\n  host: lb1.staging.example.com\nclusters:\n  a: { hosts: [web-1.stg-a.example.com, ' +
        'web-2.stg-a.example.com] }\nsmoke:\n  - { path: /ping }\nssh: { concurrency: 2 }\n',
    );
    const config = await loadConfig(base, { environment: 'staging' });
    expect(config.environment).toBe('staging');
    expect(config.environmentFile).toBe(join(dir, 'baton.staging.yml'));
    // maps merged: the balancer keeps its driver and backend, cluster a its internal name, ssh its user
    expect(config.balancer).toMatchObject({ driver: 'haproxy', host: 'lb1.staging.example.com', backend: 'web' });
    expect(config.clusters.a.internal).toBe('prod-a.example.com');
    expect(config.ssh).toMatchObject({ user: 'deploy', concurrency: 2 });
    // lists replaced whole
    expect(config.clusters.a.hosts.map((h) => h.host)).toEqual(['web-1.stg-a.example.com', 'web-2.stg-a.example.com']);
    expect(config.smoke.checks).toEqual([expect.objectContaining({ path: '/ping' })]);
    // untouched parts as in baton.yml
    expect(config.clusters.b.hosts.map((h) => h.host)).toEqual(['web-1.prod-b.example.com']);
  });

  it('changes nothing without an environment', async () => {
    env('staging', 'balancer: { host: lb1.staging.example.com }\n');
    const config = await loadConfig(base);
    expect(config.environment).toBeUndefined();
    expect(config.balancer.host).toBe('lb1.example.com');
    expect(config.lock.path).toBe('/var/lib/baton/lock');
    expect(recordDir(config)).toBe('/var/lib/baton/shop.runs');
    expect(journalDir(config)).toBe(join(dir, '.baton', 'journal'));
  });

  it('takes an environment file of comments only as changing nothing but the environment', async () => {
    env('qa', '# same fleet as production\n');
    const config = await loadConfig(base, { environment: 'qa' });
    expect(config.balancer.host).toBe('lb1.example.com');
    expect(config.environment).toBe('qa');
  });
});

describe('problems are placed in the file holding the key', () => {
  it('points into the environment file, at its line', async () => {
    env('staging', '# staging\nbalancer:\n  drainTimeout: soon\n');
    const err = (await loadConfig(base, { environment: 'staging' }).catch((e: unknown) => e)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.issues).toEqual([
      expect.objectContaining({
        file: join(dir, 'baton.staging.yml'),
        line: 3,
        col: 17,
        path: 'balancer.drainTimeout',
      }),
    ]);
  });

  it(
    'points into baton.yml for a key the environment does not touch, ' + 'and at both files when both are wrong',
    async () => {
      writeFileSync(base, MINIMAL.replace('path: /srv/shop', 'path: srv/shop'));
      env('staging', 'clusters:\n  b:\n    hosts: [42]\n');
      const err = (await loadConfig(base, { environment: 'staging' }).catch((e: unknown) => e)) as ConfigError;
      expect(err.issues.map((i) => [i.file, i.line, i.path])).toEqual([
        [base, 5, 'app.path'],
        [join(dir, 'baton.staging.yml'), 3, 'clusters.b.hosts[0]'],
      ]);
    },
  );

  it('places a YAML syntax error in the environment file', async () => {
    env('staging', 'balancer:\n  host: [unclosed\n');
    const err = (await loadConfig(base, { environment: 'staging' }).catch((e: unknown) => e)) as ConfigError;
    expect(err.issues.every((i) => i.file === join(dir, 'baton.staging.yml'))).toBe(true);
  });

  it('refuses an environment file that is not a map', async () => {
    env('staging', '- a\n- b\n');
    const err = (await loadConfig(base, { environment: 'staging' }).catch((e: unknown) => e)) as ConfigError;
    expect(err.issues).toEqual([
      expect.objectContaining({
        file: join(dir, 'baton.staging.yml'),
        line: 1,
        message: expect.stringMatching(/map of the keys it changes/),
      }),
    ]);
  });
});

describe('-e with no file, or a name that is no word', () => {
  it('is a usage error naming the environments there are', async () => {
    env('staging', '{}\n');
    env('qa', '{}\n');
    const err = (await loadConfig(base, { environment: 'prod' }).catch((e: unknown) => e)) as UserError;
    expect(err).toBeInstanceOf(UserError);
    expect(err.exitCode).toBe(64);
    expect(err.message).toContain('baton.prod.yml does not exist');
    expect(err.message).toContain('environments beside it: qa, staging');
  });

  it('says when there is none at all', async () => {
    const err = (await loadConfig(base, { environment: 'staging' }).catch((e: unknown) => e)) as UserError;
    expect(err.message).toContain('there is no environment file beside it');
  });

  it.each(['Staging', '../etc', '-x', 'a b', '', 'a'.repeat(41)])('refuses %j as a name', async (name) => {
    const err = (await loadConfig(base, { environment: name }).catch((e: unknown) => e)) as UserError;
    expect(err).toBeInstanceOf(UserError);
    expect(err.exitCode).toBe(64);
    expect(err.message).toMatch(/is not an environment name/);
  });

  it('names environment files after the configuration, as Kamal does', () => {
    expect(environmentFile('/x/baton.yml', 'staging')).toBe('/x/baton.staging.yml');
    expect(environmentFile('deploy/prod.yaml', 'eu')).toBe('deploy/prod.eu.yaml');
    env('staging', '{}\n');
    env('Bad Name', '{}\n');
    writeFileSync(join(dir, 'other.qa.yml'), '{}\n');
    expect(listEnvironments(base)).toEqual(['staging']);
  });
});

describe('the lock and the record are per environment', () => {
  it('keeps them apart from production on a shared balancer host', async () => {
    env('staging', 'clusters:\n  a: { hosts: [web-1.stg-a.example.com] }\n  b: { hosts: [web-1.stg-b.example.com] }\n');
    const production = await loadConfig(base);
    const staging = await loadConfig(base, { environment: 'staging' });
    expect(staging.balancer.host).toBe(production.balancer.host);
    expect(staging.lock.path).toBe('/var/lib/baton/lock-staging');
    expect(recordDir(staging)).toBe('/var/lib/baton/shop-staging.runs');
    expect(journalDir(staging)).toBe(join(dir, '.baton', 'journal-staging'));
    expect(new Set([production.lock.path, staging.lock.path]).size).toBe(2);
    expect(new Set([recordDir(production), recordDir(staging)]).size).toBe(2);
  });

  it("scopes paths baton.yml sets, and takes the environment file's own as they are", async () => {
    writeFileSync(base, `${MINIMAL}lock: { path: /var/lib/baton/lock/ }\nrecord: { path: /srv/baton/runs }\n`);
    env('staging', '{}\n');
    env('eu', 'lock: { path: /var/lib/baton-eu/lock }\nrecord: { path: /srv/baton-eu/runs }\n');
    const staging = await loadConfig(base, { environment: 'staging' });
    expect(staging.lock.path).toBe('/var/lib/baton/lock-staging');
    expect(recordDir(staging)).toBe('/srv/baton/runs-staging');
    const eu = await loadConfig(base, { environment: 'eu' });
    expect(eu.lock.path).toBe('/var/lib/baton-eu/lock');
    expect(recordDir(eu)).toBe('/srv/baton-eu/runs');
  });

  it('gives an environment its own record beside a lock its file sets', async () => {
    env('staging', 'lock: { path: /var/lib/baton/staging-lock }\n');
    const staging = await loadConfig(base, { environment: 'staging' });
    expect(staging.lock.path).toBe('/var/lib/baton/staging-lock');
    expect(recordDir(staging)).toBe('/var/lib/baton/shop-staging.runs');
  });
});
