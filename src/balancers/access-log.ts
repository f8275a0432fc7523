// Requests and 5xx answers of a public frontend, counted from its access log on the balancer
// host: Apache and nginx keep no per-frontend count of their members' 5xx answers anywhere
// else, and the post-flip watch needs exactly that. Common and combined log formats (the
// status is the 9th field). Only what was appended since the previous read is read. A canary
// needs the same per member: a line ending with upstream="…" says which member answered it, and
// (nginx) which members it tried before and failed.
import type { Transport } from '../transport/types.js';
import { MemberCountsUnavailable } from '../errors.js';
import type { MemberCounters } from './types.js';
import { checkPath } from './balancer-files.js';

/**
 * The field naming the member that answered a line, last on the line: `upstream="…"` (nginx
 * `$upstream_addr`, Apache `%{BALANCER_WORKER_NAME}e`). Last, so that a User-Agent or a
 * Referer holding the same text is never taken for it.
 */
export const UPSTREAM_FIELD = 'upstream="…"';
/** awk's regex for the field (its value starts 11 characters in, and ends before the closing quote). */
const UPSTREAM_RE = '/ upstream="[^"]*"$/';
/**
 * The field with the time the member took, just before the upstream field: Apache `time_us="%D"`
 * (microseconds), nginx `upstream_time="$upstream_response_time"` (seconds, `a, b` when retried: the last
 * is the member that answered; `-` when none did). Lines without it count as before, untimed.
 */
export const TIME_FIELDS = { apache: 'time_us="%D"', nginx: 'upstream_time="$upstream_response_time"' } as const;
const TIME_US_RE = '/ time_us="[0-9]+" upstream="[^"]*"$/';
const TIME_S_RE = '/ upstream_time="[^"]*" upstream="[^"]*"$/';

/**
 * Where the log stands (`inode size`, or `- 0` when it does not exist yet) and, unless `inode`
 * is `first` (the first read), a second line for the bytes appended since `offset`: `consumed
 * requests 5xx`, complete lines only (a line still being written is left for the next read). A
 * log with another inode or shorter than `offset` was rotated or truncated: read from its start.
 * With `perUpstream`, the first read says whether the log's last line has the upstream field
 * (`tagged` or `untagged`; nothing for an empty log), and a later read adds `= requests 5xx
 * timed ms failed upstream` for each upstream seen and `- requests 5xx timed ms 0` for lines without the field:
 * timed lines are those with a time field (TIME_FIELDS), ms their milliseconds summed. Of several
 * upstreams on one line (nginx tried `a, b`, or `a : b` across upstream groups), the last one
 * answered and counts, and so does its time; each one before it had an attempt fail (nginx moves
 * to the next member only on a failure, proxy_next_upstream), counted as `failed` for it.
 */
