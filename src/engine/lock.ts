// The release lock on the balancer host: a directory that appears atomically (rename) with its
// details already inside (who, when, why, which tag, until when). A lease makes a lock from a
// cancelled CI job expire by itself. Every operation is one round trip: a rollback is timed.
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

// $1 lock dir, $2 now (epoch s), $3 our run, $4 a run we may take over; details JSON on stdin.
// Beside details.json, `run` and `expires` (epoch s) let the shell decide without parsing JSON;
// a lock without `expires` (made by hand) never expires by itself.
const ACQUIRE = `
d=$1; now=$2; run=$3; takeover=$4; exp=$5
mkdir -p "$(dirname "$d")"
t="$d.new.$$"; rm -rf "$t"; mkdir "$t" && cat > "$t/details.json" && printf '%s' "$run" > "$t/run" && printf '%s' "$exp" > "$t/expires" || exit 2
mv -T "$t" "$d" 2>/dev/null && exit 0
held=$(cat "$d/run" 2>/dev/null); until=$(cat "$d/expires" 2>/dev/null); until=\${until:-99999999999}
if [ "$held" = "$run" ] || { [ -n "$takeover" ] && [ "$held" = "$takeover" ]; } || [ "$until" -lt "$now" ]; then
  old="$d.old.$$"
  if mv -T "$d" "$old" 2>/dev/null && mv -T "$t" "$d"; then rm -rf "$old"; echo "took over from $held"; exit 0; fi
fi
rm -rf "$t"; cat "$d/details.json" 2>/dev/null; exit 3
`;

// $1 lock dir, $2 run (empty: force). Removes the lock only if it is ours.
const RELEASE = `
d=$1; run=$2
[ -d "$d" ] || exit 0
if [ -z "$run" ] || [ "$(cat "$d/run" 2>/dev/null)" = "$run" ]; then rm -rf "$d"; exit 0; fi
cat "$d/details.json" 2>/dev/null; exit 3
`;

// $1 lock dir, $2 run, $3 new expiry (epoch s); details JSON on stdin. Only our own lock is renewed.
const RENEW = `
d=$1
[ "$(cat "$d/run" 2>/dev/null)" = "$2" ] || exit 3
cat > "$d/details.json.next" && mv -f "$d/details.json.next" "$d/details.json" && printf '%s' "$3" > "$d/expires"
`;

const epoch = (d: Date) => String(Math.floor(d.getTime() / 1000));

export class ReleaseLock {
  constructor(
    private readonly transport: Transport,
    private readonly dir: string,
    private readonly leaseMs: number,
  ) {}

  /**
   * Take the lock, or throw LockHeldError naming the holder. An expired lease is taken over, and
   * so is a lock held by `takeOverRun` (the interrupted run a rollback or resume is cleaning up after).
   */
  async acquire(who: Omit<LockDetails, 'since' | 'expires'>, now = new Date(), takeOverRun?: string): Promise<LockDetails> {
    const expires = new Date(now.getTime() + this.leaseMs);
    const details: LockDetails = { ...who, since: now.toISOString(), expires: expires.toISOString() };
    const r = await this.transport.run(['sh', '-c', ACQUIRE, 'sh', this.dir, epoch(now), who.run ?? '', takeOverRun ?? '', epoch(expires)], {
      stdin: JSON.stringify(details),
      allowFailure: true,
    });
    if (r.code === 0) return details;
    if (r.code !== 3) throw new ExternalCommandError(this.transport.host, ['lock', this.dir], r.code, r.stderr.trim());
    const holder = parseDetails(r.stdout);
    throw new LockHeldError(
      holder
        ? `release lock on ${this.transport.host} is held by ${holder.by} since ${holder.since}${holder.tag ? ` (pushing ${holder.tag})` : ''}: ${holder.reason}; it expires ${holder.expires}`
        : `release lock on ${this.transport.host} (${this.dir}) is held, and its details cannot be read`,
      holder ? { ...holder } : undefined,
    );
  }

  /** Extend the lease of a lock we hold. */
  async renew(run: string, now = new Date()): Promise<void> {
    const current = await this.read();
    if (!current || current.run !== run) return;
    const expires = new Date(now.getTime() + this.leaseMs);
    await this.transport.run(['sh', '-c', RENEW, 'sh', this.dir, run, epoch(expires)], { stdin: JSON.stringify({ ...current, expires: expires.toISOString() }), allowFailure: true });
  }

  /** Release the lock; only the run that holds it may, unless forced. Returns false when it is someone else's. */
  async release(run?: string, force = false): Promise<boolean> {
    const r = await this.transport.run(['sh', '-c', RELEASE, 'sh', this.dir, force ? '' : (run ?? '')], { allowFailure: true });
    if (r.code === 0) return true;
    if (r.code === 3) return false;
    throw new ExternalCommandError(this.transport.host, ['unlock', this.dir], r.code, r.stderr.trim());
  }

  async read(): Promise<LockDetails | null> {
    const r = await this.transport.run(['cat', posix.join(this.dir, 'details.json')], { allowFailure: true });
    return r.code === 0 ? parseDetails(r.stdout) : null;
  }
}

/** Renew the lease of run's lock every third of it until the returned function is called; it lapses by itself if this process dies. */
export function keepLeaseAlive(lock: ReleaseLock, run: string, leaseMs: number): () => void {
  const timer = setInterval(() => void lock.renew(run).catch(() => undefined), Math.max(10_000, leaseMs / 3));
  timer.unref();
  return () => clearInterval(timer);
}

function parseDetails(text: string): LockDetails | null {
  try {
    return JSON.parse(text) as LockDetails;
  } catch {
    return null;
  }
}
