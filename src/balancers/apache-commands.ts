// Pure builders for the argv the Apache driver runs on the balancer host: balancer-manager
// requests through curl, the config file swap guarded by `apachectl configtest`, and error-log
// counts. Nothing here runs anything. The file swap and log count are shared with nginx.
import { UserError } from '../errors.js';

const ABSOLUTE = /^\/[^\0\n]+$/;
const BALANCER_NAME = /^[A-Za-z0-9_.-]+$/;

/** A balancer name safe in a URL query and a config pattern. */
export function checkBalancerName(name: string): string {
  if (typeof name !== 'string' || !BALANCER_NAME.test(name)) {
    throw new UserError(`apache balancer name ${JSON.stringify(name)} (${typeof name}) is not usable: expected letters, digits, _ . -`, 'fix balancer.backend in baton.yml');
  }
  return name;
}

/** An absolute path on the balancer host. */
export function checkPath(what: string, path: string): string {
  if (typeof path !== 'string' || !ABSOLUTE.test(path)) throw new UserError(`${what} ${JSON.stringify(path)} is not an absolute path`, `fix ${what} in baton.yml`);
  return path;
}

/**
 * The Referer balancer-manager demands (AH10187: without one naming the same host as the
 * request, Apache ignores every parameter, silently): the manager URL itself.
 */
export function refererOf(managerUrl: string): string {
  const u = new URL(managerUrl);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

const CURL_OPTS = ['-sS', '--max-time', '5'];

/** GET `?b=NAME&xml=1`: every balancer of the manager's VirtualHost, with nonces, statuses and busy counts. */
export function managerXmlArgv(managerUrl: string, balancer: string): string[] {
  return ['curl', ...CURL_OPTS, '-f', '-H', `Referer: ${refererOf(managerUrl)}`, xmlUrl(managerUrl, balancer)];
}

function xmlUrl(managerUrl: string, balancer: string): string {
  const u = new URL(managerUrl);
  u.search = `?b=${encodeURIComponent(checkBalancerName(balancer))}&xml=1`;
  return u.toString();
}

/** Worker status flags the manager sets (`w_status_X`): N drain, D disabled, S stopped. */
export type ManagerFlag = 'N' | 'D' | 'S';

/** One worker's change: each listed flag set (true) or cleared (false). */
export interface WorkerChange {
  workerUrl: string;
  flags: Partial<Record<ManagerFlag, boolean>>;
}

/** The form balancer-manager takes for one worker (`b`, `w`, `nonce`, `w_status_X=0|1`). */
export function managerForm(balancer: string, nonce: string, change: WorkerChange): string {
  const p = new URLSearchParams({ b: checkBalancerName(balancer), w: change.workerUrl, nonce });
  for (const [flag, on] of Object.entries(change.flags)) p.append(`w_status_${flag}`, on ? '1' : '0');
  return p.toString();
}

/**
 * One curl run that POSTs each change (printing its HTTP status, then `;`) and then reads the
 * XML back, so a change and its verification cost one round trip.
 */
export function managerChangeArgv(managerUrl: string, balancer: string, nonce: string, changes: readonly WorkerChange[]): string[] {
  if (changes.length === 0) throw new Error('managerChangeArgv needs at least one change');
  const referer = ['-H', `Referer: ${refererOf(managerUrl)}`];
  // `--next` starts a new request with fresh options, in the same process.
  const posts = changes.flatMap((c) => [...CURL_OPTS, ...referer, '-o', '/dev/null', '-w', '%{http_code};', '--data', managerForm(balancer, nonce, c), managerUrl, '--next']);
  return ['curl', ...posts, ...CURL_OPTS, '-f', ...referer, xmlUrl(managerUrl, balancer)];
}

/** The HTTP codes a managerChangeArgv run printed before the XML, and the XML. */
export function splitChangeAnswer(stdout: string): { codes: number[]; xml: string } {
  const at = stdout.indexOf('<');
  const head = at < 0 ? stdout : stdout.slice(0, at);
  return { codes: head.split(';').filter((s) => s.trim() !== '').map(Number), xml: at < 0 ? '' : stdout.slice(at) };
}

/** `apache2ctl configtest` (or apachectl): validates the configuration on disk without touching the running server. */
export function apacheConfigTestArgv(ctl: string): string[] {
  return [ctl, 'configtest'];
}

/** `apache2ctl graceful`: children finish their current request; only tests use it. */
export function apacheGracefulArgv(ctl: string): string[] {
  return [ctl, 'graceful'];
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
    'cat > "$f.baton-new"',
    'chown --reference="$f" "$f.baton-new"; chmod --reference="$f" "$f.baton-new"',
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
  if (nums.length !== expected || nums.some((n) => !Number.isInteger(n))) throw new Error(`expected ${expected} counts, got ${JSON.stringify(stdout.slice(0, 200))}`);
  return nums;
}

/** An ERE that matches `s` literally. */
export function escapeEre(s: string): string {
  return s.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');
}
