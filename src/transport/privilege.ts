// Privileges as data: a command that needs root is built with `sudo -n --` in front of it, so the
// plan, the tests and preflight (`sudo -n -l`) see exactly what is raised. A transport logged in as
// root drops the prefix (root needs no sudo, and a root-only host may not have it installed).

/** The prefix of a raised command: sudo that fails at once instead of asking for a password. */
export const SUDO: readonly string[] = ['sudo', '-n', '--'];

/** Where system tools live that a non-root PATH leaves out (haproxy, apache2ctl, nginx are in /usr/sbin on Debian). */
export const SYSTEM_PATH_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** `argv` raised through sudo when `sudo` is true (the configuration says this family needs it), else as it is. */
export function raised(argv: readonly string[], sudo: boolean): string[] {
  return sudo ? [...SUDO, ...argv] : [...argv];
}

/** Whether `argv` is a raised command. */
export function isRaised(argv: readonly string[]): boolean {
  return SUDO.every((w, i) => argv[i] === w) && argv.length > SUDO.length;
}

/** The command without its sudo prefix (as root runs it). */
export function unraised(argv: readonly string[]): readonly string[] {
  return isRaised(argv) ? argv.slice(SUDO.length) : argv;
}

/** What a transport logged in as `user` runs for `argv`: root drops the sudo prefix. */
export function argvForUser(argv: readonly string[], user: string | undefined): readonly string[] {
  return user === 'root' ? unraised(argv) : argv;
}

/**
 * The shell line prefix that adds the system folders to a non-root PATH, so a tool in /usr/sbin run
 * without sudo (a family the configuration does not raise) is found there, as root would find it.
 * `exec` keeps the process tree a plain command line has (the shell replaced by the command).
 */
export function systemPathPrefix(user: string | undefined): string {
  return user === 'root' ? '' : `PATH="$PATH:${SYSTEM_PATH_DIRS.join(':')}"; exec `;
}

/**
 * `sudo -n -l -- CMD ARGS…`: exits 0 (printing the command's full path) when the policy lets the
 * user run exactly that command without a password, 1 when it does not. Nothing is run.
 */
export function sudoAllowedArgv(argv: readonly string[]): string[] {
  if (!isRaised(argv)) throw new Error(`sudoAllowedArgv takes a raised command, got ${JSON.stringify(argv)}`);
  return ['sudo', '-n', '-l', '--', ...unraised(argv)];
}

/**
 * `command -v TOOL`, through the PATH root would have: where a raised command's program lives, for the sudoers line.
 */
export function whereIsArgv(argv: readonly string[]): string[] {
  const program = unraised(argv)[0] ?? '';
  return ['sh', '-c', `PATH="$PATH:${SYSTEM_PATH_DIRS.join(':')}"; command -v -- "$1" || echo "$1"`, 'sh', program];
}

// sudoers treats these as syntax inside a command's arguments; a backslash makes them literal.
const SUDOERS_SPECIAL = /[\\,:=]/g;

/** The sudoers line that lets `user` run `argv` (a raised command) as root without a password. */
export function sudoersLine(user: string, programPath: string, argv: readonly string[]): string {
  const args = unraised(argv)
    .slice(1)
    .map((a) => a.replace(SUDOERS_SPECIAL, (c) => `\\${c}`));
  return `${user} ALL=(root) NOPASSWD: ${[programPath, ...args].join(' ')}`;
}
