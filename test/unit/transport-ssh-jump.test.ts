// SshTransport through a bastion, against two throwaway OpenSSH servers on loopback: the bastion
// on 127.0.0.1 (a second port with AllowTcpForwarding no) and the target on 127.0.0.2. The
// bastion's debug log shows the direct-tcpip forward, so a direct dial cannot pass for the jump.
// Every failure of the jump must be one error naming both hosts, never an escaped 'error' event.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TransportError } from '../../src/transport/errors.js';
import { HostKeyError } from '../../src/transport/known-hosts.js';
import { SshTransports } from '../../src/transport/ssh.js';
import type { SshSettings } from '../../src/transport/ssh-config.js';
import { ed25519KeyPair } from '../helpers/ssh-keys.js';

const SSHD = '/usr/sbin/sshd';
const CONNECT_MS = 2000;
const canRun = process.getuid?.() === 0 && existsSync(SSHD);
const dir = mkdtempSync(join(tmpdir(), 'baton-ssh-jump-'));
const home = join(dir, 'home');
const identity = join(dir, 'id_ed25519');
const servers: ChildProcess[] = [];
const ports = { bastion: 0, noForwarding: 0, target: 0, dead: 0, tarpit: 0, silent: 0 };
// In-process servers: a tarpit behind the bastion (TCP accepted, no SSH), and a bastion that never answers a forward.
const quiet: Server[] = [];
const held: Socket[] = [];
const silentKey = ed25519KeyPair();
let bastionKey = '';
let targetKey = '';

/** A free TCP port on `host` (nothing listens on it once this returns). */
async function freePort(host = '127.0.0.1'): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, host, resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

function keygen(file: string): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', file]);
  return readFileSync(`${file}.pub`, 'utf8').trim();
}

