// Checks no single key can make: every host in exactly one cluster and listed once, balancer peers
// other than balancer.host and listed once, every
// explicit balancer member name used once, nginx keys only in the mode that reads them, a watch only where the balancer
// can count what it watches, required approvals or rehearsals only with a file of who may sign them, every
// `{secret: NAME}` naming an entry of `secrets:`, and migrations run on one of the clusters' hosts. They read the raw
// data defensively so they can report alongside schema errors, not only after the schema passes.
import { isPlainObject, formatPath, type KeyPath } from './paths.js';
import type { Problem } from './problem.js';
import { secretUses } from './secrets.js';
import { closest } from './suggest.js';

export function crossChecks(data: unknown): Problem[] {
  const problems: Problem[] = [];
  const clusters = isPlainObject(data) && isPlainObject(data.clusters) ? data.clusters : {};
  const hostSeen = new Map<string, { cluster: string; path: KeyPath }>();
  const memberSeen = new Map<string, KeyPath>();
  for (const id of ['a', 'b']) {
    const cluster = clusters[id];
    const hosts = isPlainObject(cluster) && Array.isArray(cluster.hosts) ? cluster.hosts : [];
    hosts.forEach((entry: unknown, i) => {
      const at: KeyPath = ['clusters', id, 'hosts', i];
      const host =
        typeof entry === 'string'
          ? entry
          : isPlainObject(entry) && typeof entry.host === 'string'
            ? entry.host
            : undefined;
      const hostPath = typeof entry === 'string' ? at : [...at, 'host'];
      if (host) {
        const first = hostSeen.get(host.toLowerCase());
        if (!first) hostSeen.set(host.toLowerCase(), { cluster: id, path: hostPath });
        else if (first.cluster === id)
          problems.push({ path: hostPath, message: `duplicate host (already listed at ${formatPath(first.path)})` });
        else
          problems.push({
            path: hostPath,
            message:
              `this host is listed in both clusters (also at ${formatPath(first.path)}); ` +
              'a host belongs to one cluster',
          });
      }
      const member = isPlainObject(entry) && typeof entry.member === 'string' ? entry.member : undefined;
      if (member) {
        const first = memberSeen.get(member);
        if (!first) memberSeen.set(member, [...at, 'member']);
        else
          problems.push({
            path: [...at, 'member'],
            message: `duplicate balancer member name (already used at ${formatPath(first)})`,
          });
      }
    });
  }
  problems.push(
    ...peerChecks(data),
    ...nginxModeChecks(data),
    ...watchChecks(data),
    ...signerChecks(data),
    ...secretNameChecks(data),
    ...migrateHostChecks(data, [...hostSeen.keys()]),
  );
  return problems;
}

/**
 * Each peer is another balancer: the primary (balancer.host) again, or a peer twice, would take every change twice and
 * hide the other one.
 */
function peerChecks(data: unknown): Problem[] {
  if (!isPlainObject(data) || !isPlainObject(data.balancer) || !Array.isArray(data.balancer.peers)) return [];
  const host = typeof data.balancer.host === 'string' ? data.balancer.host.toLowerCase() : undefined;
  const seen = new Map<string, number>();
  const problems: Problem[] = [];
  data.balancer.peers.forEach((peer: unknown, i) => {
    if (typeof peer !== 'string') return; // the schema reports it
    const name = peer.toLowerCase();
    const path: KeyPath = ['balancer', 'peers', i];
    const first = seen.get(name);
    if (name === host)
      problems.push({ path, message: `${peer} is balancer.host itself: peers are the other balancers` });
    else if (first !== undefined)
      problems.push({
        path,
        message: `duplicate peer (already listed at ${formatPath(['balancer', 'peers', first])})`,
      });
    else seen.set(name, i);
  });
  return problems;
}

