// The Apache 2.4 mod_proxy_balancer driver. A member's state changes at run time through
// balancer-manager (no restart, so nobody's request is cut), and the same state is written to
// the member's BalancerMember line first, validated by `apachectl configtest`: with
// BalancerPersist Off a later graceful restart rebuilds the workers from that file, so the
// running state and the file never disagree. A refused edit is rolled back before any runtime change.
import { isIP } from 'node:net';
import { ExternalCommandError, OperationFailedError, UserError } from '../errors.js';
import { tail } from '../transport/errors.js';
import type { RunOptions, RunResult, Transport } from '../transport/types.js';
import {
  APACHE_MAX_LOAD_FACTOR,
  apacheConfigTestArgv,
  checkBalancerName,
  curlWithAuth,
  type ManagerAuth,
  managerChangeArgv,
  managerXmlArgv,
  splitChangeAnswer,
  type WorkerChange,
} from './apache-commands.js';
import { checkPath, countLogArgv, escapeEre, parseCounts, REFUSED_BY_TEST, replaceFileArgv } from './balancer-files.js';
import { adminOfFlags, configMembers, sameWorker, setConfigLoadFactors, setConfigState } from './apache-config.js';
import {
  type ApacheAdmin,
  type ApacheMember,
  type ManagerBalancer,
  type ManagerWorker,
  managerCounters,
  memberNameOf,
  memberOf,
  membersOf,
  parseManagerXml,
  dateOfAnswer,
} from './apache-manager.js';
import { balancerConnsArgv, ownedBy, parseSs } from './nginx-commands.js';
import { carriesRequest } from './tcp-busy.js';
import { AccessLogCounts, countsByMember } from './access-log.js';
import {
  type BackendCounters,
  type Balancer,
  type MemberCounters,
  onlyRaised,
  type RaisedCommand,
  type TrafficRead,
  type Weighing,
  type WrittenFile,
} from './types.js';
import { checkKnown, checkWeightValues, weightsNotTaken } from './weights.js';

export interface ApacheOptions {
  /** Balancer name without `balancer://`. */
  balancer: string;
  /** balancer-manager URL as reached from the balancer host. */
  managerUrl: string;
  /** HTTP Basic credentials for the manager, given to curl on its stdin. */
  managerAuth?: ManagerAuth;
  /** File holding `<Proxy balancer://NAME>` and its BalancerMember lines. */
  configFile: string;
  /** apache2ctl (Debian) or apachectl. */
  ctl?: string;
  /** Error log, where Apache records failed attempts at a worker. */
  errorLog?: string;
  /** The public frontend's access log: requests and 5xx answers, members' own included. */
  accessLog?: string;
  timeoutMs?: number;
  /** Raise the configuration test and reload through `sudo -n` (ssh.sudo.balancer; default true). */
  sudo?: boolean;
}

export const DEFAULT_APACHE_CTL = 'apache2ctl';
export const DEFAULT_APACHE_ERROR_LOG = '/var/log/apache2/error.log';
/** The lbmethods that share requests (byrequests) or bytes (bytraffic) in proportion to the load factors. */
const WEIGHED_METHODS = ['byrequests', 'bytraffic'];
/** What `ss -p` calls Apache's processes (Debian, and most other systems). */
const APACHE_PROCESSES = ['apache2', 'httpd'];

export class ApacheBalancer implements Balancer {
  readonly driver = 'apache' as const;
  private readonly balancer: string;
  private readonly managerUrl: string;
  private readonly managerAuth?: ManagerAuth;
  private readonly configFile: string;
  private readonly ctl: string;
  private readonly sudo: boolean;
  private readonly errorLog: string;
  private readonly timeoutMs: number;
  private readonly accessLog?: AccessLogCounts;
  /** The sampler's own count of the access log: counts never shared with the watch's counters(). */
  private readonly sampledLog?: AccessLogCounts;
  /**
   * Requests and 5xx answers per member from the access log (only with balancer.accessLog): each
   * line for the worker its `upstream="%{BALANCER_WORKER_NAME}e"` names (the worker that answered,
   * after any failover), counted from the first read. MemberCountsUnavailable when the lines have
   * no such field.
   */
  readonly memberCounters?: () => Promise<Record<string, MemberCounters>>;
  /** Its access log names only the worker that answered, never one that failed an attempt before it. */
  readonly countsFailedAttempts = false;

