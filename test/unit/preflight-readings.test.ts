import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Balancer, BackendCounters, Member } from '../../src/balancers/types.js';
import {
  diskCommand,
  memoryCommand,
  parseDisk,
  parseMemory,
  readDisk,
  readLoad,
  readMemory,
} from '../../src/checks/preflight-readings.js';
import { LocalTransport } from '../../src/transport/local.js';

const KiB = 1024;

describe('parseMemory', () => {
  it('takes the largest resident size of the tree and MemTotal as the limit', () => {
    const text = 'memtotal 2048000\ncgroup max\nrss 100 51200\nrss 101 40960\nrss 102 61440\n';
    expect(parseMemory(text, 'web1', '/run/app.pid')).toEqual({
      host: 'web1',
      pidFile: '/run/app.pid',
      rssBytesPerProcess: 61440 * KiB,
      processes: 3,
      memLimitBytes: 2048000 * KiB,
      memLimitSource: 'MemTotal',
    });
  });

  it("takes the cgroup's memory.max when it is lower than the host's memory", () => {
    const r = parseMemory('memtotal 2048000\ncgroup 536870912\nrss 100 51200\n', 'web1', '/run/app.pid');
    expect([r.memLimitBytes, r.memLimitSource]).toEqual([536870912, 'cgroup memory.max']);
  });

  it('says why nothing was measured: no pid file, a dead process, an empty pid file', () => {
    expect(parseMemory('memtotal 1000\npidfile missing\n', 'h', '/p').notMeasured).toBe(
      'the pid file is missing or unreadable',
    );
    expect(parseMemory('memtotal 1000\nprocess not-running 4242\n', 'h', '/p').notMeasured).toBe(
      'process 4242 (from the pid file) is not running',
    );
    expect(parseMemory('memtotal 1000\nprocess not-running none\n', 'h', '/p').notMeasured).toBe(
      'the pid file holds no process id',
    );
  });

  it('fails without MemTotal', () => {
    expect(() => parseMemory('rss 1 2\n', 'web1', '/p')).toThrow('no MemTotal in /proc/meminfo on web1');
  });
});

describe('parseDisk', () => {
  it("reads df -Pk's available column, in bytes, for the directory asked", () => {
    const text =
      '/srv\nFilesystem     1024-blocks     Used Available Capacity Mounted on\n/dev/sda1         41152736 ' +
      '20123456  18915636      52% /\n';
    expect(parseDisk(text, 'web1')).toEqual({ host: 'web1', path: '/srv', availableBytes: 18915636 * KiB });
  });

  it('fails naming the host on anything else', () => {
    expect(() => parseDisk('/srv\ndf: /srv: No such file\n', 'web1')).toThrow('could not read free space on web1');
  });
});

describe('the commands are argv with the values as positional arguments', () => {
  it('never splices a path into the script', () => {
    const odd = '/tmp/$(touch pwned); x';
    expect(memoryCommand(odd).slice(-2)).toEqual(['sh', odd]);
    expect(diskCommand(odd).slice(-2)).toEqual(['sh', odd]);
    expect(memoryCommand(odd)[2]).not.toContain(odd);
  });
});

// The scripts themselves, run by this machine's sh on its own /proc.
describe.runIf(process.platform === 'linux')('the scripts on a real host', () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-preflight-'));
  const local = new LocalTransport('localhost');
  let tree: ChildProcess;

  beforeAll(async () => {
    // A parent with two children, like a web server and its workers.
    tree = spawn('sh', ['-c', 'sleep 30 & sleep 30 & wait'], { stdio: 'ignore' });
    writeFileSync(join(dir, 'app.pid'), `${tree.pid}\n`);
    await new Promise((r) => setTimeout(r, 200));
  });
  afterAll(() => {
    tree.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('measures the process in the pid file and its children', async () => {
    const r = await readMemory(local, join(dir, 'app.pid'));
    expect(r.notMeasured).toBeUndefined();
    expect(r.processes).toBe(3);
    expect(r.rssBytesPerProcess).toBeGreaterThan(0);
    expect(r.memLimitBytes).toBeGreaterThan(r.rssBytesPerProcess!);
  });

  it('says so when the pid file is missing or its process is gone', async () => {
    expect((await readMemory(local, join(dir, 'none.pid'))).notMeasured).toBe('the pid file is missing or unreadable');
    writeFileSync(join(dir, 'dead.pid'), '999999999\n');
    expect((await readMemory(local, join(dir, 'dead.pid'))).notMeasured).toBe(
      'process 999999999 (from the pid file) is not running',
    );
  });

  it('reads free space at the nearest existing parent of a path not made yet', async () => {
    const r = await readDisk(local, join(dir, 'not', 'yet'));
    expect(r.path).toBe(dir);
    expect(r.availableBytes).toBeGreaterThan(0);
  });
});

describe('readLoad', () => {
  const member = (name: string, sessions: number, queued: number, limit?: number): Member => ({
    name,
    address: name,
    state: 'ready',
    sessions,
    queued,
    ...(limit ? { limit } : {}),
  });
  const counters = (requests: number): BackendCounters => ({ requests, http5xx: 0, redispatches: 0, retries: 0 });
  function balancer(requests: number[], members: Member[]): Balancer {
    return { counters: async () => counters(requests.shift()!), members: async () => members } as unknown as Balancer;
  }
  function clock(elapsed: number) {
    let t = 0;
    return { now: () => t, sleep: async () => void (t += elapsed) };
  }

  it('measures the rate over the time that really passed and sums in flight and queued', async () => {
    const r = await readLoad(
      balancer([1000, 1412], [member('w1', 3, 1, 50), member('w2', 2, 0, 40)]),
      1000,
      clock(2000),
    );
    expect(r).toEqual({ requestsPerSecond: 206, sampledMs: 2000, concurrency: 6, perHostConcurrencyFromBalancer: 40 });
  });

  it('gives no per-host concurrency unless every member has a limit', async () => {
    const r = await readLoad(balancer([0, 0], [member('w1', 0, 0, 50), member('w2', 0, 0)]), 1000, clock(1000));
    expect(r.perHostConcurrencyFromBalancer).toBeUndefined();
  });

  it(
    'does not wait to measure the rate when nothing would ' + 'compare it (no capacity.perHost.requestsPerSecond)',
    async () => {
      let slept = false;
      const r = await readLoad(
        balancer([], [member('w1', 3, 1, 50), member('w2', 2, 0, 40)]),
        1000,
        { now: () => 0, sleep: async () => void (slept = true) },
        false,
      );
      expect(slept).toBe(false);
      expect(r).toEqual({ sampledMs: 0, concurrency: 6, perHostConcurrencyFromBalancer: 40 });
    },
  );

  it('refuses a counter that went back (the balancer reloaded while sampled)', async () => {
    await expect(readLoad(balancer([500, 3], []), 1000, clock(1000))).rejects.toThrow('went back (500 → 3)');
  });
});
