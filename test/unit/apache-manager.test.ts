import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  adminOfStatus,
  APACHE_DEFAULT_RETRY_MS,
  dateOfAnswer,
  managerCounters,
  memberOf,
  parseManagerXml,
  restLeftMs,
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
      new RegExp(
        /(<httpd:name>http:\/\/10\.213\.7\.41:8000<\/httpd:name>[\s\S]*?)<httpd:loadfactor>1\.00<\/httpd:lo/.source +
          /adfactor>([\s\S]*?)<httpd:loadfactor>1\.00</.source,
      ),
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
    expect(memberOf({ ...w, status: ['Init', 'HcFl'] })).toMatchObject({ state: 'down', healthy: false });
    expect(memberOf({ ...w, status: ['Init', 'Ok'] })).toMatchObject({ state: 'ready', healthy: true });
    expect(memberOf({ ...w, status: ['Init', 'Ok'] })).not.toHaveProperty('resting');
  });

  it('sums elections and worker retries of one balancer', () => {
    const web = parseManagerXml(fixture('manager-web.xml'))[0]!;
    const c = managerCounters(web);
    expect(c.requests).toBe(web.workers.reduce((n, w) => n + w.elected, 0));
    expect(c.retries).toBe(0);
  });

  it("reads a worker's error_time and retry, and the Date of the answer as Apache's clock", () => {
    const xml = fixture('manager-web.xml').replace(
      '<httpd:status>Init Ok </httpd:status>',
      '<httpd:status>Init Err </httpd:status>\n' +
        '          <httpd:error_time>Mon, 07 Dec 2026 20:42:40 GMT</httpd:error_time>',
    );
    const answer = `HTTP/1.1 200 OK\r\nDate: Mon, 07 Dec 2026 20:42:52 GMT\r\nServer: Apache\r\n\r\n${xml}`;
    const [w, other] = parseManagerXml(answer)[0]!.workers;
    expect(w).toMatchObject({ status: ['Init', 'Err'], errorTime: Date.parse('2026-12-07T20:42:40Z') });
    expect(w).not.toHaveProperty('retryMs');
    expect(other).not.toHaveProperty('errorTime');
    expect(dateOfAnswer(answer)).toBe(Date.parse('2026-12-07T20:42:52Z'));
    expect(dateOfAnswer(xml)).toBeUndefined();
    const withRetry = xml.replace(
      '<httpd:lbset>0</httpd:lbset>',
      '<httpd:lbset>0</httpd:lbset>\n<httpd:retry>5</httpd:retry>',
    );
    expect(parseManagerXml(withRetry)[0]!.workers[0]!.retryMs).toBe(5000);
  });
});

describe('a worker in error state (Err) rests for its retry', () => {
  const at = Date.parse('2026-12-07T20:42:40Z');
  const w = {
    url: 'http://10.213.7.11:8000',
    hostname: '10.213.7.11',
    port: 8000,
    route: 'web1a',
    status: ['Init', 'Err'],
    busy: 0,
    loadFactor: 1,
    elected: 7,
    retries: 0,
    transferred: 0,
    read: 0,
    errorTime: at,
  };

  it("rests Apache's 60 s when no retry is set, a second more for the whole seconds of error_time and Date", () => {
    expect(APACHE_DEFAULT_RETRY_MS).toBe(60_000);
    expect(restLeftMs(w, at + 12_000)).toBe(49_000);
    expect(memberOf(w, at + 12_000)).toMatchObject({
      state: 'down',
      healthy: false,
      resting: { leftMs: 49_000, retryMs: 60_000 },
    });
    expect(restLeftMs(w, at + 61_000)).toBe(0);
  });

  it('is healthy once its rest is over, though it shows Err until a request considers it', () => {
    const m = memberOf(w, at + 61_000);
    expect(m).toMatchObject({ state: 'ready', healthy: true, status: ['Init', 'Err'] });
    expect(m).not.toHaveProperty('resting');
  });

  it('rests the retry its BalancerMember sets', () => {
    expect(memberOf({ ...w, retryMs: 5000 }, at + 2000)).toMatchObject({ resting: { leftMs: 4000, retryMs: 5000 } });
    expect(memberOf({ ...w, retryMs: 5000 }, at + 6000)).toMatchObject({ healthy: true });
  });

  it('rests the whole retry when the clock or the error_time is unknown, and never longer', () => {
    expect(restLeftMs(w, undefined)).toBe(60_000);
    const { errorTime: _, ...noTime } = w;
    expect(restLeftMs(noTime, at)).toBe(60_000);
    // Apache's clock behind the error_time (cannot happen on one clock): still no more than the retry.
    expect(restLeftMs(w, at - 30_000)).toBe(61_000);
  });

  it('a drained worker in Err is drain, and still says it rests', () => {
    expect(memberOf({ ...w, status: ['Init', 'Drn', 'Err'] }, at + 1000)).toMatchObject({
      state: 'drain',
      resting: { leftMs: 60_000 },
    });
  });
});
