// baton.yml for the lab as it is now: the committed template with its clusters filled from
// /run/baton-lab/lab.json, so 2 or 18 hosts per cluster need no hand-edited file; the balancer
// (and the internal names' ports) switched to the driver asked for.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { repoRoot } from './repo-root.js';

const TEMPLATE = `${repoRoot()}/test/lab/baton.haproxy.yml`;

interface LabJson {
  hosts: { name: string; role: string; cluster?: 'a' | 'b' }[];
  balancer: {
    host: string;
    address: string;
    apache: { port: number; balancer: string; manager: string };
    nginx: { port: number; upstream: string; upstreamFile: string; pidFile: string };
    nginxLua: { port: number; upstream: string; controlUrl: string; stateFile: string; accessLog: string };
  };
}

/** Each app host's cluster by its name in lab.json, the FQDN it gives as its hostname (the lab app's X-Host). */
export function labAppClusters(): Record<string, 'a' | 'b'> {
  const lab = JSON.parse(readFileSync('/run/baton-lab/lab.json', 'utf8')) as LabJson;
  return Object.fromEntries(lab.hosts.flatMap((h) => (h.role === 'app' && h.cluster ? [[h.name, h.cluster]] : [])));
}

/** nginx-lua: the lab's nginx in balancer.mode lua (no reloads), on its own port. */
export type LabDriver = 'haproxy' | 'apache' | 'nginx' | 'nginx-lua';

/** Where the lab's public frontend of each balancer listens. */
export function publicPort(driver: LabDriver): number {
  return { haproxy: 80, apache: 8080, nginx: 8088, 'nginx-lua': 8090 }[driver];
}

/** The overrides that point the HAProxy template at another of lb's balancers (same members, same clusters). */
export function driverOverrides(driver: LabDriver): [string[], unknown][] {
  if (driver === 'haproxy') return [];
  const lab = JSON.parse(readFileSync('/run/baton-lab/lab.json', 'utf8')) as LabJson;
  const b = lab.balancer;
  const common = { host: b.host, drainTimeout: '30s' };
  const balancer =
    driver === 'apache'
      ? {
          driver,
          ...common,
          backend: b.apache.balancer,
          managerUrl: `http://${b.address}:${b.apache.port}${b.apache.manager}`,
          configFile: '/etc/apache2/sites-enabled/baton.conf',
          accessLog: '/var/log/apache2/public.log',
        }
      : driver === 'nginx-lua'
        ? {
            driver: 'nginx',
            mode: 'lua',
            ...common,
            backend: b.nginxLua.upstream,
            controlUrl: b.nginxLua.controlUrl,
            stateFile: b.nginxLua.stateFile,
            accessLog: b.nginxLua.accessLog,
          }
        : {
            driver,
            ...common,
            backend: b.nginx.upstream,
            upstreamFile: b.nginx.upstreamFile,
            pidFile: b.nginx.pidFile,
            accessLog: '/var/log/nginx/public.log',
          };
  const port = publicPort(driver);
  return [
    [['balancer'], balancer],
    // Smoke checks through the internal names must reach this balancer, not HAProxy on :80.
    [['clusters', 'a', 'internal'], `http://prod-a.baton.test:${port}`],
    [['clusters', 'b', 'internal'], `http://prod-b.baton.test:${port}`],
  ];
}

/**
 * Write the lab's baton.yml (optionally with overrides at key paths) and return its path. Each
 * config gets its own lock directory in lb's private /run (unless an override names one): the
 * bad-release list lives beside the lock, and one test's rollbacks must not mark releases bad for the next.
 */
export function writeLabConfig(file = '/run/baton-lab/baton.yml', overrides: [string[], unknown][] = []): string {
  const lab = JSON.parse(readFileSync('/run/baton-lab/lab.json', 'utf8')) as LabJson;
  const doc = parseDocument(readFileSync(TEMPLATE, 'utf8'));
  for (const c of ['a', 'b'] as const) {
    doc.setIn(
      ['clusters', c, 'hosts'],
      lab.hosts.filter((h) => h.role === 'app' && h.cluster === c).map((h) => h.name),
    );
  }
  doc.setIn(['lock', 'path'], `/run/baton/${randomBytes(4).toString('hex')}/lock`);
  for (const [path, value] of overrides) doc.setIn(path, value);
  writeFileSync(file, doc.toString());
  return file;
}
