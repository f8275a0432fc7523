// Snapshot and drift against real files, a real shell and a real git repository: the "host" is
// this machine (LocalTransport), its tracked paths live in a temporary folder.
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { parseConfig } from '../../src/config/load.js';
import { findDrift, hasDrift } from '../../src/config-track/drift.js';
import { listTracked, parseListing } from '../../src/config-track/host-files.js';
import { commitMessage, compareEntries, takeSnapshot } from '../../src/config-track/snapshot.js';
import { trackedHosts } from '../../src/config-track/tracked-hosts.js';
import { checkNoDriftSince, recordSnapshot } from '../../src/config-track/plan-record.js';
import { applyRunbook, loadRunbook } from '../../src/config-track/restore.js';
import { SnapshotStore } from '../../src/config-track/store.js';
import { PlanRefusedError } from '../../src/errors.js';
import { LocalTransport } from '../../src/transport/local.js';
import type { RunOptions, Transport, Transports } from '../../src/transport/types.js';

class RecordingLocal implements Transports {
  readonly argvs: string[][] = [];
  /** The host of each argv in `argvs`, by index. */
  readonly hosts: string[] = [];
  get(host: string): Transport {
    const local = new LocalTransport(host);
    return {
      host,
      run: (argv: readonly string[], opts?: RunOptions) => {
        this.argvs.push([...argv]);
        this.hosts.push(host);
        return local.run(argv, opts);
      },
      upload: (a, b) => local.upload(a, b),
      download: (a, b) => local.download(a, b),
    };
  }
  async closeAll() {}
}

let root: string;
let config: Config;
let transports: RecordingLocal;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'baton-track-'));
  mkdirSync(join(root, 'srv/shop/releases/v1-abc'), { recursive: true });
  symlinkSync('releases/v1-abc', join(root, 'srv/shop/current'));
  mkdirSync(join(root, 'etc/shop/conf.d'), { recursive: true });
  writeFileSync(join(root, 'etc/shop/shop.conf'), 'workers = 4\nport = 8000\n');
  writeFileSync(join(root, 'etc/shop/conf.d/extra.conf'), 'x = 1\n');
  writeFileSync(join(root, 'etc/shop/db.key'), 'THE-SECRET-KEY\n');
  writeFileSync(join(root, 'etc/shop/big.bin'), Buffer.alloc(5000, 1));
  config = parseConfig(
    `app: { name: shop, repo: ./repo, path: ${root}/srv/shop, restart: 'true' }
balancer: { driver: haproxy, host: lb1, backend: web }
clusters:
  a: { internal: prod-a.test, hosts: [w1a] }
  b: { internal: prod-b.test, hosts: [w1b] }
track:
  repo: ./snapshots
  app: [${root}/etc/shop, ${root}/etc/missing]
  balancer: [${root}/etc/haproxy.cfg]
  packages: false
  maxFileSize: 4096
`,
    join(root, 'baton.yml'),
  ).config as Config;
  transports = new RecordingLocal();
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('tracked hosts', () => {
  it(
    'gives app hosts the app paths and the release pointer, ' + 'balancers theirs; an unknown host is a usage error',
    () => {
      const hosts = trackedHosts(config);
      expect(hosts.map((h) => [h.host, h.roles])).toEqual([
        ['w1a', ['app']],
        ['w1b', ['app']],
        ['lb1', ['balancer']],
      ]);
      expect(hosts[0]!.paths[0]).toBe(`${root}/srv/shop/current`);
      expect(() => trackedHosts(config, ['nope'])).toThrow(/"nope" is not a host in .*baton\.yml/);
      expect(() => trackedHosts(config, ['nope'])).toThrow(
        expect.objectContaining({ hint: 'tracked hosts: w1a, w1b, lb1' }),
      );
    },
  );
});

