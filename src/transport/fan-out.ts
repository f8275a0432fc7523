// Work on many hosts at once, at most `limit` at a time, and report every host that failed
// (not just the first), so a person knows exactly which hosts need a look.
import { BatonError, type Effect, ExitCode, exitCodeFor, OperationFailedError } from '../errors.js';

export interface HostFailure {
  host: string;
  error: unknown;
}

/** One or more hosts failed; `results` holds what the others returned. */
export class HostFailures<T = unknown> extends BatonError {
  readonly kind = 'host-failures';
  constructor(
    readonly failures: HostFailure[],
    readonly results: Map<string, T>,
    total: number,
  ) {
    super(
      `${failures.length} of ${total} host${total === 1 ? '' : 's'} failed:\n${failures
        .map((f) => `  ${withHost(f.host, messageOf(f.error)).replace(/\n/g, '\n    ')}`)
        .join('\n')}`,
      effectOfAll(failures),
      failures.map((f) => (f.error instanceof BatonError ? f.error.hint : undefined)).find(Boolean),
    );
  }

  /** The error for one host, if it failed. */
  errorFor(host: string): unknown {
    return this.failures.find((f) => f.host === host)?.error;
  }
}

/** A host's failure as one line that names it once, whether or not its message already does. */
function withHost(host: string, message: string): string {
  return message.startsWith(`${host}: `) ? message : `${host}: ${message}`;
}

/**
 * Run `fn` for every host, at most `limit` at once, in the given order. Every host is tried even
 * after a failure; then, if any failed, throws HostFailures naming each failed host.
 */
export async function forEachHost<T>(
  hosts: readonly string[],
  limit: number,
  fn: (host: string) => Promise<T>,
): Promise<Map<string, T>> {
  if (!Number.isInteger(limit) || limit < 1) throw new TypeError(`limit must be a positive integer, got ${limit}`);
  const results = new Map<string, T>();
  const failures: HostFailure[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < hosts.length) {
      const host = hosts[next++]!;
      try {
        results.set(host, await fn(host));
      } catch (error) {
        failures.push({ host, error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, hosts.length) }, worker));
  if (failures.length > 0) {
    const order = new Map(hosts.map((h, i) => [h, i]));
    failures.sort((a, b) => order.get(a.host)! - order.get(b.host)!);
    throw new HostFailures(failures, results, hosts.length);
  }
  return results;
}

/**
 * forEachHost for a read that goes on without the hosts it cannot reach: what the others returned, and each failure as
 * a message.
 */
export async function forEachHostSettled<T>(
  hosts: readonly string[],
  limit: number,
  fn: (host: string) => Promise<T>,
): Promise<{ results: Map<string, T>; failed: { host: string; error: string }[] }> {
  try {
    return { results: await forEachHost(hosts, limit, fn), failed: [] };
  } catch (err) {
    if (!(err instanceof HostFailures)) throw err;
    return {
      results: err.results as Map<string, T>,
      failed: err.failures.map((f) => ({ host: f.host, error: messageOf(f.error) })),
    };
  }
}

/**
 * The error (exit 1: nothing changed there) a command ends with when forEachHostSettled left some
 * hosts unreached: "<names> not reached: <consequence>", or with `counted`
 * "<N> host(s) not reached (<names>): <consequence>"; the hint says to run `baton <command>` again.
 */
export function notReachedError(
  failed: readonly { host: string }[],
  consequence: string,
  command: string,
  opts: { counted?: boolean } = {},
): OperationFailedError {
  const names = failed.map((f) => f.host).join(', ');
  const who = opts.counted
    ? `${failed.length} host${failed.length === 1 ? '' : 's'} not reached (${names})`
    : `${names} not reached`;
  return new OperationFailedError(
    `${who}: ${consequence}`,
    'unchanged',
    `check the host can be reached (ssh), then run baton ${command} again`,
  );
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// What the failures say together: any that may have changed production (or does not say) leaves
// it to the process; else the first one's word (nothing changed, or its refusal).
function effectOfAll(failures: HostFailure[]): Effect {
  const effects = failures.map((f) => (f.error instanceof BatonError ? f.error : undefined));
  if (effects.some((e) => !e || exitCodeFor(e) === ExitCode.NEEDS_ATTENTION)) return undefined;
  return effects[0]?.effect;
}
