// Turns validated baton.yml into the Config the rest of baton uses: paths absolute (against
// baton.yml's folder, `~` expanded), hosts as HostRefs with their cluster, smoke in one form.
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { CLUSTER_IDS, type ClusterConfig, type ClusterId, type Config, type MigrateConfig } from './config.js';
import type { BatonConfigParsed } from './schema.js';

const DEFAULT_SMOKE_DEADLINE_MS = 30_000;

export interface NormalizeOptions {
  /** Home directory `~` expands to (default: the current user's). */
  home?: string;
}

export function normalizeConfig(parsed: BatonConfigParsed, file: string, options: NormalizeOptions = {}): Config {
  const absFile = resolve(file);
  const dir = dirname(absFile);
  const home = options.home ?? homedir();
  const local = (p: string) => resolve(dir, p);
  const sshPath = (p: string) => resolve(dir, p === '~' ? home : p.startsWith('~/') ? `${home}/${p.slice(2)}` : p);
  const { ssh, app, dns } = parsed;
  const clusters = Object.fromEntries(CLUSTER_IDS.map((id) => [id, cluster(id, parsed)])) as Record<
    ClusterId,
    ClusterConfig
  >;
  return {
    file: absFile,
    dir,
    app: { ...app, repo: isRemoteRepo(app.repo) ? app.repo : local(app.repo) },
    ...(parsed.artifact && {
      artifact: {
        ...parsed.artifact,
        cache: parsed.artifact.cache !== undefined ? sshPath(parsed.artifact.cache) : defaultArtifactCache(home),
      },
    }),
    ssh: {
      ...ssh,
      knownHosts: sshPath(ssh.knownHosts),
      ...(ssh.identity !== undefined && { identity: sshPath(ssh.identity) }),
      ...(ssh.config !== undefined && { config: sshPath(ssh.config) }),
    },
    balancer: parsed.balancer,
    clusters,
    resolve: parsed.resolve ?? {},
    smoke: Array.isArray(parsed.smoke)
      ? { checks: parsed.smoke, deadlineMs: DEFAULT_SMOKE_DEADLINE_MS }
      : { checks: parsed.smoke.checks, deadlineMs: parsed.smoke.deadline },
    ...(parsed.watch && { watch: parsed.watch }),
    ...(parsed.canary && { canary: parsed.canary }),
    require: {
      ...parsed.require,
      ...(parsed.require.allowedSigners !== undefined && { allowedSigners: sshPath(parsed.require.allowedSigners) }),
    },
    lock: parsed.lock,
    record: parsed.record,
    ...(parsed.migrate && { migrate: migrateConfig(parsed, clusters) }),
    ...(dns && {
      dns:
        dns.update?.tsigKeyFile !== undefined
          ? { ...dns, update: { tsigKeyFile: local(dns.update.tsigKeyFile) } }
          : dns,
    }),
    ...(parsed.track && { track: { ...parsed.track, repo: local(parsed.track.repo) } }),
    capacity: parsed.capacity,
    ...(parsed.hooks && { hooks: hooksConfig(parsed) }),
    ...(parsed.notify && { notify: parsed.notify }),
    secrets: Object.fromEntries(
      Object.entries(parsed.secrets ?? {}).map(([name, ref]) => [
        name,
        ref.file === undefined ? ref : { file: local(ref.file) },
      ]),
    ),
  };
}

/** Each hook as a command and its time limit (its own, else hooksTimeout). */
function hooksConfig(parsed: BatonConfigParsed): NonNullable<Config['hooks']> {
  return Object.fromEntries(
    Object.entries(parsed.hooks ?? {}).flatMap(([name, hook]) =>
      hook === undefined
        ? []
        : [
            [
              name,
              typeof hook === 'object' && !Array.isArray(hook)
                ? { run: hook.run, timeoutMs: hook.timeout ?? parsed.hooksTimeout }
                : { run: hook, timeoutMs: parsed.hooksTimeout },
            ],
          ],
    ),
  );
}

/** Where built artifacts are kept when baton.yml does not say: beside the repository mirrors, outside any checkout. */
function defaultArtifactCache(home: string): string {
  return join(process.env.XDG_CACHE_HOME || join(home, '.cache'), 'baton', 'artifacts');
}

function migrateConfig(parsed: BatonConfigParsed, clusters: Record<ClusterId, ClusterConfig>): MigrateConfig {
  const { host, gate, ...rest } = parsed.migrate as NonNullable<BatonConfigParsed['migrate']>;
  const smoke = Array.isArray(parsed.smoke) ? parsed.smoke : parsed.smoke.checks;
  // Spelled as its cluster lists it (the cross-check matched it ignoring case): steps and transports know it by that
  // name.
  const listed = [...clusters.a.hosts, ...clusters.b.hosts].find(
    (h) => h.host.toLowerCase() === host?.toLowerCase(),
  )?.host;
  return {
    ...rest,
    host: listed ?? host ?? (clusters.a.hosts[0] as { host: string }).host,
    gate: gate === 'smoke' ? smoke : gate,
  };
}

/** A repo URL (scheme://…, user@host:path, host:path) rather than a local path. */
export function isRemoteRepo(repo: string): boolean {
  if (isAbsolute(repo) || repo.startsWith('.')) return false;
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(repo) || /^[^/:]+:/.test(repo);
}

function cluster(id: ClusterId, parsed: BatonConfigParsed): ClusterConfig {
  const c = parsed.clusters[id];
  return {
    id,
    internal: c.internal,
    hosts: c.hosts.map((h) =>
      typeof h === 'string'
        ? { host: h, cluster: id }
        : { host: h.host, cluster: id, ...(h.member !== undefined && { member: h.member }) },
    ),
  };
}
