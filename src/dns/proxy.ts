// The transitional proxy on the old host: which config to render from templates/, and the
// argv that check, start and stop it. An instance is `side` (the side port, tried first) or
// `port` (the site's own port, after cut-over); each has its own config, pid and access log
// under dns.migrate.proxy.dir, so nothing of the host's own web server configuration is touched.
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { Config } from '../config/config.js';
import { templatesDir } from '../config/starter.js';
import { UserError } from '../errors.js';
import { renderTemplate } from './template.js';

export type ProxyKind = 'varnish' | 'nginx' | 'apache';
export type { ProxyInstance as Instance } from '../model/steps.js';
import type { ProxyInstance as Instance } from '../model/steps.js';

export interface ProxySpec {
  kind: ProxyKind;
  dir: string;
  site: string;
  scheme: 'http' | 'https';
  newAddress: string;
  newPort: number;
  sidePort: number;
  oldPort: number;
  /** The site has an AAAA record: the proxy also takes IPv6 clients (the new host's IPv6 address is configured). */
  ipv6: boolean;
  tls?: { certificate: string; key: string };
}

export type Migration = NonNullable<NonNullable<Config['dns']>['migrate']>;

/** The proxy spec a migration config describes; refuses Varnish for an HTTPS site. */
export function proxySpec(m: Migration): ProxySpec {
  if (m.scheme === 'https' && m.proxy.kind === 'varnish') {
    throw new UserError(
      `Varnish cannot serve the HTTPS site ${m.site}: it does not terminate TLS`,
      'set dns.migrate.proxy.kind to nginx or apache, with proxy.tls {certificate, key} on the old host',
    );
  }
  if (m.scheme === 'https' && !m.proxy.tls)
    throw new UserError(
      `the HTTPS site ${m.site} needs dns.migrate.proxy.tls {certificate, key} for the proxy on the old host`,
    );
  if (m.proxy.sidePort === m.old.port)
    throw new UserError(
      `dns.migrate.proxy.sidePort (${m.proxy.sidePort}) must differ from the site's port on the old host`,
    );
  return {
    kind: m.proxy.kind,
    dir: m.proxy.dir,
    site: m.site,
    scheme: m.scheme,
    newAddress: m.new.address,
    newPort: m.new.port,
    sidePort: m.proxy.sidePort,
    oldPort: m.old.port,
    ipv6: m.new.address6 !== undefined,
    ...(m.proxy.tls && { tls: m.proxy.tls }),
  };
}

export function portOf(spec: ProxySpec, instance: Instance): number {
  return instance === 'side' ? spec.sidePort : spec.oldPort;
}

/** Files of one instance on the old host. */
export function proxyFiles(spec: ProxySpec, instance: Instance) {
  const f = (name: string) => posix.join(spec.dir, name);
  const ext = spec.kind === 'varnish' ? 'vcl' : 'conf';
  return {
    config: f(`${spec.kind}-${instance}.${ext}`),
    pid: f(`${spec.kind === 'varnish' ? 'varnishd' : spec.kind}-${instance}.pid`),
    log: f(`access-${instance}.log`),
    /** varnishncsa's pid (Varnish logs through a separate reader). */
    logPid: f(`varnishncsa-${instance}.pid`),
    workdir: f(`varnish-${instance}`),
    tmp: f(`tmp-${instance}`),
    run: f(`run-${instance}`),
  };
}

const TEMPLATE_FILE: Record<ProxyKind, string> = {
  varnish: 'varnish/migrate.vcl',
  nginx: 'nginx/migrate.conf',
  apache: 'apache/migrate.conf',
};

/** The config text of one instance. */
export function renderProxyConfig(
  spec: ProxySpec,
  instance: Instance,
  template = readFileSync(join(templatesDir(), TEMPLATE_FILE[spec.kind]), 'utf8'),
): string {
  const port = portOf(spec, instance);
  const tls = spec.scheme === 'https';
  // nginx's `listen PORT` is IPv4 only; Apache's `Listen PORT` and Varnish's `-a :PORT` take both families.
  const listen =
    spec.kind === 'nginx'
      ? [port, ...(spec.ipv6 ? [`[::]:${port}`] : [])]
          .map((on) => `        listen ${on}${tls ? ' ssl' : ''};`)
          .join('\n')
      : spec.kind === 'apache'
        ? `Listen ${port}${tls ? ' https' : ''}`
        : '';
  return renderTemplate(
    template,
    {
      site: spec.site,
      dir: spec.dir,
      instance,
      newAddress: spec.newAddress,
      newPort: spec.newPort,
      scheme: spec.scheme,
      listen,
      tls,
      certificate: spec.tls?.certificate ?? '',
      key: spec.tls?.key ?? '',
    },
    new Set(['listen']),
  );
}

