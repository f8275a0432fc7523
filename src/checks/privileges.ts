// Whether the SSH user may run every command baton raises through `sudo -n`, asked of sudo itself
// (`sudo -n -l -- CMD…` runs nothing), and the sudoers line to add when it may not. The reading
// is one round trip per command; the judging is pure.
import { raised, sudoAllowedArgv, sudoersLine, unraised, whereIsArgv } from '../transport/privilege.js';
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
}

/** Ask `sudo -n -l` about each raised command on one host (nothing is asked as root). */
export async function readPrivileges(transport: Transport, argvs: readonly string[][], timeoutMs = 10_000): Promise<HostPrivileges> {
  const user = (await transport.run(['id', '-un'], { timeoutMs })).stdout.trim();
  if (user === 'root') return { host: transport.host, user, answers: [] };
  const answers = await Promise.all(
    argvs.map(async (argv): Promise<SudoAnswer> => {
      const r = await transport.run(sudoAllowedArgv(argv), { allowFailure: true, timeoutMs });
      if (r.code === 0) return { argv, allowed: true };
      const where = await transport.run(whereIsArgv(argv), { allowFailure: true, timeoutMs });
      return { argv, allowed: false, why: sudoWhy(r.code, r.stderr), programPath: where.stdout.trim().split('\n')[0] || (unraised(argv)[0] as string) };
    }),
  );
  return { host: transport.host, user, answers };
}

function sudoWhy(code: number, stderr: string): string {
  if (code === 127 || /not found/.test(stderr)) return 'sudo is not installed';
  const said = stderr.trim().split('\n')[0]?.replace(/^sudo: /, '');
  return said ? said : 'sudoers does not allow it';
}

/** One finding per command: allowed, or refused with the sudoers line that is missing. */
export function privilegeFindings(readings: readonly HostPrivileges[]): Finding[] {
  return readings.flatMap((r): Finding[] => {
    if (r.user === 'root') return [{ check: 'privileges', host: r.host, outcome: 'ok', message: `${r.host}: reached as root: nothing needs sudo` }];
    return r.answers.map((a): Finding => {
      const command = `\`${unraised(a.argv).join(' ')}\``;
      if (a.allowed) return { check: 'privileges', host: r.host, outcome: 'ok', message: `${r.host}: ${r.user} may run ${command} through sudo -n` };
      return {
        check: 'privileges',
        host: r.host,
        outcome: 'refused',
        message: `${r.host}: ${r.user} may not run ${command} through sudo -n (${a.why ?? 'not allowed'}); sudoers needs: ${sudoersLine(r.user, a.programPath ?? '', a.argv)}`,
      };
    });
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
