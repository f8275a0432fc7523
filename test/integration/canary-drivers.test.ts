// Canary steps through Apache (balancer-manager load factors) and nginx in mode: lua (weights in
// the Lua balancer) under load, judged per member as through HAProxy: each driver counts its
// members' requests and 5xx answers from its access log, whose lines end with the member that
// answered (`upstream="…"`, the lab's log formats). A good release goes through both steps, each
// judged against the stable cluster; v9-flaky (one GET / in ten answers 500) is stopped at the
// first step and reversed, and the journal says it was judged per member; v10-slow (every GET /
// 40 ms later) is stopped at the first step by the latency comparison, each member's time summed
// from the log's time_us="%D" (Apache) or upstream_time="$upstream_response_time" (nginx) field.
// Through nginx, v11-resets (one GET / in five reset without an answer, each retried on another
// member, so the client sees nothing) is stopped at the first step by the connection-error rule:
// each address of a line's upstream="a, b" but the last had an attempt fail. Through Apache, which
// answers those resets with 502s of its own, it is stopped on its 5xx answers, and the reversal
// waits out the rest Apache gives the workers it put in error state (nothing can clear it sooner).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { driverOverrides, publicPort, writeLabConfig } from '../../bench/lab-config.js';
import { readJournal } from '../../src/engine/journal.js';
import { startLoad, type LoadReport } from '../lab/load.js';
import { stoppedAtFirstCanaryStep } from './helpers/canary-lab.js';
import { currentReleases } from './helpers/lab.js';

function baton(...args: string[]) {
  return execa('node', ['bin/run.js', ...args], {
    reject: false,
    timeout: 180_000,
    env: { CI: '1', BATON_USER: 'canary-drivers-test' },
  });
}

async function releases(): Promise<string[]> {
  return [...new Set(Object.values(await currentReleases()))];
}

const figures = (r: LoadReport) => `${r.failed} failed of ${r.requests} (${r.failures.non2xx} non-2xx)`;

interface Counted {
  requests: number;
  http5xx: number;
  failed?: number;
  latency?: { ms: number; timed: number };
}

interface Verdict {
  verdict: string;
  metric?: string;
  scope: string;
  weight: number;
  canary: Counted;
  stable?: Counted;
}