export function accessLogArgv(file: string, inode: string, offset: number, perUpstream = false): string[] {
  checkPath('balancer.accessLog', file);
  if (!/^(first|-|\d+)$/.test(inode) || !Number.isInteger(offset) || offset < 0)
    throw new Error(`bad access-log position ${inode}@${offset}`);
  const script = [
    'f=$1; ino=$2; off=$3; per=$4',
    '[ -e "$f" ] || { echo "- 0"; exit 0; }',
    'set -- $(stat -L -c "%i %s" -- "$f") || exit 3',
    'echo "$1 $2"',
    'if [ "$ino" = first ]; then',
    '  [ "$per" = 1 ] && [ "$2" -gt 0 ] && tail -n 1 -- "$f" | LC_ALL=C awk ' +
      `'{ print (match($0, ${UPSTREAM_RE}) ? "tagged" : "untagged") }'`,
    '  exit 0',
    'fi',
    'if [ "$1" != "$ino" ] || [ "$2" -lt "$off" ]; then off=0; fi',
    // the snapshot's last byte: a newline means its last line is complete
    'whole=1; [ "$2" -gt "$off" ] && ' +
      '[ "$(tail -c +"$2" -- "$f" | head -c 1 | od -An -tx1 | tr -d " \\n")" != 0a ] && whole=0',
    'tail -c +"$((off + 1))" -- "$f" | head -c "$(($2 - off))" | LC_ALL=C awk -v whole="$whole" -v per="$per" \'' +
      '{ n++; len = length($0) + 1; b += len; bad = ($9 ~ /^5[0-9][0-9]$/); e += bad; ' +
      `if (per == 1) { u = SUBSEP; nt = 0; ` +
      `if (match($0, ${UPSTREAM_RE})) { u = substr($0, RSTART + 11, RLENGTH - 12); ` +
      'nt = split(u, tried, /, | : /); for (i = 1; i < nt; i++) f[tried[i]]++; ' +
      'sub(/.*(, | : )/, "", u) } r[u]++; x[u] += bad; t = -1; ' +
      `if (match($0, ${TIME_US_RE})) t = substr($0, RSTART + 10) / 1000; ` +
      `else if (match($0, ${TIME_S_RE})) { v = substr($0, RSTART + 16); v = substr(v, 1, index(v, "\\"") - 1); ` +
      'sub(/.*(, | : )/, "", v); if (v ~ /^[0-9]+(\\.[0-9]+)?$/) t = v * 1000 } ' +
      'if (t >= 0) { tn[u]++; tt[u] += t } } } ' +
      'END { if (n && !whole) { n--; b -= len; e -= bad; ' +
      'if (per == 1) { r[u]--; x[u] -= bad; if (t >= 0) { tn[u]--; tt[u] -= t } ' +
      'for (i = 1; i < nt; i++) f[tried[i]]-- } } ' +
      'print b + 0, n + 0, e + 0; ' +
      'for (k in f) if (!(k in r)) r[k] = 0; ' +
      'for (k in r) if (r[k] > 0 || f[k] > 0) { ' +
      'if (k == SUBSEP) printf "- %d %d %d %.3f 0\\n", r[k], x[k], tn[k], tt[k]; ' +
      'else printf "= %d %d %d %.3f %d %s\\n", r[k], x[k], tn[k], tt[k], f[k], k } }\'',
  ].join('\n');
  return ['sh', '-c', script, 'sh', file, inode, String(offset), perUpstream ? '1' : '0'];
}

/** Requests and 5xx answers counted from an access log, and (per upstream) the times of those whose line has one. */
export interface LogCounts {
  requests: number;
  http5xx: number;
  /** Lines with a time field (TIME_FIELDS). */
  timed?: number;
  /** Their milliseconds, summed. */
  totalMs?: number;
  /** Per upstream: attempts at it that failed, the line naming a later upstream that answered. */
  failed?: number;
}

export interface AccessLogRead {
  inode: string;
  size: number;
  /** First read with perUpstream, of a log with lines: whether its last line has the upstream field. */
  lastLineTagged?: boolean;
  /** Absent on the first read. */
  appended?: {
    consumed: number;
    requests: number;
    http5xx: number;
    /** With perUpstream: per upstream (the last of a line's), and the lines without the field. */
    upstreams?: Record<string, LogCounts>;
    untagged?: LogCounts;
  };
}

export function parseAccessLog(stdout: string): AccessLogRead {
  const [where, counts, ...rest] = stdout.trim().split('\n');
  const w = /^(-|\d+) (\d+)$/.exec(where?.trim() ?? '');
  if (!w)
    throw new Error(`expected the access log's inode and size, got: ${stdout.trim().slice(0, 200) || '(nothing)'}`);
  const read: AccessLogRead = { inode: w[1] as string, size: Number(w[2]) };
  if (counts === undefined) return read;
  if (counts === 'tagged' || counts === 'untagged') return { ...read, lastLineTagged: counts === 'tagged' };
  const c = /^(\d+) (\d+) (\d+)$/.exec(counts.trim());
  if (!c) throw new Error(`expected the access log's counts, got: ${counts.slice(0, 200)}`);
  const appended: NonNullable<AccessLogRead['appended']> = {
    consumed: Number(c[1]),
    requests: Number(c[2]),
    http5xx: Number(c[3]),
  };
  for (const l of rest) {
    const u = /^(=|-) (\d+) (-?\d+) (-?\d+) (-?\d+(?:\.\d+)?) (-?\d+)(?: (.+))?$/.exec(l);
    if (!u || (u[1] === '=') !== (u[7] !== undefined))
      throw new Error(`expected an upstream's counts, got: ${l.slice(0, 200)}`);
    const n = { requests: Number(u[2]), http5xx: Number(u[3]), timed: Number(u[4]), totalMs: Number(u[5]) };
    if (u[7] === undefined) appended.untagged = n;
    else (appended.upstreams ??= {})[u[7]] = { ...n, ...(Number(u[6]) ? { failed: Number(u[6]) } : {}) };
  }
  return { ...read, appended };
}