  constructor(
    private readonly transport: Transport,
    opts: ApacheOptions,
  ) {
    this.balancer = checkBalancerName(opts.balancer);
    this.managerUrl = opts.managerUrl;
    if (opts.managerAuth) this.managerAuth = opts.managerAuth;
    this.configFile = checkPath('balancer.configFile', opts.configFile);
    this.ctl = opts.ctl ?? DEFAULT_APACHE_CTL;
    this.sudo = opts.sudo ?? true;
    this.errorLog = checkPath('balancer.errorLog', opts.errorLog ?? DEFAULT_APACHE_ERROR_LOG);
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    if (opts.accessLog !== undefined) {
      this.accessLog = new AccessLogCounts(transport, opts.accessLog, this.timeoutMs);
      this.sampledLog = new AccessLogCounts(transport, opts.accessLog, this.timeoutMs);
      const memberLog = new AccessLogCounts(transport, opts.accessLog, this.timeoutMs, true);
      this.memberCounters = async () => {
        const [b, read] = await Promise.all([this.readManager(), memberLog.readUpstreams()]);
        return countsByMember(
          read,
          (worker) => {
            const w = b.workers.find((x) => sameWorker(x.url, worker));
            return w && memberNameOf(w);
          },
          { file: memberLog.file, host: transport.host, field: '%{BALANCER_WORKER_NAME}e' },
        );
      };
    }
  }

  async members(): Promise<ApacheMember[]> {
    return membersOf(await this.readManager());
  }

  /** Drain is `+N` (Drn): no new requests, in-flight ones finish. */
  drain(names: readonly string[]): Promise<void> {
    return this.setState(names, 'drain');
  }

  ready(names: readonly string[]): Promise<void> {
    return this.setState(names, 'ready');
  }

  /** Take members out entirely (`+D`, disabled). */
  maint(names: readonly string[]): Promise<void> {
    return this.setState(names, 'maint');
  }

  /** mod_proxy_balancer has no way to end one worker's requests in flight short of stopping Apache. */
  async cutOff(names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    throw new OperationFailedError(
      `apache on ${this.transport.host} cannot cut the requests in flight on ${names.join(', ')}: ` +
        'mod_proxy_balancer has no per-member cut-off',
      'partway',
      'raise balancer.drainTimeout so the requests can finish, and leave cutOffAfterDrainTimeout off for apache',
    );
  }

  /**
   * Requests in flight per member: the manager's `busy` count, capped by the connections Apache
   * holds open to that member right now. A request in flight always holds one, while `busy` can
   * drift: measured in the lab, a worker kept busy=1 with no Apache connection to it after a run
   * under load, which would have held its drain until the timeout.
   */
  async sessions(names: readonly string[]): Promise<Record<string, number>> {
    const members = await this.members();
    const held = await this.held(names.map((n) => this.find(members, n)));
    return Object.fromEntries(names.map((n, i) => [n, held[i] as number]));
  }

  /**
   * Each member's busy count capped by the connections to it that carry a request (one `ss`): the
   * count is known to stick above 0, and an idle pooled connection lives as long as the backend's
   * keep-alive, so neither alone says when the last request ended. Connections are Apache's where
   * `ss` shows their process (root); a deploy user sees no process and counts every one from this host.
   * A member named by host name keeps its busy count.
   */
  private async held(wanted: readonly ApacheMember[]): Promise<number[]> {
    // A worker named by host name cannot be matched to ss's addresses: its busy count stands alone.
    const byAddress = wanted.filter((m) => isIP(m.address) !== 0);
    const conns =
      byAddress.length === 0
        ? []
        : parseSs(
            (
              await this.transport.run(
                balancerConnsArgv(byAddress.map((m) => ({ address: m.address, port: m.port ?? 80 }))),
                { timeoutMs: this.timeoutMs },
              )
            ).stdout,
          );
    return wanted.map((m) => {
      if (isIP(m.address) === 0) return m.sessions;
      const held = conns.filter(
        (c) =>
          ownedBy(c, APACHE_PROCESSES) &&
          c.peer.address === m.address &&
          c.peer.port === (m.port ?? 80) &&
          carriesRequest(c, 'balancer'),
      ).length;
      return Math.min(m.sessions, held);
    });
  }

