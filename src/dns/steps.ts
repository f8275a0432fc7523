// Carries out one DNS migration step. The executor undoes only steps that completed, so a
// step that fails half-way puts back what it did itself before it throws (a cut-over that
// cannot verify the proxy restarts the old web server, a proxy that fails its check is stopped).
import type { Config } from '../config/config.js';
import { OperationFailedError, UserError } from '../errors.js';
import type { Transport, Transports } from '../transport/types.js';
import { maxRttMs, owed, parsePortSockets, portSocketsArgv } from './drain.js';
import { closeGateBatch, deviceArgv, deviceFrom, isDefaultRootQdisc, openGateArgv, showRootArgv } from './gate.js';
import { sendUpdate, recordLine, type Tsig } from './nsupdate.js';
import { rrset } from './observe.js';
import {
  checkArgv,
  listenersArgv,
  pidFiles,
  portOf,
  prepareArgv,
  proxyFiles,
  renderProxyConfig,
  startArgvs,
  stopByPidArgv,
  writeFileArgv,
  type Instance,
  type Migration,
  type ProxySpec,
} from './proxy.js';
import type { DnsQuery } from './query.js';
import type { DnsStep, RecordChangeSpec } from './types.js';
import { VERIFY_AGENT } from './watch.js';

export interface DnsEnv {
  config: Config;
  m: Migration;
  spec: ProxySpec;
  transports: Transports;
  /** The control machine (nsupdate, a sync hook with `on: control`). */
  local: Transport;
  query: DnsQuery;
  /** Authoritative servers, the configured one first (updates go to it). */
  servers: string[];
  zone: string;
  /** How dynamic updates are signed; absent: records are changed by hand. */
  tsig?: Tsig;
  manualWaitMs: number;
  /** Prints what a person must do (a manual record change). */
  notice(line: string): void;
  now(): Date;
  sleep(ms: number): Promise<void>;
}

export type Progress = (message: string) => void;

// --- records -------------------------------------------------------------------------------

/** dns-check: the transitional name already points at the new host, confirmed (and when) for the journal. */
export async function confirmTransitional(env: DnsEnv): Promise<unknown> {
  const confirmed = await serves(env, env.config.dns!.transitional, env.m.new.address);
  if (!confirmed)
    throw new OperationFailedError(
      `${env.config.dns!.transitional} no longer points at ${env.m.new.address} on every authoritative server`,
      'unchanged',
      'run `baton dns plan` again',
    );
  return { confirmed, confirmedAt: env.now().toISOString() };
}

/**
 * Whether every server serves the name at this address (or none), and at this AAAA address (or none) when `aaaa` is
 * given, with this TTL when one is asked for.
 */
async function serves(
  env: DnsEnv,
  name: string,
  address: string | undefined,
  ttl?: number,
  aaaa?: { to?: string },
): Promise<boolean> {
  const views = await Promise.all(env.servers.map((s) => rrset(env.query, s, name)));
  const holds = (found: readonly string[], want: string | undefined) =>
    want === undefined ? found.length === 0 : found.length === 1 && found[0] === want;
  return views.every((v) =>
    address === undefined && !aaaa
      ? !v.exists
      : holds(v.addresses, address) && (!aaaa || holds(v.addresses6, aaaa.to)) && (ttl === undefined || v.ttl === ttl),
  );
}

const described = (r: RecordChangeSpec, which: 'from' | 'to') => {
  const a = r[which] ?? (which === 'from' ? '(none)' : '(deleted)');
  return r.aaaa ? `${a} + AAAA ${r.aaaa[which] ?? (which === 'from' ? '(none)' : '(deleted)')}` : a;
};

export async function recordChange(env: DnsEnv, step: DnsStep, progress: Progress): Promise<unknown> {
  const r = step.record as RecordChangeSpec;
  // The same addresses before and after: a change of TTL only (dns lower-ttl), which is what is waited for.
  const ttl = r.from !== undefined && r.from === r.to && r.aaaa?.from === r.aaaa?.to ? r.ttl : undefined;
  const check = () => serves(env, r.name, r.to, ttl, r.aaaa);
  const already = await check();
  if (!already) {
    if (env.tsig) {
      progress(`nsupdate: ${r.name} ${described(r, 'from')} → ${described(r, 'to')}`);
      await sendUpdate(env.local, env.tsig, { server: env.servers[0] as string, zone: env.zone, ...r });
    } else {
      env.notice(manualChange(env, r));
    }
  }
  const timeoutMs = env.tsig ? 120_000 : env.manualWaitMs;
  const started = env.now().getTime();
  while (!(await check())) {
    if (env.now().getTime() - started > timeoutMs) {
      throw new OperationFailedError(
        `${r.name} is not ${r.to === undefined ? 'deleted' : described(r, 'to')} on every authoritative server ` +
          `after ${Math.round(timeoutMs / 1000)}s`,
        'unchanged',
      );
    }
    progress(`waiting for ${env.servers.join(', ')} to serve ${r.name} → ${described(r, 'to')}`);
    await env.sleep(500);
  }
  const confirmedAt = env.now();
  const serials = await Promise.all(
    env.servers.map(async (s) => ({ server: s, serial: (await env.query(s, env.zone, 'SOA')).soa?.serial })),
  );
  // confirmedAt is what the migration's state replays from the journal (transitional, switch).
  return {
    name: r.name,
    from: r.from ?? null,
    to: r.to ?? null,
    ...(r.aaaa && { aaaa: { from: r.aaaa.from ?? null, to: r.aaaa.to ?? null } }),
    changed: !already,
    confirmedAt: confirmedAt.toISOString(),
    serials,
  };
}

