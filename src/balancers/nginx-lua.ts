// The nginx driver without reloads (balancer.mode: lua). The upstream is balanced by
// templates/nginx/baton_balancer.lua from a shared dict; the JSON state file on the balancer
// host is the one source of truth. A pool change writes the whole file (atomically, only if
// nobody changed it since it was read), asks the Lua side over its loopback control endpoint to
// load it again, and checks the read-back. nginx never reloads, so no client's keep-alive
// connection is closed (issue 17).
import { DEFAULT_LUA_CONTROL_URL, DEFAULT_LUA_STATE_FILE } from '../config/balancer-names.js';
import { createHash } from 'node:crypto';
import { OperationFailedError, UserError } from '../errors.js';
import { tail } from '../transport/errors.js';
import type { Transport } from '../transport/types.js';
import { checkPath } from './balancer-files.js';
import { checkUpstreamName } from './nginx-commands.js';
import {
  CHANGED_MEANWHILE,
  ControlRefusal,
  type ControlRead,
  controlGetArgv,
  controlReloadArgv,
  findLuaMember,
  type LuaMember,
  type LuaMemberRead,
  type LuaMemberState,
  type LuaState,
  LUA_MAX_WEIGHT,
  parseControlAnswer,
  parseLuaState,
  noReadyMemberPattern,
  parseLuaStateRead,
  readLuaStateArgv,
  renderLuaState,
  setLuaStates,
  setLuaWeights,
  writeLuaStateArgv,
} from './nginx-lua-state.js';
import { DEFAULT_NGINX_ERROR_LOG, NginxTraffic } from './nginx-traffic.js';
import {
  type BackendCounters,
  type Balancer,
  type Member,
  type MemberCounters,
  type RaisedCommand,
  type TrafficRead,
  type Weighing,
  type WrittenFile,
} from './types.js';
import { checkKnown, checkWeightValues, weightsNotTaken } from './weights.js';

export interface NginxLuaOptions {
  upstream: string;
  /** The control endpoint as reached from the balancer host. */
  controlUrl?: string;
  /** The JSON state file on the balancer host the Lua side loads. */
  stateFile?: string;
  /** The nginx binary (`-t`). */
  nginx?: string;
  errorLog?: string;
  statusUrl?: string;
  accessLog?: string;
  /** The transport of the app host behind a member, to read its connections. */
  appTransport: (member: Member) => Promise<Transport>;
  timeoutMs?: number;
  /** Raise the configuration test and reload through `sudo -n` (ssh.sudo.balancer; default true). */
  sudo?: boolean;
}

const EXAMPLE = 'templates/nginx/baton-upstreams.example.json';

export class NginxLuaBalancer implements Balancer {
  readonly driver = 'nginx' as const;
  private readonly upstream: string;
  private readonly controlUrl: string;
  private readonly stateFile: string;
  private readonly timeoutMs: number;
  private readonly traffic: NginxTraffic;
  /** Per member from the access log's upstream field; only with balancer.accessLog (NginxTraffic.memberCounters). */
  readonly memberCounters?: () => Promise<Record<string, MemberCounters>>;
  /** The access log's upstream field lists every member a request tried: each but the last failed it. */
  readonly countsFailedAttempts?: boolean;

  constructor(
    private readonly transport: Transport,
    opts: NginxLuaOptions,
  ) {
    this.upstream = checkUpstreamName(opts.upstream);
    this.controlUrl = opts.controlUrl ?? DEFAULT_LUA_CONTROL_URL;
    this.stateFile = checkPath('balancer.stateFile', opts.stateFile ?? DEFAULT_LUA_STATE_FILE);
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    controlGetArgv(this.controlUrl, this.upstream); // refuses a bad URL now rather than at the first read
    this.traffic = new NginxTraffic(transport, {
      upstream: this.upstream,
      nginx: opts.nginx ?? 'nginx',
      sudo: opts.sudo ?? true,
      errorLog: opts.errorLog ?? DEFAULT_NGINX_ERROR_LOG,
      ...(opts.statusUrl !== undefined ? { statusUrl: opts.statusUrl } : {}),
      ...(opts.accessLog !== undefined ? { accessLog: opts.accessLog } : {}),
      appTransport: opts.appTransport,
      timeoutMs: this.timeoutMs,
      noMemberLeftPattern: noReadyMemberPattern(this.upstream),
    });
    if (this.traffic.countsMembers) {
      this.memberCounters = async () => this.traffic.memberCounters((await this.read()).members);
      this.countsFailedAttempts = true;
    }
  }

