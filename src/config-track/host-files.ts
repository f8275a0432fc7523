// The two commands a snapshot or a drift check runs on a host, and the parsing of what they print.
// `listTracked` reads names, metadata and a sha-256 of every tracked file in one round trip;
// `fetchFiles` then reads only the files whose hash is new. Excluded paths are matched on the host
// before anything opens them, so a secret is never read; paths and patterns travel as positional
// parameters of fixed scripts, never spliced into them.
import { posix } from 'node:path';
import { BugError } from '../errors.js';

/** The package list, tracked like a file under this name. */
export const PACKAGES = '@packages';

export type EntryKind = 'file' | 'link' | 'dir' | 'missing' | 'excluded' | 'unreadable' | 'special' | 'large';

/** One tracked path as a host reports it. */
export interface TrackedEntry {
  path: string;
  kind: EntryKind;
  /** Octal permission bits (files, links, folders). */
  mode?: string;
  /** user:group */
  owner?: string;
  size?: number;
  /** sha-256 of the content (file, large, the package list). */
  sha256?: string;
  /** Where a link points. */
  target?: string;
  /** Why a path could not be read. */
  error?: string;
}

const KIND_BY_CODE: Record<string, EntryKind> = {
  f: 'file',
  l: 'link',
  d: 'dir',
  m: 'missing',
  x: 'excluded',
  u: 'unreadable',
  s: 'special',
  b: 'large',
};

// One record per path: `code<TAB>mode<TAB>owner<TAB>size<TAB>value<TAB>path<NUL>`; value is the hash,
// the link target or the error. The path comes last, so a tab in it cannot shift the fields.
const ENTRY = [
  'for f; do',
  // Excluded: matched before anything reads it (a case pattern: * spans /).
  '  if printf "%s\\n" "$BATON_EXCLUDE" | { while IFS= read -r pat; do [ -n "$pat" ] && case $f in $pat) ' +
    'exit 0;; esac; done; exit 1; }; then',
  '    printf "x\\t-\\t-\\t0\\t-\\t%s\\0" "$f"; continue',
  '  fi',
  '  meta=$(stat -c "%a\t%U:%G\t%s" -- "$f" 2>/dev/null) ' +
    '|| { printf "u\\t-\\t-\\t0\\tcannot stat\\t%s\\0" "$f"; continue; }',
  '  if [ -L "$f" ]; then printf "l\\t%s\\t%s\\t%s\\0" "$meta" "$(readlink -- "$f")" "$f"; continue; fi',
  '  if [ -d "$f" ]; then printf "d\\t%s\\t-\\t%s\\0" "$meta" "$f"; continue; fi',
  // A socket or fifo is never opened: reading a fifo would wait for ever.
  '  if [ ! -f "$f" ]; then printf "s\\t%s\\t-\\t%s\\0" "$meta" "$f"; continue; fi',
  '  if ! h=$(sha256sum < "$f" 2>&1); then printf "u\\t%s\\t%s\\t%s\\0" "$meta" "$(printf "%s" "$h" | tr ' +
    '"\\t\\n" "  " | cut -c1-200)" "$f"; continue; fi',
  '  size=${meta##*\t}; code=f; [ "$size" -gt "$BATON_MAX" ] && code=b',
  '  printf "%s\\t%s\\t%s\\t%s\\0" "$code" "$meta" "${h%% *}" "$f"',
  'done',
].join('\n');

