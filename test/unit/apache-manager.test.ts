import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  adminOfStatus,
  healthOfStatus,
  managerCounters,
  memberOf,
  parseManagerXml,
} from '../../src/balancers/apache-manager.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/apache/${name}`, import.meta.url), 'utf8');

describe('parseManagerXml (captured from the lab, Apache 2.4)', () => {
  it('lists every balancer of the VirtualHost with its nonce and workers', () => {
    const all = parseManagerXml(fixture('manager-web.xml'));
    expect(all.map((b) => `${b.name}:${b.workers.length}`)).toEqual(['web:4', 'prod_a:2', 'prod_b:2']);
    const web = all[0]!;
    expect(web.nonce).toMatch(/^[0-9a-f-]{36}$/);
    expect(web.maxattempts).toBe(3);
    expect(web.workers.map((w) => `${w.route}=${w.url} ${w.hostname}:${w.port} ${w.status.join(' ')}`)).toEqual([
      'web1a=http://10.213.7.11:8000 10.213.7.11:8000 Init Ok',
      'web2a=http://10.213.7.12:8000 10.213.7.12:8000 Init Ok',
      'web1b=http://10.213.7.41:8000 10.213.7.41:8000 Init Ok',
      'web2b=http://10.213.7.42:8000 10.213.7.42:8000 Init Ok',
    ]);
    expect(web.workers.every((w) => Number.isInteger(w.elected) && Number.isInteger(w.busy))).toBe(true);
  });

  it("reads each worker's load factor (printed twice, 1.00-100.00)", () => {
    const xml = fixture('manager-web.xml').replace(
      /(<httpd:name>http:\/\/10\.213\.7\.41:8000<\/httpd:name>[\s\S]*?)<httpd:loadfactor>1\.00<\/httpd:loadfactor>([\s\S]*?)<httpd:loadfactor>1\.00</,
      '$1<httpd:loadfactor>19.00</httpd:loadfactor>$2<httpd:loadfactor>19.00<',
    );
    const web = parseManagerXml(xml).find((b) => b.name === 'web')!;
    expect(web.workers.map((w) => `${w.route}=${w.loadFactor}`)).toEqual(['web1a=1', 'web2a=1', 'web1b=19', 'web2b=1']);
  });

  it('reads a drained worker (Drn) as drain, still healthy', () => {
    const web = parseManagerXml(fixture('manager-web-draining.xml')).find((b) => b.name === 'web')!;
    const members = web.workers.map(memberOf);
    expect(
      members
        .filter((m) => m.state === 'drain')
        .map((m) => m.name)
        .sort(),
    ).toEqual(['web1a', 'web2a']);
    expect(members.every((m) => m.healthy === true)).toBe(true);
  });

  it('reads busy as sessions, and refuses what is not manager XML', () => {
    const xml = fixture('manager-web.xml').replace('<httpd:busy>0</httpd:busy>', '<httpd:busy>3</httpd:busy>');
    expect(memberOf(parseManagerXml(xml)[0]!.workers[0]!)).toMatchObject({
      name: 'web1a',
      address: '10.213.7.11',
      port: 8000,
      sessions: 3,
      queued: 0,
      state: 'ready',
    });
    expect(() => parseManagerXml('<html>Forbidden</html>')).toThrow(
      /expected balancer-manager XML, got: <html>Forbidden/,
    );
  });

  it('maps status words to states and health', () => {
    expect(adminOfStatus(['Init', 'Drn', 'Ok'])).toBe('drain');
    expect(adminOfStatus(['Init', 'Dis'])).toBe('maint');
    expect(adminOfStatus(['Init', 'Stop'])).toBe('maint');
    expect(adminOfStatus(['Init', 'Ok'])).toBe('ready');
    expect(healthOfStatus(['Init', 'Err'])).toBe(false);
    expect(healthOfStatus(['Init', 'HcFl'])).toBe(false);
    expect(healthOfStatus(['Init', 'Ok'])).toBe(true);
    const w = {
      url: 'http://x:1',
      hostname: 'x',
      route: '',
      status: ['Init', 'Err'],
      busy: 0,
      loadFactor: 1,
      elected: 0,
      retries: 0,
      transferred: 0,
      read: 0,
    };
    expect(memberOf(w)).toMatchObject({ name: 'http://x:1', state: 'down', healthy: false });
  });

  it('sums elections and worker retries of one balancer', () => {
    const web = parseManagerXml(fixture('manager-web.xml'))[0]!;
    const c = managerCounters(web);
    expect(c.requests).toBe(web.workers.reduce((n, w) => n + w.elected, 0));
    expect(c.retries).toBe(0);
  });
});