  get countsRequests(): boolean {
    return this.traffic.countsRequests;
  }

  /** Members as the running nginx holds them (the Lua side's shared dict), in-flight requests as sessions. */
  async members(): Promise<Member[]> {
    return (await this.read()).members.map(memberOf);
  }

  drain(names: readonly string[]): Promise<void> {
    return this.change([], names);
  }

  ready(names: readonly string[]): Promise<void> {
    return this.change(names, []);
  }

  /** One file write and one load: no reload either way, but one step still reads as one change. */
  switchPool(ready: readonly string[], drain: readonly string[]): Promise<void> {
    return this.change(ready, drain);
  }

  /** nginx ends one member's requests only by ending the workers that hold them: a reload this mode exists to avoid. */
  async cutOff(names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    throw new UserError(
      `nginx (mode: lua) cannot cut the requests still in flight on ${names.join(', ')}: ` +
        'only a reload or a restart ends them, and this mode never reloads',
      'set balancer.cutOffAfterDrainTimeout: false (wait, then stop and report), or raise balancer.drainTimeout',
    );
  }

  /**
   * In flight per member: the Lua side's count of requests it sent there and not yet logged, or
   * the connections read on the member's host (NginxTraffic.hostSessions), whichever is larger —
   * the Lua count sees only requests balanced through this upstream (not another upstream or
   * server on the balancer host proxying to the same member), the host count also includes idle
   * pooled keep-alive connections (until the upstream's keepalive_timeout closes them).
   */
  async sessions(names: readonly string[]): Promise<Record<string, number>> {
    if (names.length === 0) return {};
    const read = await this.read();
    const wanted = names.map((n) => findLuaMember(read.members, n) ?? this.noSuchMember(n, read.members));
    const onHosts = await this.traffic.hostSessions(wanted.map(memberOf));
    return Object.fromEntries(
      names.map((n, i) => [n, Math.max((wanted[i] as LuaMemberRead).inflight, onHosts[i] as number)]),
    );
  }

  async counters(): Promise<BackendCounters> {
    return this.traffic.counters((await this.read()).members);
  }

  /** members() (one curl) and beside it the access log's or stub_status's counts. */
  async sample(): Promise<TrafficRead> {
    const [members, counts] = await Promise.all([this.members(), this.traffic.sampledCounts()]);
    return { members, ...counts };
  }

  writtenFiles(): WrittenFile[] {
    return [{ host: this.transport.host, path: this.stateFile, what: 'balancer.stateFile' }];
  }

  raisedCommands(): RaisedCommand[] {
    return this.traffic.raisedCommands();
  }

  configTest(): Promise<void> {
    return this.traffic.configTest();
  }

  /** Smooth weighted round robin in baton_balancer.lua, 1-256, through the state file like a state change. */
  weighing(): Weighing {
    return { can: true, min: 1, max: LUA_MAX_WEIGHT };
  }

  /**
   * Each member's weight as the running nginx holds it (1 where the file gives none, or the Lua side is older than
   * weights).
   */
  async weights(): Promise<Record<string, number>> {
    return Object.fromEntries((await this.read()).members.map((m) => [m.name, m.weight ?? 1]));
  }

  /** The weights into the state file, loaded by the Lua side and read back; states are left as they are. */
  async setWeights(weights: Readonly<Record<string, number>>): Promise<void> {
    const where = `nginx upstream ${this.upstream} on ${this.transport.host}`;
    const asked = checkWeightValues(where, this.weighing(), weights);
    if (asked.length === 0) return;
    const { version, state } = await this.readStateFile();
    const members = state[this.upstream] ?? [];
    checkKnown(
      where,
      asked.map(([n]) => n),
      (n) => findLuaMember(members, n) !== undefined,
      members.map((m) => m.name),
    );
    const what = `weights ${asked.map(([n, w]) => `${n} ${w}`).join(', ')}`;
    await this.commit(what, version, state, setLuaWeights(state, this.upstream, asked), (read) => {
      // A Lua side that reports no weight balances evenly, whatever the file says.
      if (read.members.some((m) => m.weight === undefined))
        return [
          'the running baton_balancer.lua does not weigh members (it is older than this baton): ' +
            'copy templates/nginx/baton_balancer.lua over it and restart nginx',
        ];
      return weightsNotTaken(asked, (n) => findLuaMember(read.members, n)?.weight);
    });
  }

