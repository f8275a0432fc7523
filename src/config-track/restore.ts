// A host's bare-metal restore from its last snapshot: the runbook a person follows (what to
// install, which files to put back with which mode and owner, what to put back by hand), and the
// automatable part of it, carried out by the restore-config step: missing packages installed,
// folders, files and links written as the snapshot recorded them.
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import type { Config } from '../config/config.js';
import type { ObservedState } from '../model/plan.js';
import { UserError } from '../errors.js';
import type { Transport } from '../transport/types.js';
import { PACKAGES, type TrackedEntry } from './host-files.js';
import { applyFiles, installPackages } from './restore-commands.js';
import { notReadOf, type NotRead } from './snapshot.js';
import { SnapshotStore, storedPath } from './store.js';
import { trackConfig } from './tracked-hosts.js';
import { loadExeca } from '../lazy-modules.js';

export interface RestoreRunbook {
  host: string;
  repo: string;
  commit: string;
  /** `name=version` of every package the host had. */
  packages: string[];
  dirs: TrackedEntry[];
  files: TrackedEntry[];
  links: TrackedEntry[];
  /** What a restore cannot put back: excluded secrets, unreadable, too large or special files. */
  byHand: NotRead[];
  /** Where the app's `current` link pointed: the release, which a restore deploys from its tag instead of copying. */
  release: string | null;
}

/** The runbook of `host` from snapshot `commit` (default: the last one). */
export async function loadRunbook(config: Config, host: string, commit?: string): Promise<RestoreRunbook> {
  const track = trackConfig(config);
  const store = await SnapshotStore.open(track.repo);
  const at = commit !== undefined ? await store.resolveCommit(commit) : await store.head();
  if (!at)
    throw new UserError(
      `the snapshot repository ${track.repo} has no snapshot yet`,
      'take one while the host is healthy: baton snapshot',
    );
  const manifest = await store.manifest(host, at);
  if (!manifest)
    throw new UserError(
      `snapshot ${at.slice(0, 12)} has no record of ${host}`,
      `take one while it is healthy (baton snapshot ${host}), or name an older commit with --commit`,
    );
  const current = posix.join(config.app.path, 'current');
  const packages =
    (await store.read(storedPath(host, PACKAGES), at))?.toString('utf8').split('\n').filter(Boolean) ?? [];
  const pointer = manifest.entries.find((e) => e.path === current && e.kind === 'link');
  const restorable = manifest.entries.filter((e) => e.path !== current && e.path !== PACKAGES);
  return {
    host,
    repo: track.repo,
    commit: at,
    packages,
    dirs: restorable.filter((e) => e.kind === 'dir'),
    files: restorable.filter((e) => e.kind === 'file'),
    links: restorable.filter((e) => e.kind === 'link'),
    byHand: notReadOf(restorable, track.maxFileSize).filter((n) => !n.why.startsWith('does not exist')),
    release: pointer?.target ? posix.basename(pointer.target) : null,
  };
}

/**
 * Each host's runbook (markdown) from the snapshot `observed` records, for the plan's review copy; a host without a
 * snapshot keeps the plan's generic text.
 */
export async function snapshotRunbooks(config: Config, observed: ObservedState): Promise<Record<string, string>> {
  const commit = observed.snapshot?.commit;
  if (!config.track || !commit) return {};
  const out: Record<string, string> = {};
  for (const h of observed.hosts) {
    const rb = await loadRunbook(config, h.host, commit).catch(() => null);
    if (!rb) return {};
    const clusterInPool = observed.hosts.some((o) => o.cluster === h.cluster && o.memberState === 'ready');
    out[h.host] = runbookMarkdown(rb, {
      cluster: h.cluster,
      member: h.member,
      balancerHost: observed.balancer.host,
      clusterRelease: h.release,
      clusterInPool,
    });
  }
  for (const b of [config.balancer.host, ...(config.balancer.peers ?? [])]) {
    const rb = await loadRunbook(config, b, commit).catch(() => null);
    if (rb) out[b] = runbookMarkdown(rb, { balancerHost: config.balancer.host });
  }
  return out;
}

/** Where the host is in production, for the runbook's words. */
export interface RunbookContext {
  cluster?: string;
  member?: string;
  balancerHost: string;
  /** The release the host's cluster runs now (what a restore deploys). */
  clusterRelease?: string | null;
  /** Its cluster is in the pool: the host goes back in at the end. */
  clusterInPool?: boolean;
}