/** Checks a rendered config without starting anything. */
export function checkArgv(spec: ProxySpec, instance: Instance): string[] {
  const files = proxyFiles(spec, instance);
  switch (spec.kind) {
    case 'varnish':
      return ['varnishd', '-C', '-f', files.config, '-n', files.workdir];
    case 'nginx':
      return ['nginx', '-t', '-q', '-c', files.config];
    case 'apache':
      return ['apache2', '-t', '-f', files.config];
  }
}

/** The commands that start an instance, in order (each daemonizes and writes its pid file). */
export function startArgvs(spec: ProxySpec, instance: Instance): string[][] {
  const files = proxyFiles(spec, instance);
  const port = portOf(spec, instance);
  switch (spec.kind) {
    case 'varnish':
      // Each option beside its value (prettier would put each word on its own line).
      // prettier-ignore
      return [
        [
          'varnishd', '-a', `:${port}`, '-f', files.config, '-n', files.workdir, '-P', files.pid,
          '-T', 'none', '-s', 'malloc,64m', '-p', 'default_ttl=0', '-p', 'default_grace=0',
        ],
        [
          'varnishncsa', '-n', files.workdir, '-a', '-w', files.log, '-D', '-P', files.logPid,
          '-F', '%{%s}t %s %h "%{User-agent}i"',
        ],
      ];
    case 'nginx':
      return [['nginx', '-c', files.config]];
    case 'apache':
      return [['apache2', '-f', files.config, '-k', 'start']];
  }
}

/** Pid files to stop an instance by, the web server first, its log reader last. */
export function pidFiles(spec: ProxySpec, instance: Instance): string[] {
  const files = proxyFiles(spec, instance);
  return spec.kind === 'varnish' ? [files.pid, files.logPid] : [files.pid];
}

// Sends SIGTERM to the pid in $1 and waits (up to $2 tenths of a second) until it is gone; a
// zombie counts as gone (PID 1 reaps late in the lab). No pid file, or a dead pid: nothing to do.
const STOP_SCRIPT =
  'p=$(cat "$1" 2>/dev/null) || exit 0; [ -n "$p" ] || exit 0; ' +
  'kill -TERM "$p" 2>/dev/null || { rm -f "$1"; exit 0; }; i=0; ' +
  'while [ "$i" -lt "$2" ]; do s=$(sed -n "s/.*) \\(.\\).*/\\1/p" "/proc/$p/stat" 2>/dev/null); ' +
  '{ [ -z "$s" ] || [ "$s" = Z ]; } && { rm -f "$1"; exit 0; }; sleep 0.1; i=$((i+1)); done; ' +
  'kill -KILL "$p" 2>/dev/null; rm -f "$1"; exit 0';

/** Stops the process named by a pid file and waits until it is gone. */
export function stopByPidArgv(pidFile: string, timeoutMs = 30_000): string[] {
  return ['sh', '-c', STOP_SCRIPT, 'sh', pidFile, String(Math.ceil(timeoutMs / 100))];
}

/** Writes a file on the host from stdin (atomically: a temp file renamed over it). */
export function writeFileArgv(path: string): string[] {
  return ['sh', '-c', 'mkdir -p "$(dirname "$1")" && cat > "$1.tmp" && mv -f "$1.tmp" "$1"', 'sh', path];
}

/** The folders an instance needs before it starts. */
export function prepareArgv(spec: ProxySpec, instance: Instance): string[] {
  const files = proxyFiles(spec, instance);
  // nginx workers (www-data) write request bodies to its temp folder.
  return [
    'sh',
    '-c',
    'mkdir -p "$1" "$2" "$3" && chown www-data "$2" 2>/dev/null; exit 0',
    'sh',
    spec.dir,
    files.tmp,
    files.run,
  ];
}

/** Whether something listens on a TCP port on the host: `ss` prints a line per listener. */
export function listenersArgv(port: number): string[] {
  return ['ss', '-Htln', `sport = :${port}`];
}
