// The HAProxy driver: every membership change goes through the runtime API socket on the
// balancer host (never a reload), batched with its read-back in one round trip.
import { ExternalCommandError, OperationFailedError, UserError } from '../errors.js';
import { tail } from '../transport/errors.js';
import type { Transport } from '../transport/types.js';
import { canStream, RuntimeChannel } from './haproxy-channel.js';
import {
  type AdminState,
  configTestArgv,
  runtimeCall,
  runtimeCallSavingState,
  STATE_SAVE_FAILED,
  HAPROXY_MAX_WEIGHT,
  setServerHealthUp,
  setServerState,
  setWeight,
  showServersState,
  showStat,
  shutdownSessions,
  checkName,
  clearTableOfServer,
  showTableHeader,
  showTableOfServer,
  STAT_SERVERS,
} from './haproxy-commands.js';
import {
  countersOf,
  memberCountersOf,
  type HaproxyMember,
  lastSessionMs,
  membersOf,
  parseServersState,
  parseStatCsv,
  parseTable,
  splitAnswers,
  statNumber,
  type StatRow,
} from './haproxy-stat.js';
import {
  type BackendCounters,
  type MemberCounters,
  type Balancer,
  onlyRaised,
  type RaisedCommand,
  type SessionRead,
  type StickySession,
  type TrafficRead,
  type Weighing,
  type WrittenFile,
} from './types.js';
import { checkKnown, checkWeightValues, weightsNotTaken } from './weights.js';

export interface HaproxyOptions {
  backend: string;
  /** Runtime API socket on the balancer host. */
  socket: string;
  /** Configuration `configTest()` validates. */
  configFile?: string;
  /** Per round trip. */
  timeoutMs?: number;
  /** Where every pool change saves `show servers state`, so a reload (load-server-state-from-file) keeps it. */
  serverStateFile?: string;
  /** Raise the configuration test and reload through `sudo -n` (ssh.sudo.balancer; default true). */
  sudo?: boolean;
}

export const DEFAULT_HAPROXY_CONFIG = '/etc/haproxy/haproxy.cfg';

export class HaproxyBalancer implements Balancer {
  readonly driver = 'haproxy' as const;
  readonly countsFailedAttempts = true;
  private readonly backend: string;
  private readonly socket: string;
  private readonly configFile: string;
  private readonly timeoutMs: number;
  private readonly serverStateFile: string | undefined;
  private readonly sudo: boolean;
  /** Server ids by name, as the last `show stat` gave them (a stick table binds sessions by id). */
  private serverIds = new Map<string, number>();
  /** The runtime API connection of the run, opened by the first call. */
  private channel?: RuntimeChannel;

  constructor(
    private readonly transport: Transport,
    opts: HaproxyOptions,
  ) {
    this.backend = checkName('backend', opts.backend);
    this.socket = opts.socket;
    this.configFile = opts.configFile ?? DEFAULT_HAPROXY_CONFIG;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.serverStateFile = opts.serverStateFile;
    this.sudo = opts.sudo ?? true;
  }

  /** Members of the backend with their admin state, health, sessions and queue. */
  async members(): Promise<HaproxyMember[]> {
    const [stat, states] = await this.call([showStat(this.backend, STAT_SERVERS), showServersState(this.backend)]);
    return this.readMembers(stat as string, states as string);
  }

  drain(names: readonly string[]): Promise<void> {
    return this.setState(names, 'drain');
  }

  ready(names: readonly string[]): Promise<void> {
    return this.setState(names, 'ready');
  }

  /** Members baton has just checked are passing their health checks now; a member without checks needs nothing. */
  async vouchHealthy(names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    const answers = await this.call(names.map((n) => setServerHealthUp(this.backend, n)));
    // "health checks are not enabled on this server": nothing to wait for there anyway.
    const failed = names.flatMap((n, i) => {
      const a = (answers[i] ?? '').trim();
      return a === '' || /health checks are not enabled/i.test(a) ? [] : [`${n}: ${a.split('\n')[0]}`];
    });
    if (failed.length > 0)
      throw new OperationFailedError(
        `haproxy on ${this.transport.host} refused to mark ${failed.join('; ')} healthy`,
        'partway',
      );
  }

  /** Runtime weights (`set weight`), 1-256: 0, which HAProxy also takes, is what drain is for. */
  weighing(): Weighing {
    return { can: true, min: 1, max: HAPROXY_MAX_WEIGHT };
  }

