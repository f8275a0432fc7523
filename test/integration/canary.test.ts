// Canary steps through HAProxy under load: the first cluster, smoke-checked, takes 5 % then 25 %
// of public traffic (runtime weights) while its 5xx answers are compared with the stable
// cluster's from HAProxy's per-server counters. A good release goes through every step without a
// failed request; v9-flaky (one GET / in ten answers 500) is stopped at the first step and
// reversed, and the load generator sees far fewer failures than a flip of the same release with
// only the watch. v10-slow (every GET / 40 ms later, nothing failing) is stopped at the first
// step by the latency comparison with the stable cluster (HAProxy's per-server rtime). v11-resets
// (one GET / in five reset without an answer: in neither req_tot nor hrsp_5xx) is stopped at the
// first step by the connection-error rule, from each server's econ, eresp, wretr and wredis.
// With the balancer's own thresholds set loose, a Prometheus query (mon scrapes every app's
// /metrics each second) stops v9-flaky on its own, and shows its value for a good release.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { driverOverrides, publicPort, writeLabConfig } from '../../bench/lab-config.js';
import { startLoad, type LoadReport } from '../lab/load.js';
import { readJournal } from '../../src/engine/journal.js';
import { stoppedAtFirstCanaryStep } from './helpers/canary-lab.js';
import { currentReleases, readLab, readyAllHaproxyMembers } from './helpers/lab.js';

function baton(...args: string[]) {
  return execa('node', ['bin/run.js', ...args], {
    reject: false,
    timeout: 180_000,
    env: { CI: '1', BATON_USER: 'canary-test' },
  });
}

async function releases(): Promise<string[]> {
  return [...new Set(Object.values(await currentReleases()))];
}

const figures = (r: LoadReport) => `${r.failed} failed of ${r.requests} (${r.failures.non2xx} non-2xx)`;

