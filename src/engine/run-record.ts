// The run record: every run's journal and plan kept with production, on the balancer host beside
// the lock (and on every peer of a pair), so any machine with baton.yml and SSH access sees the
// same runs. The local `.baton/journal` stays as a cache, written first: the record mirrors its
// bytes exactly, so catching up is "send what the other side lacks from its length on".
import {
  existsSync,
  mkdirSync,
  openSync,
  readSync,
  closeSync,
  readFileSync,
  readdirSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, posix } from 'node:path';
import type { Config } from '../config/config.js';
import { scopedToEnvironment } from '../config/environment.js';
import type { Transport, Transports } from '../transport/types.js';
import { SshTransports } from '../transport/ssh.js';
import { Journal, journalDir, type JournalEvent, type RunsOf } from './journal.js';

/** The mirror of one run of this config (its plan sent first when given). */
export function mirrorRun(config: Config, transports: Transports, run: string, plan?: string): RunRecordMirror {
  return new RunRecordMirror(recordPlaces(config, transports), join(journalDir(config), `${run}.jsonl`), run, {
    ...(plan !== undefined ? { plan } : {}),
    // A write is one short command: twice the connect time covers a reconnect on the way.
    timeoutMs: 2 * config.ssh.connectTimeout,
    keep: config.record.keep,
  });
}

/** One copy of the record: a folder on a balancer host. */
export interface RecordPlace {
  host: string;
  transport: Transport;
  dir: string;
}

/**
 * The record's folder on the balancer hosts: `record.path`, else `<app>.runs` (`<app>-<environment>.runs`) beside the
 * lock.
 */
export function recordDir(config: Pick<Config, 'lock' | 'app' | 'record' | 'environment'>): string {
  return (
    config.record.path ??
    posix.join(posix.dirname(config.lock.path), `${scopedToEnvironment(config.app.name, config.environment)}.runs`)
  );
}

/** Where the record is kept: the lock's host first (it decides), then every peer of a pair. */
export function recordPlaces(config: Config, transports: Transports): RecordPlace[] {
  const dir = recordDir(config);
  const hosts = [config.balancer.host, ...(config.balancer.peers ?? []).filter((h) => h !== config.balancer.host)];
  return hosts.map((host) => ({ host, transport: transports.get(host), dir }));
}

const RUN_FILE = /^(\d{8}T\d{6}(?:\.\d{3})?Z-[a-z0-9]+)\.(jsonl|plan\.json)$/;

// $1 folder, $2 run, $3 bytes of the journal the writer believes are there; the journal's bytes
// from that offset on stdin. Bytes the record already holds (an earlier attempt that landed but
// whose answer was lost) are skipped, so a retry never writes a line twice; a record shorter
// than believed answers 4 and its length (the writer resends from there). Prints the new length.
const APPEND = `
f="$1/$2.jsonl"; off=$3; have=0
mkdir -p "$1" || exit 2
[ -f "$f" ] && have=$(wc -c < "$f")
if [ "$have" -lt "$off" ]; then echo "$have"; exit 4; fi
tail -c +$((have - off + 1)) >> "$f" || exit 2
sync "$f" 2>/dev/null || sync
wc -c < "$f"
`;

// $1 folder, $2 run; the plan on stdin. A plan already there is kept (a resumed run's).
const PUT_PLAN = `
p="$1/$2.plan.json"
mkdir -p "$1" || exit 2
[ -s "$p" ] && exit 0
t="$p.tmp.$$"; cat > "$t" && sync "$t" 2>/dev/null; mv -f "$t" "$p"
`;

// $1 folder (none yet: no runs). The runs it holds, "<bytes> <file>" a line, and the newest run pruned (if any).
const LIST = `
[ -e "$1" ] || exit 0
cd "$1" || exit 2
cat .pruned-through 2>/dev/null | sed 's/^/pruned /'; echo
wc -c -- *.jsonl *.plan.json 2>/dev/null | grep -v ' total$'
exit 0
`;

