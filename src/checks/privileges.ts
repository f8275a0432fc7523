// Whether the SSH user may run every command baton raises through `sudo -n`, asked of sudo itself
// (`sudo -n -l -- CMD…` runs nothing), and the sudoers line to add when it may not. The reading
// is one round trip per command; the judging is pure.
import { raised, sudoAllowedArgv, sudoersLine, unraised, whereIsArgv } from '../transport/privilege.js';
import type { WrittenFile } from '../balancers/types.js';
import type { Transport } from '../transport/types.js';
import type { Finding } from './preflight.js';

/** What sudo answered on one host about one raised command. */
export interface SudoAnswer {
  argv: string[];
  allowed: boolean;
  /** Why not, in sudo's words (password required, not allowed, no sudo). */
  why?: string;
  /** Where the program lives on the host (for the sudoers line). */
  programPath?: string;
}

/** One host's answers: `user` as logged in; root needs nothing raised. */
export interface HostPrivileges {
  host: string;
  user: string;
  answers: SudoAnswer[];
  /** The paths baton writes without sudo, and what writableArgv answered. */
  written?: { paths: WrittenPath[]; stdout: string };
}

/**
 * Ask `sudo -n -l` about each raised command on one host, and whether the user may write each path (nothing is asked as
 * root).
 */
export async function readPrivileges(
  transport: Transport,
  argvs: readonly string[][],
  paths: readonly WrittenPath[] = [],
  timeoutMs = 10_000,
): Promise<HostPrivileges> {
  const user = (await transport.run(['id', '-un'], { timeoutMs })).stdout.trim() || 'the SSH user';
  if (user === 'root') return { host: transport.host, user, answers: [] };
  // Both at once, and both awaited together: a session closed under one must not leave the other's failure unhandled.
  const [answers, written] = await Promise.all([
    Promise.all(
      argvs.map(async (argv): Promise<SudoAnswer> => {
        const r = await transport.run(sudoAllowedArgv(argv), { allowFailure: true, timeoutMs });
        if (r.code === 0) return { argv, allowed: true };
        const where = await transport.run(whereIsArgv(argv), { allowFailure: true, timeoutMs });
        return {
          argv,
          allowed: false,
          why: sudoWhy(r.code, r.stderr),
          programPath: where.stdout.trim().split('\n')[0] || (unraised(argv)[0] as string),
        };
      }),
    ),
    paths.length === 0
      ? undefined
      : transport.run(writableArgv(paths), { timeoutMs }).then((r) => ({ paths: [...paths], stdout: r.stdout })),
  ]);
  return { host: transport.host, user, answers, ...(written ? { written } : {}) };
}

function sudoWhy(code: number, stderr: string): string {
  if (code === 127 || /not found/.test(stderr)) return 'sudo is not installed';
  const said = stderr
    .trim()
    .split('\n')[0]
    ?.replace(/^sudo: /, '');
  return said ? said : 'sudoers does not allow it';
}

/** One finding per command: allowed, or refused with the sudoers line that is missing. */
export function privilegeFindings(readings: readonly HostPrivileges[]): Finding[] {
  return readings.flatMap((r): Finding[] => {
    if (r.user === 'root')
      return [
        { check: 'privileges', host: r.host, outcome: 'ok', message: `${r.host}: reached as root: nothing needs sudo` },
      ];
    const written = r.written ? writableFindings(r.host, r.user, r.written.paths, r.written.stdout) : [];
    return [
      ...r.answers.map((a): Finding => {
        const command = `\`${unraised(a.argv).join(' ')}\``;
        if (a.allowed)
          return {
            check: 'privileges',
            host: r.host,
            outcome: 'ok',
            message: `${r.host}: ${r.user} may run ${command} through sudo -n`,
          };
        return {
          check: 'privileges',
          host: r.host,
          outcome: 'refused',
          message:
            `${r.host}: ${r.user} may not run ${command} through sudo -n (${a.why ?? 'not allowed'}); ` +
            `sudoers needs: ${sudoersLine(r.user, a.programPath ?? '', a.argv)}`,
        };
      }),
      ...written,
    ];
  });
}

// Words a command written in baton.yml may hold for baton to ask sudo about it: no shell syntax.
const PLAIN_WORDS = /^[A-Za-z0-9_@%+=:,./ -]+$/;

/**
 * The raised command inside an operator's own command line (`sudo -n systemctl restart shop`), for
 * preflight to ask about; undefined when it does not start with sudo, or holds shell syntax
 * (pipes, quotes, `&&`) that only the shell could split.
 */
export function raisedInCommandLine(line: string): string[] | undefined {
  const text = line.trim();
  if (!/^sudo\s/.test(text) || !PLAIN_WORDS.test(text)) return undefined;
  const words = text.split(/\s+/).slice(1);
  while (words[0] === '-n' || words[0] === '--non-interactive') words.shift();
  if (words[0] === '--') words.shift();
  if (words.length === 0 || words[0]!.startsWith('-')) return undefined;
  return raised(words, true);
}

/**
 * A file baton replaces (written beside itself, renamed over it), or a folder it writes in; `what` names it for the
 * message.
 */
export interface WrittenPath extends WrittenFile {
  kind: 'file' | 'folder';
}

// For each `KIND:PATH`: the folder that must be writable (the file's own, or the folder itself, or
// the nearest existing parent baton would create it in) and, for a file that exists, the file.
const WRITABLE_SCRIPT = [
  'for spec; do',
  '  kind=${spec%%:*} p=${spec#*:}',
  '  if [ "$kind" = file ]; then d=$(dirname -- "$p"); if [ -e "$p" ] && [ ! -w "$p" ]; then echo "no $p"; ' +
    'continue; fi; else d=$p; fi',
  '  while [ ! -e "$d" ]; do d=$(dirname -- "$d"); done',
  '  if [ -w "$d" ]; then echo "ok $d"; else echo "no $d"; fi',
  'done',
].join('\n');

/** The argv that says, a line each, whether the SSH user may write each path (`ok DIR` / `no PATH`). */
export function writableArgv(paths: readonly Pick<WrittenPath, 'path' | 'kind'>[]): string[] {
  return ['sh', '-c', WRITABLE_SCRIPT, 'sh', ...paths.map((p) => `${p.kind}:${p.path}`)];
}

/** One host's paths as the user found them: one finding each. */
export function writableFindings(host: string, user: string, paths: readonly WrittenPath[], stdout: string): Finding[] {
  const lines = stdout.split('\n').filter(Boolean);
  return paths.map((p, i): Finding => {
    const line = lines[i];
    if (line === undefined)
      return {
        check: 'access',
        host,
        outcome: 'unchecked',
        message: `${host}: whether ${user} may write ${p.what} (${p.path}) not checked: the host did not say`,
      };
    const [verdict, ...rest] = line.split(' ');
    const where = rest.join(' ');
    if (verdict === 'ok')
      return { check: 'access', host, outcome: 'ok', message: `${host}: ${user} may write ${p.what} (${p.path})` };
    const blocked = where === p.path && p.kind === 'file' ? p.path : where || p.path;
    const writes = p.kind === 'file' ? 'a new file beside it and renames it over' : 'in it';
    return {
      check: 'access',
      host,
      outcome: 'refused',
      message: `${host}: ${user} may not write ${p.what}: ${blocked} is not writable by it (baton writes ${writes})`,
    };
  });
}
