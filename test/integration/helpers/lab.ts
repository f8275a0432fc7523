// The running lab's description (/run/baton-lab/lab.json), typed for the tests that use it.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { BackendCounters } from '../../../src/balancers/types.js';
import { loadConfig } from '../../../src/config/load.js';
import { openSession } from '../../../src/engine/session.js';
import { asRoot } from '../../lab/as-root.js';

export interface LabHost {
  name: string;
  short: string;
  address: string;
  role: string;
  cluster?: 'a' | 'b';
  member?: string;
}

export interface Lab {
  hosts: LabHost[];
  balancer: {
    host: string;
    address: string;
    haproxy: { port: number; socket: string; backend: string; config: string };
  };
  /** Prometheus on mon, scraping every app host's /metrics each second (labels cluster, member, host). */
  prometheus: { url: string };
}

export const LAB_JSON = '/run/baton-lab/lab.json';

export function readLab(): Lab {
  return JSON.parse(readFileSync(LAB_JSON, 'utf8')) as Lab;
}

export function appHosts(lab: Lab): LabHost[] {
  return lab.hosts.filter((h) => h.role === 'app');
}

/**
 * Every member of HAProxy's public backend back in the pool: a test starts from a whole pool, whatever
 * an earlier run left. Then waits (up to 10 s) until HAProxy's own checks say every member is UP: an
 * earlier file's reversal restarts apps, and checks take 2 s to rise again (a push refuses a cluster
 * with nothing UP). A member still down after that is left for the test to meet.
 */
export function readyAllHaproxyMembers(): void {
  const lab = readLab();
  const members = appHosts(lab)
    .map((h) => h.member)
    .filter(Boolean);
  const commands = members.map((m) => `set server ${lab.balancer.haproxy.backend}/${m} state ready`).join('; ');
  const runtime = (input: string) =>
    execFileSync(
      'ssh',
      ['-F', '/run/baton-lab/ssh_config', lab.balancer.host, `socat stdio ${lab.balancer.haproxy.socket}`],
      { input, encoding: 'utf8' },
    );
  runtime(`${commands}\n`);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const rows = runtime(`show stat ${lab.balancer.haproxy.backend} 4 -1\n`).split('\n').slice(1).filter(Boolean);
    if (rows.length > 0 && rows.every((r) => (r.split(',')[17] ?? '').startsWith('UP'))) return;
    if (Date.now() > deadline) return;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }
}

/** The app hosts' names, as the lab lists them. */
export function appHostNames(): string[] {
  return appHosts(readLab()).map((h) => h.name);
}

/**
 * A shell command as root on a lab host, through the lab's console (the hosts refuse root over SSH): its stdout,
 * trimmed.
 */
export function onHost(host: string, command: string, input?: string): Promise<string> {
  return asRoot(host, command, input);
}

/** The release directory `current` points at, per app host. */
export async function currentReleases(hosts: readonly string[] = appHostNames()): Promise<Record<string, string>> {
  return Object.fromEntries(
    await Promise.all(
      hosts.map(async (h) => [h, await onHost(h, 'basename "$(readlink /srv/shop/current)"')] as const),
    ),
  );
}

/**
 * The public backend's counters (requests, 5xx, retries, redispatches) as baton's driver reads them, through
 * `configFile`.
 */
export async function balancerCounters(configFile: string): Promise<BackendCounters> {
  const session = await openSession(await loadConfig(configFile));
  try {
    return await session.balancer.counters();
  } finally {
    await session.close();
  }
}

/**
 * Drop every packet the host sends from its SSH port (only those to `to`, when given): its sshd
 * stops answering there, its public traffic flows.
 */
export function cutSsh(host: string, opts: { to?: string } = {}): void {
  const tc = (...words: string[]) => execFileSync('bash', ['test/lab/lab.sh', 'exec', host, '--', 'tc', ...words]);
  tc('qdisc', 'add', 'dev', 'eth0', 'root', 'handle', '1:', 'htb', 'default', '1');
  tc('class', 'add', 'dev', 'eth0', 'parent', '1:', 'classid', '1:1', 'htb', 'rate', '100gbit');
  tc('class', 'add', 'dev', 'eth0', 'parent', '1:', 'classid', '1:2', 'htb', 'rate', '8bit', 'ceil', '8bit');
  tc('qdisc', 'add', 'dev', 'eth0', 'parent', '1:2', 'handle', '20:', 'pfifo', 'limit', '0');
  const only = opts.to ? ['match', 'ip', 'dst', `${opts.to}/32`] : [];
  // prettier-ignore
  tc(
    'filter', 'add', 'dev', 'eth0', 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32',
    'match', 'ip', 'sport', '22', '0xffff', ...only,
    'flowid', '1:2',
  );
}

export function restoreSsh(host: string): void {
  execFileSync('bash', ['test/lab/lab.sh', 'exec', host, '--', 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
}
