// Requests and 5xx answers of a public frontend, counted from its access log on the balancer
// host: Apache and nginx keep no per-frontend count of their members' 5xx answers anywhere
// else, and the post-flip watch needs exactly that. Common and combined log formats (the
// status is the 9th field). Only what was appended since the previous read is read.
import type { Transport } from '../transport/types.js';
import { checkPath } from './balancer-files.js';

/**
 * Where the log stands (`inode size`, or `- 0` when it does not exist yet) and, unless `inode`
 * is `first` (the first read), a second line for the bytes appended since `offset`: `consumed
 * requests 5xx`, complete lines only (a line still being written is left for the next read). A
 * log with another inode or shorter than `offset` was rotated or truncated: read from its start.
 */
export function accessLogArgv(file: string, inode: string, offset: number): string[] {
  checkPath('balancer.accessLog', file);
  if (!/^(first|-|\d+)$/.test(inode) || !Number.isInteger(offset) || offset < 0)
    throw new Error(`bad access-log position ${inode}@${offset}`);
  const script = [
    'f=$1; ino=$2; off=$3',
    '[ -e "$f" ] || { echo "- 0"; exit 0; }',
    'set -- $(stat -L -c "%i %s" -- "$f") || exit 3',
    'echo "$1 $2"',
    '[ "$ino" = first ] && exit 0',
    'if [ "$1" != "$ino" ] || [ "$2" -lt "$off" ]; then off=0; fi',
    // the snapshot's last byte: a newline means its last line is complete
    'whole=1; [ "$2" -gt "$off" ] && ' +
      '[ "$(tail -c +"$2" -- "$f" | head -c 1 | od -An -tx1 | tr -d " \\n")" != 0a ] && whole=0',
    'tail -c +"$((off + 1))" -- "$f" | head -c "$(($2 - off))" | LC_ALL=C awk -v whole="$whole" \'' +
      '{ n++; len = length($0) + 1; b += len; bad = ($9 ~ /^5[0-9][0-9]$/); e += bad } ' +
      "END { if (n && !whole) { n--; b -= len; e -= bad } print b + 0, n + 0, e + 0 }'",
  ].join('\n');
  return ['sh', '-c', script, 'sh', file, inode, String(offset)];
}

export interface AccessLogRead {
  inode: string;
  size: number;
  /** Absent on the first read. */
  appended?: { consumed: number; requests: number; http5xx: number };
}

export function parseAccessLog(stdout: string): AccessLogRead {
  const [where, counts] = stdout.trim().split('\n');
  const w = /^(-|\d+) (\d+)$/.exec(where?.trim() ?? '');
  if (!w)
    throw new Error(`expected the access log's inode and size, got: ${stdout.trim().slice(0, 200) || '(nothing)'}`);
  const read: AccessLogRead = { inode: w[1] as string, size: Number(w[2]) };
  if (counts === undefined) return read;
  const c = /^(\d+) (\d+) (\d+)$/.exec(counts.trim());
  if (!c) throw new Error(`expected the access log's counts, got: ${counts.slice(0, 200)}`);
  return { ...read, appended: { consumed: Number(c[1]), requests: Number(c[2]), http5xx: Number(c[3]) } };
}

/**
 * Running counts of one access log, from the first read on (the counters' origin is that
 * read: callers take differences, as the watch and the benchmarks do).
 */
export class AccessLogCounts {
  private inode?: string;
  private offset = 0;
  private requests = 0;
  private http5xx = 0;

  constructor(
    private readonly transport: Transport,
    private readonly file: string,
    private readonly timeoutMs = 15_000,
  ) {
    checkPath('balancer.accessLog', file);
  }

  async read(): Promise<{ requests: number; http5xx: number }> {
    const r = parseAccessLog(
      (
        await this.transport.run(accessLogArgv(this.file, this.inode ?? 'first', this.offset), {
          timeoutMs: this.timeoutMs,
        })
      ).stdout,
    );
    if (this.inode !== undefined && r.appended) {
      const from = r.inode !== this.inode || r.size < this.offset ? 0 : this.offset;
      this.offset = from + r.appended.consumed;
      this.requests += r.appended.requests;
      this.http5xx += r.appended.http5xx;
    } else {
      this.offset = r.size;
    }
    this.inode = r.inode;
    return { requests: this.requests, http5xx: this.http5xx };
  }
}
