// The DNS drill in the lab: move old-site.baton.test from old-web to new-web with `baton dns …`
// while clients keep making requests (writes included) — some resolving through the lab DNS
// server and honouring the TTL they got, some pinned to the old address as a stale cache would
// be until the horizon, over IPv4 (A) and IPv6 (AAAA) alike — then roll everything back. Prints JSON: requests, failed,
// writesOnOldHost (writes on old-web after cut-over) and seconds per step; each failure names
// the client and the phase it happened in. `--runs N` runs the whole migration N times in a row
// and prints failed per run (forward and rolling back) and totals.
// `--slow-clients N` adds clients whose requests take 1.5 s (in flight when a server stops);
// `--hard-stop` stops the old web server with SIGKILL instead of the lab's graceful stop.
// `--lower-ttl 5s` lowers the site's TTL first (`dns lower-ttl`) and migrates under it.
// `--site cname-site.baton.test` migrates the lab's CNAME for old-site (old-site's records move).
// `--ipv6-clients N` sets how many clients of each kind go over IPv6 (default 1 resolving AAAA + 1 pinned).
// `npm run bench:dns [-- --runs N] [--proxy nginx] [--slow-clients 1] [--hard-stop] [--lower-ttl 5s]`; the integration
// test (test/integration/dns.test.ts) runs the same drill.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { parseDocument } from 'yaml';
import { queryAuthoritative } from '../src/dns/query.js';
import { DnsStateStore, type DnsState } from '../src/dns/state.js';
import { repoRoot } from './repo-root.js';
import { asRoot } from '../test/lab/as-root.js';
import { quoteArgv } from '../src/transport/quote.js';

const LAB = '/run/baton-lab';
/** A hard stop of the lab app on old-web: in-flight requests are cut unless nothing is in flight. */
export const HARD_STOP = ['sh', '-c', 'kill -KILL "$(cat /srv/shop/run/shop.pid)" && rm -f /srv/shop/run/shop.pid'];
/**
 * The lab zone's TTL ($TTL in test/lab/roles/dns.sh), in seconds: every drill waits it out once (the
 * switch after the old TTL, or the lowering before it), so it is kept short.
 */
export const LAB_TTL_S = 10;
const SITE = 'old-site.baton.test';
const NS = '10.213.7.3';
const OLD = '10.213.7.4';
/** old-web's IPv6 address: the site's AAAA record before the move. */
const OLD6 = 'fd10:213:7::4';
/** new-web's: the AAAA record after the switch. */
const NEW6 = 'fd10:213:7::5';

export interface DrillOptions {
  proxy?: 'varnish' | 'nginx' | 'apache';
  resolvingClients?: number;
  pinnedClients?: number;
  /** The same over IPv6: resolving the AAAA record, or pinned to the old host's IPv6 address. */
  resolving6Clients?: number;
  pinned6Clients?: number;
  /** Every n-th request is a write. */
  writeEvery?: number;
  /**
   * Clients pinned like the others until the horizon whose every request is `GET /slow?ms=…`: requests in flight when a
   * server on the old host stops.
   */
  slowClients?: number;
  slowMs?: number;
  /** dns.migrate.old.stop instead of the lab's graceful `shopctl stop` (e.g. a SIGKILL). */
  oldStop?: string[];
  /**
   * `dns lower-ttl --to` this first (e.g. `5s`): the switch then waits out the lab's TTL (LAB_TTL_S), the horizon
   * is the lower one.
   */
  lowerTtl?: string;
  /**
   * The name migrated (default old-site.baton.test); `cname-site.baton.test` is the lab's CNAME for old-site, whose
   * records are then the ones that move.
   */
  site?: string;
  log?: (line: string) => void;
}

interface Sample {
  at: number;
  /** The drill's phase when the request began (`baton dns …` running), and which client made it. */
  phase: string;
  client: string;
  path: string;
  ok: boolean;
  write: boolean;
  ip: string;
  family: 'ipv4' | 'ipv6';
  servedBy: string;
  ms: number;
  error?: string;
}

export interface DrillResult {
  requests: number;
  failed: number;
  writes: number;
  writesOnOldHost: number;
  /** Writes made on old-web before cut-over that the sync hook copied to new-web. */
  writesSynced: number;
  viaOldHostAfterCutover: number;
  /** Of those, over IPv6. */
  viaOldHostAfterCutover6: number;
  /** Requests and failures per address family (forward). */
  byFamily: Record<'ipv4' | 'ipv6', { requests: number; failed: number }>;
  /** IPv6 requests sent to the new host's IPv6 address, as resolving clients found it in the switched AAAA record. */
  resolvedNew6: number;
  /** Client addresses `dns finish` (its watch) saw reach the old host after cut-over. */
  watchClients: string[];
  maxLatencyMs: number;
  stepSeconds: Record<string, number>;
  phaseSeconds: Record<string, number>;
  reverse: { requests: number; failed: number };
  failures: string[];
}

