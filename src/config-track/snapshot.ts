// `baton snapshot`: each host's tracked paths into the snapshot repository, one commit per run.
// A host is listed in one round trip (names, metadata, hashes); only files whose hash the
// repository does not have yet are read, in a second. Nothing here renders.
import type { Config } from '../config/config.js';
import { forEachHostSettled } from '../transport/fan-out.js';
import type { Transports } from '../transport/types.js';
import { fetchFiles, listTracked, parseFetched, parseListing, PACKAGES, type TrackedEntry } from './host-files.js';
import { MANIFEST_FORMAT, SnapshotStore, storedPath, type HostManifest } from './store.js';
import { trackConfig, trackedHosts, type TrackedHost } from './tracked-hosts.js';

export interface EntryChanges {
  added: string[];
  changed: string[];
  removed: string[];
}

/** A path the snapshot could not (or must not) read, and why. */
export interface NotRead {
  path: string;
  why: string;
}

export interface HostSnapshot {
  host: string;
  changes: EntryChanges;
  notRead: NotRead[];
  /** Bytes of file content read from the host (0 when nothing changed). */
  bytesRead: number;
  entries: TrackedEntry[];
}

export interface SnapshotResult {
  repo: string;
  /** The new commit, or null when no host changed since the last one. */
  commit: string | null;
  previous: string | null;
  hosts: HostSnapshot[];
  failed: { host: string; error: string }[];
}

/** Lists a host's tracked paths now (one round trip). */
export async function listHost(config: Config, transports: Transports, tracked: TrackedHost): Promise<TrackedEntry[]> {
  const track = trackConfig(config);
  const argv = listTracked({
    paths: tracked.paths,
    exclude: track.exclude,
    maxFileSize: track.maxFileSize,
    packages: track.packages,
  });
  const r = await transports.get(tracked.host).run(argv, { timeoutMs: 120_000 });
  return parseListing(r.stdout, tracked.paths);
}

/** What differs between two listings, by path: kind, mode, owner, content or link target. */
export function compareEntries(before: readonly TrackedEntry[], now: readonly TrackedEntry[]): EntryChanges {
  const old = new Map(before.map((e) => [e.path, e]));
  const cur = new Map(now.map((e) => [e.path, e]));
  const same = (a: TrackedEntry, b: TrackedEntry) =>
    a.kind === b.kind && a.mode === b.mode && a.owner === b.owner && a.sha256 === b.sha256 && a.target === b.target;
  return {
    added: now.filter((e) => !old.has(e.path) && e.kind !== 'missing').map((e) => e.path),
    changed: now.filter((e) => old.has(e.path) && !same(old.get(e.path)!, e)).map((e) => e.path),
    removed: before.filter((e) => !cur.has(e.path) && e.kind !== 'missing').map((e) => e.path),
  };
}

/** Paths a listing says were not read, and why. */
export function notReadOf(entries: readonly TrackedEntry[], maxFileSize: number): NotRead[] {
  return entries.flatMap((e): NotRead[] => {
    if (e.kind === 'excluded') return [{ path: e.path, why: 'excluded (track.exclude): never read' }];
    if (e.kind === 'unreadable') return [{ path: e.path, why: `could not be read: ${e.error ?? 'unknown reason'}` }];
    if (e.kind === 'large')
      return [
        { path: e.path, why: `${e.size} bytes, over track.maxFileSize (${maxFileSize}): hash kept, content not` },
      ];
    if (e.kind === 'special') return [{ path: e.path, why: 'not a regular file (socket, fifo or device): not read' }];
    if (e.kind === 'missing') return [{ path: e.path, why: 'does not exist on this host' }];
    return [];
  });
}

export async function takeSnapshot(
  config: Config,
  transports: Transports,
  only: readonly string[],
  by: string,
): Promise<SnapshotResult> {
  const track = trackConfig(config);
  const hosts = trackedHosts(config, only);
  const store = await SnapshotStore.open(track.repo, { create: true });
  const previous = await store.head();
  const { results, failed } = await forEachHostSettled(
    hosts.map((h) => h.host),
    config.ssh.concurrency,
    (host) =>
      snapshotHost(
        config,
        transports,
        store,
        hosts.find((h) => h.host === host)!,
      ),
  );
  const done = hosts.map((h) => results.get(h.host)).filter((h): h is HostSnapshot => h !== undefined);
  const commit = await store.commit(commitMessage(done, failed), by);
  return { repo: track.repo, commit, previous, hosts: done, failed };
}

