// The nginx 1.22 driver. No runtime API and no drain flag: a member leaves the pool by gaining
// `down` in the upstream file, validated with `nginx -t` (a refused file is put back, nothing
// reloaded), then `nginx -s reload`; new workers never send to it, old workers finish what they
// hold. Drain completion is read on the drained hosts themselves: connections to the app's port
// from the balancer that the balancer's other processes do not own — never a sleep.
import { ExternalCommandError, OperationFailedError, UserError } from '../errors.js';
import { tail } from '../transport/errors.js';
import type { Transport } from '../transport/types.js';
import { checkPath, REFUSED_BY_TEST, replaceFileArgv } from './balancer-files.js';
import {
  checkUpstreamName,
  nginxReloadArgv,
  nginxTestArgv,
  type NginxWorker,
  parseWorkers,
  workersArgv,
  workersPredateFile,
  workersVsFileArgv,
} from './nginx-commands.js';
import { DEFAULT_NGINX_ERROR_LOG, DEFAULT_NGINX_PID_FILE, NginxTraffic } from './nginx-traffic.js';
import { findServer, setDown, type UpstreamServer, upstreamServers } from './nginx-upstream.js';
import {
  type BackendCounters,
  type Balancer,
  type Member,
  type MemberCounters,
  onlyRaised,
  type RaisedCommand,
  type TrafficRead,
  type Weighing,
  type WrittenFile,
} from './types.js';
import { checkWeightValues } from './weights.js';

export interface NginxOptions {
  upstream: string;
  /** File on the balancer host holding the `upstream` block. */
  upstreamFile: string;
  /** The nginx binary (`-t`, `-s reload`). */
  nginx?: string;
  pidFile?: string;
  errorLog?: string;
  /** A stub_status URL as reached from the balancer host: the only request count nginx keeps. */
  statusUrl?: string;
  /** The public frontend's access log: requests and 5xx answers, members' own included. */
  accessLog?: string;
  /** The transport of the app host behind a member, to read its connections. */
  appTransport: (member: Member) => Promise<Transport>;
  /** How long a reload may take to start new workers. */
  reloadTimeoutMs?: number;
  timeoutMs?: number;
  /** Raise the configuration test and reload through `sudo -n` (ssh.sudo.balancer; default true). */
  sudo?: boolean;
}

export { DEFAULT_NGINX_ERROR_LOG, DEFAULT_NGINX_PID_FILE };

/** A member of an nginx upstream: `down` in the file reads as drain. */
export interface NginxMember extends Member {
  down: boolean;
}

export class NginxBalancer implements Balancer {
  readonly driver = 'nginx' as const;
  private readonly upstream: string;
  private readonly file: string;
  private readonly nginx: string;
  private readonly sudo: boolean;
  private readonly pidFile: string;
  private readonly errorLog: string;
  private readonly timeoutMs: number;
  private readonly reloadTimeoutMs: number;
  private readonly traffic: NginxTraffic;
  /** Per member from the access log's upstream field; only with balancer.accessLog (NginxTraffic.memberCounters). */
  readonly memberCounters?: () => Promise<Record<string, MemberCounters>>;
  /** The access log's upstream field lists every member a request tried: each but the last failed it. */
  readonly countsFailedAttempts?: boolean;

  constructor(
    private readonly transport: Transport,
    private readonly opts: NginxOptions,
  ) {
    this.upstream = checkUpstreamName(opts.upstream);
    this.file = checkPath('balancer.upstreamFile', opts.upstreamFile);
    this.nginx = opts.nginx ?? 'nginx';
    this.sudo = opts.sudo ?? true;
    this.pidFile = opts.pidFile ?? DEFAULT_NGINX_PID_FILE;
    this.errorLog = opts.errorLog ?? DEFAULT_NGINX_ERROR_LOG;
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    this.reloadTimeoutMs = opts.reloadTimeoutMs ?? 10_000;
    this.traffic = new NginxTraffic(transport, {
      upstream: this.upstream,
      nginx: this.nginx,
      sudo: this.sudo,
      errorLog: this.errorLog,
      ...(opts.statusUrl !== undefined ? { statusUrl: opts.statusUrl } : {}),
      ...(opts.accessLog !== undefined ? { accessLog: opts.accessLog } : {}),
      appTransport: opts.appTransport,
      timeoutMs: this.timeoutMs,
    });
    if (this.traffic.countsMembers) {
      this.memberCounters = async () => this.traffic.memberCounters(await this.servers());
      this.countsFailedAttempts = true;
    }
  }

  /** Whether counters() has a request count (only with a stub_status URL or an access log). */
  get countsRequests(): boolean {
    return this.traffic.countsRequests;
  }

  /**
   * Members from the file, with nginx's own connections to each as its sessions (seen on the
   * balancer; sessions() also asks the hosts). nginx open source has no health view of its own:
   * `healthy` is left out rather than guessed.
   */
  async members(): Promise<NginxMember[]> {
    const servers = await this.servers();
    const conns = await this.traffic.balancerConns(servers.map((s) => this.memberOf(s, 0)));
    return servers.map((s) => this.memberOf(s, NginxTraffic.nginxConnsTo(conns, this.memberOf(s, 0))));
  }

