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

/** Each host's runbook (markdown) from the snapshot `observed` records, for the plan's review copy; a host without a snapshot keeps the plan's generic text. */
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
  const release = ctx.clusterRelease ?? rb.release;
  const where = ctx.cluster
    ? ` (cluster ${ctx.cluster}${ctx.member ? `, member \`${ctx.member}\`` : ''})`
    : ' (balancer)';
  const lines = [
    `### Restore \`${rb.host}\`${where} from snapshot \`${showCommit}\``,
    '',
    ctx.member
      ? `1. Keep member \`${ctx.member}\` out of the pool on \`${ctx.balancerHost}\` until the last step (\`baton restore ${rb.host} --run\` drains it and keeps it out).`
      : `1. Take \`${rb.host}\` out of service (the other balancer or a maintenance page carries the traffic).`,
    `2. Bootstrap: install the operating system, give the host its address and SSH access for baton (its host key goes into known_hosts).`,
    `3. Packages: ${rb.packages.length ? `${rb.packages.length} recorded (\`git -C ${rb.repo} show ${showCommit}:${storedPath(rb.host, PACKAGES)}\`); install those missing` : 'none recorded'}.`,
    `4. Configuration: ${count(rb.dirs.length, 'folder')}, ${count(rb.files.length, 'file')} and ${count(rb.links.length, 'link')} from \`${rb.repo}\` at \`${showCommit}\`, each with its recorded mode and owner:`,
    ...[...rb.dirs, ...rb.files, ...rb.links].map(
      (e) =>
        `   - \`${e.path}\`${e.kind === 'link' ? ` → \`${e.target ?? ''}\`` : ''} (${e.kind}${e.mode ? ` ${e.mode}` : ''}${e.owner ? ` ${e.owner}` : ''})`,
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
        ? `7. Release: deploy \`${release}\` from its tag, as a push would, point \`current\` at it, restart and wait for local health.`
        : '7. Release: deploy the release its cluster runs.',
      `8. Smoke-check the host itself, then ${ctx.clusterInPool === false ? `leave \`${ctx.member ?? rb.host}\` out: its cluster is not in the pool` : `return \`${ctx.member ?? rb.host}\` to the pool`}.`,
      '',
      `Steps 1, 3, 4 and 7–8 are what \`baton restore ${rb.host} --run\` carries out, under the release lock and journaled.`,
    );
  } else {
    lines.push(
      '6. Check the configuration (`haproxy -c`, `apache2ctl configtest`, `nginx -t`), start the service, and return the host to service.',
    );
  }
  return lines.join('\n');
}

// Folders, files and links, each as `kind path mode owner target`; contents arrive as a tar on stdin.
const APPLY_FILES = [
  'set -u',
  'tmp=$(mktemp -d) || exit 1',
  'trap \'rm -rf "$tmp"\' EXIT',
  'tar -xzf - -C "$tmp" || { echo "cannot unpack the configuration archive" >&2; exit 1; }',
  'failed=0',
  'fail() { echo "$1" >&2; failed=$((failed + 1)); }',
  'while [ $# -ge 5 ]; do',
  '  kind=$1 path=$2 mode=$3 owner=$4 target=$5; shift 5',
  '  case $kind in',
  '    dir) mkdir -p -- "$path" || { fail "$path: cannot create the folder"; continue; } ;;',
  '    file) mkdir -p -- "$(dirname -- "$path")" && cp -- "$tmp/files$path" "$path.baton-restore" && mv -f -- "$path.baton-restore" "$path" || { fail "$path: cannot write it"; continue; } ;;',
  '    link) mkdir -p -- "$(dirname -- "$path")" && ln -sfn -- "$target" "$path.baton-restore" && mv -Tf -- "$path.baton-restore" "$path" || { fail "$path: cannot link it"; continue; } ;;',
  '  esac',
  '  [ "$kind" = link ] || [ "$mode" = - ] || chmod -- "$mode" "$path" || fail "$path: cannot set mode $mode"',
  '  [ "$owner" = - ] || chown -h -- "$owner" "$path" || fail "$path: cannot give it to $owner (does the user exist yet? install the packages first)"',
  'done',
  '[ "$failed" -eq 0 ] || { echo "$failed of the configuration entries could not be put back" >&2; exit 1; }',
].join('\n');

// The first argument is `sudo` (raise the install when not root) or `-`; each other is `name=version`:
// install the packages the host lacks (by name; a different version is reported, not forced: the
// distribution may no longer carry the recorded one). Only apt-get is raised: sudoers can name it.
const INSTALL_PACKAGES = [
  'raise=; if [ "$1" = sudo ] && [ "$(id -u)" != 0 ]; then raise="sudo -n --"; fi; shift',
  'command -v dpkg-query >/dev/null 2>&1 || { echo "no dpkg on this host: install the recorded packages by hand" >&2; exit 0; }',
  'tmp=$(mktemp -d) || exit 1',
  'trap \'rm -rf "$tmp"\' EXIT',
  // One dpkg-query for all of them: asking package by package takes half a minute for a few hundred.
  'for p; do printf "%s\\n" "${p%%=*}"; done | LC_ALL=C sort -u > "$tmp/want"',
  'dpkg-query -W -f "\\${Package}\\t\\${Status}\\n" 2>/dev/null | awk -F "\\t" \'$2 ~ / installed$/ { print $1 }\' | LC_ALL=C sort -u > "$tmp/have"',
  'missing=$(LC_ALL=C comm -23 "$tmp/want" "$tmp/have" | tr "\\n" " ")',
  '[ -z "$missing" ] && { echo "installed: none missing"; exit 0; }',
  'echo "installing: $missing"',
  '# shellcheck disable=SC2086',
  'DEBIAN_FRONTEND=noninteractive $raise apt-get install -y --no-install-recommends -- $missing',
].join('\n');

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
    // Names only reach the script as positional parameters; a package name never holds a space.
    const safe = rb.packages.filter((p) => /^[a-z0-9][a-z0-9+.:~-]*=[A-Za-z0-9+.:~_-]*$/.test(p));
    const r = await transport.run(['sh', '-c', INSTALL_PACKAGES, 'sh', sudoPackages ? 'sudo' : '-', ...safe], {
      timeoutMs: 30 * 60_000,
    });
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
    const args = entries.flatMap((e) => [e.kind, e.path, e.mode ?? '-', e.owner ?? '-', e.target ?? '-']);
    await transport.run(['sh', '-c', APPLY_FILES, 'sh', ...args], {
      stdin: Buffer.from(archive),
      timeoutMs: 10 * 60_000,
    });
    progress(
      `configuration: ${count(rb.dirs.length, 'folder')}, ${count(rb.files.length, 'file')}, ${count(rb.links.length, 'link')} put back`,
    );
    return { packages, entries: entries.length };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}
