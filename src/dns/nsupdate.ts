// RFC 2136 updates through nsupdate (no maintained npm library does TSIG). Every change is a
// compare-and-set: `prereq` lines make the server refuse the update unless the record is
// still what the plan saw, so two people (or a stale plan) cannot overwrite each other.
import { ExternalCommandError, UserError } from '../errors.js';
import type { Transport } from '../transport/types.js';

export interface RecordChange {
  server: string;
  zone: string;
  name: string;
  ttl: number;
  /** Address the record must hold now; undefined: the name must have no A record. */
  from?: string;
  /** Address it gets; undefined: the A record is deleted. */
  to?: string;
  /** The AAAA record changed in the same update (from/to as for A); absent: AAAA is left alone. */
  aaaa?: { from?: string; to?: string };
}

const fqdn = (name: string) => (name.endsWith('.') ? name : `${name}.`);

/** How updates are signed: a key file nsupdate reads (-k), or the key itself, given in the script. */
export type Tsig = { keyFile: string } | { key: string };

/**
 * The nsupdate script for one compare-and-set change of an A record (and its AAAA record, when given: both in one
 * update, which the server applies whole or not at all), signed with `tsig.key` when given.
 */
export function nsupdateScript(c: RecordChange, tsig?: Tsig): string {
  for (const [what, value] of Object.entries({
    server: c.server,
    zone: c.zone,
    name: c.name,
    from: c.from ?? '',
    to: c.to ?? '',
    'aaaa.from': c.aaaa?.from ?? '',
    'aaaa.to': c.aaaa?.to ?? '',
  })) {
    // The script is line-based: a newline or space inside a value would add commands.
    if (/[\s;]/.test(value)) throw new TypeError(`${what} ${JSON.stringify(value)} cannot go into an nsupdate script`);
  }
  const name = fqdn(c.name);
  const lines = [...(tsig && 'key' in tsig ? [keyLine(tsig.key)] : []), `server ${c.server}`, `zone ${fqdn(c.zone)}`];
  const changes: Array<[type: string, change: { from?: string; to?: string }]> = [['A', c]];
  if (c.aaaa) changes.push(['AAAA', c.aaaa]);
  for (const [type, r] of changes)
    lines.push(
      r.from === undefined ? `prereq nxrrset ${name} IN ${type}` : `prereq yxrrset ${name} IN ${type} ${r.from}`,
    );
  for (const [type, r] of changes) {
    if (r.from !== undefined) lines.push(`update delete ${name} IN ${type}`);
    if (r.to !== undefined) lines.push(`update add ${name} ${c.ttl} IN ${type} ${r.to}`);
  }
  lines.push('send', '');
  return lines.join('\n');
}

/**
 * `key [hmac:]name secret` from a secret written as nsupdate -y takes it, `[hmac:]name:base64`.
 * Its errors never quote the value.
 */
function keyLine(key: string): string {
  const at = key.lastIndexOf(':');
  const name = key.slice(0, at);
  const secret = key.slice(at + 1);
  if (at <= 0 || secret === '' || /[\s;]/.test(key) || !/^[A-Za-z0-9+/]+=*$/.test(secret)) {
    throw new UserError(
      'dns.update.tsigKey: the secret is not a TSIG key written as [algorithm:]name:base64 (e.g. ' +
        'hmac-sha256:baton-key:c2VjcmV0…)',
      'the key name and secret are in the key file tsig-keygen prints',
    );
  }
  return `key ${name} ${secret}`;
}

/** The argv that runs a script: with the key file, or with the key in the script (never on a command line). */
export function nsupdateArgv(tsig: Tsig): string[] {
  return 'keyFile' in tsig ? ['nsupdate', '-k', tsig.keyFile] : ['nsupdate'];
}

/** Why the server refused a compare-and-set, in words. */
export function explainRefusal(stderr: string): string | undefined {
  if (/NXRRSET/.test(stderr)) return 'the record no longer holds the address the plan expected (someone changed it)';
  if (/YXRRSET/.test(stderr)) return 'the record already exists';
  if (/NOTAUTH|BADKEY|BADSIG|REFUSED/.test(stderr))
    return 'the server refused the key (check dns.update.tsigKeyFile or tsigKey)';
  return undefined;
}

/** Sends the change; throws ExternalCommandError with the refusal explained. */
export async function sendUpdate(local: Transport, tsig: Tsig, change: RecordChange): Promise<void> {
  const argv = nsupdateArgv(tsig);
  const r = await local.run(argv, { stdin: nsupdateScript(change, tsig), allowFailure: true, timeoutMs: 30_000 });
  if (r.code !== 0) {
    const why = explainRefusal(r.stderr + r.stdout);
    // nsupdate quotes a key it cannot use in its complaint.
    const stderr =
      'key' in tsig ? r.stderr.split(tsig.key.slice(tsig.key.lastIndexOf(':') + 1)).join('[tsigKey]') : r.stderr;
    throw new ExternalCommandError(local.host, argv, r.code, [why, stderr.trim()].filter(Boolean).join(': '));
  }
}

/** The zone-file line a person adds by hand when updates are manual. */
export function recordLine(name: string, ttl: number, address: string, type: 'A' | 'AAAA' = 'A'): string {
  return `${fqdn(name)}\t${ttl}\tIN\t${type}\t${address}`;
}