// $1 folder, then file names: each as "<bytes> <name>" and that many bytes.
const GET = `
d=$1; shift
for f; do n=0; [ -f "$d/$f" ] && n=$(wc -c < "$d/$f"); printf '%s %s\\n' "$n" "$f"; \
[ "$n" -gt 0 ] && head -c "$n" "$d/$f"; done
exit 0
`;

// $1 folder, $2 run; the whole journal on stdin. The record's copy disagreed with a longer
// local one: it is kept aside (never silently merged), the longer one takes its place.
const REPLACE = `
f="$1/$2.jsonl"; t="$f.tmp.$$"
mkdir -p "$1" && cat > "$t" && sync "$t" 2>/dev/null
[ -f "$f" ] && mv -f "$f" "$f.diverged-$(date -u +%Y%m%dT%H%M%SZ)"
mv -f "$t" "$f"
`;

// $1 folder, $2 how many runs to keep. The oldest beyond that go; the newest of them is noted,
// so a machine whose cache still holds them does not send them back.
const PRUNE = `
cd "$1" 2>/dev/null || exit 0
old=$(ls -1 | grep -E '^[0-9]{8}T[0-9]{6}(\\.[0-9]{3})?Z-[a-z0-9]+\\.jsonl$' | sort \
| awk -v k="$2" '{ a[NR] = $0 } END { for (i = 1; i <= NR - k; i++) print a[i] }')
[ -n "$old" ] || exit 0
last=$(printf '%s\\n' "$old" | tail -n 1); last=\${last%.jsonl}
printf '%s' "$last" > .pruned-through.tmp && mv -f .pruned-through.tmp .pruned-through
printf '%s\\n' "$old" | while read -r j; do r=\${j%.jsonl}; \
rm -f -- "$r.jsonl" "$r.plan.json" "$r".jsonl.diverged-*; done
`;

const script = (body: string, ...args: string[]) => ['sh', '-c', body, 'sh', ...args];

/** The local journal's bytes from `offset` to its end. */
function bytesFrom(file: string, offset: number): Buffer {
  if (!existsSync(file)) return Buffer.alloc(0); // nothing journaled yet
  const fd = openSync(file, 'r');
  try {
    const size = statSync(file).size;
    const out = Buffer.alloc(Math.max(0, size - offset));
    let at = 0;
    while (at < out.length) {
      const n = readSync(fd, out, at, out.length - at, offset + at);
      if (n === 0) break;
      at += n;
    }
    return out.subarray(0, at);
  } finally {
    closeSync(fd);
  }
}

/** The record could not be written: the run stops before its next step, as with an unreachable balancer. */
export class RecordUnwritableError extends Error {}

/**
 * Mirrors one run's local journal into one copy of the record, as it grows: each `kick` starts a
 * round trip unless one is on its way (then the next one takes everything appended meanwhile),
 * so the record is never more than one round trip behind, and costs one channel at a time.
 */
export class RecordWriter {
  private sent = 0;
  private inFlight: Promise<void> | undefined;
  private again = false;
  private failure: Error | undefined;
  private readonly planSent: Promise<void>;
  private planFailure: Error | undefined;

  constructor(
    readonly place: RecordPlace,
    private readonly localJournal: string,
    readonly run: string,
    plan?: string,
    private readonly timeoutMs?: number,
  ) {
    // The plan goes beside the journal's first lines, in a round trip of its own (a reader
    // skips a run whose plan has not landed yet); a plan that cannot be sent fails the record.
    this.planSent =
      plan === undefined
        ? Promise.resolve()
        : this.call(PUT_PLAN, [run], plan).catch(
            (err: unknown) => void (this.planFailure = err instanceof Error ? err : new Error(String(err))),
          );
  }

  /** Why the last round trip failed, if it did (cleared by the next that succeeds), or the plan could not be sent. */
  get error(): Error | undefined {
    return this.failure ?? this.planFailure;
  }

  /** Send what the journal gained since the last round trip (or when that one ends). */
  kick(): void {
    if (this.inFlight) {
      this.again = true;
      return;
    }
    this.inFlight = this.flushLoop().finally(() => {
      this.inFlight = undefined;
    });
  }

  /** Resolves once everything appended so far has landed (or the last try failed: see `error`). */
  async settled(): Promise<void> {
    this.kick();
    while (this.inFlight) await this.inFlight;
    await this.planSent;
  }

