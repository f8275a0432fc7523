import { describe, expect, it } from 'vitest';
import { matchMembers } from '../../src/balancers/membership.js';
import type { Member } from '../../src/balancers/types.js';
import type { HostRef } from '../../src/config/config.js';
import { UserError } from '../../src/errors.js';

const member = (name: string, address: string, port = 8000): Member => ({
  name,
  address,
  port,
  state: 'ready',
  sessions: 0,
  queued: 0,
});
const MEMBERS = [
  member('web1a', '10.0.0.11'),
  member('web2a', '10.0.0.12'),
  member('web1b', '10.0.0.21'),
  member('web2b', '10.0.0.22'),
];
const DNS: Record<string, string[]> = {
  'web-1.prod-a.example.com': ['10.0.0.11'],
  'web-2.prod-a.example.com': ['10.0.0.12'],
  'web-1.prod-b.example.com': ['fd00::21', '10.0.0.21'],
  'web-2.prod-b.example.com': ['10.0.0.22'],
  'web-3.prod-a.example.com': ['10.0.0.13'],
};
const lookup = async (host: string) => {
  const a = DNS[host];
  if (!a) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return a;
};
const clusters = (a: (string | Omit<HostRef, 'cluster'>)[], b: (string | Omit<HostRef, 'cluster'>)[]) => {
  const refs = (hs: typeof a, cluster: 'a' | 'b'): HostRef[] =>
    hs.map((h) => (typeof h === 'string' ? { host: h, cluster } : { ...h, cluster }));
  return { a: { hosts: refs(a, 'a') }, b: { hosts: refs(b, 'b') } };
};
const opts = { backend: 'web', lookup };
const fail = async (p: Promise<unknown>) => {
  const err = await p.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(UserError);
  return (err as Error).message;
};

describe('matchMembers', () => {
  it('matches by resolved address, by member name, by literal IP and by resolve pin', async () => {
    const m = await matchMembers(
      clusters(
        ['web-1.prod-a.example.com', '10.0.0.12'],
        [{ host: 'web-1.prod-b.example.com', member: 'web1b' }, 'pinned.internal'],
      ),
      MEMBERS,
      { ...opts, resolve: { 'pinned.internal': '10.0.0.22' } },
    );
    expect(m).toEqual({
      a: [
        { host: 'web-1.prod-a.example.com', member: 'web1a', address: '10.0.0.11', port: 8000 },
        { host: '10.0.0.12', member: 'web2a', address: '10.0.0.12', port: 8000 },
      ],
      b: [
        { host: 'web-1.prod-b.example.com', member: 'web1b', address: '10.0.0.21', port: 8000 },
        { host: 'pinned.internal', member: 'web2b', address: '10.0.0.22', port: 8000 },
      ],
    });
  });

  it('matches any of several addresses of a host', async () => {
    const m = await matchMembers(
      clusters(
        ['web-1.prod-a.example.com', 'web-2.prod-a.example.com'],
        ['web-1.prod-b.example.com', 'web-2.prod-b.example.com'],
      ),
      MEMBERS,
      opts,
    );
    expect(m.b.map((x) => x.member)).toEqual(['web1b', 'web2b']);
  });

  it('matches a member the balancer addresses by host name without a look-up', async () => {
    const noLookup = async (): Promise<string[]> => {
      throw new Error('looked up');
    };
    const m = await matchMembers(
      clusters(['app1.lan'], ['app2.lan']),
      [member('s1', 'app1.lan'), member('s2', 'app2.lan')],
      {
        backend: 'web',
        lookup: noLookup,
      },
    );
    expect(m.a[0]?.member).toBe('s1');
  });

  it('names a host with no member and lists the members', async () => {
    const msg = await fail(
      matchMembers(
        clusters(
          ['web-1.prod-a.example.com', 'web-2.prod-a.example.com', 'web-3.prod-a.example.com'],
          ['web-1.prod-b.example.com', 'web-2.prod-b.example.com'],
        ),
        MEMBERS,
        opts,
      ),
    );
    expect(msg).toContain('web-3.prod-a.example.com (clusters.a, 10.0.0.13) matches no member');
    expect(msg).toContain('members are web1a (10.0.0.11), web2a (10.0.0.12), web1b (10.0.0.21), web2b (10.0.0.22)');
  });

  it('names a member no cluster claims', async () => {
    const msg = await fail(
      matchMembers(
        clusters(['web-1.prod-a.example.com', 'web-2.prod-a.example.com'], ['web-1.prod-b.example.com']),
        MEMBERS,
        opts,
      ),
    );
    expect(msg).toContain('member web2b (10.0.0.22) of backend web is claimed by no cluster');
  });

  it('names a member claimed twice, and by whom', async () => {
    const msg = await fail(
      matchMembers(
        clusters(
          ['web-1.prod-a.example.com', 'web-2.prod-a.example.com'],
          [{ host: 'web-1.prod-b.example.com', member: 'web1a' }, 'web-2.prod-b.example.com'],
        ),
        MEMBERS,
        opts,
      ),
    );
    expect(msg).toContain(
      'member web1a is claimed by web-1.prod-a.example.com (clusters.a) and web-1.prod-b.example.com (clusters.b)',
    );
    expect(msg).toContain('member web1b (10.0.0.21) of backend web is claimed by no cluster');
  });

  it('reports every problem at once: unknown member name, unresolvable host, ambiguous address', async () => {
    const msg = await fail(
      matchMembers(
        clusters([{ host: 'web-1.prod-a.example.com', member: 'web9' }, 'nowhere.example.com'], ['10.0.0.21']),
        [...MEMBERS, member('web1b-alt', '10.0.0.21', 8001)],
        opts,
      ),
    );
    expect(msg).toContain('web-1.prod-a.example.com (clusters.a) names member web9, which is not in the backend');
    expect(msg).toContain('nowhere.example.com (clusters.a) cannot be resolved (ENOTFOUND)');
    expect(msg).toContain('10.0.0.21 (clusters.b, 10.0.0.21) matches several members: web1b, web1b-alt');
  });
});
