// Error kinds and the exit-code map of the whole CLI: every failure a command can end with
// is one of these, so a pipeline can branch on the exit code and a person gets a hint.

/** Exit codes, documented in the README and in `baton --help`; test/unit/exit-codes.test.ts keeps them honest. */
export const ExitCode = {
  /** Success. */
  OK: 0,
  /** Failed; production is unchanged, or was restored to where it started. */
  FAILED_RESTORED: 1,
  /** Failed; production needs attention (a reversal failed, or its state is unknown). */
  NEEDS_ATTENTION: 2,
  /** The plan was refused: stale, altered, unapproved or unrehearsed. Nothing changed. */
  PLAN_REFUSED: 3,
  /** The release lock is held by someone else. Nothing changed. */
  LOCK_HELD: 4,
  /** `baton drift`: a host differs from its last snapshot (the run itself succeeded). Nothing changed. */
  DRIFTED: 5,
  /**
   * Preflight refused: the cluster left serving could not carry the load, memory or disk would not suffice. Nothing
   * changed.
   */
  PREFLIGHT_REFUSED: 6,
  /** Usage or configuration error. Nothing changed. */
  USAGE: 64,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** One-line meaning of each exit code, shown in help and the README. */
export const EXIT_CODE_MEANINGS: Record<ExitCodeValue, string> = {
  0: 'success',
  1: 'failed; production unchanged or restored to where it started',
  2: 'failed; production needs attention (reversal failed or state unknown)',
  3: 'plan refused (stale, altered, unapproved or unrehearsed); nothing changed',
  4: 'release lock held by someone else; nothing changed',
  5: 'drift: a host differs from its last snapshot; nothing changed',
  6: 'preflight refused (capacity, memory, disk or access); nothing changed',
  64: 'usage or configuration error; nothing changed',
};

/** The codes a refusal ends with: nothing began, so nothing changed. */
export type RefusalCode =
  | typeof ExitCode.PLAN_REFUSED
  | typeof ExitCode.LOCK_HELD
  | typeof ExitCode.DRIFTED
  | typeof ExitCode.PREFLIGHT_REFUSED
  | typeof ExitCode.USAGE;

/** How a run ended, as far as production goes: what the runner's Outcome says. */
export interface RunEnd {
  outcome: 'succeeded' | 'held' | 'reversed' | 'needs-attention';
  /** A step that changes production began (in this process or the one it resumes). */
  productionChanged: boolean;
}

/**
 * What an error says happened to production. A refusal: nothing began (its code says why). A
 * run that ended so. A failure that changed nothing; one that may have left production part-way.
 * Or nothing said: then the process does (nothing changed until a run began a step that changes
 * production).
 */
export type Effect = { refused: RefusalCode } | { ran: RunEnd } | 'unchanged' | 'partway' | undefined;

/**
 * The one place that turns what happened into an exit code: a run's end, or an error (what it
 * says it did, else whether this process had changed production: when that is not known, it may have).
 */
export function exitCodeFor(what: RunEnd | unknown, productionChangedInProcess = true): ExitCodeValue {
  if (isRunEnd(what)) return byRunEnd(what);
  const effect = what instanceof BatonError ? what.effect : undefined;
  if (effect === 'unchanged') return ExitCode.FAILED_RESTORED;
  if (effect === 'partway') return ExitCode.NEEDS_ATTENTION;
  if (effect && 'refused' in effect) return effect.refused;
  // An error never exits 0: a run that "succeeded" and still ended in an error is not known to be whole.
  if (effect && 'ran' in effect) return byRunEnd(effect.ran) || ExitCode.NEEDS_ATTENTION;
  return productionChangedInProcess ? ExitCode.NEEDS_ATTENTION : ExitCode.FAILED_RESTORED;
}

/** The error says by itself that nothing in production changed: a refusal, or a failure that changed nothing. */
export function saysNothingChanged(e: BatonError): boolean {
  return e.effect === 'unchanged' || (typeof e.effect === 'object' && 'refused' in e.effect);
}

/** Success, or held where asked: 0. Put back (or never changed): 1. Changed and not put back: 2. */
function byRunEnd(r: RunEnd): ExitCodeValue {
  if (r.outcome === 'succeeded' || r.outcome === 'held') return ExitCode.OK;
  return r.outcome === 'reversed' ? ExitCode.FAILED_RESTORED : ExitCode.NEEDS_ATTENTION;
}

function isRunEnd(x: unknown): x is RunEnd {
  return !(x instanceof Error) && typeof x === 'object' && x !== null && 'outcome' in x && 'productionChanged' in x;
}

/** Base of every error baton raises on purpose. */
export abstract class BatonError extends Error {
  abstract readonly kind: string;
  /** Machine-readable facts about the failure (printed with --json), e.g. what a failed push did. */
  data?: Record<string, unknown>;
  constructor(
    message: string,
    /** What happened to production: a refusal's code, a run's end, or what this failure did. */
    readonly effect: Effect,
    readonly hint?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }

  /** The exit code this error ends with, when nothing is known of what the process did besides. */
  get exitCode(): ExitCodeValue {
    return exitCodeFor(this);
  }
}

/** Something the user can fix: bad flag, bad config, missing file. */
export class UserError extends BatonError {
  readonly kind = 'user';
  constructor(message: string, hint?: string, effect: Effect = { refused: ExitCode.USAGE }) {
    super(message, effect, hint);
  }
}

/**
 * The balancer cannot count per member here (Apache's or nginx's access log does not name the
 * member that answered): whoever asked falls back to the backend's counts.
 */
export class MemberCountsUnavailable extends UserError {}

/** One located problem in a configuration file. */
export interface ConfigIssue {
  file: string;
  line: number;
  col: number;
  /** Key path inside the document, e.g. `clusters.a.hosts[1]`. */
  path: string;
  message: string;
}

/** A configuration file that cannot be used; carries every problem found, not only the first. */
export class ConfigError extends BatonError {
  readonly kind = 'config';
  constructor(readonly issues: ConfigIssue[]) {
    super(
      issues.map(formatConfigIssue).join('\n'),
      { refused: ExitCode.USAGE },
      'fix the lines above, then run `baton validate`',
    );
  }
}

export function formatConfigIssue(i: ConfigIssue): string {
  return `${i.file}:${i.line}:${i.col}: ${i.path ? `${i.path}: ` : ''}${i.message}`;
}

/** A plan apply will not carry out. */
export class PlanRefusedError extends BatonError {
  readonly kind = 'plan-refused';
  constructor(
    message: string,
    hint?: string,
    readonly details: string[] = [],
  ) {
    super(message, { refused: ExitCode.PLAN_REFUSED }, hint);
  }
}

/**
 * What to do about each kind of refused preflight finding: said for what was refused, never "lower the load" for a
 * missing sudoers line.
 */
const PREFLIGHT_HINTS: Record<string, string> = {
  reach: 'make the hosts named answer over SSH (address, sshd, ssh.user, known_hosts)',
  tag: 'push a tag that exists in app.repo and reads whole',
  'balancer-config': 'fix the balancer configuration it names on the balancer host',
  privileges:
    'add the sudoers lines named above on those hosts (visudo -f /etc/sudoers.d/baton), ' +
    'or set ssh.sudo to false for what the user may run itself',
  access: 'give the SSH user write access to the files and folders named (README: Running as a deploy user)',
  disk: 'free disk on the hosts named, or lower app.keep',
  capacity: 'lower the load or add hosts',
  memory: 'lower capacity.memory.processLimit or add memory',
  tools:
    'install what the hosts named lack (a built artifact is checked with sha256sum or shasum and unpacked ' +
    'with tar, and zstd when artifact.compression is zstd)',
  internal:
    "make each cluster's internal hostname resolve on this machine (DNS or /etc/hosts), " +
    'or pin it to the address that reaches only that cluster with resolve: in baton.yml',
};

/**
 * What preflight found that forbids a run: each finding names what failed and, for numbers, where
 * they came from. Exit 6, except for a host that cannot be reached: that is exit 1 from preflight
 * as from plan, push and every other command (nothing changed), and no override makes it answer.
 */
export class PreflightRefusedError extends BatonError {
  readonly kind = 'preflight-refused';
  readonly findings: string[];
  constructor(message: string, refused: readonly { check: string; message: string }[] = []) {
    const unreachable = refused.some((f) => f.check === 'reach');
    const hints = [...new Set(refused.map((f) => PREFLIGHT_HINTS[f.check] ?? 'fix what the findings name'))];
    const otherwise = unreachable
      ? 'nothing in production was changed'
      : 'or run with --override-preflight REASON (journaled) if you know better';
    super(
      message,
      unreachable ? 'unchanged' : { refused: ExitCode.PREFLIGHT_REFUSED },
      `${hints.join('; ')}; ${otherwise}`,
    );
    this.findings = refused.map((f) => f.message);
  }
}

/** The release lock belongs to someone else. */
export class LockHeldError extends BatonError {
  readonly kind = 'lock-held';
  constructor(
    message: string,
    readonly holder?: Record<string, unknown>,
  ) {
    super(
      message,
      { refused: ExitCode.LOCK_HELD },
      'wait for the other release, or `baton unlock` if you know it is gone',
    );
  }
}

/** A command run locally or on a host exited non-zero (or could not start). */
export class ExternalCommandError extends BatonError {
  readonly kind = 'external';
  constructor(
    readonly host: string,
    readonly argv: readonly string[],
    readonly code: number | null,
    readonly stderrTail: string,
    /** 'unchanged' for a read; left unsaid, the process's effect decides. */
    effect?: Effect,
    /** Ended at its time limit (killed by the transport's timer or the host's own `timeout`). */
    readonly timedOut = false,
    hint?: string,
  ) {
    super(
      `on ${host}: \`${shortCommand(argv)}\` ` +
        `exited ${code ?? 'by signal'}${stderrTail ? `\n${indent(stderrTail)}` : ''}`,
      effect,
      hint,
    );
  }
}

/**
 * A push or step failed; `effect` says what it did to production when the thrower knows, else the run or the process
 * says.
 */
export class OperationFailedError extends BatonError {
  readonly kind = 'failed';
  constructor(message: string, effect?: Effect, hint?: string, data?: Record<string, unknown>) {
    super(message, effect, hint);
    if (data) this.data = data;
  }
}

/**
 * Anything not raised on purpose is a bug; production state is then unknown, unless this process had changed nothing.
 */
export class BugError extends BatonError {
  readonly kind = 'bug';
  constructor(override readonly cause: unknown) {
    super(
      `internal error: ${cause instanceof Error ? cause.message : String(cause)}`,
      undefined,
      'this is a bug in baton: please report it with the command, baton.yml (without secrets) ' +
        'and this output (BATON_DEBUG=1 adds the stack)',
    );
  }
}

/** Where a bug happened, for `BATON_DEBUG=1`: the stack of what was thrown, else of the BugError itself. */
export function bugStack(e: BugError): string | undefined {
  return e.cause instanceof Error && e.cause.stack ? e.cause.stack : e.stack;
}

/** Every error becomes a BatonError; unknown ones are bugs. */
export function toBatonError(err: unknown): BatonError {
  return err instanceof BatonError ? err : new BugError(err);
}

/** A command as a person reads it in one line: an inline script is cut to its first words. */
export function shortCommand(argv: readonly string[], max = 100): string {
  const line = argv.join(' ').replace(/\s*\n\s*/g, '; ');
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}