describe('canary steps through haproxy', () => {
  let config: string;
  const url = `http://10.213.7.2:${publicPort('haproxy')}/`;
  const load = () => startLoad({ url, seconds: 300, concurrency: 8 });

  beforeAll(async () => {
    readyAllHaproxyMembers();
    config = writeLabConfig(join(mkdtempSync(join(tmpdir(), 'baton-canary-')), 'baton.yml'), [
      ...driverOverrides('haproxy'),
      [['watch'], { duration: '5s', max5xxRatio: 0.02 }],
      [
        ['canary'],
        {
          steps: [
            { weight: 5, for: '6s' },
            { weight: 25, for: '6s' },
          ],
          analysis: { max5xxRatio: 0.05, maxRelative5xx: 2, minRequests: 40, maxRelativeLatency: 2 },
        },
      ],
    ]);
    const r = await baton('push', 'v1', '-c', config, '--no-canary');
    expect(r.exitCode, r.stderr).toBe(0);
  }, 240_000);

  it('shows each canary step and its thresholds in the plan', async () => {
    const r = await baton('plan', 'v2', '-c', config);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /canary 1\/2: return cluster a .* at 5% of public traffic for 6s \(weights .* 1, .* 19: 5\.00%\)/,
    );
    expect(r.stdout).toMatch(/canary 2\/2: move cluster a .* to 25% .*for 6s/);
    expect(r.stdout).toMatch(/its 5xx ratio > 5% or > 2 × the stable cluster's/);
    expect(r.stdout).toMatch(/or its mean response time > 2 × the stable cluster's \(taken as at least 10 ms\)/);
    expect(r.stdout).toMatch(
      /or its failed attempts \(connections refused or reset, retried or not\) > 2\.00% of its attempts or > 2 × /,
    );
  });

  it('takes a good release through both steps with no failed request, the weights back as they were', async () => {
    const running = load();
    const r = await baton('push', 'v2', '-c', config, '--json');
    const report = await running.stop();
    console.log(`canary, good release v2: ${figures(report)}`);
    expect(r.exitCode, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { outcome: string; completed: string[]; journal: string };
    expect(result).toMatchObject({ outcome: 'succeeded' });
    expect(result.completed).toEqual(expect.arrayContaining(['canary-a-1', 'canary-a-2', 'canary-a-end']));
    // Each step judged the canary against the stable cluster (enough requests reached it), and the journal says so.
    const judged = readJournal(result.journal).flatMap((e) =>
      e.event === 'step-ok' && e.step.startsWith('canary-a-') && e.step !== 'canary-a-end' ? [e.changed] : [],
    ) as {
      verdict: string;
      weight: number;
      canary: { requests: number; http5xx: number };
      stable: { requests: number };
    }[];
    console.log(
      `canary steps of v2: ${JSON.stringify(judged.map(({ weight, canary, stable }) => ({ weight, canary, stable })))}`,
    );
    expect(judged.map((j) => [j.weight, j.verdict])).toEqual([
      [5, 'pass'],
      [25, 'pass'],
    ]);
    for (const j of judged) expect(j.canary).toMatchObject({ http5xx: 0 });
    expect(report.failed).toBe(0);
    expect(await releases()).toEqual([expect.stringMatching(/^v2-/)]);
    const plan = await baton('plan', 'v1', '-c', config, '--format', 'json');
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect(Object.values(JSON.parse(plan.stdout).canary.weights as Record<string, number>)).toEqual([1, 1, 1, 1]);
  }, 240_000);

  it(
    'stops a release failing one request in ten at the first step, ' + 'reversed, with far fewer failures than a flip',
    async () => {
      let running = load();
      const r = await baton('push', 'v9-flaky', '-c', config, '--json');
      const canary = await running.stop();
      expect(r.exitCode, r.stderr).toBe(1);
      const error = JSON.parse(r.stdout).error as { message: string; result: { outcome: string; failedStep: string } };
      expect(error.result).toMatchObject({ outcome: 'reversed', failedStep: 'canary-a-1' });
      expect(error.message).toMatch(
        /canary at 5% failed its analysis on max5xxRatio: canary 5xx ratio [\d.]+% > max5xxRatio 5\.00%/,
      );
      expect(error.message).toMatch(/stable: 0 5xx in \d+ requests/);
      expect(await releases()).toEqual([expect.stringMatching(/^v2-/)]);

      // The same release flipped with only the watch to catch it.
      running = load();
      const flip = await baton('push', 'v9-flaky', '-c', config, '--json', '--no-canary');
      const flipped = await running.stop();
      expect(flip.exitCode, flip.stderr).toBe(1);
      expect(JSON.parse(flip.stdout).error.result).toMatchObject({ outcome: 'reversed', failedStep: 'watch-a' });
      expect(await releases()).toEqual([expect.stringMatching(/^v2-/)]);
      console.log(`canary, v9-flaky: ${figures(canary)}; flip with the watch only: ${figures(flipped)}`);
      expect(canary.failed).toBeGreaterThan(0);
      expect(canary.failed * 3).toBeLessThan(flipped.failed);
    },
    300_000,
  );

  it('stops a release answering 40 ms slower at the first step on the latency comparison, reversed', async () => {
    const { report, message, found } = await stoppedAtFirstCanaryStep<{
      metric: string;
      canary: { latency: { ms: number } };
      stable: { latency: { ms: number } };
    }>(load, () => baton('push', 'v10-slow', '-c', config, '--json'));
    console.log(`canary, v10-slow: ${figures(report)}`);
    expect(message).toMatch(
      /canary at 5% failed its analysis on maxRelativeLatency: canary latency [\d.]+ ms > maxRelativeLatency 2 ×/,
    );
    expect(message).toMatch(/stable: \d+ requests timed, mean [\d.]+ ms/);
    console.log(`failed canary step of v10-slow: ${JSON.stringify(found)}`);
    expect(found[0]).toMatchObject({ metric: 'maxRelativeLatency' });
    // The canary's window, taken out of HAProxy's moving mean, is near the 40 ms the release adds.
    expect(found[0]?.canary.latency.ms).toBeGreaterThan(30);
    expect(found[0]?.stable.latency.ms).toBeLessThan(10);
    expect(report.failed).toBe(0);
    expect(await releases()).toEqual([expect.stringMatching(/^v2-/)]);
  }, 240_000);

  it('stops a release resetting one request in five at the first step on its connection errors, reversed', async () => {
    const { report, message, found } = await stoppedAtFirstCanaryStep<{
      metric: string;
      canary: { requests: number; http5xx: number; failed: number };
      stable: { failed: number };
    }>(load, () => baton('push', 'v11-resets', '-c', config, '--json'));
    expect(message).toMatch(
      /canary at 5% failed its analysis on maxConnectionErrorRatio: canary connection error ratio [\d.]+% > /,
    );
    expect(message).toMatch(/\(canary: \d+ failed attempts in \d+ \(\d+ answered\); stable: \d+ failed attempts/);
    console.log(`canary, v11-resets: ${figures(report)}; failed canary step: ${JSON.stringify(found)}`);
    expect(found[0]).toMatchObject({ metric: 'maxConnectionErrorRatio' });
    // The resets are in neither the servers' req_tot nor their hrsp_5xx: the 5xx rules saw nothing.
    expect(found[0]?.canary.http5xx).toBe(0);
    expect(found[0]?.canary.failed).toBeGreaterThan(0);
    expect(await releases()).toEqual([expect.stringMatching(/^v2-/)]);
    // HAProxy retries only a connection that failed (retry-on conn-failure): a reset after the request was sent
    // reaches the client as a 502 or a reset, at 5 % for a few seconds few of them.
    expect(report.failed / report.requests).toBeLessThan(0.01);
  }, 240_000);
});

describe('a canary judged by a Prometheus query', () => {
  let config: string;
  const url = `http://10.213.7.2:${publicPort('haproxy')}/`;
  const load = () => startLoad({ url, seconds: 300, concurrency: 8 });
  // The canary hosts' share of GET / answered 5xx over the last 5 s, from the apps' own counters (0 where none failed).
  const query =
    '(sum(rate(http_requests_total{host=~"$canaryHosts",path="/",status=~"5.."}[5s])) or vector(0)) / ' +
    'sum(rate(http_requests_total{host=~"$canaryHosts",path="/"}[5s]))';

  beforeAll(() => {
    readyAllHaproxyMembers();
    const prometheus = readLab().prometheus.url;
    config = writeLabConfig(join(mkdtempSync(join(tmpdir(), 'baton-canary-query-')), 'baton.yml'), [
      ...driverOverrides('haproxy'),
      [
        ['canary'],
        {
          steps: [{ weight: 5, for: '8s' }],
          // Loose enough that the balancer's counters never fail a step: only the query can.
          analysis: {
            max5xxRatio: 1,
            maxRelative5xx: 1000,
            maxRelativeLatency: 1000,
            minRequests: 1,
            query: { prometheus, query, max: 0.05, every: '2s' },
          },
        },
      ],
    ]);
  });

  it('passes a good release with the query value in the journal and the event stream', async () => {
    const target = (await releases()).some((r) => r.startsWith('v2-')) ? 'v1' : 'v2';
    const running = load();
    const r = await baton('push', target, '-c', config, '--format', 'jsonl');
    const report = await running.stop();
    expect(r.exitCode, r.stderr).toBe(0);
    const events = r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { event: string; step?: string; canary?: { queries?: unknown[] } });
    const ok = events.find((e) => e.event === 'step-ok' && e.step === 'canary-a-1');
    console.log(`canary with a query, good release ${target}: ${JSON.stringify(ok?.canary?.queries)}`);
    expect(ok?.canary?.queries).toEqual([
      expect.objectContaining({
        query: expect.stringMatching(/host=~"web-1\\\\.prod-a\\\\.baton\\\\.test\|/),
        verdict: 'pass',
        value: 0,
      }),
    ]);
    expect(report.failed).toBe(0);
    expect(await releases()).toEqual([expect.stringMatching(new RegExp(`^${target}-`))]);
  }, 240_000);

  it('stops a release failing one request in ten on the query alone, reversed', async () => {
    const before = await releases();
    const { report, message, found } = await stoppedAtFirstCanaryStep<{
      metric: string;
      queries: { verdict: string; value: number }[];
    }>(load, () => baton('push', 'v9-flaky', '-c', config, '--json'));
    console.log(`canary with a query, v9-flaky: ${figures(report)}; ${message}`);
    expect(message).toMatch(/: canary at 5% failed its analysis on query `\(sum\(rate\(.*` = [\d.]+ > max 0\.05/);
    expect(found[0]).toMatchObject({ metric: 'query', queries: [{ verdict: 'fail' }] });
    expect(found[0]?.queries[0]?.value).toBeGreaterThan(0.05);
    expect(await releases()).toEqual(before);
  }, 240_000);
});
