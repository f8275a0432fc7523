// A throwaway HAProxy on this machine (no lab): its config, stats socket and frontend socket in a
// temp dir, one backend `be` with servers that are never checked, so their state is only ours.
// For the runtime channel's tests and bench:channel; needs /usr/sbin/haproxy.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const HAPROXY_BIN = '/usr/sbin/haproxy';
export const haproxyInstalled = (): boolean => existsSync(HAPROXY_BIN);

export interface LocalHaproxy {
  dir: string;
  /** The stats socket (level admin). */
  socket: string;
  backend: string;
  /** The pid of the process serving now. */
  readonly pid: number;
  /** A seamless reload, as a deploy does it: a new process with `-sf OLD`. */
  reload(): Promise<void>;
  /** Kill the process and start a fresh one (every runtime API connection drops). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startLocalHaproxy(servers: readonly string[] = ['a', 'b']): Promise<LocalHaproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-haproxy-'));
  const socket = join(dir, 'admin.sock');
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(
    config,
    [
      'global',
      `  stats socket ${socket} mode 600 level admin`,
      'defaults',
      '  mode http',
      '  timeout connect 1s',
      '  timeout client 5s',
      '  timeout server 5s',
      'frontend fe',
      `  bind ${join(dir, 'fe.sock')}`,
      '  default_backend be',
      'backend be',
      ...servers.map((s, i) => `  server ${s} 127.0.0.1:${i + 1}`),
      '',
    ].join('\n'),
  );
  const processes = new Set<ChildProcess>();
  const start = async (replacing?: number): Promise<ChildProcess> => {
    const child = spawn(
      HAPROXY_BIN,
      ['-db', '-f', config, ...(replacing !== undefined ? ['-sf', String(replacing)] : [])],
      { stdio: 'ignore' },
    );
    processes.add(child);
    child.once('exit', () => processes.delete(child));
    await waitUntilServedBy(socket, child.pid as number);
    return child;
  };
  let current = await start();
  return {
    dir,
    socket,
    backend: 'be',
    get pid() {
      return current.pid as number;
    },
    reload: async () => void (current = await start(current.pid)),
    restart: async () => {
      await kill(current);
      current = await start();
    },
    stop: async () => {
      await Promise.all([...processes].map(kill));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Whether the process with this pid still runs (a zombie counts as gone). */
export function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return true;
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** Poll the socket until `show info` comes from `pid` (a reload's new process has taken the socket). */
async function waitUntilServedBy(socket: string, pid: number, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await askOnce(socket, 'show info').catch(() => '');
    if (new RegExp(`^Pid: ${pid}$`, 'm').test(info)) return;
    if (Date.now() > deadline) throw new Error(`haproxy ${pid} did not answer on ${socket} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function askOnce(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const s = connect(socket, () => s.end(`${command}\n`));
    s.setEncoding('utf8');
    s.on('data', (d: string) => (out += d));
    s.on('error', reject);
    s.on('close', () => resolve(out));
  });
}
