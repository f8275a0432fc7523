// OpenSSH known_hosts: parse the file and decide whether a host key presented during a
// handshake is the one on record. ssh2 accepts every key unless told otherwise, so this is the
// only thing standing between a deploy and a man in the middle: unknown keys are never accepted.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { UserError } from '../errors.js';

export type Marker = 'revoked' | 'cert-authority';

/** One usable line of a known_hosts file. */
export interface KnownHostEntry {
  file: string;
  line: number;
  marker?: Marker;
  /** The host field as written (plain pattern list, or `|1|salt|hash`). */
  hostField: string;
  keyType: string;
  /** The decoded public key blob, as the server sends it. */
  key: Buffer;
}

export type HostKeyVerdict =
  | { status: 'ok'; entry: KnownHostEntry }
  | { status: 'unknown' }
  | { status: 'changed'; expected: KnownHostEntry[] }
  | { status: 'revoked'; entry: KnownHostEntry };

/** Parse known_hosts text; malformed lines are skipped, as OpenSSH does. */
export function parseKnownHosts(text: string, file = 'known_hosts'): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const fields = raw.trim().split(/\s+/);
    if (!fields[0] || fields[0].startsWith('#')) return;
    let marker: Marker | undefined;
    if (fields[0].startsWith('@')) {
      const m = fields.shift()!.slice(1);
      if (m !== 'revoked' && m !== 'cert-authority') return; // unknown marker: ignore the line
      marker = m;
    }
    const [hostField, keyType, b64] = fields;
    if (!hostField || !keyType || !b64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return;
    const key = Buffer.from(b64, 'base64');
    if (blobKeyType(key) !== keyType) return;
    entries.push({ file, line: i + 1, marker, hostField, keyType, key });
  });
  return entries;
}

// Each connection reads the files again (a key recorded meanwhile counts), but the same text is parsed once.
const parsed = new Map<string, { text: string; entries: KnownHostEntry[] }>();
function parsedOnce(text: string, file: string): KnownHostEntry[] {
  const cached = parsed.get(file);
  if (cached?.text === text) return cached.entries;
  const entries = parseKnownHosts(text, file);
  parsed.set(file, { text, entries });
  return entries;
}

/** The name a host is recorded under: `host` on port 22, `[host]:port` otherwise (as OpenSSH). */
export function knownHostName(host: string, port = 22): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** `SHA256:…` fingerprint of a public key blob, formatted like `ssh-keygen -l`. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named inside a public key blob (its first SSH string), e.g. `ssh-ed25519`. */
export function blobKeyType(key: Buffer): string | undefined {
  if (key.length < 4) return undefined;
  const len = key.readUInt32BE(0);
  if (len === 0 || len > 64 || key.length < 4 + len) return undefined;
  return key.subarray(4, 4 + len).toString('latin1');
}

/** The host keys known for a set of files. */
export class KnownHosts {
  // Lines whose host field is a plain list of names, by name; hashed, wildcard and negated lines
  // are matched one by one. A fleet's known_hosts has a line per host, and every connection looks
  // its host up: without the index that is hosts × lines pattern matches (measured at 101 hosts:
  // 142 ms of CPU, growing with the square of the fleet).
  private readonly byName = new Map<string, number[]>();
  private readonly matchedOneByOne: number[] = [];

  constructor(
    readonly entries: readonly KnownHostEntry[],
    readonly files: readonly string[],
  ) {
    entries.forEach((e, i) => {
      const names = e.hostField.split(',');
      if (e.hostField.startsWith('|') || names.some((n) => !n || n.startsWith('!') || /[*?]/.test(n))) {
        this.matchedOneByOne.push(i);
        return;
      }
      for (const n of new Set(names.map((x) => x.toLowerCase())))
        this.byName.set(n, [...(this.byName.get(n) ?? []), i]);
    });
  }

