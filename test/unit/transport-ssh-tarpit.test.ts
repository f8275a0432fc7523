// SshTransport against hosts that misbehave, all on 127.0.0.1: one that accepts TCP and never
// speaks (a tarpit), one that answers garbage and hangs up, and a real (ssh2) SSH server whose
// connection is reset while a command runs. Each must end in a TransportError naming the host,
// on time, and never in an unhandled 'error' event (which would crash `baton status`).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TransportError } from '../../src/transport/errors.js';
import { SshTransports } from '../../src/transport/ssh.js';
import { ed25519KeyPair } from '../helpers/ssh-keys.js';

const HANDSHAKE_MS = 500;
const home = mkdtempSync(join(tmpdir(), 'baton-ssh-tarpit-'));
const identity = join(home, 'id_ed25519');
writeFileSync(identity, ed25519KeyPair().private, { mode: 0o600 });
const hostKey = ed25519KeyPair();

const servers: Server[] = [];
const sockets: Socket[] = [];

/** A TCP server on 127.0.0.1 doing `onSocket` with every connection; resolves to its port. */
function listen(onSocket: (s: Socket) => void): Promise<number> {
  return serve(
    createServer((s) => {
      sockets.push(s);
      s.on('error', () => undefined); // a reset from the client is expected here
      onSocket(s);
    }),
  );
}

async function serve(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Transports whose host `web-1` is 127.0.0.1:`port`, with only this test's files in play. */
function transportsFor(port: number): SshTransports {
  const config = join(home, `ssh_config_${port}`);
  writeFileSync(config, `Host web-1\n  HostName 127.0.0.1\n  Port ${port}\n  User deploy\n`);
  const knownHosts = join(home, `known_hosts_${port}`);
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostKey.public}\n`);
  return new SshTransports(
    { keepalive: 15_000, connectTimeout: HANDSHAKE_MS, identity, config, knownHosts },
    { env: { home, localUser: 'me' } },
  );
}

// Anything that escapes as an unhandled rejection or exception fails the test that caused it.
const escaped: unknown[] = [];
const record = (e: unknown): void => void escaped.push(e);
beforeEach(() => {
  escaped.length = 0;
  process.on('unhandledRejection', record);
  process.on('uncaughtException', record);
});
afterEach(() => {
  process.off('unhandledRejection', record);
  process.off('uncaughtException', record);
  for (const s of sockets.splice(0)) s.destroy();
});
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('SshTransport with hosts that do not speak SSH', () => {
  it(
    'waits out a host that never answers once per connect timeout, ' + 'not once per command, then tries again',
    async () => {
      let dialled = 0;
      const port = await listen(() => void dialled++);
      const web1 = transportsFor(port).get('web-1');
      const timed = async () => {
        const t0 = Date.now();
        const err = await web1.run(['true']).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(TransportError);
        return Date.now() - t0;
      };
      expect(await timed()).toBeGreaterThanOrEqual(HANDSHAKE_MS * 0.9);
      // The record, the lock, the pool: the next reads fail at once with the same reason.
      expect(await timed()).toBeLessThan(HANDSHAKE_MS / 2);
      expect(await timed()).toBeLessThan(HANDSHAKE_MS / 2);
      expect(dialled).toBe(1);
      await settle(HANDSHAKE_MS);
      expect(await timed()).toBeGreaterThanOrEqual(HANDSHAKE_MS * 0.9);
      expect(dialled).toBe(2);
    },
  );

  it('gives up on a host that accepts TCP and never answers, naming it, and nothing escapes', async () => {
    const port = await listen(() => undefined);
    const transports = transportsFor(port);
    const start = Date.now();
    const err = await transports
      .get('web-1')
      .run(['true'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as TransportError).host).toBe('web-1');
    expect((err as Error).message).toBe(
      `cannot connect to web-1 (deploy@127.0.0.1:${port}): ` +
        'no SSH handshake within 0.5 s (the port accepts connections but no SSH server answers)',
    );
    expect(Date.now() - start).toBeLessThan(HANDSHAKE_MS + 1500);
    // ssh2 raises a second error as it drops the socket: it must not surface anywhere.
    await settle(HANDSHAKE_MS);
    expect(escaped).toEqual([]);
    // The next use tries again and fails the same clear way.
    await expect(transports.get('web-1').run(['true'])).rejects.toThrow(/web-1.*no SSH handshake within 0\.5 s/);
    await transports.closeAll();
    await settle(HANDSHAKE_MS);
    expect(escaped).toEqual([]);
  });

  it('reports a host that sends a garbage banner and hangs up', async () => {
    const port = await listen((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    const transports = transportsFor(port);
    const start = Date.now();
    const err = await transports
      .get('web-1')
      .run(['true'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toMatch(
      /^cannot connect to web-1 \(deploy@127\.0\.0\.1:\d+\): the host closed the connection before the SSH handshake/,
    );
    expect(Date.now() - start).toBeLessThan(HANDSHAKE_MS + 1500);
    await settle(HANDSHAKE_MS + 200);
    expect(escaped).toEqual([]);
    await transports.closeAll();
  });
});

describe('SshTransport when a live connection dies', () => {
  it('fails the command in flight naming the host, then reconnects for the next one', async () => {
    // A real SSH server: `hang` never finishes, anything else prints "ok".
    const sshPort = await serve(
      new ssh2.Server({ hostKeys: [hostKey.private] }, (conn) => {
        conn.on('error', () => undefined);
        conn.on('authentication', (ctx) => ctx.accept());
        conn.on('ready', () =>
          conn.on('session', (accept) =>
            accept().on('exec', (acceptExec, _reject, info) => {
              const channel = acceptExec();
              if (info.command.includes('hang')) return;
              channel.write('ok\n');
              channel.exit(0);
              channel.end();
            }),
          ),
        );
      }),
    );
    // In front of it, a proxy whose connections the test can reset.
    const proxied: Socket[] = [];
    const port = await listen((s) => {
      proxied.push(s);
      const upstream = connect(sshPort, '127.0.0.1');
      upstream.on('error', () => undefined);
      s.pipe(upstream).pipe(s);
      s.on('close', () => upstream.destroy());
    });
    const t = transportsFor(port).get('web-1');
    expect((await t.run(['echo'])).stdout).toBe('ok\n');

    const inFlight = t.run(['hang']).catch((e: unknown) => e);
    await settle(100);
    for (const s of proxied.splice(0)) s.resetAndDestroy();
    const err = await inFlight;
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toMatch(/^lost the connection to web-1 while running `hang`: /);

    expect((await t.run(['echo'])).stdout).toBe('ok\n');
    expect(t.stats.connections).toBe(2);
    await t.close();
    await settle(100);
    expect(escaped).toEqual([]);
  });
});
