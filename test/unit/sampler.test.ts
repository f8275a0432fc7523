import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { BackendCounters, Balancer, Member, TrafficRead } from '../../src/balancers/types.js';
import { readJournal, journalDir } from '../../src/engine/journal.js';
import { replay } from '../../src/engine/run-state.js';
import { openRun } from '../../src/engine/run.js';
import { clusterOfMembers, COUNTERS_EVERY_TICKS, startSampling, STOP_GRACE_MS } from '../../src/engine/sampler.js';
import type { TrafficSample } from '../../src/engine/traffic.js';

const member = (name: string, sessions: number, state: Member['state'] = 'ready'): Member => ({
  name,
  address: `10.0.0.${name.slice(-1)}`,
  state,
  sessions,
  queued: 0,
});

/** A balancer whose reads answer when the test says so. */
function fakeBalancer(opts: { counters?: () => Promise<BackendCounters>; sample?: () => Promise<TrafficRead> } = {}) {
  const pending: Array<() => void> = [];
  let held = false;
  let calls = 0;
  const members = async (): Promise<Member[]> => {
    calls++;
    if (held) await new Promise<void>((r) => pending.push(r));
    return [member('web1', calls), member('web2', 0, 'drain'), member('other9', 1)];
  };
  const b: Balancer = {
    driver: 'haproxy',
    members,
    drain: async () => undefined,
    ready: async () => undefined,
    cutOff: async () => undefined,
    sessions: async () => ({}),
    counters: opts.counters ?? (async () => ({ requests: 100, http5xx: 2, redispatches: 0, retries: 0 })),
    configTest: async () => undefined,
    weighing: () => ({ can: true, min: 1, max: 256 }),
    weights: async () => ({}),
    setWeights: async () => undefined,
    ...(opts.sample ? { sample: opts.sample } : {}),
  };
  return {
    balancer: b,
    calls: () => calls,
    hold: () => (held = true),
    release: () => {
      held = false;
      pending.splice(0).forEach((r) => r());
    },
  };
}

const clusterOf = (name: string) => (name === 'web1' ? 'a' : name === 'web2' ? 'b' : undefined);

