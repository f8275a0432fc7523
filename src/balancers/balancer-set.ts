// Several balancers that must hold the same pool (a keepalived pair, or balancers behind DNS),
// driven as one: every change goes to all of them, and reads stop when they disagree, since a
// standby that was never drained sends users to the cluster being deployed after a failover.
import { OperationFailedError } from '../errors.js';
import {
  type BackendCounters,
  type Balancer,
  type Member,
  type MemberCounters,
  type MemberState,
  type RaisedCommand,
  type SessionRead,
  type TrafficRead,
  type Weighing,
  type WrittenFile,
} from './types.js';
import { checkWeightValues, describeWeightDisagreement } from './weights.js';

/** One balancer of the set, named by the host it runs on (for messages). */
export interface NamedBalancer {
  host: string;
  balancer: Balancer;
}

/**
 * The balancers hold different states for some members: before any change, nothing changed (exit 1); after one, it
 * needs attention.
 */
export class BalancersDisagreeError extends OperationFailedError {
  constructor(
    readonly differences: string[],
    /** Seen before any change (nothing changed), or after one (production is part-way). */
    effect: 'unchanged' | 'partway' = 'unchanged',
  ) {
    super(
      `the balancers disagree: ${differences.join('; ')}`,
      effect,
      'a change made on one balancer did not reach the others (a runtime drain on one, ' +
        'a reload that forgot it): set the same state on all of them (or restart the one that is wrong), ' +
        'check with `baton status`, then run again',
      { differences },
    );
  }
}

/**
 * The state that counts for agreement: the administrative one. `down` is a health check
 * failing (ready otherwise), and each balancer checks from its own host, so it is left out.
 */
function adminState(m: Member): Exclude<MemberState, 'down'> {
  return m.state === 'down' ? 'ready' : m.state;
}

/** Per member whose state differs between balancers, what each balancer says: `web1a: drain on lb1, ready on lb2`. */
export function describeDisagreement(reads: readonly { host: string; members: readonly Member[] }[]): string[] {
  const names: string[] = [];
  for (const r of reads) for (const m of r.members) if (!names.includes(m.name)) names.push(m.name);
  const out: string[] = [];
  for (const name of names) {
    const says = reads.map((r) => {
      const m = r.members.find((x) => x.name === name);
      return { host: r.host, state: m ? adminState(m) : 'absent' };
    });
    if (new Set(says.map((s) => s.state)).size > 1)
      out.push(`${name}: ${says.map((s) => `${s.state} on ${s.host}`).join(', ')}`);
  }
  return out;
}

/**
 * The primary's members, with the sessions and queues of the same member on every balancer added
 * up (users reach it through each), and unhealthy when any balancer's checks fail it: a member
 * one balancer cannot reach takes no traffic from it, so a ready step waits for every balancer.
 */
export function mergeMembers(reads: readonly (readonly Member[])[]): Member[] {
  const [primary = [], ...peers] = reads;
  return primary.map((m) => {
    const merged = { ...m };
    for (const peer of peers) {
      const same = peer.find((x) => x.name === m.name);
      if (!same) continue;
      merged.sessions += same.sessions;
      merged.queued += same.queued;
      if (same.healthy === false || same.state === 'down') merged.healthy = false;
      if (same.resting && same.resting.leftMs > (merged.resting?.leftMs ?? 0)) merged.resting = same.resting;
    }
    return merged;
  });
}

export class BalancerSet implements Balancer {
  readonly driver: Balancer['driver'];
  readonly switchPool?: (ready: readonly string[], drain: readonly string[]) => Promise<void>;
  readonly sample?: () => Promise<TrafficRead>;
  readonly memberCounters?: () => Promise<Record<string, MemberCounters>>;
  readonly countsFailedAttempts?: boolean;
  readonly stickySessions?: (names: readonly string[], table?: string) => Promise<SessionRead>;
  readonly forgetSessions?: (names: readonly string[], table: string) => Promise<number>;
  readonly vouchHealthy?: (names: readonly string[]) => Promise<void>;
  private readonly all: NamedBalancer[];
  /** Whether a change was asked of the balancers yet: a disagreement found before one changed nothing. */
  private changed = false;