/** Running counts per upstream, from the first read on (callers take differences). */
export interface UpstreamCounts {
  upstreams: Record<string, LogCounts>;
  /** Lines without the upstream field. */
  untagged: LogCounts;
  /** Whether the log's last line had the field at the first read (absent: the log was empty or missing). */
  lastLineTagged?: boolean;
}

/**
 * Running counts of one access log, from the first read on (the counters' origin is that
 * read: callers take differences, as the watch and the benchmarks do). With `perUpstream`,
 * readUpstreams() also counts per upstream field.
 */
export class AccessLogCounts {
  private inode?: string;
  private offset = 0;
  private requests = 0;
  private http5xx = 0;
  private readonly byUpstream: UpstreamCounts = { upstreams: {}, untagged: { requests: 0, http5xx: 0 } };

  constructor(
    private readonly transport: Transport,
    readonly file: string,
    private readonly timeoutMs = 15_000,
    private readonly perUpstream = false,
  ) {
    checkPath('balancer.accessLog', file);
  }

  async read(): Promise<LogCounts> {
    const r = parseAccessLog(
      (
        await this.transport.run(accessLogArgv(this.file, this.inode ?? 'first', this.offset, this.perUpstream), {
          timeoutMs: this.timeoutMs,
        })
      ).stdout,
    );
    if (this.inode !== undefined && r.appended) {
      const from = r.inode !== this.inode || r.size < this.offset ? 0 : this.offset;
      this.offset = from + r.appended.consumed;
      this.requests += r.appended.requests;
      this.http5xx += r.appended.http5xx;
      for (const [u, c] of Object.entries(r.appended.upstreams ?? {}))
        add((this.byUpstream.upstreams[u] ??= { requests: 0, http5xx: 0 }), c);
      if (r.appended.untagged) add(this.byUpstream.untagged, r.appended.untagged);
    } else {
      this.offset = r.size;
      if (r.lastLineTagged !== undefined) this.byUpstream.lastLineTagged = r.lastLineTagged;
    }
    this.inode = r.inode;
    return { requests: this.requests, http5xx: this.http5xx };
  }

  /** read(), then the running counts per upstream (built with perUpstream). */
  async readUpstreams(): Promise<UpstreamCounts> {
    if (!this.perUpstream) throw new Error('readUpstreams() needs an AccessLogCounts built with perUpstream');
    await this.read();
    return structuredClone(this.byUpstream);
  }
}

function add(to: LogCounts, c: LogCounts): void {
  to.requests += c.requests;
  to.http5xx += c.http5xx;
  if (c.timed) {
    to.timed = (to.timed ?? 0) + c.timed;
    to.totalMs = (to.totalMs ?? 0) + (c.totalMs ?? 0);
  }
  if (c.failed) to.failed = (to.failed ?? 0) + c.failed;
}

/**
 * Per member, the counts of the upstreams `memberOf` names (the others — nginx's own answers,
 * `-`, members no longer in the pool — are left out), with their summed times where lines had
 * them, and, with `triesListed` (nginx: the field lists every member a request tried), their
 * failed attempts. Refused in one sentence when the log does not have the upstream field: its
 * last line lacked it at the first read, or lines were appended and none had it.
 */
export function countsByMember(
  read: UpstreamCounts,
  memberOf: (upstream: string) => string | undefined,
  where: { file: string; host: string; field: string },
  triesListed = false,
): Record<string, MemberCounters> {
  const tagged = Object.values(read.upstreams).reduce((n, c) => n + c.requests, 0);
  if (read.lastLineTagged === false || (tagged === 0 && read.untagged.requests > 0))
    throw new MemberCountsUnavailable(
      `the access log ${where.file} on ${where.host} does not end its lines with upstream="${where.field}", ` +
        'so baton cannot tell which member answered them',
      `add  upstream="${where.field}"  at the end of its log format for per-member counts ` +
        '(docs/configuration.md, canary)',
    );
  const out: Record<string, LogCounts> = {};
  for (const [u, c] of Object.entries(read.upstreams)) {
    const name = memberOf(u);
    if (name !== undefined) add((out[name] ??= { requests: 0, http5xx: 0 }), c);
  }
  return Object.fromEntries(
    Object.entries(out).map(([name, c]) => [
      name,
      {
        requests: c.requests,
        http5xx: c.http5xx,
        ...(c.timed ? { latency: [{ timed: c.timed, totalMs: c.totalMs ?? 0 }] } : {}),
        ...(triesListed ? { failed: c.failed ?? 0 } : {}),
      },
    ]),
  );
}