describe.each(['apache', 'nginx-lua'] as const)('canary steps through %s, judged per member', (driver) => {
  let config: string;
  const url = `http://10.213.7.2:${publicPort(driver)}/`;
  const load = () => startLoad({ url, seconds: 300, concurrency: 8 });

  beforeAll(async () => {
    config = writeLabConfig(join(mkdtempSync(join(tmpdir(), `baton-canary-${driver}-`)), 'baton.yml'), [
      ...driverOverrides(driver),
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

  it('plans the canary compared member by member with the stable cluster', async () => {
    const r = await baton('plan', 'v2', '-c', config, '--format', 'json');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).canary).toMatchObject({ scope: 'members' });
  });

  it('takes a good release through both steps, each judged against the stable cluster', async () => {
    const running = load();
    const r = await baton('push', 'v2', '-c', config, '--json');
    const report = await running.stop();
    console.log(`canary through ${driver}, good release v2: ${figures(report)}`);
    expect(r.exitCode, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { outcome: string; journal: string };
    expect(result).toMatchObject({ outcome: 'succeeded' });
    const judged = readJournal(result.journal).flatMap((e) =>
      e.event === 'step-ok' && /^canary-a-\d$/.test(e.step) ? [e.changed as Verdict] : [],
    );
    console.log(`canary steps of v2 through ${driver}: ${JSON.stringify(judged)}`);
    expect(judged.map((j) => [j.weight, j.verdict, j.scope])).toEqual([
      [5, 'pass', 'members'],
      [25, 'pass', 'members'],
    ]);
    for (const j of judged) {
      expect(j.canary).toMatchObject({ http5xx: 0 });
      // the stable members took the rest: both sides were counted from the log, member by member
      expect(j.stable?.requests).toBeGreaterThan(j.canary.requests);
    }
    expect(report.failed).toBe(0);
    expect(await releases()).toEqual([expect.stringMatching(/^v2-/)]);
  }, 240_000);

  it('stops a release failing one request in ten at the first step, judged per member, and reverses it', async () => {
    const {
      report,
      message,
      found: failed,
    } = await stoppedAtFirstCanaryStep<Verdict>(load, () => baton('push', 'v9-flaky', '-c', config, '--json'));
    console.log(`canary through ${driver}, v9-flaky: ${figures(report)}`);
    expect(message).toMatch(/canary at 5% failed its analysis on (max5xxRatio|maxRelative5xx): canary 5xx ratio/);
    expect(message).toMatch(/stable: \d+ 5xx in \d+ requests/);
    console.log(`failed canary step through ${driver}: ${JSON.stringify(failed)}`);
    expect(failed).toEqual([expect.objectContaining({ verdict: 'fail', scope: 'members', weight: 5 })]);
    expect(failed[0]?.canary.http5xx).toBeGreaterThan(0);
    expect(await releases()).toEqual([expect.stringMatching(/^v2-/)]);
    expect(report.failed).toBeGreaterThan(0);
    // At 5 % for a few seconds the public sees few of the release's failures.
    expect(report.failed / report.requests).toBeLessThan(0.01);
  }, 240_000);

  it('stops a release answering 40 ms slower at the first step on the latency comparison, reversed', async () => {
    const {
      report,
      message,
      found: failed,
    } = await stoppedAtFirstCanaryStep<Verdict>(load, () => baton('push', 'v10-slow', '-c', config, '--json'));
    console.log(`canary through ${driver}, v10-slow: ${figures(report)}`);
    expect(message).toMatch(/failed its analysis on maxRelativeLatency: canary latency [\d.]+ ms > /);
    console.log(`failed canary step of v10-slow through ${driver}: ${JSON.stringify(failed)}`);
    expect(failed[0]).toMatchObject({ metric: 'maxRelativeLatency', scope: 'members' });
    // Summed from the log, the canary's mean is the 40 ms the release adds, and more.
    expect(failed[0]?.canary.latency?.ms).toBeGreaterThanOrEqual(40);
    expect(failed[0]?.stable?.latency?.ms).toBeLessThan(10);
    expect(report.failed).toBe(0);
    expect(await releases()).toEqual([expect.stringMatching(/^v2-/)]);
  }, 240_000);

  // Apache's log names only the worker that answered: it counts no failed attempts, and its plan says so.
  if (driver === 'apache')
    it('says in the plan that connection errors are not judged', async () => {
      // a plan of the release that is not live (a live one plans no changes, and no canary)
      const tag = (await releases()).some((r) => r.startsWith('v2-')) ? 'v1' : 'v2';
      const r = await baton('plan', tag, '-c', config);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toContain(
        'connection errors not judged (the driver cannot tell which member failed an attempt)',
      );
    });

  // Apache answers the resets itself (502s in the member's name), so max5xxRatio stops the canary; the
  // workers it put in error state (Err) rest for their retry (the lab sets 15 s; Apache's default is 60 s)
  // and balancer-manager cannot clear that: the reversal waits the rest out before the old release is
  // seen back up, and says why.
  if (driver === 'apache')
    it("stops v11-resets on its 5xx answers, reversed once Apache's workers rest", async () => {
      const running = load();
      const r = await baton('push', 'v11-resets', '-c', config, '--format', 'jsonl');
      const report = await running.stop();
      expect(r.exitCode, r.stderr).toBe(1);
      const events = r.stdout
        .split('\n')
        .filter(Boolean)
        .map(
          (l) => JSON.parse(l) as { event: string; step?: string; phase?: string; message?: string; seconds?: number },
        );
      const end = events.at(-1) as unknown as {
        event: string;
        error: { message: string; result: { outcome: string; failedStep: string; journal: string } };
      };
      expect(end.event).toBe('result');
      expect(end.error.result).toMatchObject({ outcome: 'reversed', failedStep: 'canary-a-1' });
      expect(end.error.message).toMatch(
        /canary at 5% failed its analysis on (max5xxRatio|maxRelative5xx): canary 5xx ratio/,
      );
      const failed = readJournal(end.error.result.journal).flatMap((e) =>
        e.event === 'step-fail' && e.step === 'canary-a-1' ? [e.found as unknown as Verdict] : [],
      );
      const rests = events.filter((e) => e.event === 'step-progress' && /after failed requests/.test(e.message ?? ''));
      const undone = events.filter((e) => e.event === 'step-ok' && e.phase === 'reverse');
      console.log(
        `canary through ${driver}, v11-resets: ${figures(report)}; failed step: ${JSON.stringify(failed)}; ` +
          `${rests.length} rest lines, first: ${rests[0]?.step}: ${rests[0]?.message}; ` +
          `undone: ${undone.map((e) => `${e.step} ${e.seconds}s`).join(', ')}`,
      );
      expect(failed[0]).toMatchObject({ verdict: 'fail', scope: 'members', weight: 5 });
      expect(failed[0]?.canary.http5xx).toBeGreaterThan(0);
      // The reversal said why it waited past its usual 10 s: Apache rests the canary members.
      expect(rests[0]?.message).toMatch(
        /^apache rests (web1a|web2a)(, web2a)? after failed requests for up to \d+ s more \(retry 15 s\)$/,
      );
      expect(events.some((e) => e.event === 'step-fail' && e.phase === 'reverse')).toBe(false);
      expect(await releases()).toEqual([expect.stringMatching(/^v2-/)]);
    }, 300_000);

  if (driver === 'nginx-lua')
    it('stops a release resetting one request in five, hidden by the retries, on its connection errors', async () => {
      const {
        report,
        message,
        found: failed,
      } = await stoppedAtFirstCanaryStep<Verdict>(load, () => baton('push', 'v11-resets', '-c', config, '--json'));
      expect(message).toMatch(
        /canary at 5% failed its analysis on maxConnectionErrorRatio: canary connection error ratio [\d.]+% > /,
      );
      console.log(`canary through ${driver}, v11-resets: ${figures(report)}; failed step: ${JSON.stringify(failed)}`);
      expect(failed[0]).toMatchObject({ metric: 'maxConnectionErrorRatio', scope: 'members' });
      expect(failed[0]?.canary.failed).toBeGreaterThan(0);
      expect(failed[0]?.canary.http5xx).toBe(0);
      // nginx retried every reset on a stable member: the client saw none of them.
      expect(report.failed).toBe(0);
      expect(await releases()).toEqual([expect.stringMatching(/^v2-/)]);
    }, 240_000);
});
