import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Balancer, Member } from '../../src/balancers/types.js';
import { formatMiB, refusals } from '../../src/checks/preflight.js';
import type { Config } from '../../src/config/config.js';
import { parseConfig } from '../../src/config/load.js';
import { Secrets } from '../../src/config/secrets.js';
import type { ReleaseLock } from '../../src/engine/lock.js';
import type { Session } from '../../src/engine/session.js';
import { artifactSpec } from '../../src/release/planned-artifact.js';
import { preflightRefusal, runPreflight } from '../../src/release/preflight.js';
import { RecordingTransports } from '../../src/transport/recording.js';
import { artifactFor } from '../../src/vcs/artifact-build.js';
import { resolveTag } from '../../src/vcs/git.js';

const KiB = 1024;
const root = mkdtempSync(join(tmpdir(), 'baton-preflight-service-'));
const repo = join(root, 'repo');

beforeAll(() => {
  mkdirSync(repo);
  const git = (...args: string[]) =>
    execFileSync(
      'git',
      ['-c', 'user.name=T', '-c', 'user.email=t@example.com', '-c', 'init.defaultBranch=main', ...args],
      { cwd: repo },
    );
  git('init', '-q');
  writeFileSync(join(repo, 'app.js'), 'x'.repeat(4 * KiB * KiB));
  git('add', 'app.js');
  git('commit', '-q', '-m', 'app');
  git('tag', 'v1.0.0');
});

let config: Config;
let transports: RecordingTransports;
let balancer: { requests: number[]; members: Member[]; configError?: Error };
let session: Session;
/** kB free on each host, and hosts that do not answer. */
let freeKb: Record<string, number>;
let down: Set<string>;
/** Names that do not resolve on the machine running baton. */
let unresolvable: Set<string>;
/** Commands a host does not have. */
let lacks: Record<string, string[]>;

const clock = () => {
  let t = 0;
  return { now: () => t, sleep: async (ms: number) => void (t += ms) };
};

beforeEach(() => {
  config = parseConfig(
    `app: { name: shop, repo: ${repo}, path: /srv/shop, restart: 'true' }
balancer: { driver: haproxy, host: lb.test, backend: web }
clusters:
  a: { internal: prod-a.test, hosts: [{ host: w1a }, { host: w2a }] }
  b: { internal: prod-b.test, hosts: [{ host: w1b }, { host: w2b }] }
capacity:
  perHost: { requestsPerSecond: 200 }
  memory: { pidFile: /run/shop.pid, processLimit: 10 }
`,
    join(root, 'baton.yml'),
  ).config as Config;
  freeKb = { w1a: 100 * KiB, w2a: 100 * KiB, w1b: 100 * KiB, w2b: 100 * KiB };
  down = new Set();
  transports = new RecordingTransports({
    responses: [
      {
        match: (_argv, host) => down.has(host),
        answer: (_a, host) => ({ code: 255, stderr: `ssh: connect to host ${host} port 22: Connection refused` }),
      },
      {
        match: (argv) => argv[0] === 'sh' && argv[2]!.includes('df -Pk'),
        answer: (argv, host) => ({
          stdout:
            `/srv/shop\nFilesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sda1 999999 ` +
            `1 ${freeKb[host]} 1% /\n`,
        }),
      },
      {
        match: (argv) => argv[0] === 'sh' && argv[2]!.includes('/proc/meminfo'),
        answer: () => ({ stdout: 'memtotal 1048576\nrss 10 51200\nrss 11 61440\n' }),
      },
      // Reached as a deploy user who may write every path baton writes without sudo.
      { match: (argv) => argv[0] === 'id', answer: () => ({ stdout: 'deploy\n' }) },
      {
        match: (argv) => argv[0] === 'sh' && argv[2]!.includes('command -v'),
        answer: (argv, host) => ({
          stdout: argv
            .slice(4)
            .filter((c) => !(lacks[host] ?? []).includes(c))
            .map((c) => `${c}\n`)
            .join(''),
        }),
      },
      {
        match: (argv) => argv[0] === 'sh' && argv[2]!.includes('for spec'),
        answer: (argv) => ({
          stdout: argv
            .slice(4)
            .map((s) => `ok ${s.slice(s.indexOf(':') + 1)}\n`)
            .join(''),
        }),
      },
    ],
  });
  balancer = { requests: [1000, 1200], members: [] };
  const driver = {
    driver: 'haproxy',
    members: async () => balancer.members,
    counters: async () => ({ requests: balancer.requests.shift()!, http5xx: 0, redispatches: 0, retries: 0 }),
    configTest: async () => {
      if (balancer.configError) throw balancer.configError;
    },
  } as unknown as Balancer;
  unresolvable = new Set();
  lacks = {};
  const addressOf = async (name: string) => {
    if (unresolvable.has(name)) throw new Error(`getaddrinfo ENOTFOUND ${name}`);
    return ['10.0.0.9'];
  };
  session = {
    config,
    transports,
    balancer: driver,
    lock: {} as ReleaseLock,
    secrets: new Secrets(),
    addressOf,
    close: async () => undefined,
  };
});

