// After a restart: poll the application's health URL on the host itself (curl through the
// host's transport) until it answers 2xx, with growing sleeps, or fail naming what it saw.
import { OperationFailedError } from '../errors.js';
import type { Transport } from '../transport/types.js';
import { type Backoff, backoffDelay, type Clock, DEFAULT_BACKOFF, systemClock } from './backoff.js';

/** `curl` prints only the status code; a connection failure prints 000 and exits non-zero. */
export function healthProbeArgv(url: string, maxSeconds: number): string[] {
  return ['curl', '-fsS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', maxSeconds.toFixed(1), url];
}

export interface LocalHealth {
  status: number;
  attempts: number;
  elapsedMs: number;
}

export async function waitForLocalHealth(
  transport: Transport,
  url: string,
  timeoutMs: number,
  opts: { clock?: Clock; backoff?: Backoff } = {},
): Promise<LocalHealth> {
  const clock = opts.clock ?? systemClock;
  const start = clock.now();
  let attempts = 0;
  let last: string;
  for (;;) {
    attempts++;
    const remainingS = Math.max(0.5, Math.min(2, (start + timeoutMs - clock.now()) / 1000));
    const r = await transport.run(healthProbeArgv(url, remainingS), {
      allowFailure: true,
      timeoutMs: remainingS * 1000 + 5000,
    });
    const status = Number(r.stdout.trim().slice(-3));
    if (status >= 200 && status < 300) return { status, attempts, elapsedMs: clock.now() - start };
    last = status > 0 ? `status ${status}` : `none (${r.stderr.trim().split('\n').pop() || `curl exit ${r.code}`})`;
    const delay = backoffDelay(attempts, opts.backoff ?? DEFAULT_BACKOFF);
    if (clock.now() + delay - start > timeoutMs) break;
    await clock.sleep(delay);
  }
  throw new OperationFailedError(
    `${transport.host}: ${url} not healthy after ${clock.now() - start} ms (${attempts} attempts); ` +
      `last answer: ${last}`,
    undefined,
    `look at the application's log on ${transport.host}`,
  );
}