  /** Each server's weight as set at run time (`show servers state`'s srv_uweight). */
  async weights(): Promise<Record<string, number>> {
    const [states] = await this.call([showServersState(this.backend)]);
    return this.weightsOf(states as string);
  }

  /**
   * `set weight` for each member and `show servers state` in one round trip (saved to the server
   * state file with it, so a reload keeps the weights), after one read that every member exists:
   * HAProxy would refuse an unknown one and still apply the others.
   */
  async setWeights(weights: Readonly<Record<string, number>>): Promise<void> {
    const where = `haproxy backend ${this.backend} on ${this.transport.host}`;
    const asked = checkWeightValues(where, this.weighing(), weights);
    if (asked.length === 0) return;
    const sets = asked.map(([n, w]) => setWeight(this.backend, n, w));
    const before = await this.weights();
    checkKnown(
      where,
      asked.map(([n]) => n),
      (n) => n in before,
      Object.keys(before),
    );
    const { answers, saveFailure } = await this.change([...sets, showServersState(this.backend)]);
    this.refuseErrors(
      asked.map(([n]) => n),
      answers.slice(0, sets.length),
      'weigh',
    );
    const after = this.weightsOf(answers[sets.length] as string);
    const wrong = weightsNotTaken(asked, (n) => after[n]);
    if (wrong.length > 0)
      throw new OperationFailedError(
        `haproxy on ${this.transport.host}: backend ${this.backend} did not take the weights: ${wrong.join('; ')}`,
        'partway',
        'check the balancer with `show servers state` before going on',
      );
    if (saveFailure !== undefined) throw saveFailure;
  }

  /** Take members out entirely (health checks stop too). */
  maint(names: readonly string[]): Promise<void> {
    return this.setState(names, 'maint');
  }

  async cutOff(names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    const answers = await this.call(names.map((n) => shutdownSessions(this.backend, n)));
    this.refuseErrors(names, answers, 'cut the sessions of');
  }

  /** In flight per member: sessions being served plus requests queued for it. */
  async sessions(names: readonly string[]): Promise<Record<string, number>> {
    const [stat] = await this.call([showStat(this.backend, STAT_SERVERS)]);
    const members = this.readMembers(stat as string);
    const out: Record<string, number> = {};
    for (const name of names) {
      const m = members.find((x) => x.name === name);
      if (!m) throw this.noSuchMember(name, members);
      out[name] = m.sessions + m.queued;
    }
    return out;
  }

  async counters(): Promise<BackendCounters> {
    const [stat] = await this.call([showStat(this.backend)]);
    return countersOf(this.parseStat(stat as string), this.backend);
  }

  /** Each server's requests and 5xx answers, from the same `show stat` rows. */
  async memberCounters(): Promise<Record<string, MemberCounters>> {
    const [stat] = await this.call([showStat(this.backend)]);
    return memberCountersOf(this.parseStat(stat as string), this.backend);
  }

  /**
   * Members and the backend's counters in one round trip: `show stat` (backend and server rows) and
   * `show servers state`.
   */
  async sample(): Promise<TrafficRead> {
    const [stat, states] = await this.call([showStat(this.backend), showServersState(this.backend)]);
    const rows = this.parseStat(stat as string);
    const { requests, http5xx } = countersOf(rows, this.backend);
    return {
      members: membersOf(rows, this.backend, this.parse(states as string, parseServersState)),
      requests,
      http5xx,
    };
  }

  /**
   * One round trip: the servers' rows (in flight, seconds since the last session) and, with a
   * table, its entries bound to each server. The ids the table needs come from the previous
   * read; when a reload renumbered the servers, the read is done once more with the new ones.
   */
  async stickySessions(names: readonly string[], table?: string): Promise<SessionRead> {
    if (table !== undefined) checkName('table', table);
    if (names.length === 0) {
      // Nobody to read: only whether the table is there (a push checks it before its first drain).
      if (table !== undefined) this.boundTo('', table, (await this.call([showTableHeader(table)]))[0] as string);
      return { idleMs: {}, inFlight: {}, ...(table !== undefined ? { bound: {} } : {}) };
    }
    for (let attempt = 0; ; attempt++) {
      const known = names.filter((n) => this.serverIds.has(n));
      const tables =
        table === undefined || known.length < names.length
          ? []
          : known.map((n) => showTableOfServer(table, this.serverIds.get(n) as number));
      const [stat, ...entries] = await this.call([showStat(this.backend, STAT_SERVERS), ...tables]);
      const rows = this.serverRows(stat as string);
      const renumbered = names.some(
        (n) => rows.get(n) !== undefined && Number(rows.get(n)?.['sid']) !== this.serverIds.get(n),
      );
      for (const [name, row] of rows) this.serverIds.set(name, Number(row['sid']));
      const missing = names.find((n) => !rows.has(n));
      if (missing !== undefined) throw this.noSuchMember(missing, this.readMembers(stat as string));
      if (table !== undefined && (tables.length === 0 || renumbered) && attempt === 0) continue;
      const read: SessionRead = { idleMs: {}, inFlight: {} };
      if (table !== undefined) read.bound = {};
      names.forEach((name, i) => {
        const row = rows.get(name) as StatRow;
        read.idleMs[name] = lastSessionMs(row);
        read.inFlight[name] = statNumber(row['scur']) + statNumber(row['qcur']);
        if (read.bound) read.bound[name] = this.boundTo(name, table as string, entries[i] as string);
      });
      return read;
    }
  }

