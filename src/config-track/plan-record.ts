// What a plan records of the tracked configuration (the snapshot commit, and a digest of each
// host's tracked paths when the plan was made), and apply's check that no host drifted since.
import type { Config } from '../config/config.js';
import { PlanRefusedError } from '../errors.js';
import type { SnapshotRecord } from '../model/plan.js';
import { forEachHost } from '../transport/fan-out.js';
import type { Transports } from '../transport/types.js';
import type { TrackedEntry } from './host-files.js';
import { compareEntries, listHost } from './snapshot.js';
import { entriesDigest, SnapshotStore } from './store.js';
import { trackedHosts } from './tracked-hosts.js';

/** Each tracked host's listing now (one round trip each, at once), as digests; undefined without track:. */
export async function recordSnapshot(config: Config, transports: Transports): Promise<SnapshotRecord | undefined> {
  return (await listAll(config, transports))?.record;
}

/**
 * What recordSnapshot records, and the listings it was made from (so a drifted host can be described without listing it
 * again).
 */
async function listAll(
  config: Config,
  transports: Transports,
): Promise<{ record: SnapshotRecord; listings: Map<string, TrackedEntry[]> } | undefined> {
  if (!config.track) return undefined;
  const store = await SnapshotStore.open(config.track.repo, { create: true });
  const hosts = trackedHosts(config);
  const [commit, listings] = await Promise.all([
    store.head(),
    forEachHost(
      hosts.map((h) => h.host),
      config.ssh.concurrency,
      (host) =>
        listHost(
          config,
          transports,
          hosts.find((h) => h.host === host)!,
        ),
    ),
  ]);
  return {
    record: { commit, hosts: Object.fromEntries(hosts.map((h) => [h.host, entriesDigest(listings.get(h.host)!)])) },
    listings,
  };
}

/**
 * Refuses (exit 3) when a host's tracked paths changed since the plan was made, naming what
 * differs from the snapshot; with `accept` (a reason) it returns journal lines instead.
 */
export async function checkNoDriftSince(
  config: Config,
  transports: Transports,
  recorded: SnapshotRecord,
  accept?: { by: string; reason: string },
): Promise<string[]> {
  const listed = await listAll(config, transports);
  if (!listed) return [];
  const now = listed.record;
  const drifted = Object.keys(recorded.hosts).filter(
    (h) => now.hosts[h] !== undefined && now.hosts[h] !== recorded.hosts[h],
  );
  if (drifted.length === 0) return [];
  const details = await describeHosts(config, drifted, listed.listings, recorded.commit);
  if (accept) {
    if (accept.reason.trim() === '')
      throw new PlanRefusedError(
        '--accept-drift needs a reason',
        'say why, e.g. --accept-drift "hotfix of haproxy.cfg, snapshot after the push"',
      );
    return [`drift accepted by ${accept.by}: ${accept.reason}`, ...details.map((d) => `  ${d}`)];
  }
  throw new PlanRefusedError(
    `the configuration of ${drifted.length} host${drifted.length === 1 ? '' : 's'} changed since the plan ` +
      `was made:\n  ${details.join('\n  ')}`,
    'see it with `baton drift`; take a new snapshot (`baton snapshot`) ' +
      'and make a new plan if the change is wanted, or apply with --accept-drift REASON',
    details,
  );
}

/** Each drifted host against its snapshot, from the listing the drift check already made of it. */
async function describeHosts(
  config: Config,
  hosts: string[],
  listings: Map<string, TrackedEntry[]>,
  commit: string | null,
): Promise<string[]> {
  const store = commit ? await SnapshotStore.open(config.track!.repo).catch(() => null) : null;
  return Promise.all(
    hosts.map(async (host) => {
      const manifest = store && commit ? await store.manifest(host, commit) : null;
      if (!manifest) return `${host}: its tracked files changed (no snapshot of it to compare with)`;
      const c = compareEntries(manifest.entries, listings.get(host)!);
      const parts = [
        c.changed.length ? `changed ${c.changed.join(', ')}` : '',
        c.added.length ? `added ${c.added.join(', ')}` : '',
        c.removed.length ? `removed ${c.removed.join(', ')}` : '',
      ].filter(Boolean);
      return (
        `${host}: ${parts.join('; ') || 'changed, then put back as in the snapshot'}` +
        ` (against snapshot ${commit!.slice(0, 12)})`
      );
    }),
  );
}
