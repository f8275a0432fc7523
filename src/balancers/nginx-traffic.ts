// What both nginx modes (file + reload, lua without reloads) read the same way: request counts
// (access log, stub_status, error log), the connections nginx holds to members as seen on the
// balancer and on the members' own hosts, and `nginx -t`. Only how the pool changes differs.
import { ExternalCommandError } from '../errors.js';
import { tail } from '../transport/errors.js';
import type { Transport } from '../transport/types.js';
import { AccessLogCounts, countsByMember } from './access-log.js';
import { countLogArgv, parseCounts } from './balancer-files.js';
import {
  appConnsArgv,
  balancerConnsArgv,
  type Connection,
  type Endpoint,
  failedAttemptPattern,
  key,
  nginxTestArgv,
  noLiveUpstreamsPattern,
  ownedBy,
  parseSs,
  parseStubStatus,
  stubStatusArgv,
} from './nginx-commands.js';
import { carriesRequest } from './tcp-busy.js';
import { type BackendCounters, type Member, type MemberCounters, onlyRaised, type RaisedCommand } from './types.js';

export const DEFAULT_NGINX_PID_FILE = '/run/nginx.pid';
export const DEFAULT_NGINX_ERROR_LOG = '/var/log/nginx/error.log';

export interface NginxTrafficOptions {
  upstream: string;
  /** The nginx binary (`-t`). */
  nginx: string;
  /** Raise `nginx -t` through `sudo -n`. */
  sudo: boolean;
  errorLog: string;
  /** A stub_status URL as reached from the balancer host: the only request count nginx keeps. */
  statusUrl?: string;
  /** The public frontend's access log: requests and 5xx answers, members' own included. */
  accessLog?: string;
  /** The transport of the app host behind a member, to read its connections. */
  appTransport: (member: Member) => Promise<Transport>;
  timeoutMs: number;
  /**
   * Error-log lines where nginx had no member left (answered 502); default: nginx's own "no live upstreams" for this
   * upstream.
   */
  noMemberLeftPattern?: string;
}

/** A member as nginx reaches it (port 80 when the upstream leaves it out). */
export type MemberEndpoint = Pick<Member, 'name' | 'address' | 'port'>;

export class NginxTraffic {
  private balancerAddresses?: Promise<string[]>;
  private readonly accessLog?: AccessLogCounts;
  /** The sampler's own count of the access log: counts never shared with the watch's counters(). */
  private readonly sampledLog?: AccessLogCounts;
  /** The canary's count of the access log, per upstream. */
  private readonly memberLog?: AccessLogCounts;

  constructor(
    private readonly transport: Transport,
    private readonly opts: NginxTrafficOptions,
  ) {
    if (opts.accessLog !== undefined) {
      this.accessLog = new AccessLogCounts(transport, opts.accessLog, opts.timeoutMs);
      this.sampledLog = new AccessLogCounts(transport, opts.accessLog, opts.timeoutMs);
      this.memberLog = new AccessLogCounts(transport, opts.accessLog, opts.timeoutMs, true);
    }
  }

  /** Whether memberCounters() can count (only with an access log). */
  get countsMembers(): boolean {
    return this.memberLog !== undefined;
  }

  /**
   * Requests and 5xx answers per member from the access log, counted from the first read: each
   * line for the member its `upstream="$upstream_addr"` names (the last address of a retried
   * request, the one that answered), matched on address:port, and a failed attempt for each
   * address before it. MemberCountsUnavailable when the lines have no such field.
   */
  async memberCounters(members: readonly MemberEndpoint[]): Promise<Record<string, MemberCounters>> {
    if (!this.memberLog) throw new Error('memberCounters() needs balancer.accessLog');
    const read = await this.memberLog.readUpstreams();
    return countsByMember(
      read,
      (upstream) => members.find((m) => `${m.address}:${m.port ?? 80}` === upstream || m.name === upstream)?.name,
      { file: this.memberLog.file, host: this.transport.host, field: '$upstream_addr' },
      true,
    );
  }

  /** Whether counters() has a request count (only with a stub_status URL or an access log). */
  get countsRequests(): boolean {
    return this.opts.statusUrl !== undefined || this.accessLog !== undefined;
  }

  /**
   * redispatches: failed attempts at these members in the error log (each went to the next
   * member); retries: 0 (nginx never retries the same member). With an access log, requests and
   * 5xx answers (members' own included) come from it, counted from the first read. Without:
   * http5xx is only "no member left" (502), and requests stub_status's total when statusUrl
   * is set (all of nginx, not one upstream), else 0 — nginx keeps no other count.
   */
  async counters(members: readonly MemberEndpoint[]): Promise<BackendCounters> {
    const [logs, status, logged] = await Promise.all([
      this.transport.run(
        countLogArgv(this.opts.errorLog, [
          failedAttemptPattern(members.map(endpointOf)),
          this.opts.noMemberLeftPattern ?? noLiveUpstreamsPattern(this.opts.upstream),
        ]),
        { timeoutMs: this.opts.timeoutMs },
      ),
      this.opts.statusUrl === undefined || this.accessLog
        ? undefined
        : this.transport.run(stubStatusArgv(this.opts.statusUrl), { timeoutMs: this.opts.timeoutMs }),
      this.accessLog?.read(),
    ]);
    const [failed, noneLeft] = parseCounts(logs.stdout, 2) as [number, number];
    return {
      requests: status ? parseStubStatus(status.stdout).requests : 0,
      http5xx: noneLeft,
      redispatches: failed,
      retries: 0,
      ...logged,
    };
  }

