// Which watched answers came from a cluster while the journal had it out of the pool (bench:pair and the balancer-pair
// lab test).
import type { ClusterId } from '../src/config/config.js';
import type { Answer } from '../test/lab/answer-watcher.js';

/**
 * Slack at each edge of a window, in ms: an answer sent this close to a drain's end, or answered this close to the
 * return's start, counts as in the pool.
 */
export const EDGE_MS = 50;

/**
 * When a cluster was out of the pool, by the journal (ms since the epoch): from its drain step's `step-ok` to its ready
 * step's `step-begin`.
 */
export type OutOfPoolWindow = readonly [from: number, to: number];

export interface OutOfPoolAnswers<A> {
  /**
   * Sent more than EDGE_MS after the window opened and answered more than EDGE_MS before it closed: a drained cluster
   * served them. Should be none.
   */
  outOfPool: A[];
  /**
   * Sent inside the window (same margins) but answered EDGE_MS or less before it closed, or after:
   * a request held up — a SYN lost in a balancer failover is resent by TCP about a second later —
   * and served once the cluster may have been back in the pool. Not evidence of a drained cluster serving.
   */
  sentInWindowAnsweredAfter: A[];
}

/**
 * Split the successful (200) answers of a cluster sent while it was out of the pool by when they
 * were answered. The two lists together are what counting by send time alone gives. Failed answers,
 * answers from a host not in `clusterOf`, and answers outside their cluster's window are in neither.
 */
export function outOfPoolAnswers<A extends Pick<Answer, 'at' | 'doneAt' | 'status' | 'host'>>(
  answers: readonly A[],
  clusterOf: Readonly<Record<string, ClusterId | undefined>>,
  windows: Readonly<Record<ClusterId, OutOfPoolWindow>>,
): OutOfPoolAnswers<A> {
  const result: OutOfPoolAnswers<A> = { outOfPool: [], sentInWindowAnsweredAfter: [] };
  for (const a of answers) {
    if (a.status !== 200 || a.host === undefined || !Object.hasOwn(clusterOf, a.host)) continue;
    const cluster = clusterOf[a.host];
    if (cluster === undefined) continue;
    const [from, to] = windows[cluster];
    if (!(a.at > from + EDGE_MS && a.at < to - EDGE_MS)) continue;
    (a.doneAt < to - EDGE_MS ? result.outOfPool : result.sentInWindowAnsweredAfter).push(a);
  }
  return result;
}
