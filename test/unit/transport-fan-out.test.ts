import { describe, expect, it } from 'vitest';
import { ExitCode, ExternalCommandError, UserError } from '../../src/errors.js';
import { HostFailures, forEachHost, notReachedError } from '../../src/transport/fan-out.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('forEachHost', () => {
  it('runs every host with at most `limit` at once and returns results by host', async () => {
    let active = 0;
    let peak = 0;
    const hosts = Array.from({ length: 10 }, (_, i) => `h${i}`);
    const results = await forEachHost(hosts, 3, async (h) => {
      peak = Math.max(peak, ++active);
      await sleep(5);
      active--;
      return h.toUpperCase();
    });
    expect(peak).toBe(3);
    expect([...results.keys()].sort()).toEqual([...hosts].sort());
    expect(results.get('h7')).toBe('H7');
  });

  it('tries every host after a failure, then names each failed host', async () => {
    const tried: string[] = [];
    const err = await forEachHost(['a', 'b', 'c', 'd'], 2, async (h) => {
      tried.push(h);
      if (h === 'b') throw new ExternalCommandError(h, ['false'], 1, 'boom');
      if (h === 'd') throw new Error('socket hang up');
      return h;
    }).catch((e: unknown) => e);
    expect(tried.sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(err).toBeInstanceOf(HostFailures);
    const f = err as HostFailures<string>;
    expect(f.failures.map((x) => x.host)).toEqual(['b', 'd']);
    expect(f.message).toMatch(
      /^2 of 4 hosts failed:\n {2}b: on b: `false` exited 1\n {4} {4}boom\n {2}d: socket hang up$/,
    );
    expect([...f.results.keys()].sort()).toEqual(['a', 'c']);
    expect(f.exitCode).toBe(ExitCode.NEEDS_ATTENTION);
    expect(f.errorFor('d')).toBeInstanceOf(Error);
  });

  it('names a host once when its own message already begins with it', async () => {
    const err = (await forEachHost(['web-1', 'web-2'], 2, async (h) => {
      throw new Error(h === 'web-1' ? 'web-1: http://127.0.0.1:8000/healthz not healthy' : 'connection refused');
    }).catch((e: unknown) => e)) as HostFailures;
    expect(err.message).toBe(
      '2 of 2 hosts failed:\n  web-1: http://127.0.0.1:8000/healthz not healthy\n  web-2: connection refused',
    );
  });

  it('keeps the exit code and hint of user errors', async () => {
    const err = (await forEachHost(['a'], 4, async () => {
      throw new UserError('bad key', 'fix it');
    }).catch((e: unknown) => e)) as HostFailures;
    expect(err.exitCode).toBe(ExitCode.USAGE);
    expect(err.hint).toBe('fix it');
  });

  it('rejects a nonsensical limit', async () => {
    await expect(forEachHost(['a'], 0, async () => 1)).rejects.toThrow(/positive integer, got 0/);
  });
});

describe('notReachedError', () => {
  it('names the hosts, says what that means and how to retry, exit 1', () => {
    const e = notReachedError([{ host: 'a' }, { host: 'b' }], 'drift unknown there', 'drift');
    expect(e.message).toBe('a, b not reached: drift unknown there');
    expect(e.hint).toBe('check the host can be reached (ssh), then run baton drift again');
    expect(e.exitCode).toBe(ExitCode.FAILED_RESTORED);
  });

  it('counts the hosts when asked', () => {
    expect(notReachedError([{ host: 'a' }], 'x', 'snapshot', { counted: true }).message).toBe(
      '1 host not reached (a): x',
    );
    expect(notReachedError([{ host: 'a' }, { host: 'b' }], 'x', 'snapshot', { counted: true }).message).toBe(
      '2 hosts not reached (a, b): x',
    );
  });
});