describe('startSampling', () => {
  afterEach(() => vi.useRealTimers());

  it('samples every interval: members with their cluster, sessions and state, and the counters', async () => {
    vi.useFakeTimers();
    const fake = fakeBalancer();
    const samples: TrafficSample[] = [];
    const stop = startSampling(fake.balancer, { clusterOf, everyMs: 500, onSample: (s) => samples.push(s) });
    await vi.advanceTimersByTimeAsync(1_600);
    await stop();
    expect(samples).toHaveLength(3);
    expect(samples[0]).toMatchObject({
      members: [
        { name: 'web1', cluster: 'a', state: 'ready', sessions: 1 },
        { name: 'web2', cluster: 'b', state: 'drain', sessions: 0 },
        { name: 'other9', state: 'ready', sessions: 1 },
      ],
      requests: 100,
      http5xx: 2,
    });
    expect(samples[0]?.members[2]).not.toHaveProperty('cluster');
    expect(Date.parse(samples[0]?.at ?? '')).not.toBeNaN();
    await vi.advanceTimersByTimeAsync(2_000);
    expect(samples).toHaveLength(3); // stopped
  });

  it('reads counters() only now and then for a driver without sample()', async () => {
    vi.useFakeTimers();
    const counters = vi.fn(async () => ({ requests: 1, http5xx: 0, redispatches: 0, retries: 0 }));
    const samples: TrafficSample[] = [];
    const stop = startSampling(fakeBalancer({ counters }).balancer, {
      clusterOf,
      everyMs: 500,
      onSample: (s) => samples.push(s),
    });
    await vi.advanceTimersByTimeAsync(500 * (COUNTERS_EVERY_TICKS + 1) + 100);
    await stop();
    expect(samples).toHaveLength(COUNTERS_EVERY_TICKS + 1);
    expect(counters).toHaveBeenCalledTimes(2);
    expect(samples[0]).toHaveProperty('requests', 1);
    expect(samples[1]).not.toHaveProperty('requests');
  });

  it("takes the driver's sample() instead, one read per tick", async () => {
    vi.useFakeTimers();
    const fake = fakeBalancer({ sample: async () => ({ members: [member('web1', 3)], requests: 7 }) });
    const samples: TrafficSample[] = [];
    const stop = startSampling(fake.balancer, { clusterOf, everyMs: 500, onSample: (s) => samples.push(s) });
    await vi.advanceTimersByTimeAsync(1_100);
    await stop();
    expect(fake.calls()).toBe(0);
    expect(samples.map((s) => [s.members[0]?.sessions, s.requests, s.http5xx])).toEqual([
      [3, 7, undefined],
      [3, 7, undefined],
    ]);
  });

  it('skips ticks while a sample is in flight, and stop() waits for it to land', async () => {
    vi.useFakeTimers();
    const fake = fakeBalancer();
    fake.hold();
    const samples: TrafficSample[] = [];
    const stop = startSampling(fake.balancer, { clusterOf, everyMs: 500, onSample: (s) => samples.push(s) });
    await vi.advanceTimersByTimeAsync(2_600);
    expect(fake.calls()).toBe(1); // five ticks, one read
    let stopped = false;
    const stopping = stop().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false);
    fake.release();
    await stopping;
    expect(samples).toHaveLength(1);
  });

  it('stop() does not wait on a balancer that hangs: after a moment the sample in flight is dropped', async () => {
    vi.useFakeTimers();
    const fake = fakeBalancer();
    fake.hold();
    const samples: TrafficSample[] = [];
    const stop = startSampling(fake.balancer, { clusterOf, everyMs: 500, onSample: (s) => samples.push(s) });
    await vi.advanceTimersByTimeAsync(600);
    let stopped = false;
    const stopping = stop().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(STOP_GRACE_MS - 1);
    expect(stopped).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await stopping;
    fake.release(); // lands after the run's end: not recorded
    await vi.advanceTimersByTimeAsync(0);
    expect(samples).toHaveLength(0);
  });

  it('leaves the counters out when counters() throws, and keeps sampling', async () => {
    vi.useFakeTimers();
    const errors: unknown[] = [];
    const samples: TrafficSample[] = [];
    const fake = fakeBalancer({ counters: () => Promise.reject(new Error('no statusUrl')) });
    const stop = startSampling(fake.balancer, {
      clusterOf,
      everyMs: 500,
      onSample: (s) => samples.push(s),
      onFirstError: (e) => errors.push(e),
    });
    await vi.advanceTimersByTimeAsync(1_100);
    await stop();
    expect(samples).toHaveLength(2);
    expect(samples[0]).not.toHaveProperty('requests');
    expect(samples[0]).not.toHaveProperty('http5xx');
    expect(errors).toEqual([]);
  });

  it('swallows failures, reporting only the first', async () => {
    vi.useFakeTimers();
    const errors: unknown[] = [];
    let n = 0;
    const fake = fakeBalancer({
      sample: () => (++n <= 3 ? Promise.reject(new Error(`socket gone ${n}`)) : Promise.resolve({ members: [] })),
    });
    const samples: TrafficSample[] = [];
    const stop = startSampling(fake.balancer, {
      clusterOf,
      everyMs: 500,
      onSample: (s) => samples.push(s),
      onFirstError: (e) => errors.push(e),
    });
    await vi.advanceTimersByTimeAsync(2_600);
    await expect(stop()).resolves.toBeUndefined();
    expect(errors.map((e) => (e as Error).message)).toEqual(['socket gone 1']);
    expect(samples).toHaveLength(2);
  });
});

it('stops cleanly even when reporting the failure throws', async () => {
  vi.useFakeTimers();
  const fake = fakeBalancer({ sample: () => Promise.reject(new Error('down')) });
  const stop = startSampling(fake.balancer, {
    clusterOf,
    everyMs: 500,
    onSample: () => undefined,
    onFirstError: () => {
      throw new Error('disk full');
    },
  });
  await vi.advanceTimersByTimeAsync(1_100);
  await expect(stop()).resolves.toBeUndefined();
  vi.useRealTimers();
});