  /**
   * With an access log: requests and 5xx answers (members' own included) from it, counted from
   * this driver's first read. Without: requests are elections (attempts at a worker) and http5xx
   * only the balancer's "All workers are in error state" answers (503): Apache counts its
   * members' own 5xx answers nowhere else. retries: the workers' retry counts (tries after an
   * error-state rest); redispatches: failed connection attempts at this balancer's workers in
   * the error log (AH00957; each sends the request to another worker, up to maxattempts).
   */
  async counters(): Promise<BackendCounters> {
    const [b, logged] = await Promise.all([this.readManager(), this.accessLog?.read()]);
    const addrs = b.workers.map((w) => escapeEre(`${w.hostname}:${w.port ?? 80}`));
    const patterns = [
      `AH00957: .*attempt to connect to (${addrs.join('|')}) `,
      `balancer://${escapeEre(this.balancer)}: All workers are in error state`,
    ];
    const r = await this.transport.run(countLogArgv(this.errorLog, patterns), { timeoutMs: this.timeoutMs });
    const [redispatches, unavailable] = parseCounts(r.stdout, 2) as [number, number];
    return { ...managerCounters(b), redispatches, http5xx: unavailable, ...logged };
  }

  /**
   * One balancer-manager read: members, and requests as elections; then their busy counts capped
   * as sessions() does (a second round trip: busy alone can stay 1 on a drained worker). With an
   * access log, requests and 5xx from what was appended to it since the last sample (beside the
   * manager read); without, no 5xx: the error-log scan counters() does is too costly every tick.
   */
  async sample(): Promise<TrafficRead> {
    const [b, logged] = await Promise.all([this.readManager(), this.sampledLog?.read()]);
    const members = membersOf(b);
    const held = await this.held(members);
    return {
      members: members.map((m, i) => ({ ...m, sessions: held[i] as number })),
      requests: managerCounters(b).requests,
      ...logged,
    };
  }

  writtenFiles(): WrittenFile[] {
    return [{ host: this.transport.host, path: this.configFile, what: 'balancer.configFile' }];
  }

  raisedCommands(): RaisedCommand[] {
    return onlyRaised(this.transport.host, [apacheConfigTestArgv(this.ctl, this.sudo)]);
  }

  async configTest(): Promise<void> {
    const argv = apacheConfigTestArgv(this.ctl, this.sudo);
    const r = await this.transport.run(argv, { allowFailure: true, timeoutMs: this.timeoutMs });
    if (r.code !== 0)
      throw new ExternalCommandError(this.transport.host, argv, r.code, tail(`${r.stdout}\n${r.stderr}`));
  }

  /** The state each member's BalancerMember line gives it: what a graceful restart would bring back. */
  async persisted(): Promise<Record<string, ApacheAdmin>> {
    const [b, text] = await Promise.all([this.readManager(), this.readConfig()]);
    const lines = this.configLines(text);
    const out: Record<string, ApacheAdmin> = {};
    for (const w of b.workers) {
      const line = lines.find((l) => sameWorker(l.workerUrl, w.url));
      if (line) out[w.route || w.url] = adminOfFlags(line.flags);
    }
    return out;
  }

  /**
   * Write the state to the config file (validated, rolled back if refused), then set it through
   * balancer-manager and read it back in the same round trip. If the manager did not take it,
   * the file goes back to what it was, so the two never disagree.
   */
  private async setState(names: readonly string[], admin: ApacheAdmin): Promise<void> {
    if (names.length === 0) return;
    const [b, text] = await Promise.all([this.readManager(), this.readConfig()]);
    const members = membersOf(b);
    const urls = names.map((n) => this.find(members, n).workerUrl);
    this.configLines(text);
    await this.changeBoth(
      `state ${admin}`,
      b.nonce,
      text,
      setConfigState(text, this.balancer, urls, admin),
      names,
      urls.map((workerUrl) => ({ workerUrl, flags: { N: admin === 'drain', D: admin === 'maint', S: false } })),
      (after) =>
        names.flatMap((n) => {
          const m = memberOf(this.findWorker(after, n), after.now);
          return m.admin === admin ? [] : [`${n}: reads back ${m.admin} (${m.status.join(' ')})`];
        }),
    );
  }