async function snapshotHost(
  config: Config,
  transports: Transports,
  store: SnapshotStore,
  tracked: TrackedHost,
): Promise<HostSnapshot> {
  const track = trackConfig(config);
  const entries = await listHost(config, transports, tracked);
  const before = (await store.manifest(tracked.host))?.entries ?? [];
  const stored = new Map(before.map((e) => [e.path, e.sha256]));
  const contentOf = (e: TrackedEntry) => e.kind === 'file' && e.sha256 !== undefined;
  // Unchanged files cost no transfer: only a hash the repository does not hold is read.
  const wanted = entries.filter((e) => contentOf(e) && stored.get(e.path) !== e.sha256).map((e) => e.path);
  const fetched =
    wanted.length > 0
      ? parseFetched((await transports.get(tracked.host).run(fetchFiles(wanted), { timeoutMs: 120_000 })).stdout)
      : new Map<string, Buffer | null>();
  let bytesRead = 0;
  const final = entries.map((e): TrackedEntry => {
    if (!wanted.includes(e.path)) return e;
    const content = fetched.get(e.path);
    // Changed between the listing and the read: listed as unreadable rather than stored under the wrong hash.
    if (!content)
      return {
        path: e.path,
        kind: 'unreadable',
        ...(e.mode && { mode: e.mode }),
        ...(e.owner && { owner: e.owner }),
        error: 'vanished or became unreadable while it was read',
      };
    bytesRead += content.length;
    return e;
  });
  for (const path of wanted) {
    const content = fetched.get(path);
    if (content) await store.writeFile(storedPath(tracked.host, path), content);
  }
  // Files no longer there (or no longer readable) leave the repository too: it shows the host as it is.
  const keep = new Set(final.filter(contentOf).map((e) => e.path));
  for (const e of before) if (contentOf(e) && !keep.has(e.path)) await store.remove(storedPath(tracked.host, e.path));
  const manifest: HostManifest = { format: MANIFEST_FORMAT, host: tracked.host, roles: tracked.roles, entries: final };
  await store.writeManifest(manifest);
  return {
    host: tracked.host,
    changes:
      before.length === 0
        ? { added: final.filter((e) => e.kind !== 'missing').map((e) => e.path), changed: [], removed: [] }
        : compareEntries(before, final),
    notRead: notReadOf(final, track.maxFileSize),
    bytesRead,
    entries: final,
  };
}

/** The commit message: what changed on which host, then what could not be read. */
export function commitMessage(hosts: readonly HostSnapshot[], failed: SnapshotResult['failed']): string {
  const changed = hosts.filter((h) => h.changes.added.length + h.changes.changed.length + h.changes.removed.length > 0);
  const lines = [
    `snapshot: ${changed.length} of ${hosts.length} host${hosts.length === 1 ? '' : 's'} ` +
      `changed${failed.length ? `, ${failed.length} not reached` : ''}`,
    '',
  ];
  const show = (p: string) => (p === PACKAGES ? 'package list' : p);
  for (const h of changed) {
    const parts = [
      h.changes.added.length ? `added ${h.changes.added.map(show).join(', ')}` : '',
      h.changes.changed.length ? `changed ${h.changes.changed.map(show).join(', ')}` : '',
      h.changes.removed.length ? `removed ${h.changes.removed.map(show).join(', ')}` : '',
    ].filter(Boolean);
    lines.push(`${h.host}: ${parts.join('; ')}`);
  }
  const notRead = hosts.flatMap((h) =>
    h.notRead.filter((n) => !n.why.startsWith('does not exist')).map((n) => `${h.host}: ${show(n.path)}: ${n.why}`),
  );
  if (notRead.length) lines.push('', 'not read:', ...notRead.map((l) => `  ${l}`));
  if (failed.length)
    lines.push(
      '',
      'not reached (their last snapshot is kept):',
      ...failed.map((f) => `  ${f.host}: ${f.error.split('\n')[0]}`),
    );
  return `${lines.join('\n').trimEnd()}\n`;
}
