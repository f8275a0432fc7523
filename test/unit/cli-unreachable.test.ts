// Every command against hosts that cannot be reached — a closed port, a tarpit that accepts
// TCP and never says a word, a bastion (ssh.proxy) on a closed port — ends with the exit code of what happened to
// production (nothing changed: 1, never 2), one sentence naming the host, no stack trace, and in bounded time. Runs the
// built CLI (npm test builds first) against loopback only.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
let dir: string;
let tarpit: Server;
let tarpitPort: number;
const held: Socket[] = [];

const HOSTS = ['lb.invalid', 'web-1a.invalid', 'web-2a.invalid', 'web-1b.invalid', 'web-2b.invalid'];

/** baton.yml and an ssh_config that sends every host to 127.0.0.1 on `port` (through `proxy` if given). */
function writeConfig(name: string, port: number, proxy?: string): string {
  const file = join(dir, `${name}.yml`);
  writeFileSync(
    join(dir, `${name}.ssh_config`),
    HOSTS.map((h) => `Host ${h}\n  HostName 127.0.0.1\n  Port ${port}\n`).join(''),
  );
  writeFileSync(
    file,
    `app: { name: shop, repo: ./repo, path: /srv/shop, restart: 'true' }
ssh: { user: deploy, identity: ./id_ed25519, knownHosts: ./known_hosts, config: ./${name}.ssh_config, \
connectTimeout: 2s, keepalive: 1s${proxy ? `, proxy: '${proxy}'` : ''} }
balancer: { driver: haproxy, host: lb.invalid, backend: web, socket: /run/haproxy/admin.sock }
clusters:
  a: { internal: prod-a.invalid, hosts: [web-1a.invalid, web-2a.invalid] }
  b: { internal: prod-b.invalid, hosts: [web-1b.invalid, web-2b.invalid] }
resolve: { prod-a.invalid: 127.0.0.1, prod-b.invalid: 127.0.0.1, web-1a.invalid: 127.0.0.1, \
web-2a.invalid: 127.0.0.1, web-1b.invalid: 127.0.0.1, web-2b.invalid: 127.0.0.1 }
smoke: [{ path: /healthz }]
track: { repo: ./snapshots, app: [/etc/shop], packages: false }
`,
  );
  return file;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'baton-unreachable-'));
  const git = (...args: string[]) =>
    execFileSync(
      'git',
      ['-c', 'user.name=T', '-c', 'user.email=t@example.com', '-c', 'init.defaultBranch=main', ...args],
      { cwd: dir },
    );
  git('init', '-q', 'repo');
  writeFileSync(join(dir, 'repo', 'index.html'), 'hello\n');
  git('-C', 'repo', 'add', '.');
  git('-C', 'repo', 'commit', '-q', '-m', 'one');
  git('-C', 'repo', 'tag', 'v1');
  // A snapshot of one host, as a healthy day left it: restore and drift have something to start from.
  git('init', '-q', 'snapshots');
  mkdirSync(join(dir, 'snapshots', 'web-1a.invalid'));
  writeFileSync(
    join(dir, 'snapshots', 'web-1a.invalid', 'manifest.json'),
    JSON.stringify({ format: 'baton-snapshot/1', host: 'web-1a.invalid', roles: ['app'], entries: [] }),
  );
  git('-C', 'snapshots', 'add', '.');
  git('-C', 'snapshots', 'commit', '-q', '-m', 'snapshot');
  writeFileSync(join(dir, 'known_hosts'), '');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id_ed25519')]);
  tarpit = createServer((s) => void held.push(s));
  await new Promise<void>((r) => tarpit.listen(0, '127.0.0.1', r));
  tarpitPort = (tarpit.address() as { port: number }).port;
});

afterAll(() => {
  held.forEach((s) => s.destroy());
  tarpit?.close();
});

// A port nothing listens on: connection refused at once.
const CLOSED_PORT = 1;

describe.each([
  ['a closed port', () => CLOSED_PORT, undefined],
  ['a tarpit (TCP accepted, no SSH)', () => tarpitPort, undefined],
  ['a bastion on a closed port', () => tarpitPort, `127.0.0.1:${CLOSED_PORT}`],
])('every command against hosts behind %s', { timeout: 60_000 }, (_what, port, proxy) => {
  const cases: [string[], number][] = [
    [['status'], 1],
    [['plan', 'v1'], 1],
    [['push', 'v1'], 1],
    [['rollback', '--yes'], 1],
    [['lock', '--reason', 'freeze'], 1],
    [['unlock'], 1],
    // An unreachable host is exit 1 from preflight too, as from plan and push: nothing changed.
    [['preflight', 'v1'], 1],
    [['snapshot'], 1],
    [['drift'], 1],
    [['restore', 'web-1a.invalid'], 1],
    [['restore', 'web-1a.invalid', '--run', '--yes'], 1],
    [['history'], 0],
    [['validate'], 0],
  ];
  it.each(cases)('baton %j exits %i, naming what it could not reach, with no stack trace', async (args, code) => {
    const config = writeConfig(`baton-${port()}${proxy ? '-proxy' : ''}`, port(), proxy);
    const t0 = Date.now();
    const r = await execa('node', [join(ROOT, 'bin/run.js'), ...args, '-c', config], {
      reject: false,
      timeout: 45_000,
      env: { CI: '1', BATON_USER: 'unreachable-test', NO_COLOR: '1' },
    });
    expect(r.exitCode, r.stderr).toBe(code);
    expect(Date.now() - t0).toBeLessThan(40_000);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stderr).not.toMatch(/internal error|unhandled/i);
    if (code !== 0) expect(r.stdout + r.stderr).toMatch(/(lb|web-\d[ab])\.invalid/);
    if (code !== 0 && proxy) expect(r.stdout + r.stderr).toMatch(/through the bastion 127\.0\.0\.1/);
  });

  it('preflight names each host it cannot reach and says it refused once, with the hint for that', async () => {
    const config = writeConfig(`baton-${port()}${proxy ? '-proxy' : ''}`, port(), proxy);
    const r = await execa('node', [join(ROOT, 'bin/run.js'), 'preflight', 'v1', '-c', config], {
      reject: false,
      timeout: 45_000,
      env: { CI: '1', BATON_USER: 'unreachable-test', NO_COLOR: '1' },
    });
    expect(r.exitCode).toBe(1);
    for (const host of HOSTS)
      expect(r.stdout).toMatch(new RegExp(`^REFUSED +reach +${host.replace(/\./g, '\\.')}: not reachable`, 'm'));
    expect(`${r.stdout}\n${r.stderr}`.match(/preflight refused/g)).toHaveLength(1);
    expect(r.stderr).toBe(
      'Error: preflight refused: 5 findings above (REFUSED)\nHint: ' +
        'make the hosts named answer over SSH (address, sshd, ssh.user, known_hosts); ' +
        'nothing in production was changed',
    );
  });
});
