// Pure builders of the commands a push runs on app hosts: argv arrays only. Values (paths,
// release names) travel as positional parameters of fixed scripts, never spliced into them.
import { posix } from 'node:path';

export interface AppPaths {
  root: string;
  releases: string;
  current: string;
  uploads: string;
}

export function appPaths(root: string): AppPaths {
  return { root, releases: posix.join(root, 'releases'), current: posix.join(root, 'current'), uploads: posix.join(root, '.baton', 'uploads') };
}

export function uploadPath(paths: AppPaths, dir: string): string {
  return posix.join(paths.uploads, `${dir}.tar.gz`);
}

/** Make the folders a release needs before anything is uploaded. */
export function prepareDirs(paths: AppPaths): string[] {
  return ['mkdir', '-p', paths.releases, paths.uploads];
}

/** Unpack an uploaded archive into releases/<dir> (atomically: a half-unpacked release never has the final name), then build it there. */
export function unpackAndBuild(paths: AppPaths, dir: string, build?: string): string[] {
  const script = [
    'set -e',
    'rel="$1/$2"; tmp="$rel.partial.$$"',
    'if [ ! -d "$rel" ]; then rm -rf "$tmp"; mkdir -p "$tmp"; tar -xzf "$3" -C "$tmp"; mv -T "$tmp" "$rel"; fi',
    'rm -f "$3"',
    'if [ -n "$4" ]; then cd "$rel" && sh -c "$4"; fi',
  ].join('\n');
  return ['sh', '-c', script, 'sh', paths.releases, dir, uploadPath(paths, dir), build ?? ''];
}

/** Point `current` at a release without a moment where it is missing: a new link renamed over the old one. */
export function switchCurrent(paths: AppPaths, dir: string): string[] {
  const script = 'set -e; [ -d "$1/releases/$2" ] || { echo "release $2 is not on this host" >&2; exit 3; }; ln -sfn "releases/$2" "$1/current.next"; mv -T "$1/current.next" "$1/current"';
  return ['sh', '-c', script, 'sh', paths.root, dir];
}

/** The app's restart command from baton.yml (the operator's own shell), run in the app's root. */
export function restart(paths: AppPaths, command: string): string[] {
  return ['sh', '-c', 'cd "$1" && sh -c "$2"', 'sh', paths.root, command];
}

/** The release `current` points at (its directory name), or nothing. */
export function readCurrent(paths: AppPaths): string[] {
  return ['sh', '-c', 'l=$(readlink "$1") && basename "$l" || true', 'sh', paths.current];
}

/** Remove a staged release unless `current` points at it. */
export function removeRelease(paths: AppPaths, dir: string): string[] {
  const script = 'cur=$(basename "$(readlink "$1/current" 2>/dev/null)" 2>/dev/null); [ "$cur" = "$2" ] || rm -rf -- "$1/releases/$2"; rm -f "$1/.baton/uploads/$2.tar.gz"';
  return ['sh', '-c', script, 'sh', paths.root, dir];
}

/** Keep the newest `keep` releases, and always the current one and the given ones (the way back). */
export function pruneReleases(paths: AppPaths, keep: number, alwaysKeep: readonly string[]): string[] {
  const script = [
    'cd "$1/releases" || exit 0',
    'keep=$2; shift 2',
    'cur=$(basename "$(readlink ../current 2>/dev/null)" 2>/dev/null)',
    'ls -1t | tail -n +$((keep + 1)) | while IFS= read -r d; do',
    '  [ "$d" = "$cur" ] && continue',
    '  skip=; for k in "$@"; do [ "$d" = "$k" ] && skip=1; done',
    '  [ -n "$skip" ] || { rm -rf -- "$d"; echo "$d"; }',
    'done',
  ].join('\n');
  return ['sh', '-c', script, 'sh', paths.root, String(keep), ...alwaysKeep];
}