  constructor(
    readonly primary: NamedBalancer,
    readonly peers: readonly NamedBalancer[],
  ) {
    this.driver = primary.balancer.driver;
    this.all = [primary, ...peers];
    // Optional capabilities are offered when the driver has them (every balancer runs the same driver).
    if (primary.balancer.switchPool) {
      this.switchPool = async (ready, drain) => {
        await this.changeAll(`return ${ready.join(', ') || '(none)'} and drain ${drain.join(', ') || '(none)'}`, (b) =>
          (b.switchPool as NonNullable<Balancer['switchPool']>).call(b, ready, drain),
        );
      };
    }
    if (primary.balancer.vouchHealthy) {
      this.vouchHealthy = async (names) => {
        await this.changeAll(`mark ${names.join(', ')} healthy`, (b) =>
          (b.vouchHealthy as NonNullable<Balancer['vouchHealthy']>).call(b, names),
        );
      };
    }
    if (primary.balancer.sample) this.sample = () => this.sampleAll();
    // Each balancer of the pair counts what it sent: a member's counts are their sum.
    if (this.all.every((b) => b.balancer.countsFailedAttempts)) this.countsFailedAttempts = true;
    if (this.all.every((b) => b.balancer.memberCounters))
      this.memberCounters = async () => {
        const reads = await Promise.all(
          this.all.map((b) => (b.balancer.memberCounters as NonNullable<Balancer['memberCounters']>).call(b.balancer)),
        );
        const out: Record<string, MemberCounters> = {};
        for (const read of reads)
          for (const [name, c] of Object.entries(read)) {
            const sum = (out[name] ??= { requests: 0, http5xx: 0 });
            sum.requests += c.requests;
            sum.http5xx += c.http5xx;
            // Each balancer's times stay apart: a moving mean is differenced per balancer.
            if (c.latency) sum.latency = [...(sum.latency ?? []), ...c.latency];
            if (c.failed !== undefined) sum.failed = (sum.failed ?? 0) + c.failed;
          }
        return out;
      };
    if (primary.balancer.stickySessions) this.stickySessions = (names, table) => this.stickyAll(names, table);
    if (primary.balancer.forgetSessions) {
      this.forgetSessions = async (names, table) => {
        const dropped = await this.changeAll(`forget the sessions of ${names.join(', ')}`, (b) =>
          (b.forgetSessions as NonNullable<Balancer['forgetSessions']>).call(b, names, table),
        );
        return dropped.reduce((n, d) => n + d, 0);
      };
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((b) => b.balancer.close?.()));
  }

  /** Every balancer's members; a member whose state differs between them is an error naming each balancer's view. */
  async members(): Promise<Member[]> {
    const reads = await Promise.all(this.all.map(async (b) => ({ host: b.host, members: await b.balancer.members() })));
    const differences = describeDisagreement(reads);
    if (differences.length > 0) throw new BalancersDisagreeError(differences, this.changed ? 'partway' : 'unchanged');
    return mergeMembers(reads.map((r) => r.members));
  }

  async drain(names: readonly string[]): Promise<void> {
    await this.changeAll(`drain ${names.join(', ')}`, (b) => b.drain(names));
  }

  async ready(names: readonly string[]): Promise<void> {
    await this.changeAll(`return ${names.join(', ')} to the pool`, (b) => b.ready(names));
  }

  async cutOff(names: readonly string[]): Promise<void> {
    await this.changeAll(`cut the sessions of ${names.join(', ')}`, (b) => b.cutOff(names));
  }

