// A task run on an interval while a run lasts (sampling the balancer, renewing the lock), with
// the two things each of them needs: never two at once (a slow host must not pile up calls),
// and a stop that waits for the one in flight, so nothing lands after the run has ended.

export interface Repeating {
  /**
   * Clear the timer, then wait for the task in flight: all of it, or at most `graceMs` (then it is left to finish
   * unheard).
   */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Run `task` every `everyMs` (the timer never holds the process open), skipping a tick while the last run is still
 * going.
 */
export function repeat(everyMs: number, task: () => Promise<void>): Repeating {
  let inFlight: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (inFlight) return;
    inFlight = task()
      .catch(() => undefined)
      .finally(() => (inFlight = undefined));
  }, everyMs);
  timer.unref();
  return {
    async stop(graceMs) {
      clearInterval(timer);
      if (graceMs === undefined) return void (await inFlight);
      const grace = new Promise<void>((r) => setTimeout(r, graceMs).unref());
      await Promise.race([inFlight, grace]);
    },
  };
}
