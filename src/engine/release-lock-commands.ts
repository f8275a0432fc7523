// Pure builders of the release lock's commands on the balancer host: argv arrays only. The lock
// directory and run ids travel as positional parameters of fixed scripts, never spliced into them.

// $1 lock dir, $2 now (epoch s), $3 our run, $4 a run we may take over; details JSON on stdin.
// Beside details.json, `run` and `expires` (epoch s) let the shell decide without parsing JSON;
// a lock without `expires` (made by hand) never expires by itself.
const ACQUIRE = `
d=$1; now=$2; run=$3; takeover=$4; exp=$5
mkdir -p "$(dirname "$d")"
t="$d.new.$$"; rm -rf "$t"; mkdir "$t" && cat > "$t/details.json" \
&& printf '%s' "$run" > "$t/run" && printf '%s' "$exp" > "$t/expires" || exit 2
mv -T "$t" "$d" 2>/dev/null && exit 0
held=$(cat "$d/run" 2>/dev/null); until=$(cat "$d/expires" 2>/dev/null); until=\${until:-99999999999}
if [ "$held" = "$run" ] || { [ -n "$takeover" ] && [ "$held" = "$takeover" ]; } || [ "$until" -lt "$now" ]; then
  old="$d.old.$$"
  if mv -T "$d" "$old" 2>/dev/null && mv -T "$t" "$d"; then rm -rf "$old"; echo "took over from $held"; exit 0; fi
fi
rm -rf "$t"; cat "$d/details.json" 2>/dev/null; exit 3
`;

// $1 lock dir, $2 run (empty: force). Removes the lock only if it is ours. The directory is
// renamed away before it is emptied: a heartbeat or renewal still on its way then writes into
// nothing, instead of into a directory `rm -rf` is emptying, where one file left behind would
// be a lock without details that blocks every later run.
const RELEASE = `
d=$1; run=$2
[ -d "$d" ] || exit 0
if [ -z "$run" ] || [ "$(cat "$d/run" 2>/dev/null)" = "$run" ]; then
  gone="$d.gone.$$"; rm -rf "$gone"
  if mv -T "$d" "$gone"; then rm -rf "$gone"; exit 0; fi
  [ -d "$d" ] && exit 2; exit 0
fi
cat "$d/details.json" 2>/dev/null; exit 3
`;

// $1 lock dir, $2 run, $3 new expiry (epoch s); details JSON on stdin. Only our own lock is renewed.
const RENEW = `
d=$1
[ "$(cat "$d/run" 2>/dev/null)" = "$2" ] || exit 3
cat > "$d/details.json.next" && mv -f "$d/details.json.next" "$d/details.json" && printf '%s' "$3" > "$d/expires"
`;

// $1 lock dir, $2 run. Only our own lock beats. The heartbeat lives in its own file, stamped by
// the host's clock and naming the run: one small write that cannot race the lease renewal's
// rewrite of details.json, nor pass for the heartbeat of a run that took the lock over since.
const BEAT = `
d=$1
[ "$(cat "$d/run" 2>/dev/null)" = "$2" ] || exit 3
printf '%s %s' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$2" > "$d/heartbeat.next" && mv -f "$d/heartbeat.next" "$d/heartbeat"
`;

// $1 lock dir. The host's clock (epoch s), then the heartbeat line (maybe empty), then
// details.json; no lock: the clock alone. Exit 2: the lock is there but cannot be read. A lock
// released while it is read (renamed away, then removed) is no lock, not an unreadable one.
const READ = `
d=$1
date -u +%s
[ -d "$d" ] || exit 0
b=$(cat "$d/heartbeat" 2>/dev/null)
if ! j=$(cat "$d/details.json" 2>/dev/null); then
  [ -d "$d" ] || exit 0
  j=$(cat "$d/details.json") || exit 2
fi
printf '%s\n%s\n' "$b" "$j"
`;

const epoch = (d: Date) => String(Math.floor(d.getTime() / 1000));

/** Take the lock at `dir` (details JSON on stdin): exit 0 taken, 3 held by another (its details printed). */
export function acquireLock(
  dir: string,
  opts: { now: Date; run?: string | undefined; takeOverRun?: string | undefined; expires: Date },
): string[] {
  return ['sh', '-c', ACQUIRE, 'sh', dir, epoch(opts.now), opts.run ?? '', opts.takeOverRun ?? '', epoch(opts.expires)];
}

/** Extend `run`'s lease to `expires` (new details JSON on stdin); exit 3 when the lock is not run's. */
export function renewLease(dir: string, run: string, expires: Date): string[] {
  return ['sh', '-c', RENEW, 'sh', dir, run, epoch(expires)];
}

/** Stamp the heartbeat of `run`, if run holds the lock. */
export function beatHeartbeat(dir: string, run: string): string[] {
  return ['sh', '-c', BEAT, 'sh', dir, run];
}

/** Remove the lock if `run` holds it; `run` undefined (forced): whoever holds it. Exit 3: someone else's. */
export function removeLock(dir: string, run: string | undefined): string[] {
  return ['sh', '-c', RELEASE, 'sh', dir, run ?? ''];
}

/** The host's clock, then the heartbeat line and the details; exit 2 when the lock is there but unreadable. */
export function readLock(dir: string): string[] {
  return ['sh', '-c', READ, 'sh', dir];
}