export function runbookMarkdown(rb: RestoreRunbook, ctx: RunbookContext): string {
  const showCommit = rb.commit.slice(0, 12);
  const packagesLine = rb.packages.length
    ? `${rb.packages.length} recorded (\`git -C ${rb.repo} show ${showCommit}:${storedPath(rb.host, PACKAGES)}\`); ` +
      'install those missing'
    : 'none recorded';
  const member = `\`${ctx.member ?? rb.host}\``;
  const poolLine =
    ctx.clusterInPool === false
      ? `leave ${member} out: its cluster is not in the pool`
      : `return ${member} to the pool`;
  const release = ctx.clusterRelease ?? rb.release;
  const where = ctx.cluster
    ? ` (cluster ${ctx.cluster}${ctx.member ? `, member \`${ctx.member}\`` : ''})`
    : ' (balancer)';
  const lines = [
    `### Restore \`${rb.host}\`${where} from snapshot \`${showCommit}\``,
    '',
    ctx.member
      ? `1. Keep member \`${ctx.member}\` out of the pool on \`${ctx.balancerHost}\` until the last step ` +
        `(\`baton restore ${rb.host} --run\` drains it and keeps it out).`
      : `1. Take \`${rb.host}\` out of service (the other balancer or a maintenance page carries the traffic).`,
    '2. Bootstrap: install the operating system, give the host its address and SSH access for baton (its ' +
      'host key goes into known_hosts).',
    `3. Packages: ${packagesLine}.`,
    `4. Configuration: ${count(rb.dirs.length, 'folder')}, ${count(rb.files.length, 'file')}` +
      ` and ${count(rb.links.length, 'link')} from \`${rb.repo}\` at \`${showCommit}\`, ` +
      'each with its recorded mode and owner:',
    ...[...rb.dirs, ...rb.files, ...rb.links].map(
      (e) =>
        `   - \`${e.path}\`${e.kind === 'link' ? ` → \`${e.target ?? ''}\`` : ''} ` +
        `(${e.kind}${e.mode ? ` ${e.mode}` : ''}${e.owner ? ` ${e.owner}` : ''})`,
    ),
  ];
  lines.push(
    rb.byHand.length
      ? `5. By hand (a snapshot never holds these):\n${rb.byHand.map((n) => `   - \`${n.path}\`: ${n.why}`).join('\n')}`
      : '5. Nothing to put back by hand: every tracked file is in the snapshot.',
  );
  if (ctx.cluster) {
    lines.push(
      `6. Data: restore whatever the host keeps that is not configuration (baton does not track data).`,
      release
        ? `7. Release: deploy \`${release}\` from its tag, as a push would, point \`current\` at it, ` +
            'restart and wait for local health.'
        : '7. Release: deploy the release its cluster runs.',
      `8. Smoke-check the host itself, then ${poolLine}.`,
      '',
      `Steps 1, 3, 4 and 7–8 are what \`baton restore ${rb.host} --run\` carries out, ` +
        'under the release lock and journaled.',
    );
  } else {
    lines.push(
      '6. Check the configuration (`haproxy -c`, `apache2ctl configtest`, `nginx -t`), start the service, ' +
        'and return the host to service.',
    );
  }
  return lines.join('\n');
}

/** Writes the runbook's configuration onto the host (one round trip) and installs missing packages first (another). */
export async function applyRunbook(
  rb: RestoreRunbook,
  store: SnapshotStore,
  transport: Transport,
  progress: (m: string) => void,
  sudoPackages = true,
): Promise<{ packages: string; entries: number }> {
  let packages = 'no package list recorded';
  if (rb.packages.length) {
    const r = await transport.run(installPackages(rb.packages, sudoPackages), { timeoutMs: 30 * 60_000 });
    packages =
      r.stdout
        .split('\n')
        .find((l) => l.startsWith('installed:') || l.startsWith('installing:'))
        ?.trim() ?? 'checked';
    progress(`packages: ${packages}`);
  }
  const staging = mkdtempSync(join(tmpdir(), 'baton-restore-'));
  try {
    await mkdir(join(staging, 'files'), { recursive: true });
    for (const f of rb.files) {
      const content = await store.read(storedPath(rb.host, f.path), rb.commit);
      if (content === null)
        throw new UserError(
          `snapshot ${rb.commit.slice(0, 12)} lists ${f.path} on ${rb.host} but does not hold its content`,
          `the repository ${rb.repo} is incomplete: look at it with git`,
        );
      const local = join(staging, 'files', f.path);
      await mkdir(dirname(local), { recursive: true });
      await writeFile(local, content);
    }
    const archive = (await (await loadExeca())('tar', ['-czf', '-', '-C', staging, 'files'], { encoding: 'buffer' }))
      .stdout;
    const entries = [...rb.dirs.sort((a, b) => a.path.length - b.path.length), ...rb.files, ...rb.links];
    await transport.run(applyFiles(entries), {
      stdin: Buffer.from(archive),
      timeoutMs: 10 * 60_000,
    });
    progress(
      `configuration: ${count(rb.dirs.length, 'folder')}, ${count(rb.files.length, 'file')}` +
        `, ${count(rb.links.length, 'link')} put back`,
    );
    return { packages, entries: entries.length };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}
