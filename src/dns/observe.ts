// What the zone's authoritative servers serve right now: each server's SOA serial, the site's
// A and AAAA records (CNAME chain followed inside the answer) and the transitional name, with the TTLs
// the zone hands out. Every NS of the zone is asked, not only the configured one.
import { isIP } from 'node:net';
import { UserError } from '../errors.js';
import type { DnsAnswer, DnsQuery } from './query.js';

export interface RRsetView {
  exists: boolean;
  /** A addresses at the end of the chain. */
  addresses: string[];
  /** AAAA addresses at the end of the chain. */
  addresses6: string[];
  /** Largest TTL along the chain (CNAMEs included, A and AAAA): how long a cache may keep this answer. */
  ttl: number;
  /** CNAMEs followed, in order. */
  cnames: string[];
}

export interface ServerView {
  server: string;
  serial: number;
  site: RRsetView;
  transitional: RRsetView;
}

export interface DnsObservation {
  observedAt: string;
  zone: string;
  servers: ServerView[];
  /** RFC 2308: min(SOA MINIMUM, SOA TTL), how long a cache keeps "no such name". */
  negativeTtl: number;
}

export interface ObserveInput {
  zone: string;
  nameserver: string;
  site: string;
  transitional: string;
}

/** The addresses of the zone's authoritative servers: its NS set, resolved at the configured server. */
export async function authoritativeServers(query: DnsQuery, zone: string, nameserver: string): Promise<string[]> {
  const first = isIP(nameserver) ? nameserver : await addressAt(query, nameserver, nameserver);
  if (!first)
    throw new UserError(
      `cannot find the address of dns.nameserver ${nameserver}`,
      "check dns.nameserver and this machine's resolver; nothing was changed",
      'unchanged',
    );
  const ns = await query(first, zone, 'NS');
  if (!ns.authoritative)
    throw new UserError(
      `${nameserver} is not authoritative for ${zone} (no AA flag)`,
      "dns.nameserver must be one of the zone's authoritative servers, not a recursive resolver",
    );
  const names = ns.answers.filter((r) => r.type === 'NS').map((r) => r.data);
  const addresses = await Promise.all(names.map((n) => addressAt(query, first, n)));
  const all = [first, ...addresses.filter((a): a is string => Boolean(a))];
  return [...new Set(all)];
}

async function addressAt(query: DnsQuery, server: string, name: string): Promise<string | undefined> {
  if (isIP(server) === 0) return undefined;
  const r = await query(server, name, 'A').catch(() => undefined);
  return r?.answers.find((a) => a.type === 'A')?.data;
}

/** Reads serial, site and transitional records from every authoritative server. */
export async function observeDns(query: DnsQuery, input: ObserveInput, now = new Date()): Promise<DnsObservation> {
  const servers = await authoritativeServers(query, input.zone, input.nameserver);
  let negativeTtl = Infinity;
  const views = await Promise.all(
    servers.map(async (server): Promise<ServerView> => {
      const soa = await query(server, input.zone, 'SOA');
      if (!soa.soa) throw new UserError(`${server} returned no SOA for ${input.zone}`);
      negativeTtl = Math.min(negativeTtl, soa.soa.minimum, soa.soa.ttl);
      return {
        server,
        serial: soa.soa.serial,
        site: await rrset(query, server, input.site),
        transitional: await rrset(query, server, input.transitional),
      };
    }),
  );
  return {
    observedAt: now.toISOString(),
    zone: input.zone,
    servers: views,
    negativeTtl: Number.isFinite(negativeTtl) ? negativeTtl : 0,
  };
}

/** The A and AAAA RRsets of a name as one server serves them, following a CNAME chain inside the answer. */
export async function rrset(query: DnsQuery, server: string, name: string): Promise<RRsetView> {
  const [r, r6] = await Promise.all([query(server, name, 'A'), query(server, name, 'AAAA')]);
  if (!r.authoritative)
    throw new UserError(`${server} does not answer authoritatively for ${name}`, 'is the name inside dns.zone?');
  const cnames = r.answers.filter((a) => a.type === 'CNAME').map((a) => a.data);
  const of = (answers: DnsAnswer['answers'], type: string) =>
    answers
      .filter((a) => a.type === type)
      .map((a) => a.data)
      .sort();
  const addresses = of(r.answers, 'A');
  const addresses6 = of(r6.answers, 'AAAA');
  const ttl = Math.max(0, ...r.answers.map((a) => a.ttl), ...r6.answers.map((a) => a.ttl));
  return {
    exists: (r.rcode === 'NOERROR' && r.answers.length > 0) || addresses6.length > 0,
    addresses,
    addresses6,
    ttl,
    cnames,
  };
}

/**
 * True when every server serves exactly this address for the name and, when `address6` is given, exactly that AAAA
 * address (`null`: no AAAA record at all).
 */
export function servesEverywhere(
  o: DnsObservation,
  which: 'site' | 'transitional',
  address: string,
  address6?: string | null,
): boolean {
  return o.servers.every(
    (s) =>
      s[which].addresses.length === 1 &&
      s[which].addresses[0] === address &&
      (address6 === undefined || sameSet(s[which].addresses6, address6 === null ? [] : [address6])),
  );
}

const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** The AAAA addresses any server serves for the name, each once. */
export function addresses6(o: DnsObservation, which: 'site' | 'transitional'): string[] {
  return [...new Set(o.servers.flatMap((s) => s[which].addresses6))].sort();
}

/** The largest TTL any server hands out for the name (0 when no server has it). */
export function largestTtl(o: DnsObservation, which: 'site' | 'transitional'): number {
  return Math.max(0, ...o.servers.map((s) => s[which].ttl));
}