  /** Write the states into the file (only when they differ), have the Lua side load it, and check the read-back. */
  private async change(ready: readonly string[], drain: readonly string[]): Promise<void> {
    const names = [...ready, ...drain];
    if (names.length === 0) return;
    const { version, state } = await this.readStateFile();
    const next = setLuaStates(state, this.upstream, ready, drain);
    if (next.missing.length > 0) this.noSuchMember(next.missing[0] as string, state[this.upstream] ?? []);
    const what = [ready.length ? `${ready.join(', ')} ready` : '', drain.length ? `${drain.join(', ')} drain` : '']
      .filter(Boolean)
      .join(', ');
    await this.commit(what, version, state, next, (read) =>
      [...ready.map((n) => [n, 'ready'] as const), ...drain.map((n) => [n, 'drain'] as const)].flatMap(
        ([n, want]: readonly [string, LuaMemberState]) => {
          const m = findLuaMember(read.members, n);
          return !m
            ? [`${n}: not in upstream ${this.upstream} as nginx loaded it`]
            : m.state !== want
              ? [`${n}: reads back ${m.state}`]
              : [];
        },
      ),
    );
  }

  /**
   * Write `next` over the file read at `version` (only when it differs), have the Lua side load
   * it, and check the read-back with `wrong`. The load is asked for even when the file was already
   * as asked: a run killed between writing and loading, now resumed, finds nginx still on the older file.
   */
  private async commit(
    what: string,
    version: string,
    state: LuaState,
    next: { state: LuaState; changed: boolean },
    wrong: (read: ControlRead) => string[],
  ): Promise<void> {
    const written = next.changed ? renderLuaState(next.state) : undefined;
    if (written !== undefined) await this.writeStateFile(written, version);
    const read = await this.load(
      what,
      written === undefined ? undefined : { text: renderLuaState(state), over: sha256(written) },
    );
    const problems = wrong(read);
    if (problems.length > 0) {
      const controlGetUrl = controlGetArgv(this.controlUrl, this.upstream).at(-1);
      throw new OperationFailedError(
        `nginx on ${this.transport.host}: ` +
          `upstream ${this.upstream} did not take the change (${what}): ${problems.join('; ')}`,
        'partway',
        `compare ${this.stateFile} with \`curl -sS '${controlGetUrl}'\` on the balancer before going on`,
      );
    }
  }

  /**
   * POST: the Lua side loads the upstream from the file; its read-back. When it cannot,
   * `previous` (the file as it was, and the version just written over it) goes back, so file
   * and running nginx agree.
   */
  private async load(what: string, previous?: { text: string; over: string }): Promise<ControlRead> {
    const call = controlReloadArgv(this.controlUrl, this.upstream);
    const r = await this.transport.run(call.argv, { stdin: call.stdin, allowFailure: true, timeoutMs: this.timeoutMs });
    try {
      if (r.code !== 0 && r.stdout.trim() === '') throw new Error(`curl exited ${r.code}: ${tail(r.stderr)}`);
      return parseControlAnswer(r.stdout, this.upstream);
    } catch (err) {
      const putBack =
        previous !== undefined &&
        (await this.writeStateFile(previous.text, previous.over).then(
          () => true,
          () => false,
        ));
      const load = `curl -sS -X POST --data '{"upstream":"${this.upstream}","reload":true}' ${this.controlUrl}`;
      throw new OperationFailedError(
        `nginx on ${this.transport.host} did not load upstream ${this.upstream} from ${this.stateFile} ` +
          `(${what}): ${(err as Error).message}`,
        // Not "restored": a load that timed out may still have taken.
        'partway',
        putBack
          ? `${this.stateFile} was put back as it was; check nginx's error log and that baton-lua.conf is ` +
              'included, then run again'
          : `${this.stateFile} ${previous ? 'could not be put back and ' : ''}already says ${what}; ` +
              `check nginx's error log, then load it: ${load}`,
      );
    }
  }

