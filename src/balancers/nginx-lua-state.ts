// Pure parts of the reload-free nginx mode (balancer.mode: lua): the JSON state file the Lua
// side (templates/nginx/baton_balancer.lua) loads, the control endpoint's answers, and the argv
// that read and write the file and call the endpoint on the balancer host. Nothing here runs
// anything; values reach the shell only as positional parameters or stdin.
import { checkPath, escapeEre } from './balancer-files.js';
import { checkUpstreamName } from './nginx-commands.js';

/** What the Lua side knows of a member: nginx sends it requests only in state ready. */
export type LuaMemberState = 'ready' | 'drain';

export interface LuaMember {
  name: string;
  address: string;
  port: number;
  state: LuaMemberState;
  /**
   * Its share of new requests relative to the other ready members' (smooth weighted round robin),
   * 1-LUA_MAX_WEIGHT; absent in the file means 1. Absent in a control read: the Lua side is older
   * than weights and balances evenly.
   */
  weight?: number;
}

/**
 * The largest weight the Lua side takes (baton_balancer.lua's MAX_WEIGHT): HAProxy's 256, so one number means the same
 * on both.
 */
export const LUA_MAX_WEIGHT = 256;

/** The state file: each upstream's members. */
export type LuaState = Record<string, LuaMember[]>;

/** A member as the control endpoint reports it: with the requests it has in flight. */
export interface LuaMemberRead extends LuaMember {
  inflight: number;
}

export interface ControlRead {
  upstream: string;
  members: LuaMemberRead[];
  /** When the Lua side last loaded this upstream from the file (s since the epoch). */
  loadedAt?: number;
}

// The same rules as baton_balancer.lua's checks: what one side writes the other reads.
const MEMBER_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const ADDRESS = /^[A-Za-z0-9.:-]+$/;

/** One upstream's members, checked; throws naming the first problem. */
function checkMembers(upstream: string, list: unknown, withInflight: boolean): LuaMemberRead[] {
  if (!Array.isArray(list)) throw new Error(`upstream ${upstream} is not a list of members`);
  const seen = new Set<string>();
  return list.map((m: unknown, i) => {
    const where = `upstream ${upstream} member ${i + 1}`;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new Error(`${where} is not an object`);
    const { name, address, port, state, inflight, weight } = m as Record<string, unknown>;
    if (typeof name !== 'string' || !MEMBER_NAME.test(name))
      throw new Error(`${where}: name must be letters, digits and . _ : -`);
    if (seen.has(name)) throw new Error(`${where}: name ${name} twice`);
    seen.add(name);
    if (typeof address !== 'string' || !ADDRESS.test(address))
      throw new Error(`${where} (${name}): address must be an IP address or host name`);
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
      throw new Error(`${where} (${name}): port must be 1-65535`);
    if (state !== 'ready' && state !== 'drain') throw new Error(`${where} (${name}): state must be ready or drain`);
    if (
      weight !== undefined &&
      (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > LUA_MAX_WEIGHT)
    )
      throw new Error(`${where} (${name}): weight must be a whole number 1-${LUA_MAX_WEIGHT}`);
    const count = withInflight ? inflight : 0;
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 0)
      throw new Error(`${where} (${name}): inflight must be a count`);
    return { name, address, port, state, ...(weight !== undefined ? { weight } : {}), inflight: count };
  });
}