  /**
   * Before a step: the record must be writable (a failed round trip is tried once more now;
   * failing again, the run stops), and hold the journal's first `upTo` bytes: a run resumed
   * elsewhere then knows every step that began before the last one.
   */
  async gate(upTo = 0): Promise<void> {
    while (!this.failure && this.sent < upTo) {
      this.kick();
      await this.inFlight;
    }
    if (this.error) await this.settled();
    const error = this.error;
    if (error)
      throw new RecordUnwritableError(
        `the run record on ${this.place.host} (${this.place.dir}) cannot be written: ${error.message}`,
      );
  }

  private async flushLoop(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.flushOnce();
        this.failure = undefined;
      } catch (err) {
        this.failure = err instanceof Error ? err : new Error(String(err));
        return; // the next kick (the next journal line, or the gate) tries again
      }
    } while (this.again);
  }

  private async flushOnce(): Promise<void> {
    for (let tries = 0; tries < 2; tries++) {
      const bytes = bytesFrom(this.localJournal, this.sent);
      if (bytes.length === 0 && this.sent > 0) return;
      const r = await this.place.transport.run(script(APPEND, this.place.dir, this.run, String(this.sent)), {
        stdin: bytes,
        allowFailure: true,
        ...this.limit(),
      });
      const answer = r.stdout.trim();
      const length = /^\d+$/.test(answer) ? Number(answer) : NaN;
      // The record holds at least what was sent (more: another writer's lines, left to the next sync to report).
      if (r.code === 0 && length >= this.sent + bytes.length) {
        this.sent += bytes.length;
        return;
      }
      if (r.code === 4 && length < this.sent) {
        this.sent = length; // the record is shorter than believed: resend from its end
        continue;
      }
      if (r.code === 0 || r.code === 4)
        throw new Error(`unexpected answer from the record: ${JSON.stringify(answer.slice(0, 80))}`);
      throw new Error(r.stderr.trim().split('\n').at(-1) || `exit ${r.code}`);
    }
  }

  private async call(body: string, args: string[], stdin: string): Promise<void> {
    const r = await this.place.transport.run(script(body, this.place.dir, ...args), {
      stdin,
      allowFailure: true,
      ...this.limit(),
    });
    if (r.code !== 0) throw new Error(r.stderr.trim().split('\n').at(-1) || `exit ${r.code}`);
  }

  private limit() {
    return this.timeoutMs === undefined ? {} : { timeoutMs: this.timeoutMs };
  }
}

/**
 * A run's journal mirrored into every copy of the record. The lock host's copy decides: when it
 * cannot be written the run stops before its next step. A peer that falls behind is noted once
 * and caught up by the next command that reads the record.
 */
export class RunRecordMirror {
  private readonly writers: RecordWriter[];
  private readonly noted = new Set<string>();

  constructor(
    places: readonly RecordPlace[],
    private readonly localJournal: string,
    run: string,
    opts: { plan?: string; timeoutMs?: number; keep?: number } = {},
  ) {
    this.writers = places.map((p) => new RecordWriter(p, localJournal, run, opts.plan, opts.timeoutMs));
    this.keep = opts.keep;
  }

  private readonly keep: number | undefined;
  private closed = false;

  /** Mirror every line the journal gains from now on (and what it holds already). */
  attach(journal: { onAppend(listener: () => void): void }): void {
    journal.onAppend(() => this.kick());
    this.kick();
  }

  private kick(): void {
    if (this.closed) return; // a closed mirror sends nothing more: another may own the record now
    for (const w of this.writers) w.kick();
  }

  /**
   * Before a forward step: the lock host's copy must be writable; before one that changes
   * production, it must also hold what the journal held when the step before began. That line
   * had a whole step's time to land, so this rarely waits, and the record is never more than
   * one step behind where production changes.
   */
  async gate(changesProduction = false): Promise<void> {
    const upTo = this.previousStepAt;
    this.previousStepAt = existsSync(this.localJournal) ? statSync(this.localJournal).size : 0;
    await this.writers[0]?.gate(changesProduction ? upTo : 0);
  }