  /**
   * The access log's appended lines (requests, 5xx) or else stub_status's total; neither configured: no counts rather
   * than zeros.
   */
  async sampledCounts(): Promise<{ requests?: number; http5xx?: number } | undefined> {
    if (this.sampledLog) return this.sampledLog.read();
    if (this.opts.statusUrl === undefined) return undefined;
    const r = await this.transport.run(stubStatusArgv(this.opts.statusUrl), { timeoutMs: this.opts.timeoutMs });
    return { requests: parseStubStatus(r.stdout).requests };
  }

  /** Established connections from the balancer host to these members, with their owning processes. */
  async balancerConns(members: readonly MemberEndpoint[]): Promise<Connection[]> {
    if (members.length === 0) return [];
    const r = await this.transport.run(balancerConnsArgv(members.map(endpointOf)), { timeoutMs: this.opts.timeoutMs });
    return parseSs(r.stdout);
  }

  /** nginx's own connections to one member among those balancerConns read. */
  static nginxConnsTo(conns: readonly Connection[], m: MemberEndpoint): number {
    return conns.filter((c) => c.processes.includes('nginx') && sameEndpoint(c.peer, m)).length;
  }

  /**
   * Requests in flight on each member, read from its own host: established connections to the
   * member's port from the balancer that carry a request (TCP timers: an idle pooled keep-alive
   * connection does not count, however long the backend keeps it), minus those the balancer shows
   * owned by another process (HAProxy or Apache beside nginx, where `ss` can show processes);
   * plus any nginx holds that the host no longer lists. Old nginx workers hold their requests'
   * connections until they exit.
   */
  async hostSessions(members: readonly Member[]): Promise<number[]> {
    if (members.length === 0) return [];
    const [lbConns, lbAddrs, appConns] = await Promise.all([
      this.balancerConns(members),
      this.addresses(),
      Promise.all(
        members.map(async (m) => {
          const t = await this.opts.appTransport(m);
          return parseSs((await t.run(appConnsArgv(m.port ?? 80), { timeoutMs: this.opts.timeoutMs })).stdout);
        }),
      ),
    ]);
    // A deploy user's ss shows no process: then every connection from the balancer host counts.
    const others = new Set(lbConns.filter((c) => !ownedBy(c, ['nginx'])).map((c) => key(c.peer, c.local)));
    return members.map((m, i) => {
      const onHost = (appConns[i] as Connection[]).filter(
        (c) => lbAddrs.includes(c.peer.address) && !others.has(key(c.local, c.peer)),
      );
      const seen = new Set(onHost.map((c) => key(c.local, c.peer)));
      const onlyNginx = lbConns.filter(
        (c) =>
          c.processes.includes('nginx') &&
          sameEndpoint(c.peer, m) &&
          !seen.has(key(c.peer, c.local)) &&
          carriesRequest(c, 'balancer'),
      );
      return onHost.filter((c) => carriesRequest(c, 'member')).length + onlyNginx.length;
    });
  }

  /** `nginx -t` when it is raised (the lua mode runs nothing else as root). */
  raisedCommands(): RaisedCommand[] {
    return onlyRaised(this.transport.host, [nginxTestArgv(this.opts.nginx, this.opts.sudo)]);
  }

  async configTest(): Promise<void> {
    const argv = nginxTestArgv(this.opts.nginx, this.opts.sudo);
    const r = await this.transport.run(argv, { allowFailure: true, timeoutMs: this.opts.timeoutMs });
    if (r.code !== 0)
      throw new ExternalCommandError(this.transport.host, argv, r.code, tail(`${r.stdout}\n${r.stderr}`));
  }

  /** The balancer host's own addresses: where its connections come from, as the app hosts see them. */
  private addresses(): Promise<string[]> {
    this.balancerAddresses ??= this.transport
      .run(['hostname', '-I'], { timeoutMs: this.opts.timeoutMs })
      .then((r) => r.stdout.trim().split(/\s+/).filter(Boolean));
    return this.balancerAddresses;
  }
}

function endpointOf(m: MemberEndpoint): Endpoint {
  return { address: m.address, port: m.port ?? 80 };
}

function sameEndpoint(e: Endpoint, m: MemberEndpoint): boolean {
  return e.address === m.address && e.port === (m.port ?? 80);
}
