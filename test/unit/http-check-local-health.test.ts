import { describe, expect, it } from 'vitest';
import { healthProbeArgv, waitForLocalHealth } from '../../src/checks/local-health.js';
import { OperationFailedError } from '../../src/errors.js';
import type { RunOptions, RunResult, Transport } from '../../src/transport/types.js';

/** A host whose curl answers come from a list; the clock moves only when slept. */
function host(answers: Partial<RunResult>[]) {
  let t = 0;
  const runs: (readonly string[])[] = [];
  const transport: Transport = {
    host: 'web-1.prod-a',
    async run(argv: readonly string[], _opts?: RunOptions) {
      runs.push(argv);
      t += 10;
      return { code: 0, stdout: '', stderr: '', ...(answers.length > 1 ? answers.shift() : answers[0]) };
    },
    upload: async () => {},
    download: async () => {},
  };
  return { transport, runs, clock: { now: () => t, sleep: async (ms: number) => void (t += ms) } };
}

describe('waitForLocalHealth', () => {
  it('curls the URL on the host until it answers 2xx', async () => {
    const h = host([
      { code: 7, stdout: '000', stderr: 'curl: (7) Failed to connect' },
      { code: 22, stdout: '503' },
      { stdout: '200' },
    ]);
    const r = await waitForLocalHealth(h.transport, 'http://127.0.0.1:8000/healthz', 30_000, { clock: h.clock });
    expect(r).toMatchObject({ status: 200, attempts: 3 });
    expect(h.runs[0]).toEqual([
      'curl',
      '-fsS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--max-time',
      '2.0',
      'http://127.0.0.1:8000/healthz',
    ]);
  });

  it('fails naming host, URL and the last status', async () => {
    const h = host([{ code: 22, stdout: '503' }]);
    const err = await waitForLocalHealth(h.transport, 'http://127.0.0.1:8000/healthz', 3000, { clock: h.clock }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OperationFailedError);
    expect((err as Error).message).toMatch(
      new RegExp(
        /^web-1\.prod-a: http:\/\/127\.0\.0\.1:8000\/healthz not healthy after \d+ ms \(\d+ attempts\); /.source +
          /last answer: status 503$/.source,
      ),
    );
  });

  it('fails naming the connection error when nothing answered', async () => {
    const h = host([{ code: 7, stdout: '000', stderr: 'curl: (7) Failed to connect to 127.0.0.1 port 8000' }]);
    await expect(waitForLocalHealth(h.transport, 'http://127.0.0.1:8000/', 1000, { clock: h.clock })).rejects.toThrow(
      'last answer: none (curl: (7) Failed to connect to 127.0.0.1 port 8000)',
    );
  });

  it('never waits longer per probe than the time left', () => {
    expect(healthProbeArgv('http://x/', 0.5)).toContain('0.5');
  });
});