const LIST = [
  'export BATON_MAX="$1" BATON_EXCLUDE="$2"; packages=$3; shift 3',
  `entry='${ENTRY.replace(/'/g, `'\\''`)}'`,
  'for p; do',
  '  if [ ! -e "$p" ] && [ ! -L "$p" ]; then printf "m\\t-\\t-\\t0\\t-\\t%s\\0" "$p"; continue; fi',
  // A link given as a tracked path is recorded as a link, never followed.
  '  if [ -L "$p" ]; then sh -c "$entry" sh "$p"; else find "$p" -exec sh -c "$entry" sh {} +; fi',
  'done',
  'if [ "$packages" = 1 ]; then',
  '  if command -v dpkg-query >/dev/null 2>&1; then l=$(dpkg-query -W -f "\\${Package}=\\${Version}\\n" | ' +
    'LC_ALL=C sort)',
  '  elif command -v rpm >/dev/null 2>&1; then l=$(rpm -qa | LC_ALL=C sort)',
  '  else l=; fi',
  '  if [ -n "$l" ]; then printf "f\\t-\\t-\\t%s\\t%s\\t@packages\\0" "$(printf "%s\\n" "$l" | wc -c)" ' +
    '"$(printf "%s\\n" "$l" | sha256sum | cut -d" " -f1)"',
  '  else printf "u\\t-\\t-\\t0\\tno dpkg-query or rpm on this host\\t@packages\\0"; fi',
  'fi',
].join('\n');

export interface ListOptions {
  paths: readonly string[];
  exclude: readonly string[];
  maxFileSize: number;
  packages: boolean;
}

/** argv listing every tracked path with its metadata and hash; nothing excluded is opened. */
export function listTracked(opts: ListOptions): string[] {
  for (const p of opts.exclude)
    if (/[\n\0]/.test(p)) throw new BugError(`exclude pattern ${JSON.stringify(p)} has a line break`);
  return [
    'sh',
    '-c',
    LIST,
    'sh',
    String(opts.maxFileSize),
    opts.exclude.join('\n'),
    opts.packages ? '1' : '0',
    ...opts.paths,
  ];
}

/**
 * What listTracked printed, as entries; a record that is not under a tracked root is refused (a host must not name
 * files elsewhere).
 */
export function parseListing(stdout: string, roots: readonly string[]): TrackedEntry[] {
  const out: TrackedEntry[] = [];
  const seen = new Set<string>();
  for (const record of stdout.split('\0')) {
    if (record.trim() === '') continue;
    const fields = record.replace(/^\n/, '').split('\t');
    if (fields.length < 6) throw new Error(`unexpected listing record ${JSON.stringify(record.slice(0, 80))}`);
    const [code, mode, owner, size, value] = fields as [string, string, string, string, string];
    const path = fields.slice(5).join('\t');
    const kind = KIND_BY_CODE[code];
    if (!kind) throw new Error(`unexpected listing record ${JSON.stringify(record.slice(0, 80))}`);
    if (!isUnderRoots(path, roots))
      throw new Error(`the host listed ${JSON.stringify(path)}, which is not under a tracked path`);
    if (seen.has(path)) continue; // a path under two tracked roots
    seen.add(path);
    const entry: TrackedEntry = { path, kind };
    if (mode !== '-') entry.mode = mode;
    if (owner !== '-') entry.owner = owner;
    if (['file', 'large', 'special', 'dir'].includes(kind) || (kind === 'unreadable' && size !== '0'))
      entry.size = Number(size);
    if ((kind === 'file' || kind === 'large') && /^[0-9a-f]{64}$/.test(value)) entry.sha256 = value;
    if (kind === 'link') entry.target = value;
    if (kind === 'unreadable') entry.error = value;
    out.push(entry);
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function isUnderRoots(path: string, roots: readonly string[]): boolean {
  if (path === PACKAGES) return true;
  if (posix.normalize(path) !== path || !path.startsWith('/')) return false;
  return roots.some((r) => path === r || path.startsWith(r.endsWith('/') ? r : `${r}/`));
}

const FETCH = [
  'for f; do',
  '  if [ "$f" = @packages ]; then',
  '    if command -v dpkg-query >/dev/null 2>&1; then c=$(dpkg-query -W -f "\\${Package}=\\${Version}\\n" | ' +
    'LC_ALL=C sort | base64 -w0); else c=$(rpm -qa | LC_ALL=C sort | base64 -w0); fi',
  '    printf "ok\\t%s\\t%s\\0" "$f" "$c"; continue',
  '  fi',
  '  if [ -f "$f" ] && [ ! -L "$f" ] && c=$(base64 -w0 < "$f" 2>/dev/null); ' +
    'then printf "ok\\t%s\\t%s\\0" "$f" "$c"; else printf "err\\t%s\\t\\0" "$f"; fi',
  'done',
].join('\n');

/** argv printing the content of each named file (base64), one record per file. */
export function fetchFiles(paths: readonly string[]): string[] {
  return ['sh', '-c', FETCH, 'sh', ...paths];
}

/** What fetchFiles printed: content per path; a path it could not read maps to null. */
export function parseFetched(stdout: string): Map<string, Buffer | null> {
  const out = new Map<string, Buffer | null>();
  for (const record of stdout.split('\0')) {
    if (record === '') continue;
    const first = record.indexOf('\t');
    const last = record.lastIndexOf('\t');
    if (first < 0 || last === first) throw new Error(`unexpected file record ${JSON.stringify(record.slice(0, 80))}`);
    const status = record.slice(0, first);
    const path = record.slice(first + 1, last);
    out.set(path, status === 'ok' ? Buffer.from(record.slice(last + 1), 'base64') : null);
  }
  return out;
}
