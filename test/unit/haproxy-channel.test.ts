// The runtime channel against a real HAProxy on this machine (temp dir, unix sockets only),
// through LocalTransport: one socat for many round trips, a dead channel replaced, a reload's
// old process noticed, concurrent callers kept apart.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { haproxyInstalled, processRuns, startLocalHaproxy, type LocalHaproxy } from '../../bench/local-haproxy.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuntimeChannel, takePromptedAnswers } from '../../src/balancers/haproxy-channel.js';
import { HaproxyBalancer } from '../../src/balancers/haproxy.js';
import type { Config } from '../../src/config/config.js';
import { parseConfig } from '../../src/config/load.js';
import { openSession } from '../../src/engine/session.js';
import { ExternalCommandError, OperationFailedError } from '../../src/errors.js';
import { TransportError } from '../../src/transport/errors.js';
import { LocalTransport } from '../../src/transport/local.js';
import type { Transport, TransportStream } from '../../src/transport/types.js';

const HOST = 'lb-local';

/** LocalTransport that counts the streams it starts; `onWrite` may swallow a line (return false) to stage a failure. */
class CountingTransport implements Transport {
  readonly host = HOST;
  readonly streams: TransportStream[] = [];
  onWrite?: (data: string) => boolean;
  private readonly local = new LocalTransport(HOST);
  run: Transport['run'] = (argv, opts) => this.local.run(argv, opts);
  upload: Transport['upload'] = (from, to) => this.local.upload(from, to);
  download: Transport['download'] = (from, to) => this.local.download(from, to);

  async openStream(argv: readonly string[]): Promise<TransportStream> {
    const stream = await this.local.openStream(argv);
    this.streams.push(stream);
    return {
      write: (data) => {
        if (this.onWrite?.(data) !== false) stream.write(data);
      },
      onData: (fn) => stream.onData(fn),
      ended: stream.ended,
      get isEnded() {
        return stream.isEnded;
      },
      close: () => stream.close(),
    };
  }
}

/** The same transport without openStream: the exec path, one socat per call. */
const execOnly = (): Transport => {
  const local = new LocalTransport(HOST);
  return {
    host: HOST,
    run: (a, o) => local.run(a, o),
    upload: (f, t) => local.upload(f, t),
    download: (f, t) => local.download(f, t),
  };
};

/** Kill the channel's socat by its pid (found by the temp socket path only this test uses). */
async function killChannelSocat(socket: string): Promise<void> {
  const r = await new LocalTransport().run(['pgrep', '-f', `^socat -t 0 stdio unix-connect:${socket}$`], {
    allowFailure: true,
  });
  const pids = r.stdout.split('\n').filter(Boolean).map(Number);
  expect(pids).toHaveLength(1);
  process.kill(pids[0] as number, 'SIGKILL');
}

describe('takePromptedAnswers', () => {
  it('cuts one answer per command at the empty line before the prompt', () => {
    expect(takePromptedAnswers('\n> 1\n# be_id\n3 be 1 a\n\n> No such server.\n\n> ', 3)).toEqual({
      answers: ['', '1\n# be_id\n3 be 1 a', 'No such server.'],
      rest: '',
    });
  });

  it('waits while an answer or its prompt has not fully arrived', () => {
    expect(takePromptedAnswers('# pxname\nbe,a\n', 1)).toBeUndefined();
    expect(takePromptedAnswers('# pxname\nbe,a\n\n', 1)).toBeUndefined();
    expect(takePromptedAnswers('# pxname\nbe,a\n\n>', 1)).toBeUndefined();
    expect(takePromptedAnswers('\n> ', 2)).toBeUndefined();
  });

  it('keeps an empty line not followed by the prompt inside the answer, cut as splitAnswers cuts it', () => {
    expect(takePromptedAnswers('a\n\nb\n\n> ', 1)).toEqual({ answers: ['a'], rest: '' });
  });
});