  /** What every balancer can do: the range they all take, or the first one's reason why it cannot. */
  weighing(): Weighing {
    const each = this.all.map((b) => ({ host: b.host, weighing: b.balancer.weighing() }));
    let min = 0;
    let max = Number.POSITIVE_INFINITY;
    for (const { host, weighing } of each) {
      if (!weighing.can) return { can: false, reason: `balancer ${host}: ${weighing.reason}` };
      min = Math.max(min, weighing.min);
      max = Math.min(max, weighing.max);
    }
    return { can: true, min, max };
  }

  /**
   * Every balancer's weights; a member weighed differently on one of them is an error naming each balancer's weight.
   */
  async weights(): Promise<Record<string, number>> {
    const reads = await Promise.all(this.all.map(async (b) => ({ host: b.host, weights: await b.balancer.weights() })));
    const differences = describeWeightDisagreement(reads);
    if (differences.length > 0) throw new BalancersDisagreeError(differences, this.changed ? 'partway' : 'unchanged');
    return (reads[0] as (typeof reads)[number]).weights;
  }

  /**
   * The weights on every balancer (each driver reads its own back), then read back from all of
   * them: one that holds other weights than the rest (for members outside the change too) is a
   * disagreement, as with states.
   */
  async setWeights(weights: Readonly<Record<string, number>>): Promise<void> {
    const asked = checkWeightValues('every balancer', this.weighing(), weights);
    if (asked.length === 0) return;
    await this.changeAll(`weigh ${asked.map(([n, w]) => `${n} ${w}`).join(', ')}`, (b) => b.setWeights(weights));
    await this.weights();
  }

  /** In flight per member through any balancer. */
  async sessions(names: readonly string[]): Promise<Record<string, number>> {
    const reads = await Promise.all(this.all.map((b) => b.balancer.sessions(names)));
    const out: Record<string, number> = {};
    for (const name of names) out[name] = reads.reduce((n, r) => n + (r[name] ?? 0), 0);
    return out;
  }

  async counters(): Promise<BackendCounters> {
    const reads = await Promise.all(this.all.map((b) => b.balancer.counters()));
    return reads.reduce((sum, c) => ({
      requests: sum.requests + c.requests,
      http5xx: sum.http5xx + c.http5xx,
      redispatches: sum.redispatches + c.redispatches,
      retries: sum.retries + c.retries,
    }));
  }

  writtenFiles(): WrittenFile[] {
    return this.all.flatMap((b) => b.balancer.writtenFiles?.() ?? []);
  }

  raisedCommands(): RaisedCommand[] {
    return this.all.flatMap((b) => b.balancer.raisedCommands?.() ?? []);
  }

  async configTest(): Promise<void> {
    const results = await Promise.allSettled(this.all.map((b) => b.balancer.configTest()));
    const failed = results.flatMap((r, i) =>
      r.status === 'rejected' ? [{ host: (this.all[i] as NamedBalancer).host, err: r.reason as unknown }] : [],
    );
    if (failed.length === 0) return;
    // One failure keeps its own error (exit code, hint), told which balancer it is.
    if (failed.length === 1 && failed[0]?.err instanceof Error) {
      const { host, err } = failed[0];
      if (!err.message.includes(host)) err.message = `balancer ${host}: ${err.message}`;
      throw err;
    }
    const failures = failed.map((f) => `${f.host} (${f.err instanceof Error ? f.err.message : String(f.err)})`);
    throw new OperationFailedError(
      `the configuration test failed on ${failures.join('; ')}`,
      'unchanged',
      'fix the configuration on those balancers, then run again',
    );
  }

