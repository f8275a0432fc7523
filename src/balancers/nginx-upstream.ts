// Reading and editing `upstream NAME { server ADDR … ; }` blocks: nginx 1.22 has no runtime
// API, so a member leaves the pool by gaining the `down` parameter in the file.

export interface UpstreamServer {
  /** The trailing `# name` comment when there is one, else `address:port`. */
  name: string;
  address: string;
  port?: number;
  params: string[];
  down: boolean;
  /** 0-based line in the file. */
  line: number;
}

/**
 * The servers of `upstream NAME`, undefined when the file has no such block. One `server`
 * directive per line (what baton writes and reads); anything else in the block is left alone.
 */
export function upstreamServers(text: string, upstream: string): UpstreamServer[] | undefined {
  const lines = text.split('\n');
  const block = findBlock(lines, upstream);
  if (!block) return undefined;
  const out: UpstreamServer[] = [];
  for (let i = block.start + 1; i < block.end; i++) {
    const s = parseServerLine(lines[i] as string);
    if (s) out.push({ ...s, line: i });
  }
  return out;
}

/** The file with `down` added to (or removed from) the named servers; `missing` lists names not found. */
export function setDown(
  text: string,
  upstream: string,
  names: readonly string[],
  down: boolean,
): { text: string; changed: boolean; missing: string[] } {
  const lines = text.split('\n');
  const servers = upstreamServers(text, upstream) ?? [];
  const missing: string[] = [];
  let changed = false;
  for (const name of names) {
    const s = findServer(servers, name);
    if (!s) {
      missing.push(name);
      continue;
    }
    if (s.down === down) continue;
    lines[s.line] = withDown(lines[s.line] as string, down);
    changed = true;
  }
  return { text: lines.join('\n'), changed, missing };
}

/** A server by its name or by `address:port`. */
export function findServer(servers: readonly UpstreamServer[], name: string): UpstreamServer | undefined {
  return servers.find((s) => s.name === name) ?? servers.find((s) => `${s.address}:${s.port ?? 80}` === name);
}

function findBlock(lines: readonly string[], upstream: string): { start: number; end: number } | undefined {
  const open = new RegExp(`^\\s*upstream\\s+${upstream.replace(/[.]/g, '\\.')}\\s*\\{\\s*(#.*)?$`);
  const start = lines.findIndex((l) => open.test(l));
  if (start < 0) return undefined;
  const end = lines.findIndex((l, i) => i > start && /^\s*\}\s*(#.*)?$/.test(l));
  return end < 0 ? undefined : { start, end };
}

const SERVER_LINE = /^\s*server\s+([^\s;]+)((?:\s+[^\s;#]+)*)\s*;\s*(?:#\s*(.*?))?\s*$/;

function parseServerLine(line: string): Omit<UpstreamServer, 'line'> | undefined {
  const m = SERVER_LINE.exec(line);
  if (!m) return undefined;
  const target = m[1] as string;
  const params = (m[2] ?? '').trim().split(/\s+/).filter(Boolean);
  const hp = /^\[([^\]]+)\](?::(\d+))?$/.exec(target) ?? /^([^:]+)(?::(\d+))?$/.exec(target);
  const address = hp ? (hp[1] as string) : target;
  const port = hp?.[2] ? Number(hp[2]) : undefined;
  const comment = (m[3] ?? '').trim();
  const name = /^[A-Za-z0-9_.:-]+$/.test(comment) ? comment : `${address}:${port ?? 80}`;
  return { name, address, ...(port !== undefined ? { port } : {}), params, down: params.includes('down') };
}

function withDown(line: string, down: boolean): string {
  const m = /^(\s*server\s+[^\s;]+)((?:\s+[^\s;#]+)*)(\s*;.*)$/.exec(line) as RegExpExecArray;
  const params = (m[2] ?? '')
    .trim()
    .split(/\s+/)
    .filter((p) => p !== '' && p !== 'down');
  if (down) params.push('down');
  return `${m[1]}${params.map((p) => ` ${p}`).join('')}${m[3]}`;
}