  private previousStepAt = 0;

  /** Peers whose copy fails, each once: lines for the journal. */
  peerTrouble(): string[] {
    return this.writers.slice(1).flatMap((w) => {
      if (!w.error || this.noted.has(w.place.host)) return [];
      this.noted.add(w.place.host);
      return [
        `the run record on ${w.place.host} (a peer) is behind: ${w.error.message}; ` +
          'the next command that reads the record there catches it up',
      ];
    });
  }

  /** Once the run has ended: everything landed, old runs pruned. Returns a line per copy that is behind. */
  async close(): Promise<string[]> {
    if (this.closed) return [];
    this.closed = true;
    await Promise.all(this.writers.map((w) => w.settled()));
    if (this.keep !== undefined)
      await Promise.all(this.writers.filter((w) => !w.error).map((w) => pruneRecord(w.place, this.keep!)));
    return this.writers.flatMap((w) =>
      w.error
        ? [
            `the run record on ${w.place.host} is behind (${w.error.message}); ` +
              `this machine's journal ${this.localJournal} has the whole run, ` +
              `and the next baton command that reaches ${w.place.host} sends it`,
          ]
        : [],
    );
  }
}

/** Drop the oldest runs beyond `keep` from one copy of the record. */
export async function pruneRecord(place: RecordPlace, keep: number): Promise<void> {
  await place.transport.run(script(PRUNE, place.dir, String(keep)), { allowFailure: true });
}

/** What reading the record did to the local cache. */
export interface RecordSync {
  /** The copy that answered (the lock's host unless it could not be reached). */
  host?: string;
  /** Runs fetched into the cache, or grown there. */
  fetched: string[];
  /** Runs the record lacked (or held less of) that this machine sent. */
  sent: string[];
  /** Runs whose two copies disagree: the longer one is used, the other kept aside. */
  diverged: { run: string; kept: 'local' | 'record'; asideAt: string }[];
  /** Copies that could not be read, with why (the local cache is used then). */
  unreachable: { host: string; why: string }[];
}

interface FileSizes {
  sizes: Map<string, number>;
  prunedThrough?: string;
}

function parseList(stdout: string): FileSizes {
  const sizes = new Map<string, number>();
  let prunedThrough: string | undefined;
  for (const line of stdout.split('\n')) {
    const pruned = /^pruned (\S+)$/.exec(line);
    if (pruned) prunedThrough = pruned[1];
    const m = /^\s*(\d+) (\S+)$/.exec(line);
    if (m && RUN_FILE.test(m[2]!)) sizes.set(m[2]!, Number(m[1]));
  }
  return { sizes, ...(prunedThrough ? { prunedThrough } : {}) };
}

/** Files named in a GET answer, by name. */
function parseGet(stdout: string): Map<string, Buffer> {
  const all = Buffer.from(stdout, 'utf8');
  const files = new Map<string, Buffer>();
  let at = 0;
  while (at < all.length) {
    const nl = all.indexOf(0x0a, at);
    if (nl < 0) break;
    const m = /^(\d+) (\S+)$/.exec(all.subarray(at, nl).toString('utf8'));
    if (!m) break;
    const n = Number(m[1]);
    files.set(m[2]!, all.subarray(nl + 1, nl + 1 + n));
    at = nl + 1 + n;
  }
  return files;
}

function localSizes(dir: string): Map<string, number> {
  const sizes = new Map<string, number>();
  if (!existsSync(dir)) return sizes;
  for (const f of readdirSync(dir)) if (RUN_FILE.test(f)) sizes.set(f, statSync(join(dir, f)).size);
  return sizes;
}

const runOf = (file: string) => RUN_FILE.exec(file)?.[1] ?? file;
const stamp = () =>
  new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');

/**
 * Bring the local cache and the record level: runs made elsewhere are fetched, runs this machine
 * holds more of are sent (a run whose record fell behind while the lock host was unreachable).
 * The first copy that answers is used; when none does, the cache is all there is and the caller
 * says so.
 */