  /**
   * Apply one change to every balancer at once (each driver reads its own change back). One
   * that fails is asked once more, since a change is the same whether it took the first time or
   * not; one that still fails is an error naming it and the balancers that did take it: the
   * run's reversal then undoes the change on all.
   */
  private async changeAll<T>(what: string, change: (b: Balancer) => Promise<T>): Promise<T[]> {
    this.changed = true;
    const first = await Promise.allSettled(this.all.map((b) => change(b.balancer)));
    const results = await Promise.all(
      first.map(async (r, i) => {
        if (r.status === 'fulfilled') return r;
        try {
          return { status: 'fulfilled' as const, value: await change((this.all[i] as NamedBalancer).balancer) };
        } catch (err) {
          return { status: 'rejected' as const, reason: err as unknown };
        }
      }),
    );
    const refused = results.flatMap((r, i) =>
      r.status === 'rejected' ? [{ host: (this.all[i] as NamedBalancer).host, reason: r.reason }] : [],
    );
    // Refused by every balancer: they still agree, and the driver's own error (its exit code, its hint) says best why.
    if (refused.length === this.all.length) throw refused[0]?.reason;
    if (refused.length > 0) {
      const took = this.all.filter((_, i) => results[i]?.status === 'fulfilled').map((b) => b.host);
      const refusals = refused.map(
        (r) => `${r.host} refused it twice (${r.reason instanceof Error ? r.reason.message : String(r.reason)})`,
      );
      const tookIt = took.length > 0 ? `${took.join(', ')} took it` : 'no balancer took it';
      throw new OperationFailedError(
        `the balancers did not all take the change (${what}): ${refusals.join('; ')}; ${tookIt}`,
        'partway',
        'the balancers now disagree: check each with `baton status` and set the same state on all of them ' +
          'before going on',
        { refused: refused.map((r) => r.host), took },
      );
    }
    return results.map((r) => (r as { value: T }).value);
  }

  /**
   * Members merged like members(), never failing on a disagreement (sampling must not stop a run): it is reported in
   * `divergent`.
   */
  private async sampleAll(): Promise<TrafficRead> {
    const reads = await Promise.all(
      this.all.map((b) => (b.balancer.sample as NonNullable<Balancer['sample']>).call(b.balancer)),
    );
    const divergent = describeDisagreement(
      reads.map((r, i) => ({ host: (this.all[i] as NamedBalancer).host, members: r.members })),
    );
    const sum = (key: 'requests' | 'http5xx') =>
      reads.every((r) => r[key] !== undefined) ? { [key]: reads.reduce((n, r) => n + (r[key] as number), 0) } : {};
    return {
      members: mergeMembers(reads.map((r) => r.members)),
      ...sum('requests'),
      ...sum('http5xx'),
      ...(divergent.length > 0 ? { divergent } : {}),
    };
  }

  /**
   * Sticky sessions of the members on every balancer: bound entries of all tables, the most recent request, what is in
   * flight through any.
   */
  private async stickyAll(names: readonly string[], table?: string): Promise<SessionRead> {
    const reads = await Promise.all(
      this.all.map((b) =>
        (b.balancer.stickySessions as NonNullable<Balancer['stickySessions']>).call(b.balancer, names, table),
      ),
    );
    const merged: SessionRead = { idleMs: {}, inFlight: {} };
    if (reads.some((r) => r.bound)) merged.bound = {};
    for (const name of names) {
      if (merged.bound) merged.bound[name] = reads.flatMap((r) => r.bound?.[name] ?? []);
      const idle = reads.map((r) => r.idleMs[name]).filter((ms): ms is number => typeof ms === 'number');
      if (reads.some((r) => name in r.idleMs)) merged.idleMs[name] = idle.length > 0 ? Math.min(...idle) : null;
      merged.inFlight[name] = reads.reduce((n, r) => n + (r.inFlight[name] ?? 0), 0);
    }
    return merged;
  }
}

/** One driver as it is, or a set over it and its peers: a single balancer stays exactly the driver. */
export function balancerOrSet(primary: NamedBalancer, peers: readonly NamedBalancer[]): Balancer {
  return peers.length === 0 ? primary.balancer : new BalancerSet(primary, peers);
}
