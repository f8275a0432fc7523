// SshTransport.openStream against an in-process ssh2 server that runs each exec as a local
// command (on 127.0.0.1, no lab): one channel kept open for many round trips, closed by closeAll,
// a dropped connection reported naming the host, and HaproxyBalancer polling a local haproxy
// through it with one exec for the whole run.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { haproxyInstalled, startLocalHaproxy } from '../../bench/local-haproxy.js';
import { HaproxyBalancer } from '../../src/balancers/haproxy.js';
import { SshTransports } from '../../src/transport/ssh.js';
import { ed25519KeyPair } from '../helpers/ssh-keys.js';
import { systemPathPrefix } from '../../src/transport/privilege.js';

const home = mkdtempSync(join(tmpdir(), 'baton-ssh-stream-'));
const identity = join(home, 'id_ed25519');
writeFileSync(identity, ed25519KeyPair().private, { mode: 0o600 });
const hostKey = ed25519KeyPair();
const servers: Server[] = [];
/** Commands the SSH server was asked to exec. */
const execs: string[] = [];
/** Each exec's local process exits when its channel's stdin ends; counted to see closeAll end them. */
let running = 0;

/** An SSH server that runs every exec with `sh -c` here, its stdin/stdout/exit carried by the channel. */
async function sshServer(): Promise<number> {
  const server = new ssh2.Server({ hostKeys: [hostKey.private] }, (conn) => {
    conn.on('error', () => undefined);
    conn.on('authentication', (ctx) => ctx.accept());
    conn.on('ready', () =>
      conn.on('session', (accept) =>
        accept().on('exec', (acceptExec, _reject, info) => {
          // What the host runs, without the PATH a non-root login is given (privilege.ts).
          execs.push(info.command.replace(systemPathPrefix('deploy'), ''));
          const channel = acceptExec();
          const child = spawn('sh', ['-c', info.command], { stdio: ['pipe', 'pipe', 'pipe'] });
          running++;
          child.stdin.on('error', () => undefined);
          channel.on('error', () => undefined);
          channel.pipe(child.stdin);
          child.stdout.pipe(channel, { end: false });
          child.stderr.pipe(channel.stderr, { end: false });
          channel.on('close', () => child.kill('SIGKILL'));
          child.on('close', (code) => {
            running--;
            channel.exit(code ?? 255);
            channel.end();
          });
        }),
      ),
    );
  });
  return serve(server);
}

async function serve(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function transportsFor(port: number): SshTransports {
  const config = join(home, `ssh_config_${port}`);
  writeFileSync(config, `Host lb-1\n  HostName 127.0.0.1\n  Port ${port}\n  User deploy\n`);
  const knownHosts = join(home, `known_hosts_${port}`);
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostKey.public}\n`);
  return new SshTransports(
    { keepalive: 15_000, connectTimeout: 2_000, identity, config, knownHosts },
    { env: { home, localUser: 'me' } },
  );
}

const escaped: unknown[] = [];
const record = (e: unknown): void => void escaped.push(e);
beforeEach(() => {
  escaped.length = 0;
  execs.length = 0;
  process.on('unhandledRejection', record);
  process.on('uncaughtException', record);
});
afterEach(() => {
  process.off('unhandledRejection', record);
  process.off('uncaughtException', record);
});
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

describe('SshTransport.openStream', () => {
  it('keeps one channel open for many round trips and closes it with the transports', async () => {
    const transports = transportsFor(await sshServer());
    const stream = await transports.get('lb-1').openStream(['cat']);
    let out = '';
    stream.onData((chunk) => (out += chunk));
    for (let i = 0; i < 20; i++) {
      stream.write(`line ${i}\n`);
      await expect.poll(() => out.endsWith(`line ${i}\n`)).toBe(true);
    }
    expect(execs).toEqual(['cat']);
    expect(transports.get('lb-1').stats.connections).toBe(1);
    await transports.closeAll();
    expect(stream.isEnded).toBe(true);
    expect((await stream.ended).code).toBe(0);
    await expect.poll(() => running).toBe(0);
    expect(escaped).toEqual([]);
  });

  it('reports a connection lost under an open stream, naming the host, with nothing escaping', async () => {
    const sshPort = await sshServer();
    const proxied: Socket[] = [];
    const port = await serve(
      createServer((s) => {
        proxied.push(s);
        s.on('error', () => undefined);
        const upstream = connect(sshPort, '127.0.0.1');
        upstream.on('error', () => undefined);
        s.pipe(upstream).pipe(s);
        s.on('close', () => upstream.destroy());
      }),
    );
    const transports = transportsFor(port);
    const stream = await transports.get('lb-1').openStream(['cat']);
    for (const s of proxied.splice(0)) s.resetAndDestroy();
    const end = await stream.ended;
    expect(end.code).toBeNull();
    expect(end.error).toMatch(/lb-1/);
    stream.write('into the void\n'); // ignored, not thrown
    await transports.closeAll();
    await new Promise((r) => setTimeout(r, 100));
    expect(escaped).toEqual([]);
  });

  it.skipIf(!haproxyInstalled())('carries every runtime API call of a HaproxyBalancer on one exec', async () => {
    const haproxy = await startLocalHaproxy(['a', 'b']);
    const transports = transportsFor(await sshServer());
    try {
      const b = new HaproxyBalancer(transports.get('lb-1'), { backend: haproxy.backend, socket: haproxy.socket });
      await b.drain(['a']);
      for (let i = 0; i < 50; i++) await b.sessions(['a', 'b']);
      expect((await b.members()).find((m) => m.name === 'a')?.state).toBe('drain');
      await b.ready(['a']);
      expect(execs).toEqual([`socat -t 0 stdio unix-connect:${haproxy.socket}`]);
    } finally {
      await transports.closeAll();
      await haproxy.stop();
    }
    await expect.poll(() => running).toBe(0);
    expect(escaped).toEqual([]);
  });
});