  /**
   * Load factors (`lbfactor`), 1-100: balancer-manager's range, in whole numbers; setWeights refuses a balancer whose
   * lbmethod ignores them.
   */
  weighing(): Weighing {
    return { can: true, min: 1, max: APACHE_MAX_LOAD_FACTOR };
  }

  /** Each worker's load factor as the running Apache holds it. */
  async weights(): Promise<Record<string, number>> {
    return Object.fromEntries((await this.readManager()).workers.map((w) => [memberNameOf(w), w.loadFactor]));
  }

  /**
   * The load factors into the BalancerMember lines (`loadfactor=`, validated, rolled back if
   * refused), then through balancer-manager (`w_lf`), read back in the same round trip, like a
   * state change: a graceful restart keeps them, and the file goes back when the manager did not
   * take them.
   */
  async setWeights(weights: Readonly<Record<string, number>>): Promise<void> {
    const where = `apache balancer ${this.balancer} on ${this.transport.host}`;
    const asked = checkWeightValues(where, this.weighing(), weights);
    if (asked.length === 0) return;
    const [b, text] = await Promise.all([this.readManager(), this.readConfig()]);
    // bybusyness weighs only between equally busy workers, heartbeat not at all: no share would follow.
    if (b.lbmethod !== undefined && !WEIGHED_METHODS.includes(b.lbmethod))
      throw new UserError(
        `${where} uses lbmethod=${b.lbmethod}, which does not share requests by load factor: ` +
          'a weight would not set a share',
        `use lbmethod=byrequests for balancer://${this.balancer}: ` +
          `\`ProxySet lbmethod=byrequests\` in its <Proxy> block`,
      );
    const members = membersOf(b);
    const lookup = (n: string) => members.find((x) => x.name === n) ?? members.find((x) => sameWorker(x.workerUrl, n));
    checkKnown(
      where,
      asked.map(([n]) => n),
      (n) => lookup(n) !== undefined,
      members.map((m) => m.name),
    );
    this.configLines(text);
    const factors = asked.map(([n, loadFactor]) => ({ workerUrl: (lookup(n) as ApacheMember).workerUrl, loadFactor }));
    await this.changeBoth(
      'the load factors',
      b.nonce,
      text,
      setConfigLoadFactors(text, this.balancer, factors),
      asked.map(([n]) => n),
      factors,
      (after) => weightsNotTaken(asked, (n) => this.findWorker(after, n).loadFactor),
    );
  }

  /**
   * One change to the file and the manager: the file edited first (when it changes), then the
   * manager's change (one per member of `names`) and its read-back in one round trip; `wrong` says
   * which member did not read back as asked. Anything wrong puts the file back, so the two never disagree.
   */
  private async changeBoth(
    what: string,
    nonce: string,
    text: string,
    edit: { text: string; changed: boolean; missing: string[] },
    names: readonly string[],
    changes: readonly WorkerChange[],
    wrong: (after: ManagerBalancer) => string[],
  ): Promise<void> {
    if (edit.missing.length > 0) {
      throw new UserError(
        `${this.configFile} on ${this.transport.host} has no BalancerMember line ` +
          `for ${edit.missing.join(', ')} in <Proxy balancer://${this.balancer}>`,
        'baton keeps member state in the BalancerMember lines: ' +
          'point balancer.configFile at the file that defines the balancer',
      );
    }
    if (edit.changed) await this.writeConfig(edit.text);
    let problems: string[];
    try {
      const r = await this.manager(managerChangeArgv(this.managerUrl, this.balancer, nonce, changes), {
        timeoutMs: this.timeoutMs,
      });
      const { codes, xml } = splitChangeAnswer(r.stdout);
      const refused = names.flatMap((n, i) =>
        codes[i] === 200 ? [] : [`${n}: balancer-manager answered ${codes[i] ?? 'nothing'}`],
      );
      problems = refused.length > 0 ? refused : wrong(this.pick(parseManagerXml(xml)));
    } catch (err) {
      problems = [`balancer-manager: ${(err as Error).message}`];
    }
    if (problems.length > 0) {
      if (edit.changed) await this.writeConfig(text);
      throw new OperationFailedError(
        `apache on ${this.transport.host}: balancer ${this.balancer} did not take ${what}: ${problems.join('; ')}`,
        'partway',
        `${this.configFile} was put back as it was; check the members on ${this.managerUrl}`,
      );
    }
  }

