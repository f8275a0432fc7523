// What bench:pair and the balancer-pair lab test call an answer from a cluster out of the pool:
// sent and answered inside its window, and not a request sent then but answered after the
// cluster was back (a SYN lost in a failover, served on its resend about a second later).
import { describe, expect, it } from 'vitest';
import { EDGE_MS, outOfPoolAnswers, type OutOfPoolWindow } from '../../bench/out-of-pool.js';
import type { Answer } from '../lab/answer-watcher.js';

const A = 'web-1.prod-a.baton.test';
const B = 'web-1.prod-b.baton.test';
const clusterOf = { [A]: 'a', [B]: 'b' } as const;
// Cluster a out of the pool from 10 000 to 20 000, cluster b from 30 000 to 40 000 (ms).
const windows: Record<'a' | 'b', OutOfPoolWindow> = { a: [10_000, 20_000], b: [30_000, 40_000] };
const answer = (host: string | undefined, at: number, doneAt: number, status = 200): Answer => ({
  at,
  doneAt,
  status,
  ...(host ? { host, version: 'v1-abc' } : {}),
});
const split = (...answers: Answer[]) => outOfPoolAnswers(answers, clusterOf, windows);

describe('outOfPoolAnswers', () => {
  it('counts an answer from a cluster sent and answered inside its window', () => {
    const inside = answer(A, 12_000, 12_005);
    expect(split(inside)).toEqual({ outOfPool: [inside], sentInWindowAnsweredAfter: [] });
  });

  it('counts a request sent in the window but answered 300 ms after it closed as late, not out of the pool', () => {
    const resent = answer(A, 19_000, 20_300);
    expect(split(resent)).toEqual({ outOfPool: [], sentInWindowAnsweredAfter: [resent] });
  });

  it('leaves out answers from the other cluster, which was in the pool then', () => {
    expect(split(answer(B, 12_000, 12_005), answer(A, 35_000, 35_005))).toEqual({
      outOfPool: [],
      sentInWindowAnsweredAfter: [],
    });
  });

  it('leaves out failed answers (status 0, no host), other statuses and hosts it does not know', () => {
    const none = { outOfPool: [], sentInWindowAnsweredAfter: [] };
    expect(split(answer(undefined, 12_000, 17_000, 0))).toEqual(none);
    expect(split(answer(A, 12_000, 12_005, 503))).toEqual(none);
    expect(split(answer('web-9.elsewhere.test', 12_000, 12_005), answer('constructor', 12_000, 12_005))).toEqual(none);
  });

  it(
    `gives ${EDGE_MS} ms at each edge: sent within it of the drain's end or answered within it of the return ` +
      'is not out of the pool',
    () => {
      expect(EDGE_MS).toBe(50);
      const [from, to] = windows.a;
      const sentAtOpeningEdge = answer(A, from + 50, from + 60);
      const sentJustAfterIt = answer(A, from + 51, from + 60);
      const answeredJustBeforeClosingEdge = answer(A, to - 200, to - 51);
      const answeredAtClosingEdge = answer(A, to - 200, to - 50);
      const sentAtClosingEdge = answer(A, to - 50, to - 40);
      const sentJustBeforeIt = answer(A, to - 51, to - 49);
      expect(
        split(
          sentAtOpeningEdge,
          sentJustAfterIt,
          answeredJustBeforeClosingEdge,
          answeredAtClosingEdge,
          sentAtClosingEdge,
          sentJustBeforeIt,
        ),
      ).toEqual({
        outOfPool: [sentJustAfterIt, answeredJustBeforeClosingEdge],
        sentInWindowAnsweredAfter: [answeredAtClosingEdge, sentJustBeforeIt],
      });
    },
  );

  it('splits what counting by send time alone gave, and counts nothing when the journal had no window (NaN)', () => {
    const answers = [
      answer(A, 11_000, 11_010),
      answer(A, 19_900, 21_000),
      answer(B, 31_000, 31_010),
      answer(B, 39_000, 39_500),
      answer(A, 25_000, 25_010),
    ];
    const bySendTime = answers.filter((a) => {
      const [from, to] = windows[a.host === A ? 'a' : 'b'];
      return a.at > from + 50 && a.at < to - 50;
    });
    const { outOfPool, sentInWindowAnsweredAfter } = split(...answers);
    expect(outOfPool).toHaveLength(3);
    expect(sentInWindowAnsweredAfter).toHaveLength(1);
    expect([...outOfPool, ...sentInWindowAnsweredAfter].sort((x, y) => x.at - y.at)).toEqual(bySendTime);
    expect(outOfPoolAnswers(answers, clusterOf, { a: [NaN, NaN], b: [NaN, NaN] })).toEqual({
      outOfPool: [],
      sentInWindowAnsweredAfter: [],
    });
  });
});