/** Migrations run in a release directory baton staged: only on one of the clusters' hosts. */
function migrateHostChecks(data: unknown, hosts: string[]): Problem[] {
  if (!isPlainObject(data) || !isPlainObject(data.migrate) || typeof data.migrate.host !== 'string') return [];
  const host = data.migrate.host;
  if (hosts.includes(host.toLowerCase())) return [];
  const near = closest(host, hosts);
  return [
    {
      path: ['migrate', 'host'],
      message:
        `${host} is not a host of either cluster: migrations run in the new release's directory, ` +
        `which baton stages only on the clusters' ` +
        `hosts${near ? `; did you mean \`${near}\`?` : ` (${hosts.join(', ') || 'none listed'})`}`,
    },
  ];
}

/**
 * Approvals and rehearsals count only when signed by a known key: requiring them without allowed_signers could never be
 * met.
 */
function signerChecks(data: unknown): Problem[] {
  if (!isPlainObject(data) || !isPlainObject(data.require) || data.require.allowedSigners !== undefined) return [];
  const { approvals, rehearsal } = data.require;
  const needs = [
    ...(typeof approvals === 'number' && approvals > 0 ? ['approvals'] : []),
    ...(rehearsal === true ? ['a rehearsal'] : []),
  ];
  if (!needs.length) return [];
  return [
    {
      path: ['require'],
      at: 'key',
      message:
        `requiring ${needs.join(' and ')} needs require.allowedSigners: ` +
        `an OpenSSH allowed_signers file of the keys whose signatures count (\`principal keytype base64key\` a ` +
        'line)',
    },
  ];
}

/**
 * Every `{secret: NAME}` names an entry of `secrets:`; whether its variable or file exists is for the run to find out.
 */
function secretNameChecks(data: unknown): Problem[] {
  const named = isPlainObject(data) && isPlainObject(data.secrets) ? Object.keys(data.secrets) : [];
  return secretUses(data)
    .filter((u) => !named.includes(u.name))
    .map((u) => {
      const near = closest(u.name, named);
      return {
        path: [...u.path, 'secret'],
        message: near
          ? `no secret named \`${u.name}\` under secrets:; did you mean \`${near}\`?`
          : `no secret named \`${u.name}\` under secrets: ` +
            `(${named.length ? `it has ${named.join(', ')}` : 'there is none'}); add it as {env: ` +
            'NAME} or {file: PATH}',
      };
    });
}

/** Apache and nginx count their members' 5xx answers only in an access log: a watch without one could never fail. */
function watchChecks(data: unknown): Problem[] {
  if (!isPlainObject(data) || data.watch === undefined || !isPlainObject(data.balancer)) return [];
  const { driver, accessLog } = data.balancer;
  if ((driver !== 'apache' && driver !== 'nginx') || accessLog !== undefined) return [];
  return [
    {
      path: ['watch'],
      at: 'key',
      message:
        `the watch needs the public frontend's requests and 5xx answers, ` +
        `which ${driver === 'apache' ? 'Apache' : 'nginx'} counts only in an access log: ` +
        'set balancer.accessLog (common or combined format)',
    },
  ];
}

/**
 * Keys each nginx mode reads: file edits upstreamFile and reloads; lua rewrites stateFile and calls controlUrl, never
 * reloading.
 */
const NGINX_MODE_KEYS = { file: ['upstreamFile', 'pidFile'], lua: ['controlUrl', 'stateFile'] } as const;

function nginxModeChecks(data: unknown): Problem[] {
  if (!isPlainObject(data) || !isPlainObject(data.balancer) || data.balancer.driver !== 'nginx') return [];
  const b = data.balancer;
  const mode = b.mode === undefined ? 'file' : b.mode;
  if (mode !== 'file' && mode !== 'lua') return []; // the schema reports it
  const other = mode === 'file' ? 'lua' : 'file';
  const byDefault = b.mode === undefined ? ' (the default)' : '';
  const luaNote = mode === 'lua' ? ': the Lua side reads stateFile and nginx never reloads' : '';
  const problems: Problem[] = NGINX_MODE_KEYS[other]
    .filter((key) => b[key] !== undefined)
    .map((key) => ({
      path: ['balancer', key],
      at: 'key',
      message: `\`${key}\` is for nginx mode: ${other}, not mode: ${mode}${byDefault}${luaNote}`,
    }));
  if (mode === 'file' && b.upstreamFile === undefined) {
    problems.push({
      path: ['balancer', 'upstreamFile'],
      at: 'parent',
      message: 'missing required key `upstreamFile` (nginx mode: file edits it; mode: lua does without it)',
    });
  }
  if (mode === 'lua' && b.cutOffAfterDrainTimeout === true) {
    problems.push({
      path: ['balancer', 'cutOffAfterDrainTimeout'],
      message:
        'nginx mode: lua cannot cut the requests still in flight (only a reload ends them, ' +
        'and this mode never reloads): set it to false, or use mode: file',
    });
  }
  return problems;
}
