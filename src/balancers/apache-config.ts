// Reading and editing the `status=` of BalancerMember lines inside `<Proxy balancer://NAME>`,
// so the state set through balancer-manager is also what the config file says: with
// BalancerPersist Off, a graceful restart rebuilds every worker from these lines.
import type { ApacheAdmin } from './apache-manager.js';

export interface ConfigMember {
  workerUrl: string;
  route?: string;
  /** Flags the line's `status=` leaves set (letters: N drain, D disabled, S stopped, H standby, I ignore errors…). */
  flags: string[];
  /** The line's `loadfactor=`, 1 when it has none (Apache's default). */
  loadFactor: number;
  /** 0-based line in the file. */
  line: number;
}

/** The flags baton owns; any other flag on a line (H, I, R…) is left as it is. */
const OWNED = ['N', 'D', 'S'];

/** The BalancerMember lines inside `<Proxy balancer://NAME>`; undefined when the file has no such block. */
export function configMembers(text: string, balancer: string): ConfigMember[] | undefined {
  const lines = text.split('\n');
  const block = findBlock(lines, balancer);
  if (!block) return undefined;
  const out: ConfigMember[] = [];
  for (let i = block.start + 1; i < block.end; i++) {
    const m = parseMemberLine(lines[i] as string);
    if (m) out.push({ ...m, line: i });
  }
  return out;
}

/** The administrative state a line's flags mean (the same reading as the manager's status words). */
export function adminOfFlags(flags: readonly string[]): ApacheAdmin {
  if (flags.includes('D') || flags.includes('S')) return 'maint';
  if (flags.includes('N')) return 'drain';
  return 'ready';
}

/** Flags for a state: drain is N, maint is D, ready is none of baton's. */
export function flagsOfAdmin(admin: ApacheAdmin): string[] {
  return admin === 'drain' ? ['N'] : admin === 'maint' ? ['D'] : [];
}

/**
 * The file with each named worker's line set to `admin` (other flags and parameters kept);
 * `missing` lists the workers with no line in the block. Lines already in that state are not
 * touched, so `changed` is false when the file already says so.
 */
export function setConfigState(
  text: string,
  balancer: string,
  workerUrls: readonly string[],
  admin: ApacheAdmin,
): { text: string; changed: boolean; missing: string[] } {
  const lines = text.split('\n');
  const members = configMembers(text, balancer) ?? [];
  const missing: string[] = [];
  let changed = false;
  for (const url of workerUrls) {
    const m = members.find((x) => sameWorker(x.workerUrl, url));
    if (!m) {
      missing.push(url);
      continue;
    }
    if (
      adminOfFlags(m.flags) === admin &&
      m.flags.filter((f) => OWNED.includes(f)).join('') === flagsOfAdmin(admin).join('')
    )
      continue;
    const flags = [...m.flags.filter((f) => !OWNED.includes(f)), ...flagsOfAdmin(admin)];
    lines[m.line] = withStatus(lines[m.line] as string, flags);
    changed = true;
  }
  return { text: lines.join('\n'), changed, missing };
}

/**
 * The file with each named worker's `loadfactor=` set (other parameters kept): 1, Apache's
 * default, is written as no parameter at all, so a file weighed and then evened out again reads as
 * it did. `missing` lists the workers with no line in the block; `changed` is false when the file
 * already says so.
 */
export function setConfigLoadFactors(
  text: string,
  balancer: string,
  factors: readonly { workerUrl: string; loadFactor: number }[],
): { text: string; changed: boolean; missing: string[] } {
  const lines = text.split('\n');
  const members = configMembers(text, balancer) ?? [];
  const missing: string[] = [];
  let changed = false;
  for (const { workerUrl, loadFactor } of factors) {
    const m = members.find((x) => sameWorker(x.workerUrl, workerUrl));
    if (!m) {
      missing.push(workerUrl);
      continue;
    }
    if (m.loadFactor === loadFactor) continue;
    lines[m.line] = withLoadFactor(lines[m.line] as string, loadFactor);
    changed = true;
  }
  return { text: lines.join('\n'), changed, missing };
}

/** Worker URLs compare without a trailing slash and with the scheme and host in lower case. */
export function sameWorker(a: string, b: string): boolean {
  return normalise(a) === normalise(b);
}

function normalise(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^/]+)(.*)$/i.exec(url.trim());
  const base = m ? (m[1] as string).toLowerCase() + (m[2] as string) : url.trim();
  return base.replace(/\/+$/, '');
}

function findBlock(lines: readonly string[], balancer: string): { start: number; end: number } | undefined {
  const open = new RegExp(`^\\s*<Proxy\\s+"?balancer://${balancer.replace(/[.]/g, '\\.')}/?"?\\s*>`, 'i');
  const start = lines.findIndex((l) => open.test(l));
  if (start < 0) return undefined;
  const end = lines.findIndex((l, i) => i > start && /^\s*<\/Proxy\s*>/i.test(l));
  return end < 0 ? undefined : { start, end };
}

const MEMBER_LINE = /^(\s*BalancerMember\s+)("[^"]*"|\S+)(.*)$/i;

function parseMemberLine(line: string): Omit<ConfigMember, 'line'> | undefined {
  const m = MEMBER_LINE.exec(line);
  if (!m) return undefined;
  const params = paramsOf(m[3] as string);
  const route = params.get('route');
  const loadFactor = Number(params.get('loadfactor') ?? 1);
  return {
    workerUrl: (m[2] as string).replace(/^"|"$/g, ''),
    ...(route !== undefined ? { route } : {}),
    flags: flagsOfStatus(params.get('status') ?? ''),
    loadFactor: Number.isFinite(loadFactor) ? loadFactor : 1,
  };
}

function paramsOf(rest: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of rest.matchAll(/([A-Za-z]+)=("[^"]*"|\S+)/g))
    out.set((m[1] as string).toLowerCase(), (m[2] as string).replace(/^"|"$/g, ''));
  return out;
}

/** `status=` as Apache reads it: letters are set, or cleared after a `-` until the next `+`. */
export function flagsOfStatus(value: string): string[] {
  const set = new Set<string>();
  let on = true;
  for (const ch of value.toUpperCase()) {
    if (ch === '+') on = true;
    else if (ch === '-') on = false;
    else if (on) set.add(ch);
    else set.delete(ch);
  }
  return [...set];
}

/** The line with its `loadfactor=` replaced (or added, or removed for 1), where the other parameters were. */
function withLoadFactor(line: string, loadFactor: number): string {
  const param = /(\s)loadfactor=("[^"]*"|\S+)/i;
  if (param.test(line))
    return loadFactor === 1
      ? line.replace(/\s+loadfactor=("[^"]*"|\S+)/i, '')
      : line.replace(param, `$1loadfactor=${loadFactor}`);
  return loadFactor === 1 ? line : `${line.replace(/\s+$/, '')} loadfactor=${loadFactor}`;
}

/** The line with its `status=` replaced (or added, or removed when no flag is left). */
function withStatus(line: string, flags: readonly string[]): string {
  const without = line.replace(/\s+status=("[^"]*"|\S+)/i, '').replace(/\s+$/, '');
  return flags.length > 0 ? `${without} status=+${flags.join('')}` : without;
}
