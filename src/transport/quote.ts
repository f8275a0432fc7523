// Turns an argv into the one command string a remote shell will split back into exactly that
// argv. POSIX single quotes have a single rule (nothing is special inside but `'` itself), so
// this is easier to audit than shell-quote, which mixes backslash, double and single quoting.

/** Characters no common shell treats specially anywhere in a word (`=` and `%` are left out:
 *  `A=b` as a first word would become an assignment, `=cmd` expands in zsh, `%1` is a job). */
const SAFE = /^[A-Za-z0-9_@+:,./-]+$/;

/** Quote one argument for a POSIX shell. */
export function quoteArg(arg: string): string {
  if (typeof arg !== 'string') {
    throw new TypeError(`argument must be a string, got ${typeof arg}: ${String(arg)}`);
  }
  if (arg.includes('\0')) {
    throw new TypeError(`argument ${JSON.stringify(arg)} contains a NUL byte, which no command line can carry`);
  }
  if (SAFE.test(arg)) return arg;
  // Inside single quotes only `'` itself is special: close, emit an escaped quote, reopen.
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Quote an argv into one command string for `sh -c` / an SSH exec request. */
export function quoteArgv(argv: readonly string[]): string {
  if (argv.length === 0) throw new TypeError('argv must name a command, got an empty array');
  return argv.map(quoteArg).join(' ');
}