/** The state file's text, checked as the Lua side checks it; throws naming the first problem. */
export function parseLuaState(text: string): LuaState {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new Error(`not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw new Error('expected an object of upstreams, { "NAME": [members] }');
  const out: LuaState = {};
  for (const [upstream, list] of Object.entries(data)) {
    if (!/^[A-Za-z0-9_.-]+$/.test(upstream)) throw new Error(`bad upstream name ${JSON.stringify(upstream)}`);
    out[upstream] = checkMembers(upstream, list, false).map(({ inflight: _, ...member }) => member);
  }
  return out;
}

/** The file as baton writes it: two-space JSON, members in their order, a final newline. */
export function renderLuaState(state: LuaState): string {
  return `${JSON.stringify(state, null, 2)}\n`;
}

/** A member by its name or by `address:port`. */
export function findLuaMember<M extends LuaMember>(members: readonly M[], name: string): M | undefined {
  return members.find((m) => m.name === name) ?? members.find((m) => `${m.address}:${m.port}` === name);
}

/**
 * `state` with `ready` put back in rotation and `drain` taken out of it, in `upstream` only;
 * `missing` lists names the upstream does not have (nothing is changed for them).
 */
export function setLuaStates(
  state: LuaState,
  upstream: string,
  ready: readonly string[],
  drain: readonly string[],
): { state: LuaState; changed: boolean; missing: string[] } {
  const members = (state[upstream] ?? []).map((m) => ({ ...m }));
  const missing: string[] = [];
  let changed = false;
  const set = (names: readonly string[], to: LuaMemberState) => {
    for (const n of names) {
      const m = findLuaMember(members, n);
      if (!m) missing.push(n);
      else if (m.state !== to) {
        m.state = to;
        changed = true;
      }
    }
  };
  set(ready, 'ready');
  set(drain, 'drain');
  return { state: { ...state, [upstream]: members }, changed, missing };
}

/**
 * `state` with the named members of `upstream` given these weights (a member without one in the
 * file has 1); `missing` lists names the upstream does not have.
 */
export function setLuaWeights(
  state: LuaState,
  upstream: string,
  weights: readonly (readonly [string, number])[],
): { state: LuaState; changed: boolean; missing: string[] } {
  const members = (state[upstream] ?? []).map((m) => ({ ...m }));
  const missing: string[] = [];
  let changed = false;
  for (const [n, w] of weights) {
    const m = findLuaMember(members, n);
    if (!m) missing.push(n);
    else if ((m.weight ?? 1) !== w) {
      m.weight = w;
      changed = true;
    }
  }
  return { state: { ...state, [upstream]: members }, changed, missing };
}

/** The control endpoint's answer to GET or POST: the members as the Lua side holds them, or its refusal. */
export function parseControlAnswer(stdout: string, upstream: string): ControlRead {
  let data: unknown;
  try {
    data = JSON.parse(stdout);
  } catch {
    throw new Error(`expected JSON from the control endpoint, got: ${stdout.trim().slice(0, 200) || '(nothing)'}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw new Error(`expected an object from the control endpoint, got: ${stdout.trim().slice(0, 200)}`);
  const d = data as Record<string, unknown>;
  if (typeof d['error'] === 'string') throw new ControlRefusal(d['error']);
  if (d['upstream'] !== upstream)
    throw new Error(`the control endpoint answered for upstream ${JSON.stringify(d['upstream'])}, not ${upstream}`);
  // An empty Lua table may come back as {} rather than [].
  const list =
    d['members'] !== null &&
    typeof d['members'] === 'object' &&
    !Array.isArray(d['members']) &&
    Object.keys(d['members']).length === 0
      ? []
      : d['members'];
  const members = checkMembers(upstream, list, true);
  return { upstream, members, ...(typeof d['loadedAt'] === 'number' ? { loadedAt: d['loadedAt'] } : {}) };
}

/** The control endpoint said no (its `error`): no such upstream loaded, a bad state file, a bad request. */
export class ControlRefusal extends Error {}

const CURL = ['curl', '-sS', '-m', '5', '--fail-with-body'];

function checkControlUrl(url: string): string {
  if (!/^https?:\/\/[^\s]+$/.test(url))
    throw new Error(`balancer.controlUrl ${JSON.stringify(url)} is not an http(s) URL`);
  return url;
}

/** GET the members of `upstream` from the control endpoint (curl on the balancer host). */
export function controlGetArgv(url: string, upstream: string): string[] {
  const u = checkControlUrl(url);
  return [...CURL, `${u}${u.includes('?') ? '&' : '?'}upstream=${checkUpstreamName(upstream)}`];
}

/** POST: make the Lua side load `upstream` from the state file again; the body goes on stdin. */
export function controlReloadArgv(url: string, upstream: string): { argv: string[]; stdin: string } {
  return {
    argv: [...CURL, '-X', 'POST', '-H', 'Content-Type: application/json', '--data-binary', '@-', checkControlUrl(url)],
    stdin: JSON.stringify({ upstream: checkUpstreamName(upstream), reload: true }),
  };
}

/** Exit code of writeLuaStateArgv when the file is no longer what was read (someone changed it meanwhile). */
export const CHANGED_MEANWHILE = 98;

/** The state file with a first line saying where it stands: `missing`, or `present SHA256` then the text. */
export function readLuaStateArgv(file: string): string[] {
  const script = [
    'f=$1',
    'if [ ! -e "$f" ]; then echo missing; exit 0; fi',
    'set -- $(sha256sum < "$f") || exit 3',
    'echo "present $1"',
    'exec cat -- "$f"',
  ].join('\n');
  return ['sh', '-c', script, 'sh', checkPath('balancer.stateFile', file)];
}

/** Parse readLuaStateArgv's answer: undefined text when the file does not exist. */
export function parseLuaStateRead(stdout: string): { version: string; text?: string } {
  const nl = stdout.indexOf('\n');
  const head = (nl < 0 ? stdout : stdout.slice(0, nl)).trim();
  if (head === 'missing') return { version: 'missing' };
  const m = /^present ([0-9a-f]{64})$/.exec(head);
  if (!m) throw new Error(`expected "missing" or "present SHA256" first, got: ${head.slice(0, 200) || '(nothing)'}`);
  return { version: m[1] as string, text: nl < 0 ? '' : stdout.slice(nl + 1) };
}

/**
 * Replace the state file with stdin, only if it is still what was read (`version`: its SHA256,
 * or `missing`), else exit CHANGED_MEANWHILE: written beside it and renamed over it (never a
 * half-written file), owner and mode kept.
 */
export function writeLuaStateArgv(file: string, version: string): string[] {
  if (version !== 'missing' && !/^[0-9a-f]{64}$/.test(version)) throw new Error(`bad state-file version ${version}`);
  const script = [
    'set -e',
    'f=$1; was=$2',
    'if [ -e "$f" ]; then now=$(sha256sum < "$f" | cut -d" " -f1); else now=missing; fi',
    `[ "$now" = "$was" ] || exit ${CHANGED_MEANWHILE}`,
    'cat > "$f.baton-new"',
    // A user that is not root may give a file only to itself: the owner is kept where it can be.
    'if [ -e "$f" ]; then { chown --reference="$f" "$f.baton-new" 2>/dev/null || [ "$(id -u)" != 0 ]; }; ' +
      'chmod --reference="$f" "$f.baton-new"; else chmod 644 "$f.baton-new"; fi',
    'mv -f "$f.baton-new" "$f"',
  ].join('\n');
  return ['sh', '-c', script, 'sh', checkPath('balancer.stateFile', file), version];
}

/**
 * Error-log lines where the Lua side had no ready member for the upstream (nginx answered 502):
 * nginx's own "no live upstreams" line names no upstream when no peer was ever set.
 */
export function noReadyMemberPattern(upstream: string): string {
  return `baton: upstream ${escapeEre(checkUpstreamName(upstream))} has no ready member`;
}
