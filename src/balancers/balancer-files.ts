// Pure builders shared by the drivers that keep member state in files on the balancer host
// (apache, nginx): a config-file swap guarded by the server's own test, and error-log counts.
import { UserError } from '../errors.js';

const ABSOLUTE = /^\/[^\0\n]+$/;

/** An absolute path on the balancer host. */
export function checkPath(what: string, path: string): string {
  if (typeof path !== 'string' || !ABSOLUTE.test(path))
    throw new UserError(`${what} ${JSON.stringify(path)} is not an absolute path`, `fix ${what} in baton.yml`);
  return path;
}

/** Exit code of `replaceFileArgv` when validation refused the new file (and the old one is back). */
export const REFUSED_BY_TEST = 97;

/**
 * Replace FILE with stdin and validate it with TEST; if TEST fails, put the previous file back
 * and exit REFUSED_BY_TEST with TEST's output. The new file is written beside the old one and
 * renamed over it (never a half-written file), owner and mode kept. Nothing is reloaded here:
 * a refused edit never reaches the running server. The script is fixed text; the file and the
 * test command arrive as positional arguments, never spliced into it.
 */
export function replaceFileArgv(file: string, testArgv: readonly string[]): string[] {
  checkPath('config file', file);
  if (testArgv.length === 0) throw new Error('replaceFileArgv needs a test command');
  const script = [
    'set -e',
    'f=$1; shift',
    // The test may be raised (sudo -n -- …); root runs it directly, and need not have sudo.
    'if [ "$1" = sudo ] && [ "$2" = -n ] && [ "$3" = -- ] && [ "$(id -u)" = 0 ]; then shift 3; fi',
    'cat > "$f.baton-new"',
    // A user that is not root may give a file only to itself: the owner is kept where it can be.
    'chown --reference="$f" "$f.baton-new" 2>/dev/null || [ "$(id -u)" != 0 ]; chmod --reference="$f" "$f.baton-new"',
    'cp -p "$f" "$f.baton-prev"',
    'mv -f "$f.baton-new" "$f"',
    'if out=$("$@" 2>&1); then rm -f "$f.baton-prev"; exit 0; fi',
    'mv -f "$f.baton-prev" "$f"',
    `printf '%s\\n' "$out" >&2; exit ${REFUSED_BY_TEST}`,
  ].join('\n');
  return ['sh', '-c', script, 'sh', file, ...testArgv];
}

/**
 * Count the lines of a log matching each regular expression (POSIX ERE, as awk reads them);
 * prints the counts space-separated. Patterns pass through ARGV, which awk does not unescape.
 * A missing log counts as nothing.
 */
export function countLogArgv(file: string, patterns: readonly string[]): string[] {
  checkPath('log file', file);
  if (patterns.length === 0) throw new Error('countLogArgv needs a pattern');
  const program =
    'BEGIN { n = ARGC - 2; for (i = 1; i <= n; i++) { p[i] = ARGV[i]; c[i] = 0; ARGV[i] = "" } }\n' +
    '{ for (i = 1; i <= n; i++) if ($0 ~ p[i]) c[i]++ }\n' +
    'END { s = ""; for (i = 1; i <= n; i++) s = s (i > 1 ? " " : "") c[i]; print s }';
  // The log comes last: awk reads the cleared pattern arguments as nothing.
  return ['sh', '-c', 'f=$1; shift; [ -e "$f" ] || f=/dev/null; exec awk "$0" "$@" "$f"', program, file, ...patterns];
}

/** Parse countLogArgv's answer. */
export function parseCounts(stdout: string, expected: number): number[] {
  const nums = stdout.trim().split(/\s+/).map(Number);
  if (nums.length !== expected || nums.some((n) => !Number.isInteger(n)))
    throw new Error(`expected ${expected} counts, got ${JSON.stringify(stdout.slice(0, 200))}`);
  return nums;
}

/** An ERE that matches `s` literally. */
export function escapeEre(s: string): string {
  return s.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');
}