describe('runPreflight', () => {
  it('passes a healthy production, saying what it checked', async () => {
    const report = await runPreflight(session, 'v1.0.0', { clock: clock() });
    expect(refusals(report)).toEqual([]);
    const checks = report.findings.map((f) => `${f.check}${f.host ? ` ${f.host}` : ''} ${f.outcome}`);
    expect(checks).toEqual([
      'reach w1a ok',
      'reach w2a ok',
      'reach w1b ok',
      'reach w2b ok',
      'reach lb.test ok',
      'tag ok',
      'internal ok',
      'internal ok',
      'balancer-config ok',
      'access w1a ok',
      'access w2a ok',
      'access w1b ok',
      'access w2b ok',
      'access lb.test ok',
      'access lb.test ok',
      'disk w1a ok',
      'disk w2a ok',
      'disk w1b ok',
      'disk w2b ok',
      'capacity ok',
      'capacity ok',
      // HAProxy members without maxconn, and no capacity.perHost.concurrency.
      'capacity unchecked',
      'memory w1a ok',
      'memory w2a ok',
      'memory w1b ok',
      'memory w2b ok',
    ]);
    expect(report.findings.find((f) => f.check === 'tag')!.message).toMatch(
      /^tag v1\.0\.0 is commit [0-9a-f]{12}; its tree reads whole: 4 MiB unpacked$/,
    );
  });

  it(
    'refuses, naming each problem: a host down, a full disk, a cluster that would overload, ' + 'a bad balancer config',
    async () => {
      down.add('w2b');
      freeKb.w1a = 5 * KiB;
      balancer.requests = [0, 400];
      balancer.configError = new Error('[ALERT] parsing [/etc/haproxy/haproxy.cfg:12] : unknown keyword');
      const report = await runPreflight(session, 'v1.0.0', { clock: clock() });
      const refused = refusals(report).map((f) => f.message);
      expect(refused).toHaveLength(5);
      expect(refused[0]).toMatch(/^w2b: not reachable: .*Connection refused/);
      expect(refused[1]).toBe(
        'the haproxy configuration on lb.test does not validate: ' +
          '[ALERT] parsing [/etc/haproxy/haproxy.cfg:12] : unknown keyword',
      );
      expect(refused[2]).toMatch(/^w1a: 5 MiB free at \/srv\/shop \(df\), less than the 2 × 4 MiB/);
      expect(refused[3]).toContain('while cluster a is drained, cluster b (2 hosts) would carry 400 req/s');
      expect(refused[4]).toContain('while cluster b is drained, cluster a (2 hosts) would carry 400 req/s');
      // The unreachable host is reported once, not again for disk and memory.
      expect(report.findings.filter((f) => f.host === 'w2b').map((f) => f.check)).toEqual(['reach']);
    },
  );

  it(
    'refuses an internal hostname that does not resolve here (smoke checks go through it), unless resolve: ' +
      'pins it',
    async () => {
      unresolvable.add('prod-a.test');
      const report = await runPreflight(session, 'v1.0.0', { clock: clock() });
      expect(refusals(report).map((f) => f.message)).toEqual([
        'prod-a.test (clusters.a.internal) does not resolve on this machine, ' +
          'and smoke checks reach cluster a through it: getaddrinfo ENOTFOUND prod-a.test',
      ]);
      expect(report.findings.filter((f) => f.check === 'internal').map((f) => f.message)[1]).toBe(
        'prod-b.test (clusters.b.internal) resolves here to 10.0.0.9',
      );
      const error = preflightRefusal(report)!;
      expect(error.exitCode).toBe(6);
      expect(error.hint).toContain('resolve: in baton.yml');

      balancer.requests = [1000, 1200];
      session = { ...session, config: { ...config, resolve: { 'prod-a.test': '10.0.0.2' } } };
      const pinned = await runPreflight(session, 'v1.0.0', { clock: clock() });
      expect(refusals(pinned)).toEqual([]);
      expect(pinned.findings.find((f) => f.check === 'internal')!.message).toBe(
        'prod-a.test (clusters.a.internal) is pinned to 10.0.0.2 (resolve:)',
      );
    },
  );

  it('with a built artifact, refuses a host that lacks what checks and unpacks it, naming what', async () => {
    lacks = { w2a: ['sha256sum', 'shasum'], w1b: ['zstd'] };
    session = {
      ...session,
      config: { ...config, artifact: { build: 'make', compression: 'zstd' } as Config['artifact'] },
    };
    const report = await runPreflight(session, 'v1.0.0', { clock: clock() });
    expect(report.findings.filter((f) => f.check === 'tools').map((f) => `${f.host} ${f.outcome}`)).toEqual([
      'w1a ok',
      'w2a refused',
      'w1b refused',
      'w2b ok',
    ]);
    expect(refusals(report).map((f) => f.message)).toEqual([
      "w2a: has no sha256sum or shasum on the SSH user's PATH, which a built artifact needs (artifact:)",
      "w1b: has no zstd on the SSH user's PATH, which a built artifact needs (artifact:)",
    ]);
    expect(preflightRefusal(report)!.hint).toContain('install what the hosts named lack');
    // Without artifact:, nothing is asked.
    session = { ...session, config };
    balancer.requests = [1000, 1200];
    expect((await runPreflight(session, 'v1.0.0', { clock: clock() })).findings.some((f) => f.check === 'tools')).toBe(
      false,
    );
  });

  it('reads the host name out of an internal URL with a port', async () => {
    unresolvable.add('prod-b.test');
    session = {
      ...session,
      config: {
        ...config,
        clusters: { ...config.clusters, b: { ...config.clusters.b, internal: 'http://prod-b.test:8088' } },
      },
    };
    const report = await runPreflight(session, 'v1.0.0', { clock: clock() });
    expect(refusals(report).map((f) => f.message)).toEqual([
      'prod-b.test (clusters.b.internal) does not resolve on this machine, ' +
        'and smoke checks reach cluster b through it: getaddrinfo ENOTFOUND prod-b.test',
    ]);
  });

  it(
    'says an unreachable balancer once, under reach, ' + 'and leaves its configuration and the load unchecked',
    async () => {
      down.add('lb.test');
      balancer.configError = new Error('cannot connect to lb.test');
      const report = await runPreflight(session, undefined, { clock: clock() });
      expect(refusals(report).map((f) => f.check)).toEqual(['reach']);
      expect(report.findings.find((f) => f.check === 'balancer-config')).toEqual({
        check: 'balancer-config',
        outcome: 'unchecked',
        message: 'balancer configuration not checked: lb.test is not reachable',
      });
    },
  );

  it('refuses a tag that does not exist, and leaves the disk unchecked for want of a size', async () => {
    const report = await runPreflight(session, 'v9.9.9', { clock: clock() });
    expect(refusals(report).map((f) => f.message)).toEqual([
      expect.stringMatching(/^tag v9\.9\.9: tag v9\.9\.9 does not exist/),
    ]);
    expect(report.findings.filter((f) => f.check === 'disk').map((f) => f.outcome)).toEqual(['unchecked']);
  });

  it('without a TAG, checks everything else', async () => {
    const report = await runPreflight(session, undefined, { clock: clock() });
    expect(refusals(report)).toEqual([]);
    expect(report.findings.filter((f) => f.outcome === 'unchecked').map((f) => f.check)).toEqual([
      'tag',
      'disk',
      'capacity',
    ]);
  });

  it('reads memory only when capacity.memory is set, and says so when it is not', async () => {
    delete (config.capacity as { memory?: unknown }).memory;
    const report = await runPreflight(session, undefined, { clock: clock() });
    expect(report.findings.filter((f) => f.check === 'memory')).toEqual([
      {
        check: 'memory',
        outcome: 'unchecked',
        message: 'memory not checked: capacity.memory (pidFile, processLimit) is not set in baton.yml',
      },
    ]);
    expect(transports.calls.some((c) => c.kind === 'run' && c.argv[2]?.includes('/proc/meminfo'))).toBe(false);
  });
});