function baton(config: string, ...args: string[]) {
  return execa('node', [join(repoRoot(), 'bin/run.js'), ...args, '-c', config, '--json'], {
    reject: false,
    env: { ...process.env, CI: '1', BATON_USER: 'dns-drill' },
  });
}

/**
 * argv as root on a lab host, through the lab's console (the hosts refuse root over SSH): cleanup behind baton's back.
 */
export async function onHost(host: string, argv: string[]): Promise<{ stdout: string; exitCode: number }> {
  try {
    return { stdout: await asRoot(host, quoteArgv(argv)), exitCode: 0 };
  } catch (err) {
    return { stdout: '', exitCode: (err as { exitCode?: number }).exitCode ?? 1 };
  }
}

/** A client's DNS cache: one answer (A, or AAAA for an IPv6 client), kept for the TTL the server gave it. */
class TtlCache {
  private until = 0;
  private ip: string;
  constructor(
    private readonly type: 'A' | 'AAAA',
    private readonly name: string,
  ) {
    this.ip = type === 'A' ? OLD : OLD6;
  }
  async resolve(now: number): Promise<string> {
    if (now < this.until) return this.ip;
    // A CNAME'd name's answer carries its target's records (the chain inside the answer).
    const a = await queryAuthoritative(NS, this.name, this.type);
    const rec = a.answers.find((r) => r.type === this.type);
    if (rec) {
      this.ip = rec.data;
      this.until = now + rec.ttl * 1000;
    }
    return this.ip;
  }
}

function hit(
  ip: string,
  write: boolean,
  path = write ? '/write' : '/version',
  site = SITE,
): Promise<{ ok: boolean; servedBy: string; error?: string }> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: ip,
        port: 80,
        path,
        method: write ? 'POST' : 'GET',
        headers: { Host: site },
        agent: false,
        timeout: 20_000,
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({
            ok: (res.statusCode ?? 0) < 500 && res.statusCode !== 0,
            servedBy: String(res.headers['x-host'] ?? ''),
            ...((res.statusCode ?? 0) >= 500 && { error: `HTTP ${res.statusCode}` }),
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ ok: false, servedBy: '', error: `${ip}: ${err.message}` }));
    req.end(write ? 'x' : undefined);
  });
}