describe.skipIf(!haproxyInstalled())('RuntimeChannel against a local haproxy', () => {
  let haproxy: LocalHaproxy;
  const open: HaproxyBalancer[] = [];
  const balancerOver = (t: Transport, timeoutMs?: number) => {
    const b = new HaproxyBalancer(t, {
      backend: haproxy.backend,
      socket: haproxy.socket,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });
    open.push(b);
    return b;
  };

  beforeAll(async () => {
    haproxy = await startLocalHaproxy(['a', 'b']);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((b) => b.close()));
    await balancerOver(execOnly()).ready(['a', 'b']);
  });
  afterAll(async () => {
    await haproxy?.stop();
  });

  it('drains and readies over one channel, with the answers the exec path gives', async () => {
    const t = new CountingTransport();
    const channel = balancerOver(t);
    const exec = balancerOver(execOnly());
    await channel.drain(['a']);
    expect((await channel.members()).find((m) => m.name === 'a')?.state).toBe('drain');
    expect(await channel.members()).toEqual(await exec.members());
    await channel.ready(['a']);
    expect((await exec.members()).find((m) => m.name === 'a')?.state).toBe('ready');
    // A refused change reads the same either way.
    const viaChannel = await channel.drain(['nope']).catch((e: unknown) => e);
    const viaExec = await exec.drain(['nope']).catch((e: unknown) => e);
    expect(viaChannel).toBeInstanceOf(OperationFailedError);
    expect((viaChannel as Error).message).toBe((viaExec as Error).message);
    expect(t.streams).toHaveLength(1);
  });

  it('vouches for members without health checks by doing nothing, and names a member it does not have', async () => {
    const b = balancerOver(new CountingTransport());
    await expect(b.vouchHealthy(['a', 'b'])).resolves.toBeUndefined();
    await expect(b.vouchHealthy(['nope'])).rejects.toThrow(/refused to mark nope: .* healthy/);
  });

  it('answers 200 polls over one socat', async () => {
    const t = new CountingTransport();
    const b = balancerOver(t);
    for (let i = 0; i < 200; i++) expect(await b.sessions(['a', 'b'])).toEqual({ a: 0, b: 0 });
    expect(t.streams).toHaveLength(1);
  });

  it('keeps concurrent callers’ answers apart', async () => {
    const t = new CountingTransport();
    const channel = new RuntimeChannel(t as Transport & Required<Pick<Transport, 'openStream'>>, haproxy.socket, 5_000);
    const asks = Array.from({ length: 40 }, (_, i) =>
      i % 2 === 0 ? ['show servers state be'] : ['show stat be 4 -1', 'show servers state be'],
    );
    const answers = await Promise.all(asks.map((a) => channel.request(a)));
    answers.forEach((a, i) => {
      expect(a).toHaveLength(asks[i]?.length ?? 0);
      if (i % 2 === 0) expect(a[0]).toMatch(/^1\n# be_id/);
      else {
        expect(a[0]).toMatch(/^# pxname,svname/);
        expect(a[1]).toMatch(/^1\n# be_id/);
      }
    });
    const b = balancerOver(t);
    const [members, drained, sessions] = await Promise.all([
      b.members(),
      b.drain(['b']),
      b.sessions(['a', 'b']),
      b.counters(),
    ]);
    expect(members.map((m) => m.name)).toEqual(['a', 'b']);
    expect(drained).toBeUndefined();
    expect(Object.keys(sessions)).toEqual(['a', 'b']);
    expect(channel.stats).toEqual({ opened: 1, requests: 40 });
    await channel.close();
  });

  it('replaces a channel HAProxy closed for idleness, so a change after a long wait still goes through', async () => {
    const t = new CountingTransport();
    const channel = new RuntimeChannel(
      t as Transport & Required<Pick<Transport, 'openStream'>>,
      haproxy.socket,
      5_000,
      { cliTimeoutS: 1, reopenAfterMs: 60_000 },
    );
    await channel.request(['show servers state be']);
    await t.streams[0]?.ended; // HAProxy hung up after 1 s idle
    expect(await channel.request(['set server be/a state drain'])).toEqual(['']);
    expect(channel.stats.opened).toBe(2);
    await channel.close();
  });

  it('replaces an idle channel before HAProxy would close it', async () => {
    const t = new CountingTransport();
    const channel = new RuntimeChannel(
      t as Transport & Required<Pick<Transport, 'openStream'>>,
      haproxy.socket,
      5_000,
      { cliTimeoutS: 60, reopenAfterMs: 50 },
    );
    await channel.request(['show servers state be']);
    await channel.request(['show servers state be']);
    await new Promise((r) => setTimeout(r, 100));
    await channel.request(['show servers state be']);
    expect(channel.stats.opened).toBe(2);
    expect((await t.streams[0]?.ended)?.code).toBe(0);
    await channel.close();
  });

  it('opens a fresh channel for the next call when its socat was killed', async () => {
    const t = new CountingTransport();
    const b = balancerOver(t);
    await b.members();
    await killChannelSocat(haproxy.socket);
    await t.streams[0]?.ended;
    await b.drain(['a']);
    expect((await balancerOver(execOnly()).members()).find((m) => m.name === 'a')?.state).toBe('drain');
    expect(t.streams).toHaveLength(2);
  });

  it('fails a change in flight when the channel dies, naming the host, and never sends it again', async () => {
    const t = new CountingTransport();
    const b = balancerOver(t);
    await b.members();
    let sent = 0;
    t.onWrite = (line) => {
      if (!line.includes('set server')) return true;
      sent++;
      void killChannelSocat(haproxy.socket);
      return false;
    };
    const err = await b.drain(['a']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as TransportError).host).toBe(HOST);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^haproxy runtime API on ${HOST}: the channel's socat was killed by SIGKILL while running \`set ` +
          `server be/a state drain; show stat be 4 -1; show servers state be\`$`,
      ),
    );
    expect((err as TransportError).hint).toContain('may or may not have been applied');
    expect(sent).toBe(1);
    t.onWrite = undefined;
    await b.drain(['a']);
    expect((await b.members()).find((m) => m.name === 'a')?.state).toBe('drain');
    expect(t.streams).toHaveLength(2);
  });

  it('fails a change that gets no answer in time, and answers the next call on a fresh channel', async () => {
    const t = new CountingTransport();
    const b = balancerOver(t, 300);
    await b.members();
    t.onWrite = (line) => !line.includes('set server'); // swallowed: HAProxy never hears it
    const err = await b.drain(['a']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toMatch(
      /^haproxy runtime API on lb-local: no answer within 300 ms while running `set server be\/a state drain;/,
    );
    t.onWrite = undefined;
    expect((await b.members()).find((m) => m.name === 'a')?.state).toBe('ready');
    expect(t.streams).toHaveLength(2);
    expect((await t.streams[0]?.ended)?.code).toBe(0); // the dropped channel was closed, not left behind
  });

  it('answers a read whose channel died in flight from a fresh channel', async () => {
    const t = new CountingTransport();
    const b = balancerOver(t);
    await b.members();
    let swallowed = false;
    t.onWrite = (line) => {
      if (swallowed || !line.includes('show stat')) return true;
      swallowed = true;
      void killChannelSocat(haproxy.socket);
      return false;
    };
    expect(await b.sessions(['a'])).toEqual({ a: 0 });
    expect(t.streams).toHaveLength(2);
  });

  it('on close, fails a read in flight instead of opening another channel; a later call opens a new one', async () => {
    const t = new CountingTransport();
    const b = balancerOver(t);
    await b.members();
    t.onWrite = (line) => !line.includes('show stat'); // left unanswered
    const inFlight = b.sessions(['a']).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    await b.close();
    expect(await inFlight).toBeInstanceOf(TransportError);
    expect(t.streams).toHaveLength(1);
    t.onWrite = undefined;
    expect(await b.sessions(['a'])).toEqual({ a: 0 });
    expect(t.streams).toHaveLength(2);
  });

  it('survives a restart of haproxy: the next call reconnects', async () => {
    const t = new CountingTransport();
    const b = balancerOver(t);
    await b.members();
    await haproxy.restart();
    expect((await b.members()).map((m) => m.name)).toEqual(['a', 'b']);
    await b.drain(['b']);
    expect((await balancerOver(execOnly()).members()).find((m) => m.name === 'b')?.state).toBe('drain');
    expect(t.streams).toHaveLength(2);
  });

  it('after a reload, sends a change to the new process and lets the old one finish', async () => {
    const t = new CountingTransport();
    const b = balancerOver(t);
    await b.members();
    const old = haproxy.pid;
    await haproxy.reload();
    await b.drain(['a']);
    // The process that serves now took it (a reload without a state file starts every server ready).
    expect((await balancerOver(execOnly()).members()).find((m) => m.name === 'a')?.state).toBe('drain');
    expect(t.streams).toHaveLength(2);
    await expect.poll(() => processRuns(old), { timeout: 3_000 }).toBe(false);
  });

  it('closes the channel when the session closes, even with transports that leave streams open', async () => {
    const config = parseConfig(
      `app: { name: shop, repo: ./repo, path: /srv/shop, restart: 'true' }
balancer: { driver: haproxy, host: ${HOST}, backend: be, socket: ${haproxy.socket} }
clusters:
  a: { internal: prod-a.test, hosts: [{ host: w1a, member: a }] }
  b: { internal: prod-b.test, hosts: [{ host: w1b, member: b }] }
`,
      join(tmpdir(), 'baton.yml'),
    ).config as Config;
    const t = new CountingTransport();
    const session = await openSession(config, { get: () => t, closeAll: async () => undefined }, { secrets: 'none' });
    expect((await session.balancer.members()).map((m) => m.name)).toEqual(['a', 'b']);
    await session.close();
    expect(t.streams).toHaveLength(1);
    expect((await t.streams[0]?.ended)?.code).toBe(0);
  });

  it('reports a socket nobody listens on as the exec path does: ExternalCommandError naming the host', async () => {
    const b = new HaproxyBalancer(new CountingTransport(), { backend: 'be', socket: `${haproxy.dir}/missing.sock` });
    const err = await b.members().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExternalCommandError);
    expect((err as ExternalCommandError).host).toBe(HOST);
    expect((err as ExternalCommandError).stderrTail).toMatch(/No such file or directory/);
  });
});
