import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildDnsPlan, reverseDnsSteps } from '../../plans/dns-migration.js';
import type { Config } from '../../src/config/config.js';
import { parseConfig } from '../../src/config/load.js';
import { closeGateArgvs, closeGateBatch, deviceFrom, isDefaultRootQdisc, openGateArgv } from '../../src/dns/gate.js';
import { cacheHorizon, schedule, secondsUntil } from '../../src/dns/horizon.js';
import { explainRefusal, nsupdateScript, recordLine } from '../../src/dns/nsupdate.js';
import { observeDns, type DnsObservation } from '../../src/dns/observe.js';
import {
  checkArgv,
  proxySpec,
  renderProxyConfig,
  startArgvs,
  stopByPidArgv,
  type Migration,
} from '../../src/dns/proxy.js';
import type { DnsAnswer, DnsQuery } from '../../src/dns/query.js';
import { dnsPlanMarkdown, dnsPlanText } from '../../src/dns/render.js';
import { PlanRefusedError } from '../../src/errors.js';
import { renderTemplate } from '../../src/dns/template.js';
import { parseAccessLog, perClient, perMinute, verdict, VERIFY_AGENT } from '../../src/dns/watch.js';
import { readFileSync } from 'node:fs';

const FIXTURE = join(import.meta.dirname, '../fixtures/dns/baton.yml');
const config = (): Config => {
  const r = parseConfig(readFileSync(FIXTURE, 'utf8'), FIXTURE);
  if (!r.config) throw new Error(JSON.stringify(r.issues));
  return r.config;
};
const migration = (over: Partial<Migration> = {}): Migration => ({ ...config().dns!.migrate!, ...over });
const at = (s: string) => new Date(`2026-01-01T${s}Z`);

describe('cache horizon arithmetic', () => {
  it('is the confirmation time plus the largest old TTL when the name existed', () => {
    expect(cacheHorizon({ confirmedAt: at('10:00:00'), oldTtl: 3600, existedBefore: true, negativeTtl: 300 })).toEqual(
      at('11:00:00'),
    );
  });
  it('includes the negative TTL when the name did not exist before', () => {
    expect(cacheHorizon({ confirmedAt: at('10:00:00'), oldTtl: 0, existedBefore: false, negativeTtl: 300 })).toEqual(
      at('10:05:00'),
    );
    expect(cacheHorizon({ confirmedAt: at('10:00:00'), oldTtl: 600, existedBefore: false, negativeTtl: 300 })).toEqual(
      at('10:10:00'),
    );
  });
  it('counts seconds until a time, never below zero', () => {
    expect(secondsUntil(at('10:00:30'), at('10:00:00'))).toBe(30);
    expect(secondsUntil(at('10:00:00'), at('10:00:30'))).toBe(0);
  });
  it('schedules each step at its earliest safe time', () => {
    const s = schedule({
      now: at('10:00:00'),
      transitionalSince: at('10:00:00'),
      transitionalExisted: false,
      negativeTtl: 300,
      siteTtl: 3600,
      quietMs: 600_000,
    });
    expect(s.transitionalUsable).toEqual(at('10:05:00'));
    expect(s.cutover).toEqual(at('10:05:00'));
    expect(s.horizon).toEqual(at('11:05:00'));
    expect(s.finish).toEqual(at('11:15:00'));
  });
});

