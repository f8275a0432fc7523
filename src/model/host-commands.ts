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
  if (!isReleaseDirName(dir))
    throw new BugError(`refusing to touch ${JSON.stringify(dir)} on a host: not a release directory name`);
}

export function appPaths(root: string): AppPaths {
  return { root, releases: posix.join(root, 'releases'), current: posix.join(root, 'current') };
}

// Run in the releases folder: room for the new release ($dir), keeping the newest keep-1 others
// and never current or one of the releases given as arguments (the way back).
const PRUNE_RELEASES = [
  'cur=$(basename "$(readlink ../current 2>/dev/null)" 2>/dev/null || true)',
  'ls -1t | grep -v -x -F -e "$dir" | tail -n +"$keep" | while IFS= read -r old; do',
  '  [ "$old" = "$cur" ] && continue',
  '  skip=; for k in "$@"; do [ "$old" = "$k" ] && skip=1; done',
  '  [ -n "$skip" ] || rm -rf -- "$old"',
  'done',
];

/**
 * One round trip per host for everything staging needs: make the folders, prune old releases
 * (keeping `current` and the named ones), unpack the archive arriving on stdin into
 * releases/<dir> (atomically: a half-unpacked release never has the final name), then build it.
 */
export function stageRelease(
  paths: AppPaths,
  dir: string,
  opts: { build?: string; keep: number; alwaysKeep: readonly string[] },
): string[] {
  releaseDirOnly(dir);
  const script = [
    'set -e',
    'root=$1; dir=$2; build=$3; keep=$4; shift 4',
    'mkdir -p "$root/releases"',
    'cd "$root/releases"',
    ...PRUNE_RELEASES,
    'if [ -d "$dir" ]; then cat >/dev/null; else tmp="$dir.partial.$$"; rm -rf "$tmp"; mkdir "$tmp"; ' +
      'tar -xzf - -C "$tmp"; mv -T "$tmp" "$dir"; fi',
    'if [ -n "$build" ]; then cd "$dir" && sh -c "$build"; fi',
  ].join('\n');
  return ['sh', '-c', script, 'sh', paths.root, dir, opts.build ?? '', String(opts.keep), ...opts.alwaysKeep];
}

const SHA256 = /^[0-9a-f]{64}$/;

export interface StageArtifactOptions {
  /** SHA-256 of the artifact: its name under releases/.artifacts, and what the host checks before unpacking. */
  sha256: string;
  compression: 'gzip' | 'zstd';
  /** app.build, run in the unpacked release on the host (absent: nothing is built there). */
  build?: string;
  keep: number;
  alwaysKeep: readonly string[];
  /**
   * The artifact arrives on stdin; without it, a host that holds neither it nor the release unpacked from it prints
   * `missing` and changes nothing.
   */
  receive: boolean;
}

/** What a stage command without `receive` prints when the host lacks the artifact: send it. */
export const ARTIFACT_MISSING = 'missing';