/** What a person must do at the DNS provider when updates are manual. */
function manualChange(env: DnsEnv, r: RecordChangeSpec): string {
  const changes: Array<[type: 'A' | 'AAAA', c: { from?: string; to?: string }]> = [['A', r]];
  if (r.aaaa) changes.push(['AAAA', r.aaaa]);
  const lines = changes.map(([type, c]) =>
    c.to === undefined
      ? `  delete the ${type} record of ${r.name} (${c.from})`
      : `  ${recordLine(r.name, r.ttl, c.to, type)}${c.from ? ` (replacing ${c.from})` : ''}`,
  );
  return (
    `MANUAL: make ${changes.length > 1 ? 'these changes' : 'this change'} at your DNS provider:\n` +
    `${lines.join('\n')}\n` +
    `waiting for every authoritative server (${env.servers.join(', ')}) to serve it`
  );
}

export async function waitSeconds(env: DnsEnv, seconds: number, progress: Progress): Promise<unknown> {
  const until = env.now().getTime() + seconds * 1000;
  while (env.now().getTime() < until) {
    progress(`${Math.ceil((until - env.now().getTime()) / 1000)}s left`);
    await env.sleep(Math.min(1000, until - env.now().getTime()));
  }
  return { waitedSeconds: seconds };
}

// --- the proxy -------------------------------------------------------------------------------

const oldHost = (env: DnsEnv) => env.transports.get(env.m.old.host);

// A pid file whose process is alive (a zombie is not).
const RUNNING_SCRIPT =
  'p=$(cat "$1" 2>/dev/null) || exit 1; s=$(sed -n "s/.*) \\(.\\).*/\\1/p" "/proc/$p/stat" 2>/dev/null); ' +
  '[ -n "$s" ] && [ "$s" != Z ]';

async function isRunning(t: Transport, pidFile: string): Promise<boolean> {
  return (await t.run(['sh', '-c', RUNNING_SCRIPT, 'sh', pidFile], { allowFailure: true })).code === 0;
}

export async function startInstance(
  env: DnsEnv,
  instance: Instance,
  progress: Progress,
): Promise<Record<string, unknown>> {
  const t = oldHost(env);
  const files = proxyFiles(env.spec, instance);
  if (await isRunning(t, files.pid)) {
    await verifyProxy(env, t, instance, progress);
    return { instance, alreadyRunning: true };
  }
  await t.run(prepareArgv(env.spec, instance));
  await t.run(writeFileArgv(files.config), { stdin: renderProxyConfig(env.spec, instance) });
  await t.run(checkArgv(env.spec, instance), { timeoutMs: 60_000 });
  try {
    for (const argv of startArgvs(env.spec, instance)) await t.run(argv, { timeoutMs: 60_000 });
    await verifyProxy(env, t, instance, progress);
  } catch (err) {
    await stopInstances(env, [instance]).catch(() => undefined);
    throw err;
  }
  return { instance, port: portOf(env.spec, instance), config: files.config, log: files.log };
}

export async function stopInstances(env: DnsEnv, instances: Instance[]): Promise<unknown> {
  const t = oldHost(env);
  for (const instance of instances) for (const pid of pidFiles(env.spec, instance)) await t.run(stopByPidArgv(pid));
  return { stopped: instances };
}

interface Fetched {
  status: number;
  body: string;
}

/** GET on the old host itself (curl), with the site's Host header. */
async function fetchOn(t: Transport, url: string, site: string): Promise<Fetched | undefined> {
  const r = await t.run(
    ['curl', '-sS', '-k', '-m', '5', '-A', VERIFY_AGENT, '-H', `Host: ${site}`, '-o', '-', '-w', '\n%{http_code}', url],
    { allowFailure: true },
  );
  if (r.code !== 0) return undefined;
  const cut = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) };
}