  /** Read the files; a missing file is simply empty (every host is then unknown). */
  static async load(files: readonly string[]): Promise<KnownHosts> {
    const entries: KnownHostEntry[] = [];
    for (const file of files) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw new UserError(`cannot read known_hosts file ${file}: ${(err as Error).message}`);
      }
      entries.push(...parsedOnce(text, file));
    }
    return new KnownHosts(entries, files);
  }

  /** Host-key entries (not CA or revoked lines) recorded for any of the names, in file order. */
  entriesFor(names: readonly string[]): KnownHostEntry[] {
    const lower = names.map((n) => n.toLowerCase());
    const found = new Set<number>();
    for (const n of lower) for (const i of this.byName.get(n) ?? []) found.add(i);
    for (const i of this.matchedOneByOne)
      if (lower.some((n) => hostFieldMatches(this.entries[i]!.hostField, n))) found.add(i);
    return [...found]
      .sort((x, y) => x - y)
      .map((i) => this.entries[i]!)
      .filter((e) => e.marker === undefined);
  }

  /** Key types on record for the names, so the handshake can ask for a key we can check. */
  keyTypesFor(names: readonly string[]): string[] {
    return [...new Set(this.entriesFor(names).map((e) => e.keyType))];
  }

  /**
   * Judge a presented key for a host known by any of `names` (alias, HostName, `[name]:port`).
   * A revoked key is refused whichever host presents it. CA lines never count as a match.
   */
  verify(names: readonly string[], key: Buffer): HostKeyVerdict {
    const revoked = this.entries.find((e) => e.marker === 'revoked' && sameKey(e.key, key));
    if (revoked) return { status: 'revoked', entry: revoked };
    const recorded = this.entriesFor(names);
    const match = recorded.find((e) => sameKey(e.key, key));
    if (match) return { status: 'ok', entry: match };
    return recorded.length > 0 ? { status: 'changed', expected: recorded } : { status: 'unknown' };
  }
}

/** A host key that must not be trusted; names the host, the fingerprint and what to do. */
export class HostKeyError extends UserError {
  constructor(
    readonly host: string,
    readonly status: 'unknown' | 'changed' | 'revoked',
    readonly fingerprint: string,
    message: string,
    hint: string,
  ) {
    super(message, hint);
  }
}

/** The error for a verdict other than ok. `address` is the HostName/port actually dialled. */
export function hostKeyError(
  host: string,
  address: { hostName: string; port: number },
  verdict: Exclude<HostKeyVerdict, { status: 'ok' }>,
  key: Buffer,
  files: readonly string[],
): HostKeyError {
  const fp = fingerprint(key);
  const type = blobKeyType(key) ?? 'unknown-type';
  const where =
    host === address.hostName && address.port === 22
      ? host
      : `${host} (${knownHostName(address.hostName, address.port)})`;
  const file = files[0] ?? '~/.ssh/known_hosts';
  const keyscan = `ssh-keyscan -H${address.port === 22 ? '' : ` -p ${address.port}`} ${address.hostName} >> ${file}`;
  switch (verdict.status) {
    case 'unknown':
      return new HostKeyError(
        host,
        'unknown',
        fp,
        `host key of ${where} is not known: it presented ${type} ${fp}, ` +
          `which is in none of ${files.join(', ') || 'the known_hosts files'}`,
        'check that fingerprint out of band (on the host: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), ' +
          `then add it: ${keyscan}`,
      );
    case 'changed':
      return new HostKeyError(
        host,
        'changed',
        fp,
        `HOST KEY CHANGED for ${where}: it presented ${type} ${fp}, but ${verdict.expected
          .map((e) => `${e.file}:${e.line} has ${e.keyType} ${fingerprint(e.key)}`)
          .join('; ')}. Someone may be intercepting the connection, or the host was rebuilt`,
        `if the host was rebuilt, verify ${fp} out of band, ` +
          `remove the old entry (ssh-keygen -R ${knownHostName(address.hostName, address.port)} ` +
          `-f ${verdict.expected[0]?.file ?? file}) and add the new key: ${keyscan}`,
      );
    case 'revoked':
      return new HostKeyError(
        host,
        'revoked',
        fp,
        `host key of ${where} is revoked: ${type}` +
          ` ${fp} is marked @revoked at ${verdict.entry.file}:${verdict.entry.line}`,
        'a revoked key must never be accepted: give the host a new host key and record that one',
      );
  }
}

function sameKey(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Does a host field (hashed entry or comma-separated pattern list) match a lower-cased name? */
function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
    const want = Buffer.from(hash, 'base64');
    return mac.length === want.length && timingSafeEqual(mac, want);
  }
  // OpenSSH match_hostname: a matching negated pattern rules the whole line out.
  let matched = false;
  for (const raw of field.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    if (!pattern || !globMatches(pattern, name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function globMatches(pattern: string, name: string): boolean {
  if (!/[*?]/.test(pattern)) return pattern === name;
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(name);
}
