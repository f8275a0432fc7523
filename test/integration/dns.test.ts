// The DNS drill against the lab: BIND on ns, the lab app on old-web and new-web, Varnish,
// nginx and Apache as the transitional proxy, clients under load resolving through ns or
// pinned to the old address. Every test leaves the hosts as the lab made them. (The drill with
// the old server killed at the hand-over is in the fault suite: faults-dns.test.ts.)
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { RunEvent } from '../../src/engine/events.js';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { restoreLab, runDnsDrill } from '../../bench/dns.js';
import { labIsAsFound } from './helpers/dns-lab.js';
import type { DnsPlan } from '../../src/dns/types.js';

const ROOT = join(import.meta.dirname, '../..');

function config(edit: (doc: ReturnType<typeof parseDocument>) => void): string {
  const doc = parseDocument(readFileSync(join(ROOT, 'test/lab/baton.dns.yml'), 'utf8'));
  edit(doc);
  const file = join(mkdtempSync(join(tmpdir(), 'baton-dns-test-')), 'baton.yml');
  writeFileSync(file, doc.toString());
  return file;
}

function baton(file: string, ...args: string[]) {
  return execa('node', [join(ROOT, 'bin/run.js'), ...args, '-c', file], {
    reject: false,
    env: { ...process.env, CI: '1', BATON_USER: 'dns-test' },
  });
}

afterAll(async () => {
  await restoreLab();
});

describe('baton dns against the lab', () => {
  it(
    'moves old-site (A and AAAA) to new-web under load over IPv4 and IPv6 with no failed request and no write on ' +
      'the old host after cut-over, then rolls back',
    async () => {
      // The slow client keeps a request in flight on the old host at every hand-over of its port. The
      // site's TTL is lowered first, as before a real move: the switch waits out the lab's TTL.
      const r = await runDnsDrill({
        proxy: 'varnish',
        resolvingClients: 3,
        pinnedClients: 2,
        resolving6Clients: 2,
        pinned6Clients: 1,
        slowClients: 1,
        lowerTtl: '5s',
      });
      expect(r.failures).toEqual([]);
      expect(r.failed).toBe(0);
      expect(r.requests).toBeGreaterThan(500);
      // IPv6 clients: none failed; those resolving AAAA reached the new host once it switched, those pinned to the
      // old IPv6 address were proxied, and `dns watch` (through finish) counted them by their address.
      expect(r.byFamily.ipv6.failed).toBe(0);
      expect(r.byFamily.ipv6.requests).toBeGreaterThan(100);
      expect(r.resolvedNew6).toBeGreaterThan(0);
      expect(r.viaOldHostAfterCutover6).toBeGreaterThan(0);
      expect(r.watchClients).toContain('fd10:213:7::1');
      expect(r.writesOnOldHost).toBe(0);
      expect(r.writesSynced).toBeGreaterThan(0); // the sync hook copied what the old host had
      expect(r.viaOldHostAfterCutover).toBeGreaterThan(0); // stale clients were proxied, not lost
      expect(r.reverse.failed).toBe(0);
      expect(Object.keys(r.stepSeconds)).toEqual(
        expect.arrayContaining([
          'lower-ttl',
          'transitional',
          'proxy-side',
          'cutover',
          'switch',
          'finish',
          'restore-ttl',
          'undo-cutover',
          'undo-lower-ttl',
        ]),
      );
      await labIsAsFound();
    },
  );

  it.each(['nginx', 'apache'] as const)(
    'installs %s as the side-port proxy with the Host header preserved, and removes it',
    async (kind) => {
      const file = config((d) => d.setIn(['dns', 'migrate', 'proxy', 'kind'], kind));
      try {
        expect((await baton(file, 'dns', 'plan')).exitCode).toBe(0);
        const install = await baton(file, 'dns', 'proxy', 'install', '--format', 'jsonl');
        expect(install.exitCode, install.stderr).toBe(0);
        // A DNS phase streams like a push: its header, each step begun and ended, the result last.
        const events = install.stdout
          .trim()
          .split('\n')
          .map((l) => RunEvent.parse(JSON.parse(l)));
        expect(events[0]).toMatchObject({
          event: 'run-begin',
          kind: 'dns',
          tag: 'old-site.baton.test',
          phase: 'proxy-install',
        });
        expect(events.some((e) => e.event === 'step-ok')).toBe(true);
        expect(events.at(-1)).toMatchObject({ event: 'result', exitCode: 0 });
        const page = await execa('curl', [
          '-s',
          '-m',
          '5',
          '-H',
          'Host: old-site.baton.test',
          'http://10.213.7.4:6081/version',
        ]);
        expect(JSON.parse(page.stdout)).toMatchObject({
          host: 'new-web.baton.test',
          requestHost: 'old-site.baton.test',
        });
        // The site has an AAAA record: the proxy takes IPv6 clients too.
        const page6 = await execa('curl', [
          '-s',
          '-m',
          '5',
          '-H',
          'Host: old-site.baton.test',
          'http://[fd10:213:7::4]:6081/version',
        ]);
        expect(JSON.parse(page6.stdout)).toMatchObject({ host: 'new-web.baton.test' });
        // Finish and cut-over refuse out of order, changing nothing.
        expect((await baton(file, 'dns', 'finish')).exitCode).toBe(3);
        const back = await baton(file, 'dns', 'rollback');
        expect(back.exitCode, back.stderr).toBe(0);
      } finally {
        await restoreLab();
      }
      await labIsAsFound();
    },
  );

  it("moves a CNAME'd site by its in-zone target (old-site's A and AAAA), with no failed request", async () => {
    const file = config((d) => d.setIn(['dns', 'migrate', 'site'], 'cname-site.baton.test'));
    const planned = await baton(file, 'dns', 'plan', '--dry-run', '--json');
    expect(planned.exitCode, planned.stderr).toBe(0);
    const plan = (JSON.parse(planned.stdout) as { plan: DnsPlan }).plan;
    expect(plan.facts).toMatchObject({ record: 'old-site.baton.test', cnames: ['old-site.baton.test'] });
    const sw = plan.forward.find((st) => st.id === 'switch')!;
    expect(sw.record).toMatchObject({ name: 'old-site.baton.test', aaaa: { to: 'fd10:213:7::5' } });
    expect(sw.title).toContain('every other name pointing at old-site.baton.test moves too');
    const r = await runDnsDrill({
      site: 'cname-site.baton.test',
      resolvingClients: 2,
      pinnedClients: 1,
      resolving6Clients: 1,
      pinned6Clients: 1,
    });
    expect(r.failures).toEqual([]);
    expect(r.failed).toBe(0);
    expect(r.reverse.failed).toBe(0);
    expect(r.writesOnOldHost).toBe(0);
    expect(r.resolvedNew6).toBeGreaterThan(0); // clients resolving the CNAME got the target's new AAAA
    await labIsAsFound();
  });

  it('refuses (exit 3) a site that is a CNAME to a name outside the zone, changing nothing', async () => {
    const file = config((d) => d.setIn(['dns', 'migrate', 'site'], 'provider-site.baton.test'));
    const r = await baton(file, 'dns', 'plan');
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain(
      'provider-site.baton.test is a CNAME for shop.provider.example, which is outside dns.zone (baton.test)',
    );
    await labIsAsFound();
  });

  it('refuses Varnish for an HTTPS site before touching anything', async () => {
    const file = config((d) => d.setIn(['dns', 'migrate', 'scheme'], 'https'));
    const r = await baton(file, 'dns', 'plan');
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toMatch(/Varnish cannot serve the HTTPS site old-site\.baton\.test/);
    await labIsAsFound();
  });
});