/** The proxy must answer exactly what the new host answers for the site (so Host went through). */
async function verifyProxy(
  env: DnsEnv,
  t: Transport,
  instance: Instance,
  progress: Progress,
  deadlineMs = 15_000,
): Promise<void> {
  const { m } = env;
  const path = m.proxy.verifyPath;
  const port = portOf(env.spec, instance);
  const started = env.now().getTime();
  let last: string;
  // With an AAAA record the proxy must take IPv6 clients too: asked over both families.
  const local = ['127.0.0.1', ...(env.spec.ipv6 ? ['[::1]'] : [])];
  for (;;) {
    const direct = await fetchOn(t, `${m.scheme}://${m.new.address}:${m.new.port}${path}`, m.site);
    let mismatch: string | undefined;
    for (const at of local) {
      const proxied = await fetchOn(t, `${m.scheme}://${at}:${port}${path}`, m.site);
      const over = at === '127.0.0.1' ? '' : ' over IPv6';
      if (!direct) mismatch = `the new host ${m.new.address}:${m.new.port} did not answer from ${m.old.host}`;
      else if (!proxied) mismatch = `nothing answered on ${m.old.host}:${port}${over}`;
      else if (direct.status !== proxied.status || direct.body !== proxied.body || direct.status >= 500)
        mismatch =
          `through the proxy${over}: ${proxied.status} ${clip(proxied.body)}; ` +
          `from the new host: ${direct.status} ${clip(direct.body)}`;
      if (mismatch) break;
    }
    if (!mismatch) return;
    last = mismatch;
    if (env.now().getTime() - started > deadlineMs) break;
    progress(`verifying :${port}: ${last}`);
    await env.sleep(300);
  }
  throw new OperationFailedError(
    `the proxy on ${m.old.host}:${port} does not return the new host's page for ${m.site}${path}: ${last}`,
    'unchanged',
    "check the proxy's error log in dns.migrate.proxy.dir on the old host",
  );
}

function clip(s: string): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > 120 ? `${one.slice(0, 120)}…` : one;
}

/** The old web server answers on its port (any status below 500), seen from the host itself. */
async function waitOldServer(env: DnsEnv, t: Transport, progress: Progress, deadlineMs = 30_000): Promise<void> {
  const started = env.now().getTime();
  for (;;) {
    const r = await fetchOn(t, `${env.m.scheme}://127.0.0.1:${env.m.old.port}${env.m.proxy.verifyPath}`, env.m.site);
    if (r && r.status < 500) return;
    if (env.now().getTime() - started > deadlineMs)
      throw new OperationFailedError(
        `the old web server on ${env.m.old.host}:${env.m.old.port} did not come back within ${deadlineMs / 1000}s`,
        'partway',
      );
    progress('waiting for the old web server to answer');
    await env.sleep(200);
  }
}

async function waitPortFree(env: DnsEnv, t: Transport, deadlineMs = 30_000): Promise<void> {
  const started = env.now().getTime();
  while ((await t.run(listenersArgv(env.m.old.port))).stdout.trim() !== '') {
    if (env.now().getTime() - started > deadlineMs)
      throw new OperationFailedError(
        `something still listens on ${env.m.old.host}:${env.m.old.port} after the old web server was stopped`,
        'unchanged',
      );
    await env.sleep(50);
  }
}

/**
 * With the gate closed, waits until the server on the gated port owes no client anything
 * (drain.ts): nothing in its accept queue, no connection whose request is still to arrive, be
 * read or be answered. Only then may it be stopped: its stop, graceful or not, then cuts nobody
 * off. A connection whose SYN-ACK left just before the gate closed completes a round trip later,
 * so the port counts as settled only on a look begun two round trips after the gate closed. After
 * dns.migrate.proxy.drain it goes on anyway (a client that connected and sends nothing, a long
 * upload), saying what was left.
 */
async function drainPort(
  env: DnsEnv,
  t: Transport,
  gate: Gate,
  progress: Progress,
): Promise<{ drainMs: number; leftOwed?: string[] }> {
  const started = env.now().getTime();
  const closedAt = gate.closedAt ?? started;
  for (;;) {
    const lookedAt = env.now().getTime();
    const sockets = parsePortSockets((await t.run(portSocketsArgv(gate.port))).stdout);
    const left = owed(sockets);
    const settled = lookedAt - closedAt >= 2 * maxRttMs(sockets);
    const now = env.now().getTime();
    if (left.length === 0 && settled) return { drainMs: now - started };
    if (now - started >= env.m.proxy.drain) {
      progress(
        `:${gate.port} still owes ${left.join(', ') || 'a round trip'} ` +
          `after ${Math.round(env.m.proxy.drain / 1000)}s: going on`,
      );
      return { drainMs: now - started, leftOwed: left };
    }
    if (left.length) progress(`waiting for :${gate.port} to answer what it took: ${left.join(', ')}`);
    await env.sleep(left.length ? 20 : Math.max(1, 2 * maxRttMs(sockets) - (lookedAt - closedAt)));
  }
}

