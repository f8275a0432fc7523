import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDocument, stringify } from 'yaml';
import { allHosts } from '../../src/config/config.js';
import { parseConfig } from '../../src/config/load.js';
import { isRemoteRepo } from '../../src/config/normalize.js';
import { summarizeConfig } from '../../src/config/summary.js';

const DIR = join(import.meta.dirname, '../fixtures/config/valid');
const VALID = readdirSync(DIR).filter((f) => f.endsWith('.yml'));
const HOME = '/home/release';
const load = (file: string) => parseConfig(readFileSync(join(DIR, file), 'utf8'), join(DIR, file), { home: HOME });

describe('valid configurations', () => {
  it('include at least minimal, full haproxy, apache and nginx', () => {
    expect(VALID).toEqual(expect.arrayContaining(['minimal.yml', 'full-haproxy.yml', 'apache.yml', 'nginx.yml']));
  });

  it.each(VALID)('%s loads without issues', (file) => {
    const { config, issues } = load(file);
    expect(issues).toEqual([]);
    expect(config?.file).toBe(join(DIR, file));
  });

  it.each(VALID)('%s round-trips: written back as YAML, it loads to the same Config', (file) => {
    const text = readFileSync(join(DIR, file), 'utf8');
    const again = stringify(parseDocument(text).toJS());
    expect(parseConfig(again, join(DIR, file), { home: HOME })).toEqual(load(file));
  });

  it('the starter template is valid', () => {
    const file = join(import.meta.dirname, '../../templates/baton.yml');
    expect(parseConfig(readFileSync(file, 'utf8'), file).issues).toEqual([]);
  });
});

describe('normalized Config', () => {
  it('applies defaults to a minimal file', () => {
    const config = load('minimal.yml').config!;
    expect(config.app.keep).toBe(5);
    expect(config.ssh).toMatchObject({
      knownHosts: `${HOME}/.ssh/known_hosts`,
      concurrency: 16,
      keepalive: 15_000,
      connectTimeout: 10_000,
    });
    expect(config.balancer).toMatchObject({
      driver: 'haproxy',
      socket: '/run/haproxy/admin.sock',
      drainTimeout: 60_000,
      cutOffAfterDrainTimeout: false,
    });
    expect(config.smoke).toEqual({ checks: [], deadlineMs: 30_000 });
    expect(config.require).toEqual({ rehearsal: false, approvals: 0, authorApprovalCounts: false });
    expect(config.lock).toEqual({ path: '/var/lib/baton/lock', lease: 1_800_000 });
    expect(config.resolve).toEqual({});
    expect(config.secrets).toEqual({});
    expect(config.watch).toBeUndefined();
    expect(config.dns).toBeUndefined();
  });

  it('resolves relative paths against the file folder and expands ~', () => {
    const config = load('full-haproxy.yml').config!;
    expect(config.dir).toBe(DIR);
    expect(config.app.repo).toBe(join(DIR, '../repos/shop'));
    expect(config.ssh.identity).toBe(`${HOME}/.ssh/id_ed25519`);
    expect(config.ssh.knownHosts).toBe(join(DIR, 'known_hosts'));
    expect(config.ssh.config).toBe(join(DIR, 'ssh_config'));
    expect(config.dns?.update?.tsigKeyFile).toBe(join(DIR, 'dns-update.key'));
    expect(config.require.allowedSigners).toBe(join(DIR, 'deploy/allowed_signers'));
    expect(config.secrets).toEqual({
      dbPassword: { env: 'SHOP_DB_PASSWORD' },
      deployToken: { file: join(DIR, 'secrets/deploy.token') },
    });
  });

  it('turns hosts into HostRefs with their cluster and member', () => {
    const config = load('full-haproxy.yml').config!;
    expect(allHosts(config)).toEqual([
      { host: 'web-1.prod-a.example.com', cluster: 'a' },
      { host: 'web-2.prod-a.example.com', cluster: 'a', member: 'web2a' },
      { host: 'web-1.prod-b.example.com', cluster: 'b', member: 'web1b' },
      { host: 'web-2.prod-b.example.com', cluster: 'b', member: 'web2b' },
    ]);
    expect(config.clusters.b).toMatchObject({ id: 'b', internal: 'prod-b.example.com' });
  });

  it('converts durations and the smoke object form', () => {
    const config = load('full-haproxy.yml').config!;
    expect(config.smoke.deadlineMs).toBe(45_000);
    expect(config.smoke.checks[1]).toEqual({
      path: '/',
      method: 'GET',
      status: 200,
      contains: 'Welcome',
      matches: 'v\\d+\\.\\d+',
      header: { 'X-App': 'shop' },
      maxMs: 800,
    });
    expect(config.ssh.connectTimeout).toBe(1500);
    expect(config.balancer.drainTimeout).toBe(120_000);
    expect(config.app.health).toEqual({ url: 'http://127.0.0.1:8000/healthz', timeout: 20_000 });
    expect(config.watch).toEqual({ duration: 90_000, max5xxRatio: 0.02 });
    expect(config.lock.lease).toBe(3_600_000);
  });

  it('keeps remote repos as written and resolves local ones', () => {
    expect(load('apache.yml').config!.app.repo).toBe('https://git.example.com/blog.git');
    expect(load('minimal.yml').config!.app.repo).toBe('git@git.example.com:shop.git');
    expect(load('nginx.yml').config!.app.repo).toBe('/srv/git/api.git');
    expect(['git@h:r.git', 'ssh://h/r', 'https://h/r', 'h:r.git'].every(isRemoteRepo)).toBe(true);
    expect(['../r', './r', '/srv/r', 'r', 'repos/r'].some(isRemoteRepo)).toBe(false);
  });

  it('summarizes what it understood', () => {
    expect(summarizeConfig(load('full-haproxy.yml').config!)).toBe(
      'app shop, 2+2 hosts, balancer haproxy on 10.0.0.2 (backend web), 3 smoke checks',
    );
    expect(summarizeConfig(load('nginx.yml').config!)).toBe(
      'app api, 1+1 hosts, balancer nginx on lb1.example.com (upstream api_upstream), 1 smoke check',
    );
    expect(summarizeConfig(load('nginx-lua.yml').config!)).toBe(
      'app api, 1+1 hosts, balancer nginx on lb1.example.com (upstream api_upstream, mode lua: no reloads), ' +
        '1 smoke check',
    );
  });
});