  /** Replace the config file and validate it; a refused file is put back before this throws. */
  private async writeConfig(text: string): Promise<void> {
    const argv = replaceFileArgv(this.configFile, apacheConfigTestArgv(this.ctl, this.sudo));
    const r = await this.transport.run(argv, { stdin: text, allowFailure: true, timeoutMs: this.timeoutMs });
    if (r.code === REFUSED_BY_TEST) {
      throw new OperationFailedError(
        `apache on ${this.transport.host}: ${this.ctl} configtest refused the edited ${this.configFile}, ` +
          `so nothing changed (the previous file is back, the running server untouched):\n${tail(r.stderr)}`,
        'unchanged',
        `fix what configtest reports in the Apache configuration, then run again`,
      );
    }
    if (r.code !== 0) throw new ExternalCommandError(this.transport.host, argv.slice(0, 2), r.code, tail(r.stderr));
  }

  private configLines(text: string) {
    const lines = configMembers(text, this.balancer);
    if (!lines) {
      throw new UserError(
        `${this.configFile} on ${this.transport.host} has no <Proxy balancer://${this.balancer}> block`,
        'point balancer.configFile at the file that defines the balancer and its BalancerMember lines',
      );
    }
    return lines;
  }

  private async readConfig(): Promise<string> {
    return (await this.transport.run(['cat', '--', this.configFile], { timeoutMs: this.timeoutMs })).stdout;
  }

  private async readManager(): Promise<ManagerBalancer> {
    const r = await this.manager(managerXmlArgv(this.managerUrl, this.balancer), {
      timeoutMs: this.timeoutMs,
      allowFailure: true,
    });
    if (r.code !== 0) {
      const checkAuth = this.managerAuth
        ? ' and balancer.managerAuth'
        : ', and balancer.managerAuth if it asks for a password (401)';
      throw new UserError(
        `balancer-manager ${this.managerUrl} on ${this.transport.host} ` +
          `did not answer: ${tail(r.stderr) || `curl exit ${r.code}`}`,
        'check balancer.managerUrl (as reached from the balancer host), ' +
          `that the manager allows that address${checkAuth}`,
      );
    }
    let all: ManagerBalancer[];
    // Apache's clock, for how long a worker in error still rests (the local clock if no Date came).
    const now = dateOfAnswer(r.stdout) ?? Date.now();
    try {
      all = parseManagerXml(r.stdout).map((b) => ({ ...b, now }));
    } catch (err) {
      throw new UserError(
        `balancer-manager ${this.managerUrl} on ${this.transport.host}: ${(err as Error).message}`,
        'check balancer.managerUrl',
      );
    }
    return this.pick(all);
  }

  /** A manager request through curl, its credentials (if any) on curl's stdin. */
  private manager(argv: string[], opts: RunOptions): Promise<RunResult> {
    if (!this.managerAuth) return this.transport.run(argv, opts);
    const withAuth = curlWithAuth(argv, this.managerAuth);
    return this.transport.run(withAuth.argv, { ...opts, stdin: withAuth.stdin });
  }

  private pick(all: readonly ManagerBalancer[]): ManagerBalancer {
    const b = all.find((x) => x.name === this.balancer);
    if (!b) {
      throw new UserError(
        `balancer-manager on ${this.transport.host} has no balancer://${this.balancer}: ` +
          `it has ${all.map((x) => x.name).join(', ') || 'none'}`,
        'fix balancer.backend in baton.yml',
      );
    }
    return b;
  }

  /** A worker of a manager read by member name (route) or URL; one missing is an error naming the members. */
  private findWorker(b: ManagerBalancer, name: string): ManagerWorker {
    const members = membersOf(b);
    return b.workers[members.indexOf(this.find(members, name))] as ManagerWorker;
  }

  private find(members: readonly ApacheMember[], name: string): ApacheMember {
    const m = members.find((x) => x.name === name) ?? members.find((x) => sameWorker(x.workerUrl, name));
    if (!m) {
      throw new OperationFailedError(
        `apache balancer ${this.balancer} on ${this.transport.host} has no member ${name}: ` +
          `members are ${members.map((x) => x.name).join(', ') || '(none)'}`,
        'partway',
      );
    }
    return m;
  }
}