describe('baton snapshot', () => {
  it('commits each file, the release pointer and what it could not read; never reads an excluded path', async () => {
    const r = await takeSnapshot(config, transports, ['w1a'], 'tester');
    expect(r.commit).toMatch(/^[0-9a-f]{40}$/);
    const repo = join(root, 'snapshots');
    expect(readFileSync(join(repo, `w1a/files${root}/etc/shop/shop.conf`), 'utf8')).toBe('workers = 4\nport = 8000\n');
    const manifest = JSON.parse(readFileSync(join(repo, 'w1a/manifest.json'), 'utf8'));
    expect(manifest.entries.find((e: { path: string }) => e.path.endsWith('/current'))).toMatchObject({
      kind: 'link',
      target: 'releases/v1-abc',
    });
    // The key: listed as excluded, its content nowhere in the repository, its name in no read command.
    expect(existsSync(join(repo, `w1a/files${root}/etc/shop/db.key`))).toBe(false);
    const everything = (
      await execa('git', ['-C', repo, 'grep', '-I', '-l', 'THE-SECRET-KEY', 'HEAD'], { reject: false })
    ).stdout;
    expect(everything).toBe('');
    const reads = transports.argvs.filter((a) => a[2]?.includes('base64'));
    expect(reads.flat().some((w) => w.endsWith('db.key'))).toBe(false);
    const message = (await execa('git', ['-C', repo, 'log', '-1', '--format=%B'])).stdout;
    expect(message).toMatch(/^snapshot: 1 of 1 host changed/);
    expect(message).toContain(`w1a: ${root}/etc/shop/db.key: excluded (track.exclude): never read`);
    expect(message).toMatch(/big\.bin: 5000 bytes, over track\.maxFileSize \(4096\)/);
    expect(r.hosts[0]!.notRead.map((n) => n.path)).toContain(`${root}/etc/missing`);
  });

  it('reads only changed files the second time, and makes no commit when nothing changed', async () => {
    const first = await takeSnapshot(config, transports, ['w1a'], 'tester');
    const again = await takeSnapshot(config, transports, ['w1a'], 'tester');
    expect(again.commit).toBeNull();
    expect(again.previous).toBe(first.commit);
    expect(again.hosts[0]!.bytesRead).toBe(0);
    writeFileSync(join(root, 'etc/shop/shop.conf'), 'workers = 8\nport = 8000\n');
    chmodSync(join(root, 'etc/shop/conf.d/extra.conf'), 0o600);
    transports.argvs.length = 0;
    const third = await takeSnapshot(config, transports, ['w1a'], 'tester');
    expect(third.commit).not.toBe(first.commit);
    expect(third.hosts[0]!.bytesRead).toBe('workers = 8\nport = 8000\n'.length);
    const fetched = transports.argvs.filter((a) => a[2]?.includes('base64')).flatMap((a) => a.slice(4));
    expect(fetched).toEqual([`${root}/etc/shop/shop.conf`]);
    const message = (await execa('git', ['-C', join(root, 'snapshots'), 'log', '-1', '--format=%B'])).stdout;
    expect(message).toContain(`w1a: changed ${root}/etc/shop/conf.d/extra.conf, ${root}/etc/shop/shop.conf`);
  });

  it('commits the hosts it reached and names the one it did not', async () => {
    const broken: Transports = {
      get: (host) =>
        host === 'w1b'
          ? { ...transports.get(host), run: () => Promise.reject(new Error('connect ECONNREFUSED 10.0.0.9:22')) }
          : transports.get(host),
      closeAll: async () => {},
    };
    const r = await takeSnapshot(config, broken, ['w1a', 'w1b'], 'tester');
    expect(r.failed).toEqual([{ host: 'w1b', error: 'connect ECONNREFUSED 10.0.0.9:22' }]);
    expect(r.commit).not.toBeNull();
    expect((await execa('git', ['-C', join(root, 'snapshots'), 'log', '-1', '--format=%B'])).stdout).toMatch(
      /not reached \(their last snapshot is kept\):\n {2}w1b: connect ECONNREFUSED/,
    );
  });
});

