// Pure builders for HAProxy 2.6 runtime API lines and the argv that carries them to the
// socket. Nothing here runs anything: the driver hands the result to one transport.
import { UserError } from '../errors.js';
import { raised } from '../transport/privilege.js';

/** Administrative states the runtime API can set (`set server BE/SRV state …`). */
export type AdminState = 'ready' | 'drain' | 'maint';

import { HAPROXY_NAME as NAME } from '../config/balancer-names.js';
const SOCKET = /^\/[A-Za-z0-9_./-]+$/;
const CONFIG_FILE = /^\/[^\0]+$/;

/** A backend or server name safe to put on a runtime API line (`;` or a space would split it). */
export function checkName(kind: 'backend' | 'server' | 'table', name: string): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new UserError(
      `haproxy ${kind} name ${JSON.stringify(name)} (${typeof name}) is not usable: expected letters, digits, _ . : -`,
      `rename the ${kind} in haproxy.cfg and baton.yml`,
    );
  }
  return name;
}

/** `set server BE/SRV state drain|ready|maint`. */
export function setServerState(backend: string, server: string, state: AdminState): string {
  return `set server ${checkName('backend', backend)}/${checkName('server', server)} state ${state}`;
}

/** `set server BE/SRV health up`: the server counts as passing its checks until the next one says otherwise. */
export function setServerHealthUp(backend: string, server: string): string {
  return `set server ${checkName('backend', backend)}/${checkName('server', server)} health up`;
}

/** HAProxy's own weight range (`set weight`, `weight` on a server line): 0 takes no new traffic. */
export const HAPROXY_MAX_WEIGHT = 256;

/**
 * `set weight BE/SRV W`: the server's weight from now on, relative to the others' (an absolute 0-256, never a
 * percentage).
 */
export function setWeight(backend: string, server: string, weight: number): string {
  if (!Number.isInteger(weight) || weight < 0 || weight > HAPROXY_MAX_WEIGHT)
    throw new UserError(
      `haproxy weight ${String(weight)} for ${server} is not a whole number from 0 to ${HAPROXY_MAX_WEIGHT}`,
    );
  return `set weight ${checkName('backend', backend)}/${checkName('server', server)} ${weight}`;
}

/** `shutdown sessions server BE/SRV`: cut every session still open on the server. */
export function shutdownSessions(backend: string, server: string): string {
  return `shutdown sessions server ${checkName('backend', backend)}/${checkName('server', server)}`;
}

/** `show table T data.server_id eq ID`: the stick-table entries bound to one server. */
export function showTableOfServer(table: string, serverId: number): string {
  return `show table ${checkName('table', table)} data.server_id eq ${serverIdOf(serverId)}`;
}

/** `show table T data.server_id lt 0`: the table's header and no entry — whether the table exists. */
export function showTableHeader(table: string): string {
  return `show table ${checkName('table', table)} data.server_id lt 0`;
}

/** `clear table T data.server_id eq ID`: drop the stick-table entries bound to one server. */
export function clearTableOfServer(table: string, serverId: number): string {
  return `clear table ${checkName('table', table)} data.server_id eq ${serverIdOf(serverId)}`;
}

function serverIdOf(id: number): number {
  if (!Number.isInteger(id) || id < 0) throw new Error(`haproxy server id ${id} is not a whole number`);
  return id;
}

/** Stat types are a bit field: 2 = the backend row, 4 = server rows. */
export const STAT_BACKEND = 2;
export const STAT_SERVERS = 4;

/** `show stat BE TYPE -1`: CSV of the backend's rows of that type (all server ids). */
export function showStat(backend: string, types: number = STAT_BACKEND | STAT_SERVERS): string {
  return `show stat ${checkName('backend', backend)} ${types} -1`;
}

/**
 * `show servers state BE`: the admin and operational state bits, which `show stat`'s status hides when a server is
 * down.
 */
export function showServersState(backend: string): string {
  return `show servers state ${checkName('backend', backend)}`;
}

/** One runtime API round trip: the argv to run on the balancer host and what to write to its stdin. */
export interface RuntimeCall {
  argv: string[];
  stdin: string;
  /** The commands in the order HAProxy answers them. */
  commands: string[];
}

