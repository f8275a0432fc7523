// The ssh2 transport against the lab's real sshd: pooling, quoting, SFTP, stdin, errors, and
// host-key refusal. Speed is only logged here (the benchmark measures it), never asserted.
import { execFileSync } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExternalCommandError } from '../../src/errors.js';
import { TransportError } from '../../src/transport/errors.js';
import { forEachHost } from '../../src/transport/fan-out.js';
import { HostKeyError, fingerprint } from '../../src/transport/known-hosts.js';
import { SshTransports, type SshTransport } from '../../src/transport/ssh.js';
import type { SshSettings } from '../../src/transport/ssh-config.js';
import { appHosts, readLab } from './helpers/lab.js';

const lab = readLab();
const LAB_SSH = { config: '/run/baton-lab/ssh_config', knownHosts: '/run/baton-lab/known_hosts' };
// Only the ssh_config is given: User, HostName, IdentityFile and UserKnownHostsFile come from it.
const settings: SshSettings = { config: LAB_SSH.config, keepalive: 15_000, connectTimeout: 10_000 };
const transports = new SshTransports(settings);
const web = appHosts(lab);
const first = web[0]!.name;
const tmp = mkdtempSync(join(tmpdir(), 'baton-transport-'));

afterAll(() => transports.closeAll());

/** The lab's recorded key for a host (known_hosts line `names type key`). */
function labHostKey(host: string): Buffer {
  const line = readFileSync(LAB_SSH.knownHosts, 'utf8')
    .split('\n')
    .find((l) => l.split(' ')[0]!.split(',').includes(host));
  if (!line) throw new Error(`no known_hosts line for ${host}`);
  return Buffer.from(line.split(' ')[2]!, 'base64');
}