  async forgetSessions(names: readonly string[], table: string): Promise<number> {
    const before = await this.stickySessions(names, table);
    const count = Object.values(before.bound ?? {}).reduce((n, list) => n + list.length, 0);
    const answers = await this.call(names.map((n) => clearTableOfServer(table, this.serverIds.get(n) as number)));
    this.refuseErrors(names, answers, `clear the stick-table ${table} entries of`);
    return count;
  }

  writtenFiles(): WrittenFile[] {
    return this.serverStateFile === undefined
      ? []
      : [{ host: this.transport.host, path: this.serverStateFile, what: 'balancer.serverStateFile' }];
  }

  raisedCommands(): RaisedCommand[] {
    return onlyRaised(this.transport.host, [configTestArgv(this.configFile, this.sudo)]);
  }

  async configTest(): Promise<void> {
    const argv = configTestArgv(this.configFile, this.sudo);
    const r = await this.transport.run(argv, { allowFailure: true, timeoutMs: this.timeoutMs });
    if (r.code !== 0) {
      throw new ExternalCommandError(this.transport.host, argv, r.code, tail(`${r.stdout}\n${r.stderr}`));
    }
  }

  /**
   * Set the state, then read it back in the same round trip; a member left in any other state is an error naming it.
   */
  private async setState(names: readonly string[], state: AdminState): Promise<void> {
    if (names.length === 0) return;
    const sets = names.map((n) => setServerState(this.backend, n, state));
    const { answers, saveFailure } = await this.change([
      ...sets,
      showStat(this.backend, STAT_SERVERS),
      showServersState(this.backend),
    ]);
    const stat = answers[sets.length] as string;
    const states = answers[sets.length + 1] as string;
    this.refuseErrors(names, answers.slice(0, sets.length), `set to ${state}`);
    const members = this.readMembers(stat, states);
    const wrong: string[] = [];
    for (const name of names) {
      const m = members.find((x) => x.name === name);
      if (!m) wrong.push(`${name}: not in backend ${this.backend}`);
      else if (m.admin !== state) wrong.push(`${name}: reads back ${m.admin}`);
      else if (state === 'ready' && m.weight === 0) wrong.push(`${name}: ready but weight 0, so it takes no requests`);
    }
    if (wrong.length > 0) {
      throw new OperationFailedError(
        `haproxy on ${this.transport.host}: backend ${this.backend} did not take state ${state}: ${wrong.join('; ')}`,
        'partway',
        'check the balancer with `show servers state` before going on',
      );
    }
    // The change itself took: an unsaved state is the next thing wrong (a reload would undo it).
    if (saveFailure !== undefined) throw saveFailure;
  }

  /**
   * A pool change: with serverStateFile, the change and the save of the state in one round trip
   * (the save's failure is returned, to be thrown once the change's own answers are checked).
   */
  private async change(
    commands: readonly string[],
  ): Promise<{ answers: string[]; saveFailure?: OperationFailedError }> {
    if (this.serverStateFile === undefined) return { answers: await this.call(commands) };
    const call = runtimeCallSavingState(this.socket, commands, this.serverStateFile);
    const r = await this.transport.run(call.argv, { stdin: call.stdin, timeoutMs: this.timeoutMs, allowFailure: true });
    if (r.code !== 0 && r.code !== STATE_SAVE_FAILED)
      throw new ExternalCommandError(this.transport.host, call.argv, r.code, tail(`${r.stdout}\n${r.stderr}`));
    const answers = splitAnswers(r.stdout, call.commands.length);
    if (r.code === 0) return { answers };
    return {
      answers,
      saveFailure: new OperationFailedError(
        `haproxy on ${this.transport.host} took the change but its server state was not saved ` +
          `to ${this.serverStateFile}: ${tail(r.stderr).trim() || `exit ${r.code}`}`,
        'partway',
        `a reload would forget the change: make the folder of ${this.serverStateFile} writable for baton's ` +
          `user on ${this.transport.host} (or fix balancer.serverStateFile), then run \`baton status\``,
      ),
    };
  }