  /** GET: the upstream as the running nginx holds it. */
  private async read(): Promise<ControlRead> {
    const r = await this.transport.run(controlGetArgv(this.controlUrl, this.upstream), {
      allowFailure: true,
      timeoutMs: this.timeoutMs,
    });
    try {
      if (r.code !== 0 && r.stdout.trim() === '') throw new Error(`curl exited ${r.code}: ${tail(r.stderr)}`);
      return parseControlAnswer(r.stdout, this.upstream);
    } catch (err) {
      if (err instanceof ControlRefusal && /no upstream .* is loaded/.test(err.message)) {
        throw new UserError(
          `nginx on ${this.transport.host} has no members for upstream ${this.upstream}: ${err.message}`,
          `baton cannot know the members' addresses and ports: ` +
            `write ${this.stateFile} on ${this.transport.host} with every member of upstream ${this.upstream} ` +
            `(see ${EXAMPLE}), then restart nginx or POST ` +
            `{"upstream":"${this.upstream}","reload":true} to ${this.controlUrl}`,
        );
      }
      throw new UserError(
        `nginx on ${this.transport.host}: cannot read upstream ${this.upstream} from the control ` +
          `endpoint ${this.controlUrl}: ${(err as Error).message}`,
        'is nginx running with templates/nginx/baton-lua.conf included? check balancer.controlUrl in baton.yml',
      );
    }
  }

  private async readStateFile(): Promise<{ version: string; state: LuaState }> {
    const r = await this.transport.run(readLuaStateArgv(this.stateFile), { timeoutMs: this.timeoutMs });
    const read = parseLuaStateRead(r.stdout);
    const hint =
      `write ${this.stateFile} on ${this.transport.host} with every member of upstream ${this.upstream} ` +
      `(see ${EXAMPLE}): baton sets their states but cannot know their addresses and ports`;
    if (read.text === undefined)
      throw new UserError(`nginx on ${this.transport.host}: the state file ${this.stateFile} does not exist`, hint);
    let state: LuaState;
    try {
      state = parseLuaState(read.text);
    } catch (err) {
      throw new UserError(
        `nginx on ${this.transport.host}: the state file ${this.stateFile} cannot be used: ${(err as Error).message}`,
        `fix ${this.stateFile}; ${EXAMPLE} shows its form`,
      );
    }
    if (!state[this.upstream])
      throw new UserError(
        `nginx on ${this.transport.host}: the state file ${this.stateFile} has no upstream ${this.upstream}`,
        hint,
      );
    return { version: read.version, state };
  }

  private async writeStateFile(text: string, version: string): Promise<void> {
    const argv = writeLuaStateArgv(this.stateFile, version);
    const r = await this.transport.run(argv, { stdin: text, allowFailure: true, timeoutMs: this.timeoutMs });
    if (r.code === CHANGED_MEANWHILE) {
      throw new OperationFailedError(
        `nginx on ${this.transport.host}: ${this.stateFile} changed between baton reading and writing it, ` +
          'so baton wrote nothing',
        'unchanged',
        'someone else is editing the state file: find out who, then run again',
      );
    }
    if (r.code !== 0)
      throw new OperationFailedError(
        `nginx on ${this.transport.host}: cannot write ${this.stateFile}: ${tail(r.stderr) || `exit ${r.code}`}`,
        'unchanged',
        `check that ${this.stateFile}'s folder exists and the ssh user may write it`,
      );
  }

  private noSuchMember(name: string, members: readonly { name: string }[]): never {
    throw new OperationFailedError(
      `nginx upstream ${this.upstream} on ${this.transport.host} has no member ${name}: ` +
        `members are ${members.map((m) => m.name).join(', ') || '(none)'} (${this.stateFile})`,
      'partway',
    );
  }
}

/**
 * A member as the steps see it: the Lua side's in-flight count as its sessions; no health view (nginx open source has
 * none).
 */
function memberOf(m: LuaMember & { inflight?: number }): Member {
  return { name: m.name, address: m.address, port: m.port, state: m.state, sessions: m.inflight ?? 0, queued: 0 };
}

/** The version readLuaStateArgv reports for a file holding exactly `text`. */
function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