describe('ssh transport in the lab', () => {
  it('runs on every app host in parallel, one pooled connection each', async () => {
    const seen = await forEachHost(
      web.map((h) => h.name),
      16,
      async (host) => {
        const t = transports.get(host);
        const outs = await Promise.all(
          Array.from({ length: 5 }, () => t.run(['sh', '-c', 'hostname; echo "$SSH_CONNECTION"'])),
        );
        return outs.map((o) => o.stdout);
      },
    );
    for (const h of web) {
      const outs = seen.get(h.name)!;
      expect(outs[0]!.split('\n')[0]).toBe(h.name);
      // SSH_CONNECTION names the client port: one value means one TCP connection
      expect(new Set(outs).size).toBe(1);
      expect(transports.get(h.name).stats.connections).toBe(1);
    }
  });

  it('reuses one connection for 30 concurrent runs, staying under MaxSessions', async () => {
    const t = transports.get(first);
    const before = t.stats.connections;
    const outs = await Promise.all(
      Array.from({ length: 30 }, (_, i) => t.run(['sh', '-c', `sleep 0.1; echo "$SSH_CONNECTION" ${i}`])),
    );
    expect(new Set(outs.map((o) => o.stdout.replace(/ \d+\n$/, ''))).size).toBe(1);
    expect(outs.map((o) => Number(o.stdout.trim().split(' ').at(-1)))).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(t.stats.connections).toBe(before);
    expect(t.stats.peakChannels).toBeLessThanOrEqual(8);
  });

  it('measures 50 runs over the pooled connection against a fresh connection each', async () => {
    const t = transports.get(first);
    await t.run(['true']);
    let start = performance.now();
    for (let i = 0; i < 50; i++) await t.run(['true']);
    const pooled = performance.now() - start;
    start = performance.now();
    for (let i = 0; i < 10; i++) {
      const fresh = new SshTransports(settings);
      await fresh.get(first).run(['true']);
      await fresh.closeAll();
    }
    const freshEach = (performance.now() - start) / 10;
    console.log(
      `transport: ${(pooled / 50).toFixed(1)} ms per run pooled (50 runs ${pooled.toFixed(0)} ` +
        `ms), ${freshEach.toFixed(1)} ms per run with a fresh connection`,
    );
    expect(pooled / 50).toBeLessThan(freshEach);
  });

  it('passes a hostile argv through verbatim', async () => {
    const hostile = 'a;b $(id) "q"';
    expect((await transports.get(first).run(['printf', '%s', hostile])).stdout).toBe(hostile);
    const odd = ["it's", '`id`', '*', 'line1\nline2', '', 'ü ✓'];
    const out = await transports.get(first).run(['printf', '%s\\0', ...odd]);
    expect(out.stdout.split('\0').slice(0, -1)).toEqual(odd);
  });

  it('round-trips a file through SFTP upload and download', async () => {
    const t = transports.get(first);
    const local = join(tmp, 'payload.bin');
    const data = randomBytes(1024 * 1024 + 17);
    writeFileSync(local, data);
    const remote = `/tmp/baton-transport-${process.pid}.bin`;
    await t.upload(local, remote);
    const sum = (await t.run(['sha256sum', remote])).stdout.split(' ')[0];
    expect(sum).toBe(createHash('sha256').update(data).digest('hex'));
    await t.download(remote, join(tmp, 'back.bin'));
    expect(readFileSync(join(tmp, 'back.bin')).equals(data)).toBe(true);
    await t.run(['rm', '-f', remote]);
    await expect(t.download('/nonexistent/file', join(tmp, 'x'))).rejects.toThrow(/download .*\/nonexistent\/file/);
  });

  it('feeds stdin, text and binary', async () => {
    const t = transports.get(first);
    expect((await t.run(['cat'], { stdin: 'one\ntwo\n' })).stdout).toBe('one\ntwo\n');
    expect((await t.run(['wc', '-c'], { stdin: randomBytes(100_000) })).stdout.trim()).toBe('100000');
    // no stdin given: the command sees EOF rather than hanging
    expect((await t.run(['cat'])).stdout).toBe('');
  });

  it('turns a non-zero exit into ExternalCommandError with the host and stderr tail', async () => {
    const argv = ['sh', '-c', 'for i in $(seq 1 30); do echo "problem $i" >&2; done; exit 7'];
    const err = (await transports
      .get(first)
      .run(argv)
      .catch((e: unknown) => e)) as ExternalCommandError;
    expect(err).toBeInstanceOf(ExternalCommandError);
    expect(err.host).toBe(first);
    expect(err.argv).toEqual(argv);
    expect(err.code).toBe(7);
    expect(err.stderrTail.split('\n')).toHaveLength(20);
    expect(err.stderrTail).toMatch(/problem 30$/);
    expect(err.message).toContain(`on ${first}:`);
    expect((await transports.get(first).run(['sh', '-c', 'exit 3'], { allowFailure: true })).code).toBe(3);
  });

  it('times out, and the command does not outlive the timeout on the host', async () => {
    const t = transports.get(first);
    const start = performance.now();
    const err = (await t
      .run(['sleep', '31.4159'], { timeoutMs: 400 })
      .catch((e: unknown) => e)) as ExternalCommandError;
    expect(err).toBeInstanceOf(ExternalCommandError);
    expect(err.stderrTail).toContain('timed out after 400 ms');
    expect(performance.now() - start).toBeLessThan(3000);
    await new Promise((r) => setTimeout(r, 300));
    expect((await t.run(['pgrep', '-f', 'sleep 31.4159'], { allowFailure: true })).stdout).toBe('');
  });

  it('reconnects once when the pooled connection has dropped', async () => {
    const t = new SshTransports(settings).get(web[1]!.name) as SshTransport;
    await t.run(['true']);
    // $PPID of the command is the sshd process serving this connection: killing it drops it.
    const lostErr = await t.run(['sh', '-c', 'kill $PPID; sleep 5']).catch((e: unknown) => e);
    expect(lostErr).toBeInstanceOf(TransportError);
    expect((lostErr as Error).message).toContain(`lost the connection to ${web[1]!.name} while running`);
    expect((await t.run(['hostname'])).stdout.trim()).toBe(web[1]!.name);
    expect(t.stats.connections).toBe(2);
    await t.close();
  });

  it('refuses an UNKNOWN host key, naming the host and its fingerprint', async () => {
    const empty = join(tmp, 'empty_known_hosts');
    writeFileSync(empty, '');
    const strict = new SshTransports({ ...settings, knownHosts: empty });
    const err = (await strict
      .get(first)
      .run(['true'])
      .catch((e: unknown) => e)) as HostKeyError;
    await strict.closeAll();
    expect(err).toBeInstanceOf(HostKeyError);
    expect(err.status).toBe('unknown');
    expect(err.host).toBe(first);
    expect(err.fingerprint).toBe(fingerprint(labHostKey(first)));
    expect(err.message).toContain(first);
    expect(err.message).toContain(err.fingerprint);
    expect(err.hint).toContain(`ssh-keyscan -H ${web[0]!.address} >> ${empty}`);
  });

  it('refuses a CHANGED host key', async () => {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(tmp, 'impostor')]);
    const [type, key] = readFileSync(join(tmp, 'impostor.pub'), 'utf8').split(' ');
    const wrong = join(tmp, 'wrong_known_hosts');
    writeFileSync(wrong, `${first},${web[0]!.address} ${type} ${key}\n`);
    const strict = new SshTransports({ ...settings, knownHosts: wrong });
    const err = (await strict
      .get(first)
      .run(['true'])
      .catch((e: unknown) => e)) as HostKeyError;
    await strict.closeAll();
    expect(err).toBeInstanceOf(HostKeyError);
    expect(err.status).toBe('changed');
    expect(err.message).toContain(`HOST KEY CHANGED for ${first}`);
    expect(err.message).toContain(fingerprint(labHostKey(first)));
    expect(err.message).toContain(fingerprint(Buffer.from(key!, 'base64')));
  });
});