/** Start sshd with `lines` as its config; resolves once it listens on every port (it logs "Server listening"). */
async function sshd(name: string, lines: string[], listening: number): Promise<void> {
  const config = join(dir, `${name}.sshd_config`);
  const log = join(dir, `${name}.log`);
  writeFileSync(config, `${lines.join('\n')}\n`);
  const child = spawn(SSHD, ['-D', '-f', config, '-E', log], { stdio: 'ignore' });
  servers.push(child);
  for (let i = 0; i < 100; i++) {
    const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
    if ((text.match(/Server listening/g) ?? []).length >= listening) return;
    if (child.exitCode !== null) throw new Error(`sshd ${name} exited: ${text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd ${name} did not start`);
}

/** What both servers share: their own host key, the test's client key only, no PAM. */
function common(name: string): string[] {
  return [
    `HostKey ${join(dir, `${name}_host_key`)}`,
    `PidFile ${join(dir, `${name}.pid`)}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'LogLevel DEBUG1',
  ];
}

beforeAll(async () => {
  if (!canRun) return;
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege separation directory
  mkdirSync(home);
  writeFileSync(join(dir, 'authorized_keys'), `${keygen(identity)}\n`);
  bastionKey = keygen(join(dir, 'bastion_host_key'));
  targetKey = keygen(join(dir, 'target_host_key'));
  ports.bastion = await freePort();
  ports.noForwarding = await freePort();
  ports.target = await freePort('127.0.0.2');
  ports.dead = await freePort();
  await sshd(
    'bastion',
    [
      'ListenAddress 127.0.0.1',
      `Port ${ports.bastion}`,
      `Port ${ports.noForwarding}`,
      ...common('bastion'),
      'AllowTcpForwarding yes',
      `Match LocalPort ${ports.noForwarding}`,
      '  AllowTcpForwarding no',
    ],
    2,
  );
  await sshd('target', ['ListenAddress 127.0.0.2', `Port ${ports.target}`, ...common('target')], 1);
  ports.tarpit = await listen(
    '127.0.0.2',
    createServer((s) => void held.push(s.on('error', () => undefined))),
  );
  ports.silent = await listen(
    '127.0.0.1',
    new ssh2.Server({ hostKeys: [silentKey.private] }, (conn) => {
      conn.on('error', () => undefined);
      conn.on('authentication', (ctx) => ctx.accept());
      conn.on('tcpip', () => undefined); // neither accepted nor rejected
    }),
  );
  writeFileSync(
    join(dir, 'ssh_config'),
    `Host bastion
  HostName 127.0.0.1
  Port ${ports.bastion}
  User root
Host closed-bastion
  HostName 127.0.0.1
  Port ${ports.noForwarding}
  User root
Host dead-bastion
  HostName 127.0.0.1
  Port ${ports.dead}
Host silent-bastion
  HostName 127.0.0.1
  Port ${ports.silent}
Host down
  Port ${ports.dead}
Host tarpit
  Port ${ports.tarpit}
Host behind-silent
  ProxyJump silent-bastion
Host web-* no-forwarding dead-jump down tarpit behind-silent
  HostName 127.0.0.2
  Port ${ports.target}
  User root
Host no-forwarding
  ProxyJump closed-bastion
Host dead-jump
  ProxyJump dead-bastion
Host web-* down tarpit
  ProxyJump bastion
`,
  );
}, 30_000);

afterAll(async () => {
  for (const s of servers) s.kill('SIGTERM');
  for (const s of held) s.destroy();
  await Promise.all(quiet.map((s) => new Promise((r) => s.close(r))));
});

async function listen(host: string, server: Server): Promise<number> {
  quiet.push(server);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return (server.address() as AddressInfo).port;
}

/** Transports with only this test's files in play; known_hosts holds the keys asked for. */
function transports(
  known: { bastion?: boolean; target?: boolean } = { bastion: true, target: true },
  settings: Partial<SshSettings> = {},
): SshTransports {
  const lines = [
    ...(known.bastion
      ? [`[127.0.0.1]:${ports.bastion} ${bastionKey}`, `[127.0.0.1]:${ports.noForwarding} ${bastionKey}`]
      : []),
    ...(known.bastion ? [`[127.0.0.1]:${ports.silent} ${silentKey.public}`] : []),
    ...(known.target ? [`[127.0.0.2]:${ports.target} ${targetKey}`, `[127.0.0.2]:${ports.tarpit} ${targetKey}`] : []),
  ];
  const knownHosts = join(dir, `known_hosts_${Object.values(known).join('_')}`);
  writeFileSync(knownHosts, `${lines.join('\n')}\n`);
  return new SshTransports(
    {
      keepalive: 15_000,
      connectTimeout: CONNECT_MS,
      identity,
      knownHosts,
      config: join(dir, 'ssh_config'),
      ...settings,
    },
    { env: { home, localUser: 'root' }, agentSocket: '' },
  );
}

const forwardsInBastionLog = (): string[] =>
  readFileSync(join(dir, 'bastion.log'), 'utf8')
    .split('\n')
    .filter((l) => /server_request_direct_tcpip: .*target 127\.0\.0\.2 port/.test(l));

// Anything that escapes as an unhandled rejection or exception fails the test that caused it.
const escaped: unknown[] = [];
const record = (e: unknown): void => void escaped.push(e);
beforeEach(() => {
  escaped.length = 0;
  process.on('unhandledRejection', record);
  process.on('uncaughtException', record);
});
afterEach(async () => {
  await new Promise((r) => setTimeout(r, 100));
  process.off('unhandledRejection', record);
  process.off('uncaughtException', record);
  expect(escaped).toEqual([]);
});

describe.skipIf(!canRun)('SshTransport through a bastion (real sshd on loopback)', () => {
  it(
    'runs commands on two hosts through one shared connection to the bastion, ' + 'and closes it with the session',
    async () => {
      const before = forwardsInBastionLog().length;
      const t = transports();
      const [a, b] = await Promise.all([
        t.get('web-1').run(['sh', '-c', 'echo "$SSH_CONNECTION"']),
        t.get('web-2').run(['sh', '-c', 'echo "$SSH_CONNECTION"']),
      ]);
      // The target sees the bastion's connection to 127.0.0.2, which the bastion says it forwarded.
      expect(a.stdout).toMatch(new RegExp(`^127\\.0\\.0\\.1 \\d+ 127\\.0\\.0\\.2 ${ports.target}\\n$`));
      expect(b.stdout).toMatch(/ 127\.0\.0\.2 /);
      expect(forwardsInBastionLog().length - before).toBe(2);
      expect(forwardsInBastionLog().at(-1)).toMatch(`target 127.0.0.2 port ${ports.target}`);
      expect(t.bastionConnections).toBe(1);
      expect((await t.get('web-1').run(['echo', 'again'])).stdout).toBe('again\n');
      expect(t.get('web-1').stats.connections).toBe(1);
      await t.closeAll();
      // A new session after the close dials the bastion again.
      const next = transports();
      await next.get('web-1').run(['true']);
      expect(next.bastionConnections).toBe(1);
      await next.closeAll();
    },
  );

  it(
    'ssh.proxy wins over ProxyJump: ' + 'a host ssh_config reaches through a dead bastion goes through ssh.proxy',
    async () => {
      const t = transports(undefined, { proxy: 'bastion' });
      expect((await t.get('dead-jump').run(['echo', 'ok'])).stdout).toBe('ok\n');
      await t.closeAll();
    },
  );

  it('refuses an unknown bastion host key, naming the bastion and the host behind it', async () => {
    const t = transports({ target: true });
    const err = await t
      .get('web-1')
      .run(['true'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostKeyError);
    expect((err as HostKeyError).host).toBe('bastion');
    expect((err as HostKeyError).exitCode).toBe(64);
    expect((err as Error).message).toMatch(
      new RegExp(
        '^cannot reach web-1 through the bastion bastion: host key of bastion ' +
          `\\(\\[127\\.0\\.0\\.1\\]:${ports.bastion}\\) is not known: it presented ssh-ed25519 SHA256:`,
      ),
    );
    expect((err as HostKeyError).hint).toMatch(`ssh-keyscan -H -p ${ports.bastion} 127.0.0.1`);
    await t.closeAll();
  });

  it('refuses an unknown target host key presented through the bastion, naming the target', async () => {
    const t = transports({ bastion: true });
    const err = await t
      .get('web-1')
      .run(['true'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostKeyError);
    expect((err as HostKeyError).host).toBe('web-1');
    expect((err as Error).message).toMatch(
      new RegExp(`^host key of web-1 \\(\\[127\\.0\\.0\\.2\\]:${ports.target}\\) is not known`),
    );
    await t.closeAll();
  });

  it('says the bastion refused to forward when it has AllowTcpForwarding no', async () => {
    const t = transports();
    const err = await t
      .get('no-forwarding')
      .run(['true'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as TransportError).host).toBe('no-forwarding');
    expect((err as Error).message).toBe(
      'cannot reach no-forwarding through the bastion closed-bastion: ' +
        `the bastion refused to forward to 127.0.0.2:${ports.target} (open failed)`,
    );
    expect((err as TransportError).hint).toMatch(/AllowTcpForwarding yes/);
    await t.closeAll();
  });

  it('says the bastion could not reach a host that is down behind it', async () => {
    const t = transports();
    const err = await t
      .get('down')
      .run(['true'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toMatch(
      new RegExp(
        '^cannot reach down through the bastion bastion: the bastion could not connect to ' +
          `127\\.0\\.0\\.2:${ports.dead} \\(`,
      ),
    );
    await t.closeAll();
  });

  it('fails quickly and clearly when nothing listens on the bastion port', async () => {
    const t = transports();
    const start = Date.now();
    const err = await t
      .get('dead-jump')
      .run(['true'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as TransportError).host).toBe('dead-jump');
    expect((err as Error).message).toBe(
      'cannot reach dead-jump through the bastion dead-bastion: ' +
        `cannot connect to dead-bastion (root@127.0.0.1:${ports.dead}): connect ECONNREFUSED 127.0.0.1:${ports.dead}`,
    );
    expect(Date.now() - start).toBeLessThan(CONNECT_MS);
    // The failed bastion is not pooled: the next use tries again.
    await expect(t.get('dead-jump').run(['true'])).rejects.toThrow(/through the bastion dead-bastion/);
    expect(t.bastionConnections).toBe(2);
    await t.closeAll();
  });

  it('gives up on time when the bastion never answers the forward', async () => {
    const t = transports();
    const start = Date.now();
    const err = await t
      .get('behind-silent')
      .run(['true'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toBe(
      'cannot reach behind-silent through the bastion silent-bastion: ' +
        `the bastion opened no channel to 127.0.0.2:${ports.target} (no channel within 2 s)`,
    );
    expect(Date.now() - start).toBeLessThan(CONNECT_MS + 1500);
    await t.closeAll();
  });

  it('gives up on time when the host behind the bastion accepts TCP and never speaks SSH', async () => {
    const t = transports();
    const start = Date.now();
    const err = await t
      .get('tarpit')
      .run(['true'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^cannot connect to tarpit \\(root@127\\.0\\.0\\.2:${ports.tarpit} through the bastion bastion\\): ` +
          'no SSH handshake within 2 s',
      ),
    );
    expect(Date.now() - start).toBeLessThan(CONNECT_MS + 1500);
    await t.closeAll();
  });

  it('fails a command in flight when the bastion drops, naming both, then dials the bastion again', async () => {
    const t = transports();
    const web = t.get('web-1');
    await web.run(['true']);
    const inFlight = web.run(['sleep', '5']).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300));
    // The bastion's per-connection processes are children of the sshd this file started.
    const bastionPid = servers[0]!.pid!;
    for (const pid of execFileSync('ps', ['-o', 'pid=', '--ppid', String(bastionPid)], { encoding: 'utf8' })
      .split(/\s+/)
      .filter(Boolean))
      process.kill(Number(pid), 'SIGKILL');
    const err = await inFlight;
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toMatch(
      /^lost the connection to web-1 while running `sleep 5`: closed.* \(through the bastion bastion\)$/,
    );
    expect((await web.run(['echo', 'back'])).stdout).toBe('back\n');
    expect(t.bastionConnections).toBe(2);
    await t.closeAll();
  });
});