  drain(names: readonly string[]): Promise<void> {
    return this.change([], names);
  }

  ready(names: readonly string[]): Promise<void> {
    return this.change(names, []);
  }

  /**
   * Return `ready` to the pool and drain `drain` in one edit and one reload: every reload resets
   * requests racing the old workers' exit (nginx < 1.27.4), so a flip costs one reload, not two.
   */
  switchPool(ready: readonly string[], drain: readonly string[]): Promise<void> {
    return this.change(ready, drain);
  }

  /**
   * nginx cannot end one server's requests: this ends the old workers still finishing requests
   * after the reload (SIGTERM: fast shutdown), which cuts whatever they still hold.
   */
  async cutOff(names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    const old = (await this.workers()).workers.filter((w) => w.shuttingDown);
    if (old.length === 0) return;
    await this.transport.run(['kill', '-TERM', ...old.map((w) => String(w.pid))], { timeoutMs: this.timeoutMs });
  }

  /** Every weight change here would be a reload (each one resets requests racing the old workers' exit). */
  weighing(): Weighing {
    return {
      can: false,
      reason:
        'nginx in mode: file cannot weigh members; use mode: lua (in mode: file every change is a reload, ' +
        'which a canary step would repeat)',
    };
  }

  /** The `weight=` of each server line (1 where it has none): what nginx serves once a reload has taken. */
  async weights(): Promise<Record<string, number>> {
    return Object.fromEntries(
      (await this.servers()).map((s) => {
        const w = Number(/^weight=(\d+)$/.exec(s.params.find((p) => p.startsWith('weight=')) ?? '')?.[1] ?? 1);
        return [s.name, w];
      }),
    );
  }

  async setWeights(weights: Readonly<Record<string, number>>): Promise<void> {
    checkWeightValues(`nginx upstream ${this.upstream} on ${this.transport.host}`, this.weighing(), weights);
  }

  /** Connections in flight on each drained member, read on its own host (see NginxTraffic.hostSessions). */
  async sessions(names: readonly string[]): Promise<Record<string, number>> {
    if (names.length === 0) return {};
    const servers = await this.servers();
    const wanted = names.map((n) => {
      const s = findServer(servers, n);
      if (!s) throw this.noSuchMember(n, servers);
      return this.memberOf(s, 0);
    });
    const counts = await this.traffic.hostSessions(wanted);
    return Object.fromEntries(names.map((n, i) => [n, counts[i] as number]));
  }

  /**
   * redispatches: failed attempts at this upstream's servers in the error log (with
   * proxy_next_upstream each went to the next server); retries: 0 (nginx never retries the same
   * server). With an access log, requests and 5xx answers (members' own included) come from it,
   * counted from this driver's first read. Without: http5xx is only "no live upstreams" (502),
   * and requests stub_status's total when statusUrl is set (all of nginx, not one upstream),
   * else 0 — nginx keeps no other count.
   */
  async counters(): Promise<BackendCounters> {
    return this.traffic.counters(await this.servers());
  }

  /**
   * members() (the upstream file, then nginx's connections: two round trips), and beside it the
   * access log's appended lines (requests, 5xx) or else stub_status's request total. No error-log
   * scan: too costly every tick. Neither configured: no counts at all, rather than zeros.
   */
  async sample(): Promise<TrafficRead> {
    const [members, counts] = await Promise.all([this.members(), this.traffic.sampledCounts()]);
    return { members, ...counts };
  }

  writtenFiles(): WrittenFile[] {
    return [{ host: this.transport.host, path: this.file, what: 'balancer.upstreamFile' }];
  }

  raisedCommands(): RaisedCommand[] {
    return onlyRaised(this.transport.host, [
      nginxTestArgv(this.nginx, this.sudo),
      nginxReloadArgv(this.nginx, this.sudo),
    ]);
  }

  configTest(): Promise<void> {
    return this.traffic.configTest();
  }

  /** The upstream as the file says it: what the running nginx serves once a reload has taken. */
  async servers(): Promise<UpstreamServer[]> {
    const text = await this.readFile();
    return this.parse(text);
  }

  /** The master's workers; old ones are shutting down. */
  async workers(): Promise<{ master: number; workers: NginxWorker[] }> {
    const r = await this.transport.run(workersArgv(this.pidFile), { timeoutMs: this.timeoutMs, allowFailure: true });
    if (r.code !== 0)
      throw new UserError(
        `nginx on ${this.transport.host}: cannot read its master from ${this.pidFile}: ${tail(r.stderr)}`,
        'is nginx running? check balancer.pidFile',
      );
    return parseWorkers(r.stdout);
  }