describe('runPreflight with artifact: in baton.yml', () => {
  const MiB = KiB * KiB;
  const withArtifact = (cache: string) => {
    session.config = parseConfig(
      `app: { name: shop, repo: ${repo}, path: /srv/shop, restart: 'true' }
balancer: { driver: haproxy, host: lb.test, backend: web }
clusters:
  a: { internal: prod-a.test, hosts: [{ host: w1a }, { host: w2a }] }
  b: { internal: prod-b.test, hosts: [{ host: w1b }, { host: w2b }] }
artifact: { build: 'head -c 12582912 /dev/zero > vendor.bin', cache: ${cache} }
`,
      join(root, 'baton.yml'),
    ).config as Config;
  };
  const disk = (report: Awaited<ReturnType<typeof runPreflight>>) =>
    report.findings.filter((f) => f.check === 'disk').map((f) => `${f.outcome} ${f.message}`);

  it(
    'sizes the artifact the plan builds (its files unpacked, and itself), not the tag’s tree: ' +
      'a host with room for the tree but not for the build is refused',
    async () => {
      withArtifact(join(root, 'no-cache'));
      freeKb.w1a = 50 * KiB;
      const artifact = Promise.resolve({
        sha256: 'ab'.repeat(32),
        bytes: 2 * MiB,
        files: 900,
        unpackedBytes: 30 * MiB,
      });
      const report = await runPreflight(session, 'v1.0.0', { clock: clock(), artifact });
      expect(disk(report)).toEqual([
        'refused w1a: 50 MiB free at /srv/shop (df), less than the 2 × 30 MiB (the release unpacked, the file list ' +
          'of artifact abababababab; capacity.diskFactor) + 2 MiB (the artifact, kept beside it) = 62 MiB a new ' +
          'release needs',
        ...['w2a', 'w1b', 'w2b'].map(
          (h) =>
            `ok ${h}: 100 MiB free at /srv/shop (df), needs 2 × 30 MiB (the release unpacked, the file list of ` +
            'artifact abababababab; capacity.diskFactor) + 2 MiB (the artifact, kept beside it) = 62 MiB',
        ),
      ]);
    },
  );

  it('falls back to the tag’s tree, saying so, when the build fails (the plan says why)', async () => {
    withArtifact(join(root, 'no-cache'));
    const failed = Promise.reject(new Error('build failed'));
    const report = await runPreflight(session, 'v1.0.0', { clock: clock(), artifact: failed });
    expect(disk(report)[0]).toBe(
      'ok w1a: 100 MiB free at /srv/shop (df), needs 2 × 4 MiB (the release unpacked, git ls-tree of v1.0.0; ' +
        'its artifact is not built yet; capacity.diskFactor) = 8 MiB',
    );
  });

  it('`baton preflight TAG` sizes the artifact already in the cache for the tag', async () => {
    const cache = join(root, 'cache');
    withArtifact(cache);
    const resolved = await resolveTag(repo, 'v1.0.0');
    const built = await artifactFor(repo, resolved, artifactSpec(session.config)!);
    expect(built.unpackedBytes).toBe(16 * MiB);
    freeKb.w1a = 30 * KiB;
    const report = await runPreflight(session, 'v1.0.0', { clock: clock() });
    expect(disk(report)[0]).toBe(
      `refused w1a: 30 MiB free at /srv/shop (df), less than the 2 × 16 MiB (the release unpacked, the file list of ` +
        `artifact ${built.sha256.slice(0, 12)}; capacity.diskFactor) + ${formatMiB(built.bytes)} (the artifact, ` +
        `kept beside it) = ${formatMiB(32 * MiB + built.bytes)} a new release needs`,
    );
  });
});