// stageArtifact's script: its arguments are root, dir, sha256, compression, build, keep, receive, then the releases
// always kept.
const STAGE_ARTIFACT_SCRIPT = [
  'set -e',
  'root=$1; dir=$2; sha=$3; z=$4; build=$5; keep=$6; receive=$7; shift 7',
  'rel="$root/releases"; store="$rel/.artifacts"; art="$store/$sha.tar.$z"',
  'sum() { if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1"; else shasum -a 256 "$1"; ' +
    'fi | cut -d" " -f1; }',
  'have=',
  '[ -d "$rel/$dir" ] && [ "$(cat "$store/$dir.sha256" 2>/dev/null)" = "$sha" ] && have=release',
  '[ -z "$have" ] && [ -f "$art" ] && have=artifact',
  'if [ -z "$have" ] && [ -z "$receive" ]; then echo missing; exit 0; fi',
  'mkdir -p "$store"',
  'cd "$rel"',
  ...PRUNE_RELEASES,
  'if [ -n "$have" ]; then [ -z "$receive" ] || cat >/dev/null; else',
  '  tmp="$art.partial.$$"; cat >"$tmp"; got=$(sum "$tmp")',
  '  if [ "$got" != "$sha" ]; then rm -f "$tmp"; echo "the artifact received has sha256 $got, ' +
    'not $sha as planned: not unpacked" >&2; exit 4; fi',
  '  mv -f "$tmp" "$art"',
  'fi',
  'if [ "$have" != release ]; then',
  '  got=$(sum "$art")',
  '  if [ "$got" != "$sha" ]; then rm -f "$art"; echo "the artifact kept here has sha256 $got, not $sha: ' +
    'removed, not unpacked (a push sends it again)" >&2; exit 4; fi',
  '  [ "$dir" != "$cur" ] || { echo "release $dir runs here and was not unpacked from this artifact: ' +
    'not replaced" >&2; exit 3; }',
  '  t="$dir.partial.$$"; rm -rf "$t"; mkdir "$t"',
  '  if [ "$z" = zst ]; then zstd -dcq "$art" | tar -xf - -C "$t" --no-same-owner; ' +
    'else tar -xzf "$art" -C "$t" --no-same-owner; fi',
  '  rm -rf -- "$dir"; mv -T "$t" "$dir"',
  '  printf \'%s\\n\' "$sha" >"$store/$dir.sha256.tmp"; mv -f "$store/$dir.sha256.tmp" "$store/$dir.sha256"',
  'fi',
  // Artifacts go with the releases unpacked from them.
  'for m in "$store"/*.sha256; do [ -f "$m" ] || continue; r=$(basename "$m" .sha256); ' +
    '[ -d "$r" ] || rm -f "$m"; done',
  'for a in "$store"/*.tar.gz "$store"/*.tar.zst; do',
  '  [ -f "$a" ] || continue; s=$(basename "$a"); s=${s%%.*}',
  '  [ "$s" = "$sha" ] || grep -q -x -F -e "$s" "$store"/*.sha256 2>/dev/null || rm -f "$a"',
  'done',
  'if [ -n "$build" ]; then (cd "$dir" && sh -c "$build") >&2; fi',
  'if [ -n "$have" ]; then echo held; else echo received; fi',
].join('\n');

/**
 * Stage a release from an artifact built once. The host keeps artifacts by hash in
 * releases/.artifacts (and which one each release was unpacked from), so one that holds the
 * release or the artifact is sent nothing; a received artifact is written beside its final name and
 * kept only if its SHA-256 is the planned one, and a held one is hashed again before it is unpacked.
 * Then old releases are pruned as stageRelease does, artifacts no kept release came from removed,
 * and app.build (if any) run in the release. Prints `held` or `received` when staged.
 */
export function stageArtifact(paths: AppPaths, dir: string, opts: StageArtifactOptions): string[] {
  releaseDirOnly(dir);
  if (!SHA256.test(opts.sha256))
    throw new BugError(`refusing to stage an artifact named ${JSON.stringify(opts.sha256)}: not a SHA-256`);
  const z = opts.compression === 'zstd' ? 'zst' : 'gz';
  return [
    'sh',
    '-c',
    STAGE_ARTIFACT_SCRIPT,
    'sh',
    paths.root,
    dir,
    opts.sha256,
    z,
    opts.build ?? '',
    String(opts.keep),
    opts.receive ? '1' : '',
    ...opts.alwaysKeep,
  ];
}

/**
 * Point `current` at a release without a moment where it is missing (a new link renamed over the old one), then run the
 * restart command from baton.yml (the operator's own shell) in the app's root.
 */
export function switchAndRestart(paths: AppPaths, dir: string, restart: string): string[] {
  releaseDirOnly(dir);
  const script =
    'set -e; [ -d "$1/releases/$2" ] || { echo "release $2 is not on this host" >&2; exit 3; }; ' +
    'ln -sfn "releases/$2" "$1/current.next"; mv -T "$1/current.next" "$1/current"; cd "$1"; sh -c "$3"';
  return ['sh', '-c', script, 'sh', paths.root, dir, restart];
}

/** The release `current` points at (its directory name), or nothing. */
export function readCurrent(paths: AppPaths): string[] {
  return ['sh', '-c', 'l=$(readlink "$1") && basename "$l" || true', 'sh', paths.current];
}

/** Remove a staged release unless `current` points at it. */
export function removeRelease(paths: AppPaths, dir: string): string[] {
  releaseDirOnly(dir);
  const script =
    'cur=$(basename "$(readlink "$1/current" 2>/dev/null)" 2>/dev/null); ' +
    '[ "$cur" = "$2" ] || rm -rf -- "$1/releases/$2"';
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

/**
 * Run the operator's reverse command in the release's directory, then put back the ledger the expand replaced (or
 * remove its own).
 */
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

/** The names under releases/, newest first; fails where there is no releases/ yet (callers allow it: none kept). */
export function listReleases(paths: AppPaths): string[] {
  return ['ls', '-1t', '--', paths.releases];
}
