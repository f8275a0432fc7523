// The cut-over step with a recording transport: what runs on the old host, in which order,
// and that a failure puts the old web server back and always opens the connection gate.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { parseConfig } from '../../src/config/load.js';
import { proxySpec } from '../../src/dns/proxy.js';
import { dnsStepRunner } from '../../src/dns/kinds.js';
import type { DnsEnv } from '../../src/dns/steps.js';
import type { DnsStep } from '../../src/dns/types.js';
import { RecordingTransports } from '../../src/transport/recording.js';

const FIXTURE = join(import.meta.dirname, '../fixtures/dns/baton.yml');

function env(transports: RecordingTransports): DnsEnv {
  const config = parseConfig(readFileSync(FIXTURE, 'utf8'), FIXTURE).config as Config;
  const m = config.dns!.migrate!;
  let clock = 0;
  return {
    config,
    m,
    spec: proxySpec(m),
    transports,
    local: transports.get('localhost'),
    query: async () => {
      throw new Error('no DNS in this test');
    },
    servers: ['192.0.2.53'],
    zone: 'example.com',
    tsig: { keyFile: '/k' },
    manualWaitMs: 1000,
    notice: () => {},
    now: () => new Date((clock += 10)),
    sleep: async () => {},
  };
}

const PAGE = { stdout: '{"host":"new"}\n200' };
const old = 'old.example.com';
const cutover: DnsStep = { id: 'cutover', kind: 'cutover', phase: 'cutover', host: old, title: 'cut over', undo: [] };

function lab(opts: { proxyOnPortWorks: boolean; ss?: string[] }) {
  let portProxyStarted = false;
  const ss = [...(opts.ss ?? [])];
  return new RecordingTransports({
    responses: [
      // What the port owes, one answer per look (then nothing).
      { match: ['ss', '-Htni'], answer: () => ({ stdout: ss.shift() ?? '' }) },
      {
        match: (a) =>
          a[0] === 'sh' &&
          a[4] === '/srv/baton-dns/varnishd-port.pid' &&
          /proc/.test(a[2] ?? '') &&
          !/TERM/.test(a[2] ?? ''),
        answer: { code: 1 },
      },
      { match: ['ip', '-o', '-4', 'addr'], answer: { stdout: '2: eth0    inet 192.0.2.4/24 scope global eth0' } },
      { match: ['tc', 'qdisc', 'show'], answer: { stdout: 'qdisc noqueue 0: root refcnt 2\n' } },
      { match: ['ss'], answer: { stdout: '' } },
      {
        match: (a) => a[0] === 'varnishd' && a.includes(':80'),
        answer: () => {
          portProxyStarted = true;
          return {};
        },
      },
      {
        match: (a) => a[0] === 'curl' && (a.at(-1) ?? '').startsWith('http://127.0.0.1:80/'),
        answer: () => (opts.proxyOnPortWorks && portProxyStarted ? PAGE : { stdout: 'old page\n200' }),
      },
      { match: ['curl'], answer: PAGE },
    ],
  });
}

