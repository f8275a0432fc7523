// A POST of JSON to a receiver someone else runs (a chat webhook): each attempt within a time
// limit, a few attempts with a pause between them for a failure that may pass (no answer, 5xx,
// 429), and an error that never names the URL: a webhook's URL is often its secret.

export interface PostOptions {
  /** Attempts in all (at least 1). */
  attempts: number;
  /** Longest one attempt may take. */
  attemptMs: number;
  /** Pause before the second attempt; doubled before each one after. */
  pauseMs: number;
  /** Abandons whatever attempt is under way (and the ones not made yet). */
  signal?: AbortSignal;
  /** Attempts made and failed before (by the process that hands a delivery over): the next follows their pause. */
  failedBefore?: number;
  /** Told the number of each attempt that failed. */
  onFailedAttempt?: (attempt: number) => void;
}

export type PostResult = { ok: true; attempts: number } | { ok: false; attempts: number; error: string };

export const DEFAULT_POST: PostOptions = { attempts: 3, attemptMs: 5_000, pauseMs: 500 };

/** The longest a delivery may take: every attempt to its limit and every pause between them (16.5 s by default). */
export function postBudgetMs(opts: Pick<PostOptions, 'attempts' | 'attemptMs' | 'pauseMs'>): number {
  let ms = opts.attempts * opts.attemptMs;
  for (let attempt = 2; attempt <= opts.attempts; attempt++) ms += opts.pauseMs * 2 ** (attempt - 2);
  return ms;
}

export async function postJson(url: string, body: unknown, opts: PostOptions = DEFAULT_POST): Promise<PostResult> {
  let error = 'not sent';
  for (let attempt = (opts.failedBefore ?? 0) + 1; attempt <= opts.attempts; attempt++) {
    if (opts.signal?.aborted) return { ok: false, attempts: attempt - 1, error: 'abandoned: baton was ending' };
    if (attempt > 1) await pause(opts.pauseMs * 2 ** (attempt - 2), opts.signal);
    if (opts.signal?.aborted) return { ok: false, attempts: attempt - 1, error: 'abandoned: baton was ending' };
    const timeout = AbortSignal.timeout(opts.attemptMs);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout,
      });
      // The body is read (and dropped) so the connection can be reused or closed.
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return { ok: true, attempts: attempt };
      error = `HTTP ${res.status}`;
      opts.onFailedAttempt?.(attempt);
      if (!retried(res.status)) return { ok: false, attempts: attempt, error };
    } catch (err) {
      error = opts.signal?.aborted
        ? 'abandoned: baton was ending'
        : timeout.aborted
          ? `no answer within ${(opts.attemptMs / 1000).toFixed(1)} s`
          : withoutUrl(causeOf(err), url);
      if (opts.signal?.aborted) return { ok: false, attempts: attempt, error };
      opts.onFailedAttempt?.(attempt);
    }
  }
  return { ok: false, attempts: opts.attempts, error };
}

/** 5xx and 429 may pass; any other answer will not. */
function retried(status: number): boolean {
  return status >= 500 || status === 429;
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

// fetch says only "fetch failed"; what failed (ECONNREFUSED, a name not found) is its cause.
function causeOf(err: unknown): string {
  const cause = (err as { cause?: unknown })?.cause;
  const at = cause instanceof Error ? cause : err;
  const code = (at as NodeJS.ErrnoException)?.code;
  return code ?? (at instanceof Error ? at.message : String(at));
}

function withoutUrl(message: string, url: string): string {
  return message.split(url).join('[url]');
}