export async function syncRecord(
  places: readonly RecordPlace[],
  configDir: RunsOf,
  window: RecordWindow = {},
): Promise<RecordSync> {
  const result: RecordSync = { fetched: [], sent: [], diverged: [], unreachable: [] };
  const local = journalDir(configDir);
  for (const place of places) {
    let listed: FileSizes;
    try {
      const r = await place.transport.run(script(LIST, place.dir));
      listed = parseList(r.stdout);
    } catch (err) {
      result.unreachable.push({ host: place.host, why: err instanceof Error ? err.message : String(err) });
      continue;
    }
    result.host = place.host;
    await level(place, listed, local, result, window);
    break;
  }
  return result;
}

/** Which runs a reading needs: the newest few (default 20), and any whose id begins with `run`. */
export interface RecordWindow {
  newest?: number;
  run?: string;
}

async function level(
  place: RecordPlace,
  listed: FileSizes,
  local: string,
  result: RecordSync,
  window: RecordWindow,
): Promise<void> {
  const { toGet, toSendPlans } = whatToMove(localSizes(local), listed, window);
  if (toGet.size === 0 && toSendPlans.length === 0) return;
  mkdirSync(local, { recursive: true });
  for (const name of toSendPlans) {
    await place.transport.run(script(PUT_PLAN, place.dir, runOf(name)), { stdin: readFileSync(join(local, name)) });
  }
  const got = toGet.size
    ? parseGet((await place.transport.run(script(GET, place.dir, ...toGet))).stdout)
    : new Map<string, Buffer>();
  for (const name of toGet) {
    const remote = got.get(name) ?? Buffer.alloc(0);
    const file = join(local, name);
    if (name.endsWith('.plan.json')) writeFileSync(file, remote);
    else await levelJournal(place, name, remote, file, result);
  }
}

/**
 * Which files to fetch from the record (or, for a journal, to compare with it), and which plans
 * to send there, from the sizes on each side.
 */
function whatToMove(
  mine: Map<string, number>,
  listed: FileSizes,
  window: RecordWindow,
): { toGet: Set<string>; toSendPlans: string[] } {
  const theirs = listed.sizes;
  const theirRuns = [...new Set([...theirs.keys()].map(runOf))].sort();
  const wanted = new Set(theirRuns.slice(-(window.newest ?? 20)));
  for (const r of theirRuns) if (window.run !== undefined && r.startsWith(window.run)) wanted.add(r);
  const newestThere = theirRuns.at(-1) ?? '';
  const toGet = new Set<string>();
  const toSendPlans: string[] = [];
  for (const [name, size] of theirs) {
    const have = mine.get(name);
    const run = runOf(name);
    // A run already here is kept level whatever its age; one made elsewhere is fetched when wanted.
    const here = mine.has(`${run}.jsonl`);
    if (name.endsWith('.plan.json')) {
      if (have === undefined && (here || wanted.has(run))) toGet.add(name);
    } else if (have === undefined ? wanted.has(run) : have !== size) toGet.add(name);
  }
  for (const [name, size] of mine) {
    if (theirs.has(name)) continue;
    // Only a run newer than the record's newest is sent when the record lacks it (one whose start
    // it never heard of); older ones are pruned there, or were made for another record.
    const run = runOf(name);
    if (run <= newestThere || (listed.prunedThrough && run <= listed.prunedThrough)) continue;
    if (name.endsWith('.plan.json')) toSendPlans.push(name);
    else if (size > 0) toGet.add(name); // asked for: absent there, the answer says 0 bytes
  }
  return { toGet, toSendPlans };
}

/**
 * One journal, this machine's copy against the record's (`remote`): the longer one wins and the
 * shorter side is brought up to it; when their common part differs, the loser is set aside.
 */
