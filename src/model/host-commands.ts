// Pure builders of the commands a push runs on app hosts: argv arrays only. Values (paths,
// release names) travel as positional parameters of fixed scripts, never spliced into them.
import { posix } from 'node:path';
import { BugError } from '../errors.js';
import { isReleaseDirName } from './release.js';

export interface AppPaths {
  root: string;
  releases: string;
  current: string;
}

// Plans are checked when read; this is the last line before a directory is built, linked or removed on a host.
function releaseDirOnly(dir: string): void {
  if (!isReleaseDirName(dir)) throw new BugError(`refusing to touch ${JSON.stringify(dir)} on a host: not a release directory name`);
}

export function appPaths(root: string): AppPaths {
  return { root, releases: posix.join(root, 'releases'), current: posix.join(root, 'current') };
}

/**
 * One round trip per host for everything staging needs: make the folders, prune old releases
 * (keeping `current` and the named ones), unpack the archive arriving on stdin into
 * releases/<dir> (atomically: a half-unpacked release never has the final name), then build it.
 */
export function stageRelease(paths: AppPaths, dir: string, opts: { build?: string; keep: number; alwaysKeep: readonly string[] }): string[] {
  releaseDirOnly(dir);
  const script = [
    'set -e',
    'root=$1; dir=$2; build=$3; keep=$4; shift 4',
    'mkdir -p "$root/releases"',
    'cd "$root/releases"',
    'cur=$(basename "$(readlink ../current 2>/dev/null)" 2>/dev/null || true)',
    // Room for the new release: keep the newest keep-1 others, never current or the way back.
    'ls -1t | grep -v -x -F -e "$dir" | tail -n +"$keep" | while IFS= read -r old; do',
    '  [ "$old" = "$cur" ] && continue',
    '  skip=; for k in "$@"; do [ "$old" = "$k" ] && skip=1; done',
    '  [ -n "$skip" ] || rm -rf -- "$old"',
    'done',
    'if [ -d "$dir" ]; then cat >/dev/null; else tmp="$dir.partial.$$"; rm -rf "$tmp"; mkdir "$tmp"; tar -xzf - -C "$tmp"; mv -T "$tmp" "$dir"; fi',
    'if [ -n "$build" ]; then cd "$dir" && sh -c "$build"; fi',
  ].join('\n');
  return ['sh', '-c', script, 'sh', paths.root, dir, opts.build ?? '', String(opts.keep), ...opts.alwaysKeep];
}

/** Point `current` at a release without a moment where it is missing (a new link renamed over the old one), then run the restart command from baton.yml (the operator's own shell) in the app's root. */
export function switchAndRestart(paths: AppPaths, dir: string, restart: string): string[] {
  releaseDirOnly(dir);
  const script = 'set -e; [ -d "$1/releases/$2" ] || { echo "release $2 is not on this host" >&2; exit 3; }; ln -sfn "releases/$2" "$1/current.next"; mv -T "$1/current.next" "$1/current"; cd "$1"; sh -c "$3"';
  return ['sh', '-c', script, 'sh', paths.root, dir, restart];
}

/** The release `current` points at (its directory name), or nothing. */
export function readCurrent(paths: AppPaths): string[] {
  return ['sh', '-c', 'l=$(readlink "$1") && basename "$l" || true', 'sh', paths.current];
}

/** Remove a staged release unless `current` points at it. */
export function removeRelease(paths: AppPaths, dir: string): string[] {
  releaseDirOnly(dir);
  const script = 'cur=$(basename "$(readlink "$1/current" 2>/dev/null)" 2>/dev/null); [ "$cur" = "$2" ] || rm -rf -- "$1/releases/$2"';
  return ['sh', '-c', script, 'sh', paths.root, dir];
}

/** Where the record of the last schema expand lives on the migrate host: it names the release expanded for. */
export function migrationLedger(paths: AppPaths): string {
  return posix.join(paths.root, 'migrations', 'expanded');
}

const IN_RELEASE = '[ -d "$root/releases/$dir" ] || { echo "release $dir is not on this host" >&2; exit 3; }';

/**
 * Run the operator's expand command in the new release's directory, then record the expand in the
 * ledger (written beside it and renamed over it: never half a name). The record it replaces is
 * kept, so reversing this expand puts it back.
 */
export function expandSchema(paths: AppPaths, dir: string, command: string): string[] {
  releaseDirOnly(dir);
  const script = [
    'set -e',
    'root=$1; dir=$2; cmd=$3; led="$root/migrations/expanded"',
    IN_RELEASE,
    'mkdir -p "$root/migrations"',
    '(cd "$root/releases/$dir" && sh -c "$cmd")',
    'if [ -f "$led" ] && [ "$(cat "$led")" != "$dir" ]; then cp -f "$led" "$root/migrations/before.$dir"; fi',
    'printf \'%s\\n\' "$dir" > "$led.tmp.$$"',
    'mv -f "$led.tmp.$$" "$led"',
  ].join('\n');
  return ['sh', '-c', script, 'sh', paths.root, dir, command];
}

/** Run the operator's reverse command in the release's directory, then put back the ledger the expand replaced (or remove its own). */
export function reverseExpandSchema(paths: AppPaths, dir: string, command: string): string[] {
  releaseDirOnly(dir);
  const script = [
    'set -e',
    'root=$1; dir=$2; cmd=$3; led="$root/migrations/expanded"',
    IN_RELEASE,
    '(cd "$root/releases/$dir" && sh -c "$cmd")',
    'if [ -f "$root/migrations/before.$dir" ]; then mv -f "$root/migrations/before.$dir" "$led"',
    'elif [ "$(cat "$led" 2>/dev/null)" = "$dir" ]; then rm -f "$led"; fi',
  ].join('\n');
  return ['sh', '-c', script, 'sh', paths.root, dir, command];
}

/** The release the last schema expand was for, or nothing when no expand is recorded. */
export function readMigrationLedger(paths: AppPaths): string[] {
  return ['sh', '-c', 'cat "$1" 2>/dev/null || true', 'sh', migrationLedger(paths)];
}

/**
 * Contract, checked once more on the host itself: the ledger still names the release and
 * `current` points at it. Then the operator's contract command runs in that release's
 * directory, and the ledger is moved aside so the same expand is never contracted twice.
 */
export function contractSchema(paths: AppPaths, dir: string, command: string): string[] {
  releaseDirOnly(dir);
  const script = [
    'set -e',
    'root=$1; dir=$2; cmd=$3; led="$root/migrations/expanded"',
    '[ "$(cat "$led" 2>/dev/null)" = "$dir" ] || { echo "the ledger $led no longer names $dir" >&2; exit 3; }',
    'cur=$(basename "$(readlink "$root/current" 2>/dev/null)" 2>/dev/null || true)',
    '[ "$cur" = "$dir" ] || { echo "this host runs ${cur:-nothing}, not $dir" >&2; exit 3; }',
    IN_RELEASE,
    '(cd "$root/releases/$dir" && sh -c "$cmd")',
    'mv -f "$led" "$root/migrations/contracted"',
  ].join('\n');
  return ['sh', '-c', script, 'sh', paths.root, dir, command];
}