describe('nsupdate scripts', () => {
  it('switches an A record only if it still holds the old address', () => {
    expect(
      nsupdateScript({
        server: '192.0.2.53',
        zone: 'example.com',
        name: 'www.example.com',
        ttl: 300,
        from: '192.0.2.4',
        to: '192.0.2.5',
      }),
    ).toBe(
      'server 192.0.2.53\nzone example.com.\nprereq yxrrset www.example.com. IN A 192.0.2.4\nupdate delete ' +
        'www.example.com. IN A\nupdate add www.example.com. 300 IN A 192.0.2.5\nsend\n',
    );
  });
  it('creates a name only if it has no A record, and deletes one only if it holds the expected address', () => {
    expect(
      nsupdateScript({ server: 'ns1', zone: 'example.com.', name: 't.example.com', ttl: 60, to: '192.0.2.5' }),
    ).toContain('prereq nxrrset t.example.com. IN A\nupdate add t.example.com. 60 IN A 192.0.2.5');
    const del = nsupdateScript({
      server: 'ns1',
      zone: 'example.com',
      name: 't.example.com',
      ttl: 60,
      from: '192.0.2.5',
    });
    expect(del).toContain('prereq yxrrset t.example.com. IN A 192.0.2.5\nupdate delete t.example.com. IN A\nsend');
    expect(del).not.toContain('update add');
  });
  it('changes the A and the AAAA record in one update, each compared first', () => {
    expect(
      nsupdateScript({
        server: '192.0.2.53',
        zone: 'example.com',
        name: 'www.example.com',
        ttl: 30,
        from: '192.0.2.4',
        to: '192.0.2.5',
        aaaa: { from: '2001:db8::4', to: '2001:db8::5' },
      }),
    ).toBe(
      [
        'server 192.0.2.53',
        'zone example.com.',
        'prereq yxrrset www.example.com. IN A 192.0.2.4',
        'prereq yxrrset www.example.com. IN AAAA 2001:db8::4',
        'update delete www.example.com. IN A',
        'update add www.example.com. 30 IN A 192.0.2.5',
        'update delete www.example.com. IN AAAA',
        'update add www.example.com. 30 IN AAAA 2001:db8::5',
        'send',
        '',
      ].join('\n'),
    );
    expect(recordLine('www.example.com', 30, '2001:db8::5', 'AAAA')).toBe(
      'www.example.com.\t30\tIN\tAAAA\t2001:db8::5',
    );
    expect(() =>
      nsupdateScript({ server: 'ns1', zone: 'z', name: 'a', ttl: 1, to: '1.2.3.4', aaaa: { to: '::1\nsend' } }),
    ).toThrow(/aaaa\.to .* cannot go into an nsupdate script/);
  });
  it('refuses values that would add commands to the script', () => {
    expect(() =>
      nsupdateScript({
        server: 'ns1\nupdate delete example.com',
        zone: 'example.com',
        name: 'a',
        ttl: 1,
        to: '1.2.3.4',
      }),
    ).toThrow(/cannot go into an nsupdate script/);
  });
  it('explains a failed compare-and-set', () => {
    expect(explainRefusal('update failed: NXRRSET')).toMatch(/no longer holds/);
    expect(explainRefusal('; TSIG error with server: tsig verify failure\nupdate failed: NOTAUTH(BADSIG)')).toMatch(
      /key/,
    );
  });
  it('prints the zone-file line for a manual change', () => {
    expect(recordLine('www.example.com', 300, '192.0.2.5')).toBe('www.example.com.\t300\tIN\tA\t192.0.2.5');
  });
});