describe('baton drift', () => {
  it('shows a hand edit as a diff, a new file, a removed one and a moved release pointer', async () => {
    await takeSnapshot(config, transports, ['w1a'], 'tester');
    expect((await findDrift(config, transports, ['w1a'])).hosts.some(hasDrift)).toBe(false);
    writeFileSync(join(root, 'etc/shop/shop.conf'), 'workers = 150\nport = 8000\n');
    writeFileSync(join(root, 'etc/shop/conf.d/new.conf'), 'y = 2\n');
    rmSync(join(root, 'etc/shop/conf.d/extra.conf'));
    rmSync(join(root, 'srv/shop/current'));
    symlinkSync('releases/v2-def', join(root, 'srv/shop/current'));
    const r = await findDrift(config, transports, ['w1a']);
    const host = r.hosts[0]!;
    expect(hasDrift(host)).toBe(true);
    const by = new Map(host.paths.map((p) => [p.path.slice(root.length), p]));
    expect(by.get('/etc/shop/shop.conf')!.patch).toMatch(/-workers = 4\n\+workers = 150/);
    expect(by.get('/etc/shop/conf.d/new.conf')!.what).toEqual(['new file']);
    expect(by.get('/etc/shop/conf.d/extra.conf')!.what).toEqual(['file removed']);
    expect(by.get('/srv/shop/current')!.what).toEqual(['link releases/v1-abc → releases/v2-def']);
  });

  it('says a host has no snapshot yet, and refuses to run before the first snapshot', async () => {
    await expect(findDrift(config, transports, ['w1a'])).rejects.toThrow(/no snapshot repository at .* yet/);
    await takeSnapshot(config, transports, ['w1a'], 'tester');
    const r = await findDrift(config, transports, ['w1b']);
    expect(r.hosts[0]).toMatchObject({ host: 'w1b', noSnapshot: true });
  });
});

describe('listing and comparing', () => {
  it('refuses a listing that names a path outside the tracked ones', () => {
    expect(() => parseListing('f\t644\troot:root\t3\t' + 'a'.repeat(64) + '\t/etc/shadow\0', ['/etc/shop'])).toThrow(
      /not under a tracked path/,
    );
    expect(() =>
      parseListing('f\t644\troot:root\t3\t' + 'a'.repeat(64) + '\t/etc/shop/../shadow\0', ['/etc/shop']),
    ).toThrow(/not under a tracked path/);
  });

  it('tells added, changed and removed apart, mode and owner included', () => {
    const a = { path: '/a', kind: 'file' as const, mode: '644', owner: 'root:root', sha256: 'x' };
    expect(
      compareEntries(
        [a, { path: '/b', kind: 'file', sha256: 'y' }],
        [
          { ...a, mode: '600' },
          { path: '/c', kind: 'dir' },
        ],
      ),
    ).toEqual({ added: ['/c'], changed: ['/a'], removed: ['/b'] });
    expect(
      commitMessage(
        [
          {
            host: 'h',
            changes: { added: [], changed: ['@packages'], removed: [] },
            notRead: [],
            bytesRead: 1,
            entries: [],
          },
        ],
        [],
      ),
    ).toContain('h: changed package list');
  });
});