/** Clients that run until stopped; pinned ones use the old address until `unpin()` (the horizon). */
function startClients(
  o: Required<
    Pick<
      DrillOptions,
      | 'resolvingClients'
      | 'pinnedClients'
      | 'resolving6Clients'
      | 'pinned6Clients'
      | 'writeEvery'
      | 'slowClients'
      | 'slowMs'
      | 'site'
    >
  >,
) {
  const samples: Sample[] = [];
  let running = true;
  let pinned = true;
  let phase = 'start';
  const loop = async (isPinned: boolean, client: string, slowPath?: string, family: 'ipv4' | 'ipv6' = 'ipv4') => {
    const cache = new TtlCache(family === 'ipv4' ? 'A' : 'AAAA', o.site);
    const old = family === 'ipv4' ? OLD : OLD6;
    let n = 0;
    while (running) {
      const write = !slowPath && ++n % o.writeEvery === 0;
      const t0 = Date.now();
      const at = phase;
      const ip = isPinned && pinned ? old : await cache.resolve(t0).catch(() => old);
      const r = await hit(ip, write, slowPath, o.site);
      samples.push({
        at: t0,
        phase: at,
        client,
        path: slowPath ?? (write ? '/write' : '/version'),
        ok: r.ok,
        write,
        ip,
        family,
        servedBy: r.servedBy,
        ms: Date.now() - t0,
        ...(r.error && { error: r.error }),
      });
      await new Promise((res) => setTimeout(res, 20));
    }
  };
  const loops = [
    ...Array.from({ length: o.resolvingClients }, (_, i) => loop(false, `resolving-${i + 1}`)),
    ...Array.from({ length: o.pinnedClients }, (_, i) => loop(true, `pinned-${i + 1}`)),
    ...Array.from({ length: o.resolving6Clients }, (_, i) => loop(false, `resolving6-${i + 1}`, undefined, 'ipv6')),
    ...Array.from({ length: o.pinned6Clients }, (_, i) => loop(true, `pinned6-${i + 1}`, undefined, 'ipv6')),
    ...Array.from({ length: o.slowClients }, (_, i) => loop(true, `slow-${i + 1}`, `/slow?ms=${o.slowMs}`)),
  ];
  return {
    samples,
    setPhase: (name: string) => {
      phase = name;
    },
    unpin: () => {
      pinned = false;
    },
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Puts the lab's DNS drill hosts back as the lab made them (record, app, no proxy files). */
export async function restoreLab(config?: string): Promise<void> {
  if (config) await baton(config, 'dns', 'rollback');
  await onHost('old-web.baton.test', [
    'sh',
    '-c',
    'for p in /srv/baton-dns/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done; ' +
      'tc qdisc del dev eth0 root 2>/dev/null; rm -rf /srv/baton-dns /srv/baton-dns-lock; ' +
      'runuser -u deploy -- /srv/shop/bin/shopctl start >/dev/null',
  ]);
  await onHost('new-web.baton.test', ['rm', '-f', '/srv/shop-data/synced-from-old.log']);
  const script = [
    `server ${NS}`,
    'zone baton.test.',
    `update delete ${SITE}. IN A`,
    `update add ${SITE}. ${LAB_TTL_S} IN A ${OLD}`,
    `update delete ${SITE}. IN AAAA`,
    `update add ${SITE}. ${LAB_TTL_S} IN AAAA ${OLD6}`,
    'update delete transitional.baton.test. IN A',
    'send',
    '',
  ].join('\n');
  const current = (await queryAuthoritative(NS, SITE, 'A')).answers.map((a) => `${a.data}/${a.ttl}`).join(',');
  const current6 = (await queryAuthoritative(NS, SITE, 'AAAA')).answers.map((a) => `${a.data}/${a.ttl}`).join(',');
  const transitional = (await queryAuthoritative(NS, 'transitional.baton.test', 'A')).answers.length;
  if (current !== `${OLD}/${LAB_TTL_S}` || current6 !== `${OLD6}/${LAB_TTL_S}` || transitional)
    await execa('nsupdate', ['-k', `${LAB}/tsig.key`], { input: script });
}

function writeConfig(proxy: DrillOptions['proxy'], oldStop?: string[], site = SITE): string {
  const doc = parseDocument(readFileSync(join(repoRoot(), 'test/lab/baton.dns.yml'), 'utf8'));
  doc.setIn(['dns', 'migrate', 'site'], site);
  doc.setIn(['dns', 'migrate', 'proxy', 'kind'], proxy ?? 'varnish');
  if (oldStop) doc.setIn(['dns', 'migrate', 'old', 'stop'], doc.createNode(oldStop));
  const file = join(mkdtempSync(join(tmpdir(), 'baton-dns-')), 'baton.yml');
  writeFileSync(file, doc.toString());
  return file;
}

interface StepLog {
  config: string;
  phaseSeconds: Record<string, number>;
  stepSeconds: Record<string, number>;
  /** Stamps the clients' samples with the phase running. */
  setPhase(name: string): void;
}

async function step({ config, phaseSeconds, stepSeconds, setPhase }: StepLog, name: string, ...args: string[]) {
  setPhase(name);
  const t0 = Date.now();
  const r = await baton(config, ...args);
  phaseSeconds[name] = (Date.now() - t0) / 1000;
  const out = r.stdout ? (JSON.parse(r.stdout) as Record<string, unknown>) : {};
  const seconds = (out.stepSeconds ??
    (out.prepared as Record<string, unknown> | undefined)?.stepSeconds ??
    (out.lowered as Record<string, unknown> | undefined)?.stepSeconds ??
    (out.error as { result?: { stepSeconds?: Record<string, number> } } | undefined)?.result?.stepSeconds) as
    Record<string, number> | undefined;
  Object.assign(stepSeconds, seconds ?? {});
  setPhase(`after ${name}`);
  return { code: r.exitCode ?? -1, out, stderr: r.stderr };
}

export async function runDnsDrill(opts: DrillOptions = {}): Promise<DrillResult> {
  const log = opts.log ?? (() => {});
  const site = opts.site ?? SITE;
  const config = writeConfig(opts.proxy, opts.oldStop, site);
  const started = Date.now();
  const store = new DnsStateStore(join(config, '..'), site);
  await restoreLab();
  const phaseSeconds: Record<string, number> = {};
  const stepSeconds: Record<string, number> = {};
  const failures: string[] = [];
  const must = (what: string, r: { code: number; stderr: string; out: Record<string, unknown> }) => {
    if (r.code !== 0)
      throw new Error(`${what} exited ${r.code}: ${JSON.stringify(r.out.error ?? r.out)} ${r.stderr.slice(-2000)}`);
  };
  const clients = startClients({
    resolvingClients: opts.resolvingClients ?? 4,
    pinnedClients: opts.pinnedClients ?? 2,
    resolving6Clients: opts.resolving6Clients ?? 1,
    pinned6Clients: opts.pinned6Clients ?? 1,
    writeEvery: opts.writeEvery ?? 3,
    slowClients: opts.slowClients ?? 0,
    slowMs: opts.slowMs ?? 1500,
    site,
  });
  const steps: StepLog = { config, phaseSeconds, stepSeconds, setPhase: clients.setPhase };
  let reverseFrom: number;
  let cutoverAt = Infinity;
  let completed = false;
  let oldLog: string;
  let synced: string;
  let watchClients: string[] | undefined;
  try {
    if (opts.lowerTtl) {
      must('dns lower-ttl', await step(steps, 'lower-ttl', 'dns', 'lower-ttl', '--to', opts.lowerTtl));
      log(`site TTL lowered to ${opts.lowerTtl}`);
    }
    must('dns plan', await step(steps, 'plan', 'dns', 'plan'));
    log('planned; transitional name created');
    must('dns proxy install', await step(steps, 'proxy install', 'dns', 'proxy', 'install'));
    log('proxy on the side port');
    // Cut-over waits until the transitional name cannot be cached as missing any more.
    for (;;) {
      const r = await step(steps, 'cutover', 'dns', 'cutover');
      // Refused while a cache may still hold the transitional name as missing, or the site under its old TTL.
      if (r.code === 3 && /cached as missing|cached with its old TTL/.test(JSON.stringify(r.out))) {
        await new Promise((res) => setTimeout(res, 1000));
        continue;
      }
      must('dns cutover', r);
      break;
    }
    log('cut over and switched');
    // What the journal says of the migration (cut-over time, cache horizon).
    const state = store.read() as DnsState;
    cutoverAt = Date.parse(state.cutoverAt as string);
    const horizon = new Date(state.horizon as string).getTime();
    await new Promise((res) => setTimeout(res, Math.max(0, horizon - Date.now())));
    clients.unpin(); // past the horizon no cache can hold the old answer any more
    log('horizon passed');
    const t0 = Date.now();
    for (;;) {
      const r = await step(steps, 'finish', 'dns', 'finish');
      if (r.code === 0) {
        const watch = r.out.watch as { perClient?: Array<{ address: string }> } | undefined;
        watchClients = (watch?.perClient ?? []).map((c) => c.address);
        break;
      }
      if (r.code !== 3 || Date.now() - t0 > 60_000) must('dns finish', r);
      await new Promise((res) => setTimeout(res, 1000));
    }
    phaseSeconds['watch until finish'] = (Date.now() - t0) / 1000;
    log('proxy removed');
    reverseFrom = clients.samples.length;
    must('dns rollback', await step(steps, 'rollback', 'dns', 'rollback'));
    log('rolled back');
    completed = true;
  } finally {
    await clients.stop();
    oldLog = (await onHost('old-web.baton.test', ['cat', '/srv/shop-data/writes.log'])).stdout;
    synced = (await onHost('new-web.baton.test', ['cat', '/srv/shop-data/synced-from-old.log'])).stdout;
    // A drill that broke off midway is rolled back by baton first, then the lab is made whole.
    await restoreLab(completed ? undefined : config);
  }
  const forward = clients.samples.slice(0, reverseFrom || clients.samples.length);
  const reverse = clients.samples.slice(reverseFrom || clients.samples.length);
  for (const s of clients.samples.filter((x) => !x.ok).slice(0, 10))
    failures.push(
      `${new Date(s.at).toISOString()} ${s.write ? 'POST' : 'GET'} ${s.path} ${s.error} (${s.client}, ` +
        `during ${s.phase})`,
    );
  return {
    requests: forward.length,
    failed: forward.filter((s) => !s.ok).length,
    writes: forward.filter((s) => s.write && s.ok).length,
    writesOnOldHost: oldLog
      .split('\n')
      .filter(
        (l) =>
          l &&
          Date.parse(l.split(' ')[0] as string) >= cutoverAt &&
          Date.parse(l.split(' ')[0] as string) < (reverse[0]?.at ?? Infinity),
      ).length,
    writesSynced: synced.split('\n').filter((l) => l && Date.parse(l.split(' ')[0] as string) >= started).length,
    viaOldHostAfterCutover: forward.filter((s) => (s.ip === OLD || s.ip === OLD6) && s.at >= cutoverAt).length,
    viaOldHostAfterCutover6: forward.filter((s) => s.ip === OLD6 && s.at >= cutoverAt).length,
    byFamily: {
      ipv4: {
        requests: forward.filter((s) => s.family === 'ipv4').length,
        failed: forward.filter((s) => s.family === 'ipv4' && !s.ok).length,
      },
      ipv6: {
        requests: forward.filter((s) => s.family === 'ipv6').length,
        failed: forward.filter((s) => s.family === 'ipv6' && !s.ok).length,
      },
    },
    resolvedNew6: forward.filter((s) => s.ip === NEW6).length,
    watchClients: watchClients ?? [],
    maxLatencyMs: Math.max(0, ...forward.map((s) => s.ms)),
    stepSeconds,
    phaseSeconds,
    reverse: { requests: reverse.length, failed: reverse.filter((s) => !s.ok).length },
    failures,
  };
}

/** `--name=value` or `--name value`. */
function flag(name: string): string | undefined {
  const args = process.argv.slice(2);
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  const a = args[i] as string;
  return a.includes('=') ? a.slice(a.indexOf('=') + 1) : args[i + 1];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const proxy = (flag('proxy') ?? 'varnish') as DrillOptions['proxy'];
  const runs = Number(flag('runs') ?? 1);
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`--runs must be a whole number from 1 up, not ${flag('runs')}`);
  const log = (l: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${l}\n`);
  const drill: DrillOptions = {
    proxy,
    slowClients: Number(flag('slow-clients') ?? 0),
    ...(process.argv.includes('--hard-stop') && { oldStop: HARD_STOP }),
    ...(flag('lower-ttl') && { lowerTtl: flag('lower-ttl') as string }),
    ...(flag('site') && { site: flag('site') as string }),
    ...(flag('ipv6-clients') !== undefined && {
      resolving6Clients: Number(flag('ipv6-clients')),
      pinned6Clients: Number(flag('ipv6-clients')),
    }),
  };
  if (runs === 1) {
    const result = await runDnsDrill({ ...drill, log });
    process.stdout.write(`${JSON.stringify({ ...drill, ...result }, null, 2)}\n`);
  } else {
    // The migration N times in a row under load: failed per run, and totals.
    const perRun: Array<{
      run: number;
      requests: number;
      failed: number;
      reverseFailed: number;
      /** Of the failed, over IPv6 (and its requests). */
      ipv6?: { requests: number; failed: number };
      writesOnOldHost: number;
      maxLatencyMs?: number;
      cutoverSeconds?: number;
      failures: string[];
      error?: string;
    }> = [];
    for (let run = 1; run <= runs; run++) {
      const r = await runDnsDrill({ ...drill, log: (l) => log(`run ${run}/${runs}: ${l}`) }).catch(
        (err: unknown) => err as Error,
      );
      if (r instanceof Error) {
        // A phase that exited non-zero: the run counts as failed, the next one starts from a restored lab.
        perRun.push({
          run,
          requests: 0,
          failed: 0,
          reverseFailed: 0,
          writesOnOldHost: 0,
          failures: [],
          error: r.message.slice(0, 2000),
        });
        log(`run ${run}/${runs}: ${r.message.slice(0, 300)}`);
        continue;
      }
      perRun.push({
        run,
        requests: r.requests,
        failed: r.failed,
        reverseFailed: r.reverse.failed,
        ipv6: r.byFamily.ipv6,
        writesOnOldHost: r.writesOnOldHost,
        maxLatencyMs: r.maxLatencyMs,
        cutoverSeconds: r.stepSeconds.cutover,
        failures: r.failures,
      });
      log(
        `run ${run}/${runs}: ${r.requests} requests, ${r.failed} failed, ${r.reverse.failed} failed while rolling back`,
      );
    }
    const sum = (f: (r: (typeof perRun)[number]) => number) => perRun.reduce((n, r) => n + f(r), 0);
    const totals = {
      runs,
      requests: sum((r) => r.requests),
      failed: sum((r) => r.failed),
      ipv6Requests: sum((r) => r.ipv6?.requests ?? 0),
      ipv6Failed: sum((r) => r.ipv6?.failed ?? 0),
      reverseFailed: sum((r) => r.reverseFailed),
      writesOnOldHost: sum((r) => r.writesOnOldHost),
      runsWithFailures: perRun.filter((r) => r.failed + r.reverseFailed > 0 || r.error).length,
      runsBrokenOff: perRun.filter((r) => r.error).length,
    };
    const failedPerRun = perRun.map((r) => r.failed + r.reverseFailed);
    process.stdout.write(`${JSON.stringify({ ...drill, failedPerRun, totals, perRun }, null, 2)}\n`);
  }
}
