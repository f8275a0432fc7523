// A pair of balancers' members merged: a member one of them rests after failed requests (Apache's
// Err) is down for the pair, and the longest rest left is the one a ready step waits out.
import { describe, expect, it } from 'vitest';
import { mergeMembers } from '../../src/balancers/balancer-set.js';
import type { Member } from '../../src/balancers/types.js';

const member = (over: Partial<Member> = {}): Member => ({
  name: 'web1a',
  address: '10.213.7.11',
  state: 'ready',
  healthy: true,
  sessions: 1,
  queued: 0,
  ...over,
});

describe('mergeMembers', () => {
  it('keeps the longest rest of either balancer, and the member unhealthy where one rests it', () => {
    const resting = member({ state: 'down', healthy: false, resting: { leftMs: 30_000, retryMs: 60_000 } });
    const [fromPeer] = mergeMembers([[member()], [resting]]);
    expect(fromPeer).toMatchObject({ healthy: false, sessions: 2, resting: { leftMs: 30_000 } });
    const shorter = member({ state: 'down', healthy: false, resting: { leftMs: 5_000, retryMs: 60_000 } });
    expect(mergeMembers([[shorter], [resting]])[0]?.resting).toEqual({ leftMs: 30_000, retryMs: 60_000 });
    expect(mergeMembers([[resting], [shorter]])[0]?.resting).toEqual({ leftMs: 30_000, retryMs: 60_000 });
    expect(mergeMembers([[member()], [member()]])[0]).not.toHaveProperty('resting');
  });
});