describe('a plan and the configuration it was made against', () => {
  it(
    'records the snapshot; apply refuses (exit 3) when a host changed since, naming the file, ' +
      'or journals an accepted drift',
    async () => {
      const one = {
        ...config,
        clusters: { a: { ...config.clusters.a }, b: { ...config.clusters.b, hosts: [] } },
        balancer: { ...config.balancer, host: 'w1a' },
      } as Config;
      await takeSnapshot(one, transports, [], 'tester');
      const recorded = (await recordSnapshot(one, transports))!;
      expect(recorded.commit).toMatch(/^[0-9a-f]{40}$/);
      expect(Object.keys(recorded.hosts)).toEqual(['w1a']);
      expect(await checkNoDriftSince(one, transports, recorded)).toEqual([]);
      writeFileSync(join(root, 'etc/shop/shop.conf'), 'workers = 1\n');
      transports.argvs.length = 0;
      transports.hosts.length = 0;
      const err = await checkNoDriftSince(one, transports, recorded).catch((e: unknown) => e);
      // The drifted host is listed once: the listing that found the drift is the one that describes it.
      const script = listTracked({ paths: [], exclude: [], maxFileSize: 0, packages: false })[2];
      expect(transports.hosts.filter((_, i) => transports.argvs[i]![2] === script)).toEqual(['w1a']);
      expect(err).toBeInstanceOf(PlanRefusedError);
      expect((err as PlanRefusedError).exitCode).toBe(3);
      expect((err as Error).message).toContain(`w1a: changed ${root}/etc/shop/shop.conf`);
      const notes = await checkNoDriftSince(one, transports, recorded, {
        by: 'ada',
        reason: 'incident 7: workers lowered on purpose',
      });
      expect(notes[0]).toBe('drift accepted by ada: incident 7: workers lowered on purpose');
      expect(notes[1]).toContain('shop.conf');
    },
  );
});

describe('putting a host back from its snapshot', () => {
  it(
    'writes folders, files and links with their recorded modes; ' + 'the release pointer is left to the deploy',
    async () => {
      chmodSync(join(root, 'etc/shop/shop.conf'), 0o640);
      symlinkSync('shop.conf', join(root, 'etc/shop/live.conf'));
      await takeSnapshot(config, transports, ['w1a'], 'tester');
      rmSync(join(root, 'etc/shop'), { recursive: true });
      rmSync(join(root, 'srv/shop/current'));
      const runbook = await loadRunbook(config, 'w1a');
      expect(runbook.release).toBe('v1-abc');
      expect(runbook.byHand.map((n) => n.path.slice(root.length))).toEqual(['/etc/shop/big.bin', '/etc/shop/db.key']);
      const progress: string[] = [];
      await applyRunbook(runbook, await SnapshotStore.open(join(root, 'snapshots')), new LocalTransport('w1a'), (m) =>
        progress.push(m),
      );
      expect(readFileSync(join(root, 'etc/shop/shop.conf'), 'utf8')).toBe('workers = 4\nport = 8000\n');
      expect((await execa('stat', ['-c', '%a', join(root, 'etc/shop/shop.conf')])).stdout).toBe('640');
      expect((await execa('readlink', [join(root, 'etc/shop/live.conf')])).stdout).toBe('shop.conf');
      expect(readFileSync(join(root, 'etc/shop/conf.d/extra.conf'), 'utf8')).toBe('x = 1\n');
      expect(existsSync(join(root, 'srv/shop/current'))).toBe(false);
      expect(existsSync(join(root, 'etc/shop/db.key'))).toBe(false);
      expect(progress.at(-1)).toBe('configuration: 2 folders, 2 files, 1 link put back');
    },
  );

  it('installs only the packages the host lacks, by name', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'baton-apt-'));
    writeFileSync(join(bin, 'apt-get'), `#!/bin/sh\necho "apt-get $*" > ${bin}/called\n`, { mode: 0o755 });
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      const runbook = {
        host: 'w1a',
        repo: '',
        commit: 'x',
        packages: ['coreutils=9.1-1', 'baton-no-such-package=1.0'],
        dirs: [],
        files: [],
        links: [],
        byHand: [],
        release: null,
      };
      const progress: string[] = [];
      await applyRunbook(
        runbook,
        await SnapshotStore.open(join(root, 'snapshots'), { create: true }),
        new LocalTransport('w1a'),
        (m) => progress.push(m),
      );
      expect(readFileSync(join(bin, 'called'), 'utf8').trim()).toBe(
        'apt-get install -y --no-install-recommends -- baton-no-such-package',
      );
      expect(progress[0]).toBe('packages: installing: baton-no-such-package');
    } finally {
      process.env.PATH = path;
      rmSync(bin, { recursive: true, force: true });
    }
  });
});