// --- cut-over --------------------------------------------------------------------------------

interface Gate {
  device: string;
  port: number;
  /** When the gate was closed (set by withGate). */
  closedAt?: number;
}

async function prepareGate(env: DnsEnv, t: Transport): Promise<Gate | undefined> {
  if (env.m.proxy.gate !== 'tc') return undefined;
  const device = deviceFrom((await t.run(deviceArgv(env.m.old.address))).stdout);
  if (!device)
    throw new UserError(
      `${env.m.old.host} has no device with the address ${env.m.old.address}`,
      'check dns.migrate.old.address, or set dns.migrate.proxy.gate: none',
    );
  const root = (await t.run(showRootArgv(device))).stdout;
  if (!isDefaultRootQdisc(root)) {
    throw new UserError(
      `${device} on ${env.m.old.host} has its own queueing (${root.trim()}); the tc gate would replace it`,
      'set dns.migrate.proxy.gate: none (a few connections may be refused at cut-over)',
    );
  }
  return { device, port: env.m.old.port };
}

async function withGate<T extends object>(
  env: DnsEnv,
  t: Transport,
  progress: Progress,
  work: (gate?: Gate) => Promise<T>,
): Promise<T & { heldMs?: number }> {
  const gate = await prepareGate(env, t);
  if (!gate) return { ...(await work()) };
  const held = env.now().getTime();
  progress(`holding new connections to :${gate.port} on ${gate.device}`);
  try {
    const batch = closeGateBatch(gate.device, gate.port, env.config.ssh.sudo.gate);
    await t.run(batch.argv, { stdin: batch.stdin });
    gate.closedAt = env.now().getTime();
    const result = await work(gate);
    return { ...result, heldMs: env.now().getTime() - held };
  } finally {
    const r = await t.run(openGateArgv(gate.device, env.config.ssh.sudo.gate), { allowFailure: true });
    if (r.code !== 0 && !/Cannot delete qdisc with handle of zero|No such file/.test(r.stderr)) {
      // eslint-disable-next-line no-unsafe-finally
      throw new OperationFailedError(
        `could not open the connection gate on ${env.m.old.host} (${gate.device}): ${r.stderr.trim()}`,
        'partway',
        `run: tc qdisc del dev ${gate.device} root`,
      );
    }
  }
}

async function runSync(env: DnsEnv, argv: readonly string[], progress: Progress): Promise<void> {
  const sync = env.m.sync!;
  const t = sync.on === 'control' ? env.local : env.transports.get(sync.on === 'old' ? env.m.old.host : env.m.new.host);
  progress(`sync on ${t.host}: ${argv.join(' ')}`);
  await t.run(argv, { timeoutMs: sync.timeout });
}

export async function cutover(env: DnsEnv, progress: Progress): Promise<unknown> {
  const t = oldHost(env);
  const port = proxyFiles(env.spec, 'port');
  if (await isRunning(t, port.pid)) {
    await verifyProxy(env, t, 'port', progress);
    return { alreadyDone: true };
  }
  await verifyProxy(env, t, 'side', progress);
  // The moment the old web server is gone: no write can land on the old host after it.
  let cutoverAt = env.now();
  const result = await withGate(env, t, progress, async (gate) => {
    try {
      const drained = gate ? await drainPort(env, t, gate, progress) : {};
      progress('stopping the old web server');
      await t.run(env.m.old.stop, { timeoutMs: 120_000 });
      await waitPortFree(env, t);
      cutoverAt = env.now();
      if (env.m.sync) await runSync(env, env.m.sync.command, progress);
      return { ...(await startInstance(env, 'port', progress)), ...drained };
    } catch (err) {
      progress('cut-over failed: putting the old web server back');
      await stopInstances(env, ['port']).catch(() => undefined);
      await t.run(env.m.old.start, { timeoutMs: 120_000 });
      await waitOldServer(env, t, progress);
      throw err;
    }
  });
  // The migration's state replays cutoverAt from the journal.
  return {
    ...(typeof result === 'object' && result !== null ? result : { result }),
    cutoverAt: cutoverAt.toISOString(),
  };
}

export async function cutback(env: DnsEnv, progress: Progress): Promise<unknown> {
  const t = oldHost(env);
  return withGate(env, t, progress, async (gate) => {
    // The proxy on the port is the server being replaced now: the same drain before it stops.
    const drained = gate ? await drainPort(env, t, gate, progress) : {};
    await stopInstances(env, ['port']);
    await waitPortFree(env, t);
    if (env.m.sync?.reverse) await runSync(env, env.m.sync.reverse, progress);
    await t.run(env.m.old.start, { timeoutMs: 120_000 });
    await waitOldServer(env, t, progress);
    return { restored: `${env.m.old.host}:${env.m.old.port}`, ...drained };
  });
}