describe('proxy templates', () => {
  it('renders a Varnish VCL that passes everything, pipes websockets and points at the new host', () => {
    const vcl = renderProxyConfig(proxySpec(migration()), 'side');
    expect(vcl).toMatch(/\.host = "192\.0\.2\.5";\s+\.port = "80";/);
    expect(vcl).toContain('return (pass);');
    expect(vcl).toMatch(/websocket[\s\S]*return \(pipe\);/);
    expect(vcl).not.toContain('{{');
  });
  it('renders nginx with the Host header preserved, on the side port, then on the site port', () => {
    const spec = proxySpec(migration({ proxy: { ...migration().proxy, kind: 'nginx' } }));
    const side = renderProxyConfig(spec, 'side');
    expect(side).toContain('listen 6081;');
    expect(side).toContain('proxy_pass http://192.0.2.5:80;');
    expect(side).toContain('proxy_set_header Host $http_host;');
    expect(side).toContain('access_log /srv/baton-dns/access-side.log baton;');
    expect(renderProxyConfig(spec, 'port')).toContain('listen 80;');
    expect(side).not.toContain('ssl_certificate');
    expect(side).not.toContain('[::]');
    // With IPv6 in the move (the site's AAAA record), nginx listens on both families.
    const six = proxySpec(
      migration({
        proxy: { ...migration().proxy, kind: 'nginx' },
        new: { ...migration().new, address6: '2001:db8::5' },
      }),
    );
    expect(renderProxyConfig(six, 'port')).toContain('        listen 80;\n        listen [::]:80;');
  });
  it('renders Apache with ProxyPass and ProxyPreserveHost, and TLS for an https site', () => {
    const base = migration();
    const spec = proxySpec(
      migration({
        scheme: 'https',
        old: { ...base.old, port: 443 },
        new: { ...base.new, port: 443 },
        proxy: { ...base.proxy, kind: 'apache', tls: { certificate: '/etc/ssl/site.pem', key: '/etc/ssl/site.key' } },
      }),
    );
    const conf = renderProxyConfig(spec, 'port');
    expect(conf).toContain('ProxyPreserveHost On');
    expect(conf).toContain('ProxyPass / https://192.0.2.5:443/ upgrade=websocket');
    expect(conf).toContain('Listen 443 https');
    expect(conf).toContain('SSLCertificateFile /etc/ssl/site.pem');
  });
  it('refuses Varnish for an HTTPS site, with a way out', () => {
    expect(() => proxySpec(migration({ scheme: 'https' }))).toThrow(
      /Varnish cannot serve the HTTPS site www\.example\.com/,
    );
  });
  it('checks and starts each proxy kind from argv, with its own pid and log files', () => {
    const spec = proxySpec(migration());
    expect(checkArgv(spec, 'side')).toEqual([
      'varnishd',
      '-C',
      '-f',
      '/srv/baton-dns/varnish-side.vcl',
      '-n',
      '/srv/baton-dns/varnish-side',
    ]);
    const [varnishd, ncsa] = startArgvs(spec, 'port');
    expect(varnishd).toEqual(expect.arrayContaining(['-a', ':80', '-P', '/srv/baton-dns/varnishd-port.pid']));
    expect(ncsa).toEqual(expect.arrayContaining(['-w', '/srv/baton-dns/access-port.log']));
    expect(stopByPidArgv('/srv/baton-dns/nginx-port.pid', 5000).slice(3)).toEqual([
      'sh',
      '/srv/baton-dns/nginx-port.pid',
      '50',
    ]);
  });
  it('refuses template values that could break out of a config line', () => {
    expect(renderTemplate('a {{x}} b', { x: 'ok.example' })).toBe('a ok.example b');
    expect(() => renderTemplate('a {{x}}', { x: 'x"; include evil' })).toThrow(/misread/);
    expect(() => renderTemplate('a {{y}}', { x: 1 })).toThrow(/missing/);
    expect(renderTemplate('{{#t}}\nyes\n{{/t}}\nend', { t: false })).toBe('end');
  });
});

