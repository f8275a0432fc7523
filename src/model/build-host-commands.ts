// Pure builders of the commands that build an artifact on a build host (artifact.host): argv arrays
// only, values as positional parameters of fixed scripts. A private work folder is made, the tag's
// export (sent over SFTP) unpacked there and artifact.build run in it with its output kept in a log,
// what it left packed for the trip back, and the folder removed.
import { BugError } from '../errors.js';

/** A work folder mkBuildDir makes: `baton-build.` and mktemp's letters, under an absolute temporary folder. */
const BUILD_DIR = /^\/[^\0\n]*\/baton-build\.[A-Za-z0-9]+$/;

/** The export's name in the work folder (the tag's `git archive`, tar.gz). */
export const EXPORT_NAME = 'export.tar.gz';
/** What packForTrip writes: the built tree (or artifact.paths of it), tar.gz, to be fetched and packed for real. */
export const TRIP_NAME = 'tree.tar.gz';
/** The exit packForTrip ends with when one of artifact.paths is not in the built tree (it prints the path). */
export const PATH_MISSING = 5;

/** Make a work folder only the SSH user can read, in $TMPDIR (else /tmp); prints its path. */
export function makeBuildDir(): string[] {
  return ['sh', '-c', 'mktemp -d "${TMPDIR:-/tmp}/baton-build.XXXXXXXX"'];
}

/** The work folder makeBuildDir printed, or undefined when the answer is not one. */
export function parseBuildDir(stdout: string): string | undefined {
  const dir = stdout.trim();
  return BUILD_DIR.test(dir) ? dir : undefined;
}

function buildDirOnly(dir: string): void {
  if (!BUILD_DIR.test(dir)) throw new BugError(`refusing to use ${JSON.stringify(dir)} as a build folder`);
}

/**
 * Unpack the export into `<dir>/tree` and run `build` there with sh (BATON_COMMIT in its environment, stdin closed),
 * its output (stdout and stderr) in `<dir>/build.log`; exits as the build does.
 */
export function buildInDir(dir: string, build: string, commit: string): string[] {
  buildDirOnly(dir);
  const script = [
    'set -e',
    'dir=$1; build=$2; BATON_COMMIT=$3; export BATON_COMMIT',
    `mkdir "$dir/tree"; tar -xzf "$dir/${EXPORT_NAME}" -C "$dir/tree"; rm -f "$dir/${EXPORT_NAME}"`,
    'cd "$dir/tree"',
    'exec sh -c "$build" </dev/null >"$dir/build.log" 2>&1',
  ].join('\n');
  return ['sh', '-c', script, 'sh', dir, build, commit];
}

/** The last `lines` lines of the build's output. */
export function buildLogTail(dir: string, lines = 20): string[] {
  buildDirOnly(dir);
  return ['tail', '-n', String(lines), '--', `${dir}/build.log`];
}

/**
 * Pack the built tree (only `paths` of it, when given) into `<dir>/tree.tar.gz` for the trip back; a path not in the
 * tree is printed and the script exits PATH_MISSING. The bytes that are deployed are packed on the control machine.
 */
export function packForTrip(dir: string, paths: readonly string[]): string[] {
  buildDirOnly(dir);
  const script = [
    'set -e',
    'dir=$1; shift',
    'cd "$dir/tree"',
    `for p in "$@"; do [ -e "$p" ] || [ -h "$p" ] || { printf '%s\\n' "$p"; exit ${PATH_MISSING}; }; done`,
    '[ $# -gt 0 ] || set -- .',
    `tar -czf "$dir/${TRIP_NAME}" -- "$@"`,
  ].join('\n');
  return ['sh', '-c', script, 'sh', dir, ...paths];
}

/** Remove the work folder. */
export function removeBuildDir(dir: string): string[] {
  buildDirOnly(dir);
  return ['rm', '-rf', '--', dir];
}
