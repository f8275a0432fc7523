import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  adminOfFlags,
  configMembers,
  flagsOfStatus,
  sameWorker,
  setConfigLoadFactors,
  setConfigState,
} from '../../src/balancers/apache-config.js';

const CONF = readFileSync(new URL('../fixtures/apache/baton.conf', import.meta.url), 'utf8');

describe('BalancerMember lines (the lab site, captured)', () => {
  it('reads the members of one <Proxy balancer://NAME> block only', () => {
    expect(configMembers(CONF, 'web')?.map((m) => `${m.route}=${m.workerUrl}@${m.line}`)).toEqual([
      'web1a=http://10.213.7.11:8000@5',
      'web2a=http://10.213.7.12:8000@6',
      'web1b=http://10.213.7.41:8000@7',
      'web2b=http://10.213.7.42:8000@8',
    ]);
    expect(configMembers(CONF, 'prod_a')?.map((m) => m.route)).toEqual(['web1a', 'web2a']);
    expect(configMembers(CONF, 'nope')).toBeUndefined();
  });

  it('sets status=+N on the named workers of that block only, and clears it again', () => {
    const drained = setConfigState(CONF, 'web', ['http://10.213.7.11:8000', 'http://10.213.7.12:8000/'], 'drain');
    expect(drained.changed).toBe(true);
    expect(drained.missing).toEqual([]);
    const lines = drained.text.split('\n');
    expect(lines[5]).toBe('        BalancerMember http://10.213.7.11:8000 route=web1a status=+N');
    expect(lines[6]).toBe('        BalancerMember http://10.213.7.12:8000 route=web2a status=+N');
    // The same worker URL in balancer://prod_a is another worker: untouched.
    expect(lines[11]).toBe('        BalancerMember http://10.213.7.11:8000 route=web1a');
    expect(configMembers(drained.text, 'web')?.map((m) => adminOfFlags(m.flags))).toEqual([
      'drain',
      'drain',
      'ready',
      'ready',
    ]);

    expect(setConfigState(drained.text, 'web', ['http://10.213.7.11:8000'], 'drain').changed).toBe(false);
    const back = setConfigState(drained.text, 'web', ['http://10.213.7.11:8000', 'http://10.213.7.12:8000'], 'ready');
    expect(back.text).toBe(CONF);
  });

  it('keeps flags baton does not own, and names workers with no line', () => {
    const conf = '<Proxy "balancer://web">\n  BalancerMember http://a:80 status=+H loadfactor=2\n</Proxy>\n';
    const r = setConfigState(conf, 'web', ['http://a:80', 'http://b:80'], 'maint');
    expect(r.text).toBe('<Proxy "balancer://web">\n  BalancerMember http://a:80 loadfactor=2 status=+HD\n</Proxy>\n');
    expect(r.missing).toEqual(['http://b:80']);
    expect(setConfigState(r.text, 'web', ['http://a:80'], 'ready').text).toBe(
      '<Proxy "balancer://web">\n  BalancerMember http://a:80 loadfactor=2 status=+H\n</Proxy>\n',
    );
  });

  it('sets loadfactor= on the named workers of that block only, and writes 1 (the default) as none', () => {
    expect(configMembers(CONF, 'web')?.map((m) => m.loadFactor)).toEqual([1, 1, 1, 1]);
    const weighed = setConfigLoadFactors(CONF, 'web', [
      { workerUrl: 'http://10.213.7.41:8000', loadFactor: 19 },
      { workerUrl: 'http://10.213.7.11:8000/', loadFactor: 1 },
    ]);
    expect(weighed).toMatchObject({ changed: true, missing: [] });
    const lines = weighed.text.split('\n');
    expect(lines[5]).toBe('        BalancerMember http://10.213.7.11:8000 route=web1a');
    expect(lines[7]).toBe('        BalancerMember http://10.213.7.41:8000 route=web1b loadfactor=19');
    expect(configMembers(weighed.text, 'web')?.map((m) => m.loadFactor)).toEqual([1, 1, 19, 1]);
    expect(configMembers(weighed.text, 'prod_b')?.map((m) => m.loadFactor)).toEqual([1, 1]);
    const again = setConfigLoadFactors(weighed.text, 'web', [{ workerUrl: 'http://10.213.7.41:8000', loadFactor: 19 }]);
    expect(again.changed).toBe(false);
    const back = setConfigLoadFactors(weighed.text, 'web', [{ workerUrl: 'http://10.213.7.41:8000', loadFactor: 1 }]);
    expect(back.text).toBe(CONF);
  });

  it('replaces a loadfactor= where it stands, keeps status=, and names workers with no line', () => {
    const conf = '<Proxy "balancer://web">\n  BalancerMember http://a:80 loadfactor=2 status=+N\n</Proxy>\n';
    const r = setConfigLoadFactors(conf, 'web', [
      { workerUrl: 'http://a:80', loadFactor: 40 },
      { workerUrl: 'http://b:80', loadFactor: 3 },
    ]);
    expect(r.text).toBe('<Proxy "balancer://web">\n  BalancerMember http://a:80 loadfactor=40 status=+N\n</Proxy>\n');
    expect(r.missing).toEqual(['http://b:80']);
    expect(setConfigLoadFactors(r.text, 'web', [{ workerUrl: 'http://a:80', loadFactor: 1 }]).text).toBe(
      '<Proxy "balancer://web">\n  BalancerMember http://a:80 status=+N\n</Proxy>\n',
    );
  });

  it('reads status= as Apache does (+ sets, - clears)', () => {
    expect(flagsOfStatus('+N')).toEqual(['N']);
    expect(flagsOfStatus('S-E')).toEqual(['S']);
    expect(flagsOfStatus('DH-D')).toEqual(['H']);
    expect(adminOfFlags(['H'])).toBe('ready');
    expect(sameWorker('HTTP://A:80/', 'http://a:80')).toBe(true);
  });
});