async function levelJournal(
  place: RecordPlace,
  name: string,
  remote: Buffer,
  file: string,
  result: RecordSync,
): Promise<void> {
  const mineBytes = existsSync(file) ? readFileSync(file) : Buffer.alloc(0);
  const run = runOf(name);
  const shorter = remote.length <= mineBytes.length ? remote : mineBytes;
  const longer = shorter === remote ? mineBytes : remote;
  const agree = longer.subarray(0, shorter.length).equals(shorter);
  if (remote.length > mineBytes.length) {
    if (!agree) {
      const aside = `${file}.diverged-${stamp()}`;
      renameSync(file, aside);
      result.diverged.push({ run, kept: 'record', asideAt: aside });
    }
    writeFileSync(file, remote);
    result.fetched.push(run);
  } else if (mineBytes.length > remote.length) {
    if (agree) {
      const r = await place.transport.run(script(APPEND, place.dir, run, String(remote.length)), {
        stdin: mineBytes.subarray(remote.length),
        allowFailure: true,
      });
      if (r.code !== 0) throw new Error(`sending run ${run} to ${place.host}: ${r.stderr.trim() || `exit ${r.code}`}`);
    } else {
      await place.transport.run(script(REPLACE, place.dir, run), { stdin: mineBytes });
      result.diverged.push({
        run,
        kept: 'local',
        asideAt: `${place.host}:${posix.join(place.dir, name)}.diverged-…`,
      });
    }
    result.sent.push(run);
  } else if (!agree) {
    // Same length, other bytes: neither is longer; the record's copy is the shared one.
    const aside = `${file}.diverged-${stamp()}`;
    renameSync(file, aside);
    writeFileSync(file, remote);
    result.diverged.push({ run, kept: 'record', asideAt: aside });
  }
}

/** Lines a command prints about a sync (nothing when the two were level and reachable). */
export function describeSync(sync: RecordSync, dir: string): string[] {
  const lines: string[] = [];
  if (!sync.host && sync.unreachable.length) {
    lines.push(
      `the run record (${dir} on ${sync.unreachable.map((u) => u.host).join(', ')}) ` +
        `could not be read (${sync.unreachable[0]!.why}); showing this machine's copy, which may be behind`,
    );
  }
  for (const d of sync.diverged) {
    lines.push(
      d.kept === 'record'
        ? `run ${d.run}: this machine's journal and the record on ${sync.host} disagree; ` +
            `the record's copy is used, this machine's is kept at ${d.asideAt}`
        : `run ${d.run}: this machine's journal and the record on ${sync.host} disagree; ` +
            `this machine's (longer) copy now stands in the record, the record's is kept at ${d.asideAt}`,
    );
  }
  if (sync.sent.length)
    lines.push(
      `the record on ${sync.host} was behind ` +
        `for ${sync.sent.length === 1 ? `run ${sync.sent[0]}` : `${sync.sent.length} runs`}; ` +
        'sent what this machine held',
    );
  return lines;
}

/** Bring this machine's cache level with the record on production; lines worth telling the user. */
export async function readRunRecord(
  config: Config,
  transports: Transports,
  window: RecordWindow = {},
): Promise<string[]> {
  return describeSync(await syncRecord(recordPlaces(config, transports), config, window), recordDir(config));
}

/** The same, for a command that holds no session (history, report): connections of its own, closed after. */
export async function readRunRecordAlone(config: Config, window: RecordWindow = {}): Promise<string[]> {
  const transports = new SshTransports(config.ssh);
  try {
    return await readRunRecord(config, transports, window);
  } finally {
    await transports.closeAll();
  }
}

/** The scripts, by name: a test's fake record host tells them apart (argv[2]). */
export const RECORD_SCRIPTS = { APPEND, PUT_PLAN, LIST, GET, REPLACE, PRUNE } as const;

/**
 * Add lines to a run that is over (a rollback closing the push it undid, a forced unlock naming
 * who took its lock): its journal is first brought level with the record, then the lines go to
 * both. Returns lines worth telling the user (a copy left behind). A run neither here nor in the
 * record is left alone.
 */
export async function appendToRun(
  config: Config,
  transports: Transports,
  run: string,
  events: readonly JournalEvent[],
): Promise<string[]> {
  const places = recordPlaces(config, transports);
  const told = describeSync(await syncRecord(places, config, { newest: 0, run }), recordDir(config));
  if (!existsSync(join(journalDir(config), `${run}.jsonl`))) return told;
  const journal = new Journal(journalDir(config), run);
  const mirror = mirrorRun(config, transports, run);
  mirror.attach(journal);
  for (const e of events) journal.append(e);
  return [...told, ...(await mirror.close())];
}