describe('clusterOfMembers', () => {
  it('maps member names to the cluster of their host', () => {
    const of = clusterOfMembers({
      a: [{ host: 'h1', member: 'web1', address: '10.0.0.1' }],
      b: [{ host: 'h2', member: 'web2', address: '10.0.0.2' }],
    });
    expect([of('web1'), of('web2'), of('web3')]).toEqual(['a', 'b', undefined]);
  });
});

describe('openRun with sampling', () => {
  afterEach(() => vi.useRealTimers());
  const begin = { command: 'push', plan: 'p1', tag: 'v2', by: 'ci', steps: ['lock', 'drain-a'] };

  it('journals samples between run-begin and run-end, and gives them to a reporter that takes them', async () => {
    vi.useFakeTimers();
    const dir = mkdtempSync(join(tmpdir(), 'baton-sample-'));
    const shown: TrafficSample[] = [];
    const run = openRun(dir, {
      begin,
      sample: {
        balancer: fakeBalancer().balancer,
        clusterOf,
        reporter: { traffic: (s: TrafficSample) => shown.push(s) },
        everyMs: 500,
      },
    });
    run.journal.append({ event: 'step-begin', step: 'lock', kind: 'lock', title: 'Lock', phase: 'forward' });
    await vi.advanceTimersByTimeAsync(1_100);
    run.journal.append({ event: 'step-ok', step: 'lock', phase: 'forward', ms: 1 });
    await run.end('succeeded', 1_100);
    await vi.advanceTimersByTimeAsync(2_000);
    const records = readJournal(join(journalDir(dir), readdirSync(journalDir(dir))[0] as string));
    expect(records.map((r) => r.event)).toEqual(['run-begin', 'step-begin', 'sample', 'sample', 'step-ok', 'run-end']);
    const sample = records[2];
    expect(sample).toMatchObject({
      event: 'sample',
      members: [{ name: 'web1', cluster: 'a' }, { name: 'web2', state: 'drain' }, { name: 'other9' }],
      requests: 100,
      http5xx: 2,
    });
    expect(sample).not.toHaveProperty('at'); // the record's ts is the sample's time
    expect(shown).toHaveLength(2);
    expect(shown[0]?.at).toBeTypeOf('string');

    // Replayed, the samples change nothing.
    const without = records.filter((r) => r.event !== 'sample');
    expect(replay(records)).toEqual(replay(without));
  });

  it('notes a failure to sample once and still ends the run; abandon() stops sampling', async () => {
    vi.useFakeTimers();
    const dir = mkdtempSync(join(tmpdir(), 'baton-sample-'));
    const balancer = fakeBalancer({ sample: () => Promise.reject(new Error('connection reset')) }).balancer;
    const run = openRun(dir, { begin, sample: { balancer, clusterOf, reporter: {}, everyMs: 500 } });
    await vi.advanceTimersByTimeAsync(2_100);
    await run.abandon();
    await vi.advanceTimersByTimeAsync(2_000);
    const records = readJournal(run.journal.file);
    expect(records.map((r) => r.event)).toEqual(['run-begin', 'note']);
    expect(records[1]).toMatchObject({ message: expect.stringContaining('connection reset') });
  });
});

describe('sampling a pair of balancers', () => {
  afterEach(() => vi.useRealTimers());

  it('keeps the members the balancers disagree on with the sample, without failing', async () => {
    vi.useFakeTimers();
    const fake = fakeBalancer({
      sample: async () => ({ members: [member('web1', 3)], divergent: ['web1: drain on lb1, ready on lb2'] }),
    });
    const samples: TrafficSample[] = [];
    const stop = startSampling(fake.balancer, { clusterOf, everyMs: 500, onSample: (s) => samples.push(s) });
    await vi.advanceTimersByTimeAsync(600);
    await stop();
    expect(samples[0]?.divergent).toEqual(['web1: drain on lb1, ready on lb2']);
  });
});