describe('the cut-over step', () => {
  it(
    'holds connections, stops the old server, syncs, ' + 'starts the proxy on the port, verifies, then opens the gate',
    async () => {
      const t = lab({ proxyOnPortWorks: true });
      const e = env(t);
      const changed = (await dnsStepRunner(e)(cutover, () => {})) as { cutoverAt?: string };
      const words = t.runsOn(old).map((a) => a.slice(0, 2).join(' '));
      // The gate is raised through sudo -n (root's transport drops the prefix).
      const order = ['sudo -n', 'ss -Htni', 'systemctl stop', 'ss -Htln', 'varnishd -a'].map((w) =>
        words.findIndex((x) => x.startsWith(w)),
      );
      expect(t.runsOn(old)[order[0] as number]).toEqual(['sudo', '-n', '--', 'tc', '-batch', '-']);
      expect(order.every((i, k) => i >= 0 && (k === 0 || i > (order[k - 1] as number)))).toBe(true);
      // the sync hook ran on the old host, between stop and start
      expect(t.runsOn(old).some((a) => a[0] === 'rsync')).toBe(true);
      expect(t.runsOn(old).at(-1)).toEqual(['sudo', '-n', '--', 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
      // When the old web server stopped: the migration's state replays it from the journal.
      expect(changed.cutoverAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    },
  );

  it('puts the old web server back and opens the gate when the proxy on the port cannot be verified', async () => {
    const t = lab({ proxyOnPortWorks: false });
    const e = env(t);
    await expect(dnsStepRunner(e)(cutover, () => {})).rejects.toThrow(/does not return the new host's page/);
    const runs = t.runsOn(old);
    const stopAt = runs.findIndex((a) => a[0] === 'systemctl' && a[1] === 'stop');
    const startAt = runs.findIndex((a) => a[0] === 'systemctl' && a[1] === 'start');
    expect(stopAt).toBeGreaterThan(0);
    expect(startAt).toBeGreaterThan(stopAt);
    expect(runs.at(-1)).toEqual(['sudo', '-n', '--', 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
  });

  it('stops the old web server only once it owes no client an answer, new connections held meanwhile', async () => {
    const queued = 'LISTEN 3 511 0.0.0.0:80 0.0.0.0:*\n\t cubic cwnd:10';
    const waiting =
      'LISTEN 0 511 0.0.0.0:80 0.0.0.0:*\nESTAB 0 0 192.0.2.4:80 198.51.100.7:50000\n\t rtt:20/10 segs_in:2';
    const answered =
      'LISTEN 0 511 0.0.0.0:80 0.0.0.0:*\nESTAB 0 0 192.0.2.4:80 198.51.100.7:50000\n\t rtt:20/10 ' +
      'data_segs_out:1 data_segs_in:1 lastsnd:30 lastrcv:31';
    const t = lab({ proxyOnPortWorks: true, ss: [queued, waiting, answered] });
    const lines: string[] = [];
    const changed = (await dnsStepRunner(env(t))(cutover, (l) => lines.push(l))) as {
      drainMs?: number;
      leftOwed?: string[];
    };
    const runs = t.runsOn(old);
    const looks = runs.flatMap((a, i) => (a[0] === 'ss' && a[1] === '-Htni' ? [i] : []));
    const stopAt = runs.findIndex((a) => a[0] === 'systemctl' && a[1] === 'stop');
    const gateAt = runs.findIndex((a) => a.includes('-batch'));
    expect(looks).toHaveLength(3);
    expect(looks.every((i) => i > gateAt && i < stopAt)).toBe(true);
    expect(lines).toContain('waiting for :80 to answer what it took: 3 connections in the accept queue');
    expect(lines).toContain('waiting for :80 to answer what it took: 1 connection accepted, its request not arrived');
    expect(changed.drainMs).toBeGreaterThan(0);
    expect(changed.leftOwed).toBeUndefined();
  });

  it('goes on after dns.migrate.proxy.drain when a connection never sends its request, saying so', async () => {
    const waiting = 'ESTAB 0 0 192.0.2.4:80 198.51.100.7:50000\n\t rtt:20/10 segs_in:2';
    const t = lab({ proxyOnPortWorks: true, ss: Array.from({ length: 10_000 }, () => waiting) });
    const e = env(t);
    e.m.proxy.drain = 1000;
    const lines: string[] = [];
    const changed = (await dnsStepRunner(e)(cutover, (l) => lines.push(l))) as { leftOwed?: string[] };
    expect(changed.leftOwed).toEqual(['1 connection accepted, its request not arrived']);
    expect(lines).toContain(':80 still owes 1 connection accepted, its request not arrived after 1s: going on');
    expect(t.runsOn(old).some((a) => a[0] === 'systemctl' && a[1] === 'stop')).toBe(true);
  });

  it('drains the proxy on the port the same way before the way back stops it', async () => {
    const t = lab({ proxyOnPortWorks: true, ss: ['LISTEN 1 511 0.0.0.0:80 0.0.0.0:*'] });
    await dnsStepRunner(env(t))(
      { id: 'undo-cutover', kind: 'cutback', phase: 'cutover', host: old, title: 'cut back', undo: [] },
      () => {},
    );
    const runs = t.runsOn(old);
    const looks = runs.flatMap((a, i) => (a[0] === 'ss' && a[1] === '-Htni' ? [i] : []));
    const stopAt = runs.findIndex((a) => a[0] === 'sh' && /TERM/.test(a[2] ?? ''));
    expect(looks).toHaveLength(2);
    expect(stopAt).toBeGreaterThan(looks[1] as number);
  });
});

describe('a record change with an AAAA record', () => {
  // One authoritative server whose records an nsupdate changes; its AAAA answer lags two looks behind.
  function zone() {
    const z = { a: '192.0.2.4', aaaa: '2001:db8::4', aaaaLooksLeft: -1, aaaaLooks: 0 };
    const query: DnsEnv['query'] = async (server, name, type) => {
      if (type === 'SOA')
        return { server, rcode: 'NOERROR', authoritative: true, answers: [], soa: { serial: 2, minimum: 10, ttl: 30 } };
      if (type === 'AAAA' && z.aaaaLooksLeft >= 0 && z.aaaaLooksLeft-- === 0) z.aaaa = '2001:db8::5';
      if (type === 'AAAA') z.aaaaLooks++;
      const data = type === 'A' ? z.a : z.aaaa;
      return { server, rcode: 'NOERROR', authoritative: true, answers: [{ name, type, ttl: 30, data }] };
    };
    return { z, query };
  }
  const sw: DnsStep = {
    id: 'switch',
    kind: 'dns-record',
    phase: 'cutover',
    title: 'switch',
    record: {
      name: 'www.example.com',
      from: '192.0.2.4',
      to: '192.0.2.5',
      aaaa: { from: '2001:db8::4', to: '2001:db8::5' },
      ttl: 30,
    },
    undo: [],
  };

  it('sends both in one compare-and-set and waits until every server serves both', async () => {
    const { z, query } = zone();
    const t = new RecordingTransports({
      responses: [
        {
          match: ['nsupdate'],
          answer: () => {
            z.a = '192.0.2.5';
            z.aaaaLooksLeft = 2;
            return {};
          },
        },
      ],
    });
    const e = { ...env(t), query };
    const changed = (await dnsStepRunner(e)(sw, () => {})) as { changed: boolean; aaaa: unknown };
    const sent = t.calls.filter((c) => c.kind === 'run' && c.argv[0] === 'nsupdate');
    expect(sent).toHaveLength(1);
    const script = (sent[0] as { opts: { stdin?: string } }).opts.stdin ?? '';
    expect(script).toContain('prereq yxrrset www.example.com. IN A 192.0.2.4\nprereq yxrrset www.example.com. IN AAAA');
    expect(script).toContain('update add www.example.com. 30 IN AAAA 2001:db8::5\nsend');
    // Not done while the AAAA answer still held the old address.
    expect(z.aaaa).toBe('2001:db8::5');
    expect(z.aaaaLooks).toBeGreaterThanOrEqual(3);
    expect(changed).toMatchObject({ changed: true, aaaa: { from: '2001:db8::4', to: '2001:db8::5' } });
  });

  it('asks a person for both records when updates are manual', async () => {
    const { z, query } = zone();
    const notices: string[] = [];
    const t = new RecordingTransports();
    const e: DnsEnv = { ...env(t), query, notice: (l) => notices.push(l) };
    delete e.tsig;
    let sleeps = 0;
    e.sleep = async () => {
      if (++sleeps === 2) {
        z.a = '192.0.2.5';
        z.aaaa = '2001:db8::5';
      }
    };
    await dnsStepRunner(e)(sw, () => {});
    expect(notices).toEqual([
      'MANUAL: make these changes at your DNS provider:\n' +
        '  www.example.com.\t30\tIN\tA\t192.0.2.5 (replacing 192.0.2.4)\n' +
        '  www.example.com.\t30\tIN\tAAAA\t2001:db8::5 (replacing 2001:db8::4)\n' +
        'waiting for every authoritative server (192.0.2.53) to serve it',
    ]);
    expect(t.calls.some((c) => c.kind === 'run' && c.argv[0] === 'nsupdate')).toBe(false);
  });
});