  /**
   * Edit the file (validated; put back if refused), reload, and wait until the master runs new
   * workers and every old one is shutting down: only then does nginx route by the new file.
   * If the reload does not take, the old file goes back so file and running nginx agree. A file
   * already as asked is reloaded only if the running workers predate it (a run killed between
   * writing the file and reloading, now resumed).
   */
  private async change(ready: readonly string[], drain: readonly string[]): Promise<void> {
    const names = [...ready, ...drain];
    if (names.length === 0) return;
    const text = await this.readFile();
    const servers = this.parse(text);
    for (const n of names) if (!findServer(servers, n)) throw this.noSuchMember(n, servers);
    const up = setDown(text, this.upstream, ready, false);
    const edit = setDown(up.text, this.upstream, drain, true);
    const what = [ready.length ? `${ready.join(', ')} up` : '', drain.length ? `${drain.join(', ')} down` : '']
      .filter(Boolean)
      .join(', ');
    if (!up.changed && !edit.changed) {
      if (!(await this.runningPredatesFile())) return;
      await this.reload(what, undefined);
      return;
    }
    await this.writeFile(edit.text);
    await this.reload(what, text);
  }

  /** Reload and wait for new workers; on failure put `previous` back (when the file was just written). */
  private async reload(what: string, previous: string | undefined): Promise<void> {
    try {
      const before = await this.workers();
      const r = await this.transport.run(nginxReloadArgv(this.nginx, this.sudo), {
        allowFailure: true,
        timeoutMs: this.timeoutMs,
      });
      if (r.code !== 0) throw new Error(`nginx -s reload exited ${r.code}: ${tail(r.stderr)}`);
      await this.waitForNewWorkers(before.workers.map((w) => w.pid));
    } catch (err) {
      if (previous !== undefined) await this.writeFile(previous).catch(() => undefined);
      throw new OperationFailedError(
        `nginx on ${this.transport.host} did not take the change to ` +
          `upstream ${this.upstream} (${what}): ${(err as Error).message}`,
        'partway',
        previous !== undefined
          ? `${this.file} was put back as it was; check nginx's error log and reload it by hand if needed`
          : `check nginx's error log and reload it by hand (${this.file} already says ${what})`,
      );
    }
  }

  private async runningPredatesFile(): Promise<boolean> {
    const r = await this.transport.run(workersVsFileArgv(this.pidFile, this.file), { timeoutMs: this.timeoutMs });
    return workersPredateFile(r.stdout);
  }

  private async waitForNewWorkers(oldPids: readonly number[]): Promise<void> {
    const deadline = Date.now() + this.reloadTimeoutMs;
    for (;;) {
      const { workers } = await this.workers();
      const fresh = workers.filter((w) => !oldPids.includes(w.pid));
      const oldServing = workers.filter((w) => oldPids.includes(w.pid) && !w.shuttingDown);
      if (fresh.length > 0 && fresh.every((w) => !w.shuttingDown) && oldServing.length === 0) return;
      if (Date.now() > deadline) {
        const seen = workers.map((w) => `${w.pid}${w.shuttingDown ? ' shutting down' : ''}`).join(', ') || 'none';
        throw new Error(`no new workers after ${this.reloadTimeoutMs} ms (workers: ${seen})`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async writeFile(text: string): Promise<void> {
    const argv = replaceFileArgv(this.file, nginxTestArgv(this.nginx, this.sudo));
    const r = await this.transport.run(argv, { stdin: text, allowFailure: true, timeoutMs: this.timeoutMs });
    if (r.code === REFUSED_BY_TEST) {
      throw new OperationFailedError(
        `nginx on ${this.transport.host}: nginx -t refused the edited ${this.file}, ` +
          `so nothing changed (the previous file is back, nothing reloaded):\n${tail(r.stderr)}`,
        'unchanged',
        'fix what nginx -t reports, then run again',
      );
    }
    if (r.code !== 0) throw new ExternalCommandError(this.transport.host, argv.slice(0, 2), r.code, tail(r.stderr));
  }

  private async readFile(): Promise<string> {
    return (await this.transport.run(['cat', '--', this.file], { timeoutMs: this.timeoutMs })).stdout;
  }

  private parse(text: string): UpstreamServer[] {
    const servers = upstreamServers(text, this.upstream);
    if (!servers) {
      throw new UserError(
        `${this.file} on ${this.transport.host} has no \`upstream ${this.upstream} {\` block`,
        'fix balancer.upstreamFile or balancer.backend in baton.yml',
      );
    }
    return servers;
  }

  private memberOf(s: UpstreamServer, sessions: number): NginxMember {
    return {
      name: s.name,
      address: s.address,
      ...(s.port !== undefined ? { port: s.port } : {}),
      state: s.down ? 'drain' : 'ready',
      sessions,
      queued: 0,
      down: s.down,
    };
  }

  private noSuchMember(name: string, servers: readonly UpstreamServer[]): Error {
    return new OperationFailedError(
      `nginx upstream ${this.upstream} on ${this.transport.host} has no server ${name}: ` +
        `servers are ${servers.map((s) => s.name).join(', ') || '(none)'}`,
      'partway',
    );
  }
}
