// Pure builders for the argv the Apache driver runs on the balancer host: balancer-manager
// requests through curl and apachectl. Nothing here runs anything. The config-file swap and
// error-log counts it shares with nginx are in balancer-files.ts.
import { UserError } from '../errors.js';
import { raised } from '../transport/privilege.js';

import { APACHE_BALANCER_NAME as BALANCER_NAME } from '../config/balancer-names.js';

/** A balancer name safe in a URL query and a config pattern. */
export function checkBalancerName(name: string): string {
  if (typeof name !== 'string' || !BALANCER_NAME.test(name)) {
    throw new UserError(
      `apache balancer name ${JSON.stringify(name)} (${typeof name}) is not usable: expected letters, digits, _ . -`,
      'fix balancer.backend in baton.yml',
    );
  }
  return name;
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

/**
 * GET `?b=NAME&xml=1`: every balancer of the manager's VirtualHost, with nonces, statuses and busy counts, after the
 * answer's headers (`-D -`): its Date is Apache's clock, which a worker's error_time is read against.
 */
export function managerXmlArgv(managerUrl: string, balancer: string): string[] {
  return [
    'curl',
    ...CURL_OPTS,
    '-f',
    '-D',
    '-',
    '-H',
    `Referer: ${refererOf(managerUrl)}`,
    xmlUrl(managerUrl, balancer),
  ];
}

function xmlUrl(managerUrl: string, balancer: string): string {
  const u = new URL(managerUrl);
  u.search = `?b=${encodeURIComponent(checkBalancerName(balancer))}&xml=1`;
  return u.toString();
}

/** Worker status flags the manager sets (`w_status_X`): N drain, D disabled, S stopped. */
export type ManagerFlag = 'N' | 'D' | 'S';

/** One worker's change: each listed flag set (true) or cleared (false), and its load factor when given. */
export interface WorkerChange {
  workerUrl: string;
  flags?: Partial<Record<ManagerFlag, boolean>>;
  /** lbfactor, 1-100: the worker's share of new requests relative to the others'. */
  loadFactor?: number;
}

/**
 * The load factors balancer-manager and BalancerMember take: 1 to 100. Apache 2.4 stores them in
 * hundredths (1.00-100.00), but truncates `atof(value) * 100`, so 1.15 becomes 1.14: baton sets
 * whole numbers only. A value out of range is ignored without a word (hence the read-back).
 */
export const APACHE_MAX_LOAD_FACTOR = 100;

/** The form balancer-manager takes for one worker (`b`, `w`, `nonce`, `w_status_X=0|1`, `w_lf`). */
export function managerForm(balancer: string, nonce: string, change: WorkerChange): string {
  const p = new URLSearchParams({ b: checkBalancerName(balancer), w: change.workerUrl, nonce });
  for (const [flag, on] of Object.entries(change.flags ?? {})) p.append(`w_status_${flag}`, on ? '1' : '0');
  if (change.loadFactor !== undefined) p.append('w_lf', String(checkLoadFactor(change.loadFactor)));
  return p.toString();
}

/** A whole load factor balancer-manager takes as it is. */
export function checkLoadFactor(lf: number): number {
  if (!Number.isInteger(lf) || lf < 1 || lf > APACHE_MAX_LOAD_FACTOR)
    throw new UserError(`apache load factor ${String(lf)} is not a whole number from 1 to ${APACHE_MAX_LOAD_FACTOR}`);
  return lf;
}

/**
 * One curl run that POSTs each change (printing its HTTP status, then `;`) and then reads the
 * XML back, so a change and its verification cost one round trip.
 */
export function managerChangeArgv(
  managerUrl: string,
  balancer: string,
  nonce: string,
  changes: readonly WorkerChange[],
): string[] {
  if (changes.length === 0) throw new Error('managerChangeArgv needs at least one change');
  const referer = ['-H', `Referer: ${refererOf(managerUrl)}`];
  // `--next` starts a new request with fresh options, in the same process.
  const posts = changes.flatMap((c) => [
    ...CURL_OPTS,
    ...referer,
    '-o',
    '/dev/null',
    '-w',
    '%{http_code};',
    '--data',
    managerForm(balancer, nonce, c),
    managerUrl,
    '--next',
  ]);
  return ['curl', ...posts, ...CURL_OPTS, '-f', ...referer, xmlUrl(managerUrl, balancer)];
}

/** HTTP Basic credentials for balancer-manager; the password is a resolved secret. */
export interface ManagerAuth {
  user: string;
  password: string;
}

// The curl options the builders above use that take no value.
const CURL_SWITCHES = new Set(['-sS', '-f']);

/**
 * A manager run with credentials: the whole argv becomes a config curl reads on its stdin
 * (`curl -K -`), every transfer given the credentials, so they are never on a command line
 * (where `ps` on the balancer host, the journal and any error message would show them).
 * One `-K -` cannot serve several transfers from the command line: `--next` resets `user`.
 */
export function curlWithAuth(argv: readonly string[], auth: ManagerAuth): { argv: string[]; stdin: string } {
  if (argv[0] !== 'curl') throw new Error(`curlWithAuth needs a curl argv, got ${argv[0]}`);
  const user = `user = ${curlQuote(`${auth.user}:${auth.password}`)}`;
  const lines = [user];
  for (let i = 1; i < argv.length; i++) {
    const word = argv[i] as string;
    if (word === '--next') lines.push('next', user);
    else if (CURL_SWITCHES.has(word)) lines.push(word);
    else if (!word.startsWith('-')) lines.push(`url = ${curlQuote(word)}`);
    else lines.push(`${word} ${curlQuote(argv[++i] as string)}`);
  }
  return { argv: ['curl', '-K', '-'], stdin: `${lines.join('\n')}\n` };
}

/** A value in a curl config file: double-quoted, with curl's backslash escapes. */
function curlQuote(value: string): string {
  const escaped = value.replace(
    /[\\"\t\n\r\v]/g,
    (c) => ({ '\\': '\\\\', '"': '\\"', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\v': '\\v' })[c] as string,
  );
  return `"${escaped}"`;
}

/** The HTTP codes a managerChangeArgv run printed before the XML, and the XML. */
export function splitChangeAnswer(stdout: string): { codes: number[]; xml: string } {
  const at = stdout.indexOf('<');
  const head = at < 0 ? stdout : stdout.slice(0, at);
  return {
    codes: head
      .split(';')
      .filter((s) => s.trim() !== '')
      .map(Number),
    xml: at < 0 ? '' : stdout.slice(at),
  };
}

/** `apache2ctl configtest` (or apachectl): validates the configuration on disk without touching the running server. */
export function apacheConfigTestArgv(ctl: string, sudo: boolean): string[] {
  return raised([ctl, 'configtest'], sudo);
}

/** `apache2ctl graceful`: children finish their current request; only tests use it. */
export function apacheGracefulArgv(ctl: string, sudo = false): string[] {
  return raised([ctl, 'graceful'], sudo);
}
