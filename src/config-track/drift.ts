// `baton drift`: what differs on each host from its last snapshot, as a diff. Reads the host as a
// snapshot would (one listing, then only the files whose hash differs) and changes nothing.
import { createTwoFilesPatch } from 'diff';
import type { Config } from '../config/config.js';
import { UserError } from '../errors.js';
import { forEachHostSettled } from '../transport/fan-out.js';
import type { Transports } from '../transport/types.js';
import { fetchFiles, parseFetched, PACKAGES, type TrackedEntry } from './host-files.js';
import { compareEntries, listHost, type EntryChanges } from './snapshot.js';
import { SnapshotStore, storedPath } from './store.js';
import { trackConfig, trackedHosts } from './tracked-hosts.js';

export interface PathDrift {
  path: string;
  /** What changed besides content: kind, mode, owner, link target. */
  what: string[];
  /** Unified diff of the content, when both sides are readable text. */
  patch?: string;
}

export interface HostDrift {
  host: string;
  /** No snapshot of this host in the repository yet. */
  noSnapshot?: boolean;
  changes: EntryChanges;
  paths: PathDrift[];
}

export interface DriftResult {
  repo: string;
  /** The snapshot commit compared with. */
  commit: string;
  hosts: HostDrift[];
  failed: { host: string; error: string }[];
}

export function hasDrift(h: HostDrift): boolean {
  return h.noSnapshot === true || h.changes.added.length + h.changes.changed.length + h.changes.removed.length > 0;
}

export async function findDrift(
  config: Config,
  transports: Transports,
  only: readonly string[] = [],
): Promise<DriftResult> {
  const track = trackConfig(config);
  const hosts = trackedHosts(config, only);
  const store = await SnapshotStore.open(track.repo);
  const commit = await store.head();
  if (!commit)
    throw new UserError(`the snapshot repository ${track.repo} has no snapshot yet`, 'take one first: baton snapshot');
  const { results, failed } = await forEachHostSettled(
    hosts.map((h) => h.host),
    config.ssh.concurrency,
    async (host): Promise<HostDrift> => {
      const tracked = hosts.find((h) => h.host === host)!;
      const [now, manifest] = await Promise.all([listHost(config, transports, tracked), store.manifest(host, commit)]);
      if (!manifest)
        return {
          host,
          noSnapshot: true,
          changes: { added: now.map((e) => e.path), changed: [], removed: [] },
          paths: [],
        };
      return driftOf(host, manifest.entries, now, store, commit, transports);
    },
  );
  return {
    repo: track.repo,
    commit,
    hosts: hosts.map((h) => results.get(h.host)).filter((h): h is HostDrift => h !== undefined),
    failed,
  };
}

async function driftOf(
  host: string,
  before: TrackedEntry[],
  now: TrackedEntry[],
  store: SnapshotStore,
  commit: string,
  transports: Transports,
): Promise<HostDrift> {
  const changes = compareEntries(before, now);
  const old = new Map(before.map((e) => [e.path, e]));
  const cur = new Map(now.map((e) => [e.path, e]));
  const touched = [...changes.changed, ...changes.added, ...changes.removed];
  const readable = (e: TrackedEntry | undefined) => e?.kind === 'file' && e.sha256 !== undefined;
  const toFetch = touched.filter((p) => readable(cur.get(p)) && cur.get(p)!.sha256 !== old.get(p)?.sha256);
  const fetched =
    toFetch.length > 0
      ? parseFetched((await transports.get(host).run(fetchFiles(toFetch), { timeoutMs: 120_000 })).stdout)
      : new Map<string, Buffer | null>();
  const paths: PathDrift[] = [];
  for (const path of touched.sort()) {
    const a = old.get(path);
    const b = cur.get(path);
    const what = describeChange(a, b);
    const oldContent = readable(a) && a!.sha256 !== b?.sha256 ? await store.read(storedPath(host, path), commit) : null;
    const newContent = fetched.get(path) ?? null;
    const patch =
      oldContent !== null || newContent !== null ? contentPatch(host, path, oldContent, newContent) : undefined;
    paths.push({ path, what, ...(patch !== undefined && { patch }) });
  }
  return { host, changes, paths };
}

function describeChange(a: TrackedEntry | undefined, b: TrackedEntry | undefined): string[] {
  if (!a) return [`new ${b?.kind ?? 'entry'}`];
  if (!b) return [`${a.kind} removed`];
  const out: string[] = [];
  if (a.kind !== b.kind) out.push(`${a.kind} → ${b.kind}${b.error ? ` (${b.error})` : ''}`);
  if (a.mode !== b.mode && a.mode && b.mode) out.push(`mode ${a.mode} → ${b.mode}`);
  if (a.owner !== b.owner && a.owner && b.owner) out.push(`owner ${a.owner} → ${b.owner}`);
  if (a.target !== b.target) out.push(`link ${a.target ?? '(none)'} → ${b.target ?? '(none)'}`);
  if (a.sha256 !== b.sha256 && a.kind === b.kind) out.push('content');
  return out;
}

function contentPatch(host: string, path: string, before: Buffer | null, after: Buffer | null): string {
  const name = path === PACKAGES ? 'package list' : path;
  if ((before && before.includes(0)) || (after && after.includes(0))) return `binary ${name} differs\n`;
  return createTwoFilesPatch(
    `${host}:${name} (snapshot)`,
    `${host}:${name} (now)`,
    before?.toString('utf8') ?? '',
    after?.toString('utf8') ?? '',
    undefined,
    undefined,
    { context: 3 },
  );
}
