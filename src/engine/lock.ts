// The release lock: an atomic mkdir on the balancer host plus a details file (who, when, why,
// which tag, until when). A lease makes a lock from a cancelled CI job expire by itself.
import { posix } from 'node:path';
import { ExternalCommandError, LockHeldError } from '../errors.js';
import type { Transport } from '../transport/types.js';

export interface LockDetails {
  by: string;
  reason: string;
  tag?: string;
  run?: string;
  since: string;
  expires: string;
}

export class ReleaseLock {
  constructor(
    private readonly transport: Transport,
    private readonly dir: string,
    private readonly leaseMs: number,
  ) {}

  private get detailsFile(): string {
    return posix.join(this.dir, 'details.json');
  }

  /** Take the lock, or throw LockHeldError naming the holder. An expired lease is taken over. */
  async acquire(who: Omit<LockDetails, 'since' | 'expires'>, now = new Date()): Promise<LockDetails> {
    const details: LockDetails = { ...who, since: now.toISOString(), expires: new Date(now.getTime() + this.leaseMs).toISOString() };
    for (let attempt = 0; attempt < 2; attempt++) {
      if (await this.create(details)) return details;
      const holder = await this.read();
      const live = holder && new Date(holder.expires).getTime() > now.getTime();
      if (holder && holder.run === who.run) {
        await this.write(details);
        return details;
      }
      if (live || attempt > 0) {
        throw new LockHeldError(
          holder
            ? `release lock on ${this.transport.host} is held by ${holder.by} since ${holder.since}${holder.tag ? ` (pushing ${holder.tag})` : ''}: ${holder.reason}; it expires ${holder.expires}`
            : `release lock on ${this.transport.host} (${this.dir}) is held, and its details cannot be read`,
          holder ? { ...holder } : undefined,
        );
      }
      // Expired: remove it and race for it once more; the rename below decides who wins.
      await this.transport.run(['rm', '-rf', '--', this.dir]);
    }
    throw new LockHeldError(`release lock on ${this.transport.host} could not be taken`);
  }

  /** Atomic: the lock directory appears with its details already inside, or not at all. */
  private async create(details: LockDetails): Promise<boolean> {
    const script = 'mkdir -p "$(dirname "$1")" && t="$1.new.$$" && mkdir "$t" && cat > "$t/details.json" && if mv -T "$t" "$1" 2>/dev/null; then exit 0; else rm -rf "$t"; exit 3; fi';
    const r = await this.transport.run(['sh', '-c', script, 'sh', this.dir], { stdin: JSON.stringify(details), allowFailure: true });
    if (r.code === 0) return true;
    if (r.code === 3) return false;
    throw new ExternalCommandError(this.transport.host, ['mkdir', this.dir], r.code, r.stderr.trim());
  }

  /** Extend the lease of a lock we hold. */
  async renew(run: string, now = new Date()): Promise<void> {
    const current = await this.read();
    if (!current || current.run !== run) return;
    await this.write({ ...current, expires: new Date(now.getTime() + this.leaseMs).toISOString() });
  }

  /** Release the lock; only the run that holds it may, unless forced. */
  async release(run?: string, force = false): Promise<boolean> {
    const current = await this.read();
    if (!force && current && run && current.run !== run) return false;
    await this.transport.run(['rm', '-rf', '--', this.dir]);
    return true;
  }

  async read(): Promise<LockDetails | null> {
    const r = await this.transport.run(['cat', this.detailsFile], { allowFailure: true });
    if (r.code !== 0) return null;
    try {
      return JSON.parse(r.stdout) as LockDetails;
    } catch {
      return null;
    }
  }

  private async write(details: LockDetails): Promise<void> {
    const tmp = `${this.detailsFile}.tmp`;
    await this.transport.run(['sh', '-c', 'cat > "$1" && mv -f "$1" "$2"', 'sh', tmp, this.detailsFile], { stdin: JSON.stringify(details) });
  }
}