  private refuseErrors(names: readonly string[], answers: readonly string[], what: string): void {
    const failed = names.flatMap((n, i) => (answers[i] ? [`${n}: ${answers[i]}`] : []));
    if (failed.length > 0) {
      // The commands after a refused one still ran: say which did not.
      throw new OperationFailedError(
        `haproxy on ${this.transport.host} refused to ${what} members of backend ${this.backend}: ${failed.join('; ')}`,
        'partway',
        'the other members in the same change were applied; check them with `baton status`',
      );
    }
  }

  private readMembers(stat: string, states?: string): HaproxyMember[] {
    const rows = this.parseStat(stat);
    return membersOf(rows, this.backend, states === undefined ? [] : this.parse(states, parseServersState));
  }

  private weightsOf(states: string): Record<string, number> {
    const rows = this.parse(states, parseServersState).filter((r) => r.backend === this.backend);
    return Object.fromEntries(rows.map((r) => [r.name, r.weight]));
  }

  private serverRows(stat: string): Map<string, StatRow> {
    const rows = this.parseStat(stat).filter(
      (r) => r['pxname'] === this.backend && r['svname'] !== 'BACKEND' && r['svname'] !== 'FRONTEND',
    );
    return new Map(rows.map((r) => [r['svname'] ?? '', r]));
  }

  private boundTo(name: string, table: string, answer: string): StickySession[] {
    let entries;
    try {
      entries = parseTable(answer);
    } catch {
      throw new UserError(
        `haproxy on ${this.transport.host} has no stick table ${table} to read sessions from: ` +
          `it answered ${answer.trim().slice(0, 200) || '(nothing)'}`,
        'set balancer.sessions.table to the table backend ' +
          this.backend +
          ' sticks on (its stick-table line in haproxy.cfg), or track: idle',
      );
    }
    // server_key (HAProxy 2.6+) names the server; an entry for a server id another name now has is not this member's.
    return entries
      .filter((e) => e.serverKey === undefined || e.serverKey === name)
      .map((e) => ({ key: e.key, expiresInMs: e.expMs ?? Number.POSITIVE_INFINITY }));
  }

  private parseStat(stat: string) {
    return this.parse(stat, parseStatCsv);
  }

  private parse<T>(answer: string, parser: (s: string) => T): T {
    try {
      return parser(answer);
    } catch {
      throw new UserError(
        `haproxy on ${this.transport.host} (socket ${this.socket}) ` +
          `answered for backend ${this.backend}: ${answer.trim().slice(0, 200) || '(nothing)'}`,
        'check balancer.backend and balancer.socket in baton.yml, and that the socket has `level admin`',
      );
    }
  }

  private noSuchMember(name: string, members: readonly HaproxyMember[]): Error {
    return new OperationFailedError(
      `haproxy backend ${this.backend} on ${this.transport.host} has no member ${name}: ` +
        `members are ${members.map((m) => m.name).join(', ') || '(none)'}`,
      'partway',
    );
  }

  /**
   * Close the runtime API channel, if one is open (an SSH transport's close does it too); a later call opens another.
   */
  async close(): Promise<void> {
    const channel = this.channel;
    this.channel = undefined;
    await channel?.close();
  }

  /**
   * One round trip to the runtime API; the answer of each command in order. Over one channel kept
   * open for the run when the transport can hold one, else one socat per call.
   */
  private async call(commands: readonly string[]): Promise<string[]> {
    if (canStream(this.transport)) {
      this.channel ??= new RuntimeChannel(this.transport, this.socket, this.timeoutMs);
      return this.channel.request(commands);
    }
    const call = runtimeCall(this.socket, commands);
    const r = await this.transport.run(call.argv, { stdin: call.stdin, timeoutMs: this.timeoutMs });
    return splitAnswers(r.stdout, call.commands.length);
  }
}