describe('connection gate', () => {
  it('finds the device carrying the address', () => {
    expect(deviceFrom('2: eth0    inet 10.213.7.4/24 scope global eth0\\       valid_lft forever')).toBe('eth0');
  });
  it("only replaces a device's default queueing", () => {
    expect(isDefaultRootQdisc('qdisc noqueue 0: root refcnt 2 \n')).toBe(true);
    expect(isDefaultRootQdisc('qdisc htb 1: root refcnt 2 r2q 10 default 0x1\n')).toBe(false);
  });
  it('holds SYN-ACKs and RSTs from the site port, and opening removes it all', () => {
    const argvs = closeGateArgvs('eth0', 80);
    expect(argvs[0]).toEqual(['tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'handle', '1:', 'htb', 'default', '1']);
    const filters = argvs.filter((a) => a[1] === 'filter');
    // SYN-ACKs and RSTs over IPv4, and the same over IPv6 (AAAA clients), each at its own header's flag offset.
    expect(filters).toHaveLength(4);
    for (const f of filters) expect(f).toEqual(expect.arrayContaining(['sport', '80', 'flowid', '1:2']));
    expect(filters.map((f) => `${f[f.indexOf('protocol') + 1]}@${f[f.lastIndexOf('at') + 1]}`)).toEqual([
      'ip@33',
      'ip@33',
      'ipv6@53',
      'ipv6@53',
    ]);
    expect(openGateArgv('eth0', false)).toEqual(['tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
    expect(openGateArgv('eth0', true)).toEqual(['sudo', '-n', '--', 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
  });
  it('closes in one exec: the same commands as a tc batch on stdin', () => {
    const b = closeGateBatch('eth0', 80, true);
    expect(b.argv).toEqual(['sudo', '-n', '--', 'tc', '-batch', '-']);
    expect(closeGateBatch('eth0', 80, false).argv).toEqual(['tc', '-batch', '-']);
    expect(b.stdin.split('\n')[0]).toBe('qdisc add dev eth0 root handle 1: htb default 1');
    expect(b.stdin.trim().split('\n')).toHaveLength(8);
    expect(() => closeGateBatch('eth0\nqdisc del dev lo root', 80, true)).toThrow(/cannot go into a tc batch/);
  });
});

// A zone with one authoritative server, as a fake DnsQuery.
function fakeZone(records: Record<string, string[]>, ttl = 300): DnsQuery {
  return async (server, name, type): Promise<DnsAnswer> => {
    const soa = { serial: 7, minimum: 60, ttl: 120 };
    if (type === 'NS')
      return {
        server,
        rcode: 'NOERROR',
        authoritative: true,
        answers: [{ name, type: 'NS', ttl, data: 'ns1.example.com' }],
      };
    if (type === 'SOA')
      return {
        server,
        rcode: 'NOERROR',
        authoritative: true,
        answers: [{ name, type: 'SOA', ttl: 120, data: '7' }],
        soa,
      };
    if (name === 'ns1.example.com')
      return { server, rcode: 'NOERROR', authoritative: true, answers: [{ name, type: 'A', ttl, data: '192.0.2.53' }] };
    // A record per value: IPv4 → A, IPv6 → AAAA, `cname:TARGET` → a CNAME followed inside the zone's answer.
    const answers: DnsAnswer['answers'] = [];
    let end = name;
    for (let hops = 0; hops < 8; hops++) {
      const cname = (records[end] ?? []).find((v) => v.startsWith('cname:'))?.slice('cname:'.length);
      if (cname === undefined) break;
      answers.push({ name: end, type: 'CNAME', ttl, data: cname });
      end = cname;
    }
    const own = (records[end] ?? []).filter((v) => !v.startsWith('cname:'));
    for (const data of own) if ((type === 'AAAA') === data.includes(':')) answers.push({ name: end, type, ttl, data });
    if (!records[name]) return { server, rcode: 'NXDOMAIN', authoritative: true, answers: [], soa };
    return { server, rcode: 'NOERROR', authoritative: true, answers };
  };
}

describe('observing the authoritative servers', () => {
  it('reads serial, records with their TTLs and the negative TTL from every NS', async () => {
    const o = await observeDns(
      fakeZone({ 'www.example.com': ['192.0.2.4'] }),
      {
        zone: 'example.com',
        nameserver: '192.0.2.53',
        site: 'www.example.com',
        transitional: 'transitional.example.com',
      },
      at('10:00:00'),
    );
    expect(o.servers).toEqual([
      {
        server: '192.0.2.53',
        serial: 7,
        site: { exists: true, addresses: ['192.0.2.4'], addresses6: [], ttl: 300, cnames: [] },
        transitional: { exists: false, addresses: [], addresses6: [], ttl: 0, cnames: [] },
      },
    ]);
    expect(o.negativeTtl).toBe(60);
  });
  it('refuses a server that does not speak authoritatively', async () => {
    const recursive: DnsQuery = async (server, name) => ({
      server,
      rcode: 'NOERROR',
      authoritative: false,
      answers: [{ name, type: 'NS', ttl: 10, data: 'x' }],
    });
    await expect(
      observeDns(recursive, {
        zone: 'example.com',
        nameserver: '192.0.2.53',
        site: 'www.example.com',
        transitional: 't.example.com',
      }),
    ).rejects.toThrow(/not authoritative/);
  });
});

async function plan(
  records: Record<string, string[]>,
  lowerTtl?: Parameters<typeof buildDnsPlan>[0]['lowerTtl'],
  edit?: (m: Migration) => void,
) {
  const c = config();
  edit?.(c.dns!.migrate!);
  const observed: DnsObservation = await observeDns(
    fakeZone(records),
    {
      zone: 'example.com',
      nameserver: '192.0.2.53',
      site: 'www.example.com',
      transitional: 'transitional.example.com',
    },
    at('10:00:00'),
  );
  return buildDnsPlan({
    config: c,
    observed,
    createdBy: 'test',
    now: at('10:00:00'),
    ...(lowerTtl && { lowerTtl }),
  });
}

describe('the migration plan', () => {
  it('creates the transitional name, proxies, cuts over, switches and finishes, each with its undo', async () => {
    const p = await plan({ 'www.example.com': ['192.0.2.4'] });
    expect(p.forward.map((s) => `${s.id}:${s.kind}:${s.phase}`)).toEqual([
      'transitional:dns-record:prepare',
      'proxy-side:proxy-start:proxy',
      'cutover:cutover:cutover',
      'switch:dns-record:cutover',
      'finish:proxy-stop:finish',
    ]);
    expect(p.forward[0]!.record).toEqual({ name: 'transitional.example.com', to: '192.0.2.5', ttl: 300 });
    expect(p.forward[3]!.record).toEqual({ name: 'www.example.com', from: '192.0.2.4', to: '192.0.2.5', ttl: 300 });
    expect(p.forward.every((s) => s.undo.length > 0)).toBe(true);
    expect(reverseDnsSteps(p.forward).map((s) => s.id)).toEqual([
      'undo-finish',
      'undo-switch',
      'undo-switch-wait',
      'undo-cutover',
      'undo-proxy-side',
      'undo-transitional',
    ]);
    expect(p.forward[2]!.undo[0]!.title).toContain('rsync -a new.example.com:/srv/data/ /srv/data/');
  });
  it('times each step: cut-over after the negative TTL, finish after the old TTL and the quiet period', async () => {
    const p = await plan({ 'www.example.com': ['192.0.2.4'] });
    expect(p.schedule).toEqual({
      transitionalUsable: at('10:01:00').toISOString(),
      cutover: at('10:01:00').toISOString(),
      horizon: at('10:06:00').toISOString(),
      finish: at('10:16:00').toISOString(),
    });
    expect(p.forward.find((s) => s.id === 'cutover')!.earliest).toBe(at('10:01:00').toISOString());
  });
  it(
    'with the TTL lowered ahead (dns lower-ttl), lowers it first, switches after the old TTL ran out, ' +
      'raises it at the end',
    async () => {
      const p = await plan({ 'www.example.com': ['192.0.2.4'] }, { to: 30 });
      expect(p.forward.map((s) => `${s.id}:${s.phase}`)).toEqual([
        'lower-ttl:lower-ttl',
        'transitional:prepare',
        'proxy-side:proxy',
        'cutover:cutover',
        'switch:cutover',
        'finish:finish',
        'restore-ttl:finish',
      ]);
      // The same address, another TTL: a compare-and-set that changes the TTL only; its undo puts it back.
      expect(p.forward[0]!.record).toEqual({ name: 'www.example.com', from: '192.0.2.4', to: '192.0.2.4', ttl: 30 });
      expect(p.forward[0]!.undo[0]!.record).toMatchObject({ ttl: 300 });
      expect(p.forward.at(-1)!.record).toEqual({
        name: 'www.example.com',
        from: '192.0.2.5',
        to: '192.0.2.5',
        ttl: 300,
      });
      expect(p.facts.ttlLowered).toEqual({ from: 300, to: 30 });
      // Answers fetched just before the lowering may be cached 300 s: the cut-over waits;
      // after the switch, caches hold the answer 30 s.
      expect(p.schedule.cutover).toBe(at('10:05:00').toISOString());
      expect(p.schedule.horizon).toBe(at('10:05:30').toISOString());
      expect(p.forward.find((s) => s.id === 'switch')!.record).toMatchObject({ ttl: 30 });
      // Planned again once lowered: the old TTL counts from when the lowering was confirmed.
      const again = await plan({ 'www.example.com': ['192.0.2.4'] }, { to: 30, from: 300, loweredAt: at('09:58:00') });
      expect(again.schedule.cutover).toBe(at('10:03:00').toISOString());
    },
  );
  it('only checks a transitional name that already points at the new host', async () => {
    const p = await plan({ 'www.example.com': ['192.0.2.4'], 'transitional.example.com': ['192.0.2.5'] });
    expect(p.forward[0]).toMatchObject({ id: 'transitional', kind: 'dns-check', undo: [] });
  });
  it(
    'has no switch when the record already points at the new host, ' + 'and refuses a record pointing elsewhere',
    async () => {
      expect((await plan({ 'www.example.com': ['192.0.2.5'] })).forward.map((s) => s.id)).not.toContain('switch');
      await expect(plan({ 'www.example.com': ['198.51.100.9'] })).rejects.toThrow(
        /neither the old \(192\.0\.2\.4\) nor the new/,
      );
    },
  );
  it('moves the AAAA record with the A record: one compare-and-set each way, the lowered TTL too', async () => {
    const six = (m: Migration) => {
      m.new.address6 = '2001:DB8:0::5'; // written any way IPv6 allows: compared as DNS answers write it
    };
    const site = { 'www.example.com': ['192.0.2.4', '2001:db8::4'] };
    const p = await plan(site, { to: 30 }, six);
    expect(p.facts).toMatchObject({ oldAddress6: '2001:db8::4', newAddress6: '2001:db8::5' });
    const byId = (id: string) => p.forward.find((s) => s.id === id)!;
    expect(byId('switch').record).toEqual({
      name: 'www.example.com',
      from: '192.0.2.4',
      to: '192.0.2.5',
      aaaa: { from: '2001:db8::4', to: '2001:db8::5' },
      ttl: 30,
    });
    expect(byId('switch').title).toContain('AAAA 2001:db8::4 → 2001:db8::5 (one compare-and-set)');
    expect(byId('switch').undo[0]!.record).toMatchObject({ aaaa: { from: '2001:db8::5', to: '2001:db8::4' } });
    expect(byId('lower-ttl').record).toMatchObject({ aaaa: { from: '2001:db8::4', to: '2001:db8::4' }, ttl: 30 });
    expect(byId('lower-ttl').undo[0]!.record).toMatchObject({ aaaa: { from: '2001:db8::4' }, ttl: 300 });
    expect(byId('restore-ttl').record).toMatchObject({ aaaa: { from: '2001:db8::5', to: '2001:db8::5' } });
    // The transitional name is only a check that the new host answers: its A record alone.
    expect(byId('transitional').record).not.toHaveProperty('aaaa');
    // A site without an AAAA record keeps none, whatever is configured.
    expect((await plan({ 'www.example.com': ['192.0.2.4'] }, undefined, six)).forward[3]!.record).not.toHaveProperty(
      'aaaa',
    );
  });
  it('refuses (exit 3) a site with an AAAA record when the new host has no IPv6 address', async () => {
    const err = await plan({ 'www.example.com': ['192.0.2.4', '2001:db8::4'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlanRefusedError);
    expect((err as PlanRefusedError).exitCode).toBe(3);
    expect((err as PlanRefusedError).message).toMatch(
      /has an AAAA record \(2001:db8::4\) but the new host has no IPv6/,
    );
    expect((err as PlanRefusedError).hint).toMatch(/dns\.migrate\.new\.address6/);
  });
  it('refuses an AAAA record that is not the configured old IPv6 address', async () => {
    await expect(
      plan({ 'www.example.com': ['192.0.2.4', '2001:db8::99'] }, undefined, (m) => {
        m.old.address6 = '2001:db8::4';
        m.new.address6 = '2001:db8::5';
      }),
    ).rejects.toThrow(/AAAA record 2001:db8::99 beside the A record 192\.0\.2\.4, not the old host's IPv6 address/);
  });
  it("changes the in-zone target of a CNAME'd site, and says that every name pointing at it moves too", async () => {
    const p = await plan({
      'www.example.com': ['cname:web.example.com'],
      'web.example.com': ['192.0.2.4'],
    });
    expect(p.facts).toMatchObject({ record: 'web.example.com', cnames: ['web.example.com'] });
    const sw = p.forward.find((s) => s.id === 'switch')!;
    expect(sw.record).toEqual({ name: 'web.example.com', from: '192.0.2.4', to: '192.0.2.5', ttl: 300 });
    expect(sw.title).toContain(
      'www.example.com is a CNAME for web.example.com: its record is the one changed, and every other name ' +
        'pointing at web.example.com moves too',
    );
    expect(sw.undo[0]!.record).toMatchObject({ name: 'web.example.com', to: '192.0.2.4' });
    expect(dnsPlanText(p)).toContain('the records of web.example.com change');
  });
  it('refuses (exit 3) a CNAME whose target is outside the zone, with what to do instead', async () => {
    const err = await plan({ 'www.example.com': ['cname:shop.provider.net'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlanRefusedError);
    expect((err as PlanRefusedError).exitCode).toBe(3);
    expect((err as PlanRefusedError).message).toBe(
      'www.example.com is a CNAME for shop.provider.net, which is outside dns.zone (example.com): baton can only ' +
        'change records in the zone it may update',
    );
    expect((err as PlanRefusedError).hint).toMatch(/move shop\.provider\.net where its zone is served/);
  });
  it('renders a runbook for the terminal and for review', async () => {
    const p = await plan({ 'www.example.com': ['192.0.2.4'] });
    const text = dnsPlanText(p);
    expect(text).toContain('baton dns cutover; not before 2026-01-01 10:01:00Z');
    expect(text).toContain('undo: switch www.example.com back to 192.0.2.4');
    expect(text).toContain('Reverse (restore the old server)');
    const md = dnsPlanMarkdown(p);
    expect(md).toContain('| 4 | switch www.example.com A 192.0.2.4 → 192.0.2.5');
    expect(md).toContain('**2026-01-01 10:06:00Z**');
  });
});

describe('watching the old host', () => {
  const log = [
    '1767261600.123 200 "curl/8"',
    '1767261601 200 "baton-dns-verify"',
    '1767261661 502 "Mozilla"',
    'garbage',
  ].join('\n');
  it("parses the proxies' common log format and leaves baton's own checks out", () => {
    expect(parseAccessLog(log).map((e) => e.status)).toEqual([200, 502]);
  });
  it(
    'counts requests per client address (IPv4 and IPv6), most first, ' +
      'and reads lines written before clients were logged',
    () => {
      const withClients = [
        '1767261600 200 10.0.0.7 "curl/8"',
        '1767261605.5 200 2001:db8::5 "Mozilla/5.0 (X11)"',
        '1767261610 502 10.0.0.7 "curl/8"',
        `1767261620 200 10.0.0.9 "${VERIFY_AGENT}"`,
        '1767261630 200 "old-format"',
      ].join('\n');
      const entries = parseAccessLog(withClients);
      // An IPv4 client of a proxy listening on both families, logged IPv4-mapped, is the same client.
      expect(parseAccessLog('1767261600 200 ::ffff:10.0.0.7 "curl/8"')[0]!.client).toBe('10.0.0.7');
      expect(entries.map((e) => e.client)).toEqual(['10.0.0.7', '2001:db8::5', '10.0.0.7', undefined]);
      expect(perClient(entries)).toEqual([
        { address: '10.0.0.7', requests: 2, last: '2026-01-01T10:00:10.000Z' },
        { address: '2001:db8::5', requests: 1, last: '2026-01-01T10:00:05.500Z' },
      ]);
    },
  );
  it('counts requests per minute, empty minutes included', () => {
    const e = parseAccessLog(log);
    expect(perMinute(e, new Date(1767261780_000))).toEqual([
      { minute: '2026-01-01T10:00', requests: 1 },
      { minute: '2026-01-01T10:01', requests: 1 },
      { minute: '2026-01-01T10:02', requests: 0 },
      { minute: '2026-01-01T10:03', requests: 0 },
    ]);
  });
  it('allows finishing only after the horizon and a quiet period', () => {
    const e = parseAccessLog(log);
    const base = { cutoverAt: new Date(1767261500_000), horizon: new Date(1767261700_000), quietMs: 120_000 };
    expect(verdict(e, { ...base, now: new Date(1767261690_000) })).toMatchObject({
      horizonPassed: false,
      finishable: false,
      waitSeconds: 91,
    });
    expect(verdict(e, { ...base, now: new Date(1767261800_000) })).toMatchObject({
      horizonPassed: true,
      finishable: true,
      quietSeconds: 139,
    });
    expect(verdict([], { ...base, horizon: undefined, now: new Date(1767261800_000) })).toMatchObject({
      finishable: false,
      waitSeconds: -1,
    });
  });
});
