// Which balancer member is which configured host, for any driver: by the member name given
// in baton.yml, else by address. Every mismatch is reported before anything changes.
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { UserError } from '../errors.js';
import type { ClusterConfig, ClusterId, HostRef } from '../config/config.js';
import type { Member } from './types.js';

/** A configured host and the balancer member that carries its traffic. */
export interface MemberMatch {
  host: string;
  member: string;
  address: string;
  /** The port the balancer sends to: where direct checks of the host go. */
  port?: number;
}

export type Membership = Record<ClusterId, MemberMatch[]>;

export interface MatchOptions {
  /** Backend / balancer / upstream name, for messages. */
  backend: string;
  /** Host name → IPv4 pins (baton.yml `resolve`), consulted before DNS. */
  resolve?: Record<string, string>;
  /** Host name → addresses; defaults to the system resolver (`dns.lookup`, all families). */
  lookup?: (host: string) => Promise<string[]>;
}

/** Match every host of both clusters to exactly one member, and every member to exactly one host. */
export async function matchMembers(
  clusters: Record<ClusterId, Pick<ClusterConfig, 'hosts'>>,
  members: readonly Member[],
  opts: MatchOptions,
): Promise<Membership> {
  const lookup = opts.lookup ?? systemLookup;
  const problems: string[] = [];
  const out: Membership = { a: [], b: [] };
  const claimedBy = new Map<string, HostRef[]>();

  const refs = [...clusters.a.hosts, ...clusters.b.hosts];
  const found = await Promise.all(refs.map((ref) => findMember(ref, members, opts.resolve ?? {}, lookup)));
  refs.forEach((ref, i) => {
    const f = found[i] as Found;
    if ('problem' in f) {
      problems.push(f.problem);
      return;
    }
    claimedBy.set(f.member.name, [...(claimedBy.get(f.member.name) ?? []), ref]);
    out[ref.cluster].push({
      host: ref.host,
      member: f.member.name,
      address: f.member.address,
      ...(f.member.port !== undefined ? { port: f.member.port } : {}),
    });
  });

  for (const [name, refsOf] of claimedBy) {
    if (refsOf.length > 1) {
      problems.push(
        `member ${name} is claimed by ${refsOf.map((r) => `${r.host} (clusters.${r.cluster})`).join(' and ')}`,
      );
    }
  }
  for (const m of members) {
    if (!claimedBy.has(m.name)) {
      problems.push(`member ${describe(m)} of backend ${opts.backend} is claimed by no cluster`);
    }
  }

  if (problems.length > 0) {
    const memberList = members.map(describe).join(', ') || 'none';
    const problemList = problems.map((p) => `  - ${p}`).join('\n');
    throw new UserError(
      `hosts and members of backend ${opts.backend} do not match (members are ${memberList}):\n${problemList}`,
      'every member of the backend must be exactly one host of clusters.a or clusters.b: fix the hosts, ' +
        'give `member:` names, or pin addresses under `resolve:`',
    );
  }
  return out;
}

type Found = { member: Member } | { problem: string };

async function findMember(
  ref: HostRef,
  members: readonly Member[],
  resolve: Record<string, string>,
  lookup: (host: string) => Promise<string[]>,
): Promise<Found> {
  const who = `${ref.host} (clusters.${ref.cluster}`;
  if (ref.member !== undefined) {
    const m = members.find((x) => x.name === ref.member);
    return m ? { member: m } : { problem: `${who}) names member ${ref.member}, which is not in the backend` };
  }
  // The balancer may address the member by this very name (or IP): no look-up needed.
  let candidates = members.filter((m) => m.address === ref.host);
  let how = ref.host;
  if (candidates.length === 0) {
    let addresses: string[];
    if (isIP(ref.host)) addresses = [ref.host];
    else if (resolve[ref.host] !== undefined) addresses = [resolve[ref.host] as string];
    else {
      try {
        addresses = await lookup(ref.host);
      } catch (err) {
        return {
          problem:
            `${who}) cannot be resolved (${(err as NodeJS.ErrnoException).code ?? String(err)}) ` +
            'to match it by address',
        };
      }
    }
    how = addresses.join(', ');
    candidates = members.filter((m) => addresses.includes(m.address));
  }
  if (candidates.length === 1) return { member: candidates[0] as Member };
  if (candidates.length === 0) return { problem: `${who}, ${how}) matches no member` };
  return {
    problem:
      `${who}, ${how}) matches several members: ${candidates.map((m) => m.name).join(', ')}; ` +
      `name one with \`member:\``,
  };
}

async function systemLookup(host: string): Promise<string[]> {
  return (await dnsLookup(host, { all: true })).map((a) => a.address);
}

function describe(m: Member): string {
  return `${m.name} (${m.address})`;
}