/**
 * Several commands in one connection: HAProxy 2.6 runs `;`-separated commands of one line in
 * order on a non-interactive socket, answering each with its output and an empty line.
 * `-t 5` lets socat wait for the answer after stdin ends (its default 0.5 s could cut a
 * slow answer short); it exits as soon as HAProxy closes the connection.
 */
export function runtimeCall(socket: string, commands: readonly string[]): RuntimeCall {
  checkSocket(socket);
  if (commands.length === 0) throw new Error('runtimeCall needs at least one command');
  return { argv: ['socat', '-t', '5', 'stdio', socket], stdin: `${commands.join(';')}\n`, commands: [...commands] };
}

/**
 * The argv of a runtime API connection kept open for many lines (prompt mode). `-t 0`: socat
 * exits as soon as HAProxy closes the connection (idle timeout, restart), so a dead channel shows
 * before the next line is sent into it, not half a second later.
 */
export function runtimeChannelArgv(socket: string): string[] {
  // unix-connect: a missing socket is an error, where a bare path would have socat create a file there.
  return ['socat', '-t', '0', 'stdio', `unix-connect:${checkSocket(socket)}`];
}

/**
 * The first line of a runtime API channel: interactive mode (answers end with a prompt, the connection stays), with an
 * idle timeout of its own.
 */
export function promptModeCommands(idleTimeoutS: number): string[] {
  if (!Number.isInteger(idleTimeoutS) || idleTimeoutS < 1)
    throw new Error(`haproxy cli timeout ${idleTimeoutS} is not a whole number of seconds`);
  return ['prompt', `set timeout cli ${idleTimeoutS}`];
}

/**
 * `show info`: its `Stopping: 1` tells a process that a reload has told to finish (and that no longer serves new
 * connections).
 */
export const SHOW_INFO = 'show info';

function checkSocket(socket: string): string {
  if (!SOCKET.test(socket)) {
    throw new UserError(
      `haproxy socket ${JSON.stringify(socket)} is not an absolute path of letters, digits, _ . / -`,
      'fix balancer.socket in baton.yml',
    );
  }
  return socket;
}

/**
 * `haproxy -c -f FILE`: validate a configuration without touching the running process (raised: it reads what root
 * reads).
 */
export function configTestArgv(configFile: string, sudo: boolean): string[] {
  if (!CONFIG_FILE.test(configFile))
    throw new UserError(`haproxy config file ${JSON.stringify(configFile)} is not an absolute path`);
  return raised(['haproxy', '-c', '-f', configFile], sudo);
}

/** Exit status of the save script when the change went through but the state file was not written. */
export const STATE_SAVE_FAILED = 97;

/**
 * The change and the save of every backend's `show servers state` into `stateFile`, in one
 * round trip: the change's answers on stdout as runtimeCall gives them, then a second
 * connection whose answer goes to a temporary file beside `stateFile`, moved over it only when
 * it reads as a state file (its first line is the format version), so a reload never loads half
 * a file. The socket and the file are positional parameters, never part of the script.
 */
export function runtimeCallSavingState(socket: string, commands: readonly string[], stateFile: string): RuntimeCall {
  const call = runtimeCall(socket, commands);
  if (!STATE_FILE.test(stateFile))
    throw new UserError(
      `haproxy server state file ${JSON.stringify(stateFile)} is not an absolute path`,
      'fix balancer.serverStateFile in baton.yml',
    );
  return { ...call, argv: ['sh', '-c', SAVE_STATE_SCRIPT, 'baton-save-server-state', socket, stateFile] };
}

const STATE_FILE = /^\/[^\0\n]+$/;

const SAVE_STATE_SCRIPT = `socket=$1 file=$2 tmp=
socat -t 5 stdio "$socket" || exit $?
fail() { [ -z "$tmp" ] || rm -f -- "$tmp"; \
echo "cannot save the server state to $file: $1" >&2; exit ${STATE_SAVE_FAILED}; }
dir=$(dirname -- "$file")
tmp=$(mktemp "$dir/.baton-server-state.XXXXXX") || { tmp=; fail "cannot create a temporary file in $dir"; }
printf 'show servers state\\n' | socat -t 5 stdio "$socket" > "$tmp" || fail "show servers state failed"
[ "$(head -n 1 -- "$tmp")" = 1 ] || fail "HAProxy answered: $(head -c 200 -- "$tmp")"
chmod 0644 -- "$tmp" && mv -f -- "$tmp" "$file" || fail "cannot move $tmp over it"`;
