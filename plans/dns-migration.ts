// The DNS migration: transitional name → proxy on a side port → cut-over (proxy on the old
// web server's port, old server stopped) → switch the record → wait out every cache → remove
// the proxy. Every step carries its undo; the reverse plan restores the old server.
import type { Config } from '../src/config/config.js';
import { digest } from '../src/model/canonical.js';
import { schedule } from '../src/dns/horizon.js';
import { addresses6, largestTtl, servesEverywhere, type DnsObservation } from '../src/dns/observe.js';
import type { Migration } from '../src/dns/proxy.js';
import {
  DNS_PLAN_FORMAT,
  type DnsFacts,
  type DnsForwardStep,
  type DnsPlan,
  type DnsStep,
  type RecordChangeSpec,
} from '../src/dns/types.js';
import { PlanRefusedError, UserError } from '../src/errors.js';

export interface DnsPlanInput {
  config: Config;
  observed: DnsObservation;
  createdBy: string;
  now?: Date;
  /** When the transitional record was first seen on every server (from the state), if ever. */
  transitionalSince?: Date;
  /**
   * Lower the site's TTL ahead of the move (`dns lower-ttl`) to `to` seconds, from `from` (default:
   * the TTL found); `loweredAt`: when every server served the lower TTL (from the state), if yet.
   */
  lowerTtl?: { to: number; from?: number; loweredAt?: Date };
}

export function buildDnsPlan(input: DnsPlanInput): DnsPlan {
  const { config, observed } = input;
  const { dns, m } = migrationOf(config);
  const now = input.now ?? new Date();
  const moving = refuseUnmovable(observed, m, dns.zone);
  const { onOld } = moving;
  const lowered = input.lowerTtl && {
    from: input.lowerTtl.from ?? largestTtl(observed, 'site'),
    to: input.lowerTtl.to,
  };
  const facts = dnsFacts(dns, m, observed, lowered, moving);
  const transitionalReady = servesEverywhere(observed, 'transitional', m.new.address);
  const times = schedule({
    now,
    transitionalSince: transitionalReady ? (input.transitionalSince ?? new Date(observed.observedAt)) : now,
    transitionalExisted: false,
    negativeTtl: observed.negativeTtl,
    siteTtl: facts.siteTtl,
    quietMs: m.quiet,
    // An answer fetched just before the TTL was lowered may be cached for the old TTL from then.
    ...(lowered && {
      oldTtlRunsOut: new Date((input.lowerTtl?.loweredAt ?? now).getTime() + lowered.from * 1000),
    }),
  });
  const at = (d: Date) => d.toISOString();
  const forward: DnsForwardStep[] = [
    ...(lowered ? [lowerTtlStep(facts, lowered, at(now))] : []),
    transitionalStep(dns.transitional, m, observed, facts.ttl),
    proxySideStep(m, at(now)),
    cutoverStep(m, at(times.cutover)),
    // Already on the new address (planned again after the switch): nothing to switch.
    ...(onOld ? [switchStep(m, facts, at(times.cutover))] : []),
    finishStep(m, facts, at(times.finish)),
    ...(lowered ? [restoreTtlStep(facts, lowered, at(times.finish))] : []),
  ];
  const partial = {
    format: DNS_PLAN_FORMAT,
    createdAt: at(now),
    createdBy: input.createdBy,
    observed,
    facts,
    schedule: {
      transitionalUsable: at(times.transitionalUsable),
      cutover: at(times.cutover),
      horizon: at(times.horizon),
      finish: at(times.finish),
    },
    forward,
  } satisfies Omit<DnsPlan, 'hash'>;
  return { ...partial, hash: digest(partial) };
}

type DnsConfig = NonNullable<Config['dns']>;

function migrationOf(config: Config): { dns: DnsConfig; m: Migration } {
  const dns = config.dns;
  const m = dns?.migrate;
  if (!dns || !m)
    throw new UserError(
      'baton.yml has no dns.migrate section',
      'add dns.migrate (site, old, new, proxy) — see docs/configuration.md',
    );
  return { dns, m };
}

/** What the plan moves: whose records (the site's, or a CNAME's target); whether the site is on the old host still. */
interface Moving {
  onOld: boolean;
  /** The name whose A (and AAAA) records change: the site, or the end of its CNAME chain. */
  record: string;
  /** The CNAME chain from the site, when it is one. */
  cnames: string[];
  /** Both AAAA addresses when the site has an AAAA record (which then moves with the A record). */
  six?: { old: string; new: string };
}

/** An IPv6 address as DNS answers write it (lowercase, zeros compressed). */
const canonical6 = (a: string) => new URL(`http://[${a}]`).hostname.slice(1, -1);

const bare = (name: string) => name.toLowerCase().replace(/\.$/, '');
const inZone = (name: string, zone: string) => bare(name) === bare(zone) || bare(name).endsWith(`.${bare(zone)}`);

/**
 * The site must resolve to the old or the new host, A and AAAA alike; a CNAME only when the name at its end is inside
 * the zone baton updates (that name's records are the ones changed).
 */
function refuseUnmovable(observed: DnsObservation, m: Migration, zone: string): Moving {
  const chains = [...new Set(observed.servers.map((s) => s.site.cnames.join(' → ')))];
  if (chains.length > 1)
    throw new PlanRefusedError(
      `the authoritative servers disagree about ${m.site} (${chains.map((c) => c || 'no CNAME').join(' / ')})`,
      'wait until every server serves the same zone (its serial), then run `baton dns plan` again',
    );
  const cnames = observed.servers[0]?.site.cnames ?? [];
  const target = cnames.at(-1);
  if (target !== undefined && !inZone(target, zone)) {
    throw new PlanRefusedError(
      `${m.site} is a CNAME for ${target}, which is outside dns.zone (${zone}): baton can only change records in ` +
        'the zone it may update',
      `move ${target} where its zone is served (its provider), or replace the CNAME with A/AAAA records in ${zone} ` +
        'and run `baton dns plan` again',
    );
  }
  const record = target ?? m.site;
  const named = target ? `${m.site} (a CNAME for ${target})` : m.site;
  const onOldA = servesEverywhere(observed, 'site', m.old.address);
  const onNewA = servesEverywhere(observed, 'site', m.new.address);
  if (!onOldA && !onNewA) {
    const seen = [...new Set(observed.servers.map((s) => s.site.addresses.join(',') || 'nothing'))].join(' / ');
    throw new UserError(
      `${named} resolves to ${seen} on the authoritative servers, neither the old (${m.old.address}) ` +
        `nor the new (${m.new.address}) address`,
      'fix dns.migrate.old.address or the record first',
    );
  }
  const found6 = addresses6(observed, 'site');
  if (found6.length === 0) return { onOld: onOldA, record, cnames };
  if (m.new.address6 === undefined)
    throw new PlanRefusedError(
      `${named} has an AAAA record (${found6.join(', ')}) but the new host has no IPv6 address configured: ` +
        'IPv6 clients would stay on the old host',
      'set dns.migrate.new.address6 to the IPv6 address the site gets on the new host, then run `baton dns plan` again',
    );
  const new6 = canonical6(m.new.address6);
  const old6 =
    m.old.address6 !== undefined
      ? canonical6(m.old.address6)
      : onOldA && found6.length === 1
        ? (found6[0] as string)
        : undefined;
  const onOld = onOldA && old6 !== undefined && servesEverywhere(observed, 'site', m.old.address, old6);
  const onNew = onNewA && servesEverywhere(observed, 'site', m.new.address, new6);
  if (!onOld && !onNew) {
    throw new UserError(
      `${named} has the AAAA record ${found6.join(', ')} beside the A record ` +
        `${onOldA ? m.old.address : m.new.address}, not the ${onOldA ? 'old' : 'new'} host's IPv6 address ` +
        `(${(onOldA ? old6 : new6) ?? 'dns.migrate.old.address6 unset'})`,
      `fix dns.migrate.${onOldA ? 'old' : 'new'}.address6 or the AAAA record first`,
    );
  }
  // After the switch (planned again) the old IPv6 address is the configured one, or unknown: the way back needs it.
  if (old6 === undefined)
    throw new PlanRefusedError(
      `${named} already points at the new host, and the old host's IPv6 address is not configured`,
      'set dns.migrate.old.address6 so the way back can restore the AAAA record',
    );
  return { onOld, record, cnames, six: { old: old6, new: new6 } };
}

function dnsFacts(
  dns: DnsConfig,
  m: Migration,
  observed: DnsObservation,
  lowered: DnsFacts['ttlLowered'],
  moving: Moving,
): DnsFacts {
  // Lowered ahead of the move, the site's answer is cached for the lower TTL once it switches.
  const siteTtl = lowered ? lowered.to : largestTtl(observed, 'site');
  return {
    site: m.site,
    ...(moving.cnames.length > 0 && { record: moving.record, cnames: moving.cnames }),
    transitional: dns.transitional,
    oldAddress: m.old.address,
    newAddress: m.new.address,
    ...(moving.six && { oldAddress6: moving.six.old, newAddress6: moving.six.new }),
    siteTtl,
    negativeTtl: observed.negativeTtl,
    ttl: lowered ? lowered.to : dns.ttl !== undefined ? Math.round(dns.ttl / 1000) : siteTtl || 300,
    servers: observed.servers.map((s) => s.server),
    update: dns.update ? 'dynamic' : 'manual',
    proxy: m.proxy.kind,
    gate: m.proxy.gate,
    sync: Boolean(m.sync),
    quietSeconds: Math.round(m.quiet / 1000),
    ...(lowered && { ttlLowered: lowered }),
  };
}

/** The name whose records change (the site, or the target of its CNAME). */
const recordName = (f: DnsFacts) => f.record ?? f.site;

/** The record change from one host's addresses to another's (AAAA too when the site has one), at a TTL. */
function change(f: DnsFacts, from: 'old' | 'new', to: 'old' | 'new', ttl: number): RecordChangeSpec {
  const a = (h: 'old' | 'new') => (h === 'old' ? f.oldAddress : f.newAddress);
  const a6 = (h: 'old' | 'new') => (h === 'old' ? f.oldAddress6 : f.newAddress6);
  return {
    name: recordName(f),
    from: a(from),
    to: a(to),
    ...(f.newAddress6 !== undefined && { aaaa: { from: a6(from), to: a6(to) } }),
    ttl,
  };
}

/** `www.example.com A 192.0.2.4 + AAAA 2001:db8::4` (and, for a CNAME, whose record that is). */
function records(f: DnsFacts, h: 'old' | 'new'): string {
  const a = h === 'old' ? f.oldAddress : f.newAddress;
  const a6 = h === 'old' ? f.oldAddress6 : f.newAddress6;
  return `${recordName(f)} A ${a}${a6 ? ` + AAAA ${a6}` : ''}`;
}

/** For a CNAME'd site: which record changes, and what else moves with it. */
function viaCname(f: DnsFacts): string {
  return f.record
    ? ` (${f.site} is a CNAME for ${f.record}: its record is the one changed, and every other name pointing at ` +
        `${f.record} moves too)`
    : '';
}

type Lowered = NonNullable<DnsFacts['ttlLowered']>;

/** The site's TTL lowered at its address now; undone by raising it again. */
function lowerTtlStep(f: DnsFacts, lowered: Lowered, earliest: string): DnsForwardStep {
  return {
    id: 'lower-ttl',
    kind: 'dns-record',
    phase: 'lower-ttl',
    record: change(f, 'old', 'old', lowered.to),
    title:
      `lower the TTL of ${records(f, 'old')} from ${lowered.from}s to ${lowered.to}s on every authoritative ` +
      `server${viaCname(f)}; answers cached before may be kept ${lowered.from}s more, so the switch waits that long`,
    earliest,
    undo: [
      {
        id: 'undo-lower-ttl',
        kind: 'dns-record',
        phase: 'lower-ttl',
        record: change(f, 'old', 'old', lowered.from),
        title: `raise the TTL of ${records(f, 'old')} back to ${lowered.from}s`,
        undo: [],
      },
    ],
  };
}

/** Once the move is over, the site's TTL back to what it was before it was lowered. */
function restoreTtlStep(f: DnsFacts, lowered: Lowered, earliest: string): DnsForwardStep {
  return {
    id: 'restore-ttl',
    kind: 'dns-record',
    phase: 'finish',
    record: change(f, 'new', 'new', lowered.from),
    title: `raise the TTL of ${records(f, 'new')} back to ${lowered.from}s`,
    earliest,
    undo: [
      {
        id: 'undo-restore-ttl',
        kind: 'dns-record',
        phase: 'finish',
        record: change(f, 'new', 'new', lowered.to),
        title: `lower the TTL of ${records(f, 'new')} to ${lowered.to}s again`,
        undo: [],
      },
    ],
  };
}

const proxyName = (m: Migration) => `${m.proxy.kind} proxy`;

function proxySideStep(m: Migration, earliest: string): DnsForwardStep {
  return {
    id: 'proxy-side',
    kind: 'proxy-start',
    phase: 'proxy',
    host: m.old.host,
    instance: 'side',
    title:
      `start a ${proxyName(m)} on ${m.old.host}:${m.proxy.sidePort} passing everything to ${m.new.address}` +
      `:${m.new.port}; verify it returns the new host's pages for Host ${m.site}`,
    earliest,
    undo: [
      {
        id: 'undo-proxy-side',
        kind: 'proxy-stop',
        phase: 'proxy',
        host: m.old.host,
        instance: 'side',
        title: `stop the side-port proxy on ${m.old.host}:${m.proxy.sidePort}`,
        undo: [],
      },
    ],
  };
}

function cutoverStep(m: Migration, earliest: string): DnsForwardStep {
  const gated = m.proxy.gate === 'tc';
  const oldServer = `${m.old.host} (${m.old.address}:${m.old.port})`;
  const syncHook = m.sync ? `, run the sync hook (${m.sync.command.join(' ')}) while nothing writes` : '';
  const copyBack = m.sync?.reverse ? `, copy data back (${m.sync.reverse.join(' ')})` : '';
  const writesStay =
    m.sync && !m.sync.reverse
      ? ' — writes made on the new host since cut-over stay there: no reverse sync is configured'
      : '';
  return {
    id: 'cutover',
    kind: 'cutover',
    phase: 'cutover',
    host: m.old.host,
    title:
      `on ${m.old.host}: ${gated ? 'hold new connections, ' : ''}stop the old web server${syncHook}, ` +
      `start the ${proxyName(m)} on :${m.old.port}, verify${gated ? ', let connections in' : ''}; ` +
      `from here only ${m.new.host} serves and writes`,
    earliest,
    undo: [
      {
        id: 'undo-cutover',
        kind: 'cutback',
        phase: 'cutover',
        host: m.old.host,
        title:
          `on ${m.old.host}: stop the proxy on :${m.old.port}${copyBack}, ` +
          `start the old web server again (restore ${oldServer})${writesStay}`,
        undo: [],
      },
    ],
  };
}

function switchStep(m: Migration, facts: DnsFacts, earliest: string): DnsForwardStep {
  const { ttl, siteTtl } = facts;
  const moves = facts.newAddress6
    ? `${recordName(facts)} A ${facts.oldAddress} → ${facts.newAddress} and AAAA ${facts.oldAddress6} → ` +
      `${facts.newAddress6} (one compare-and-set)`
    : `${recordName(facts)} A ${facts.oldAddress} → ${facts.newAddress}`;
  return {
    id: 'switch',
    kind: 'dns-record',
    phase: 'cutover',
    record: change(facts, 'old', 'new', ttl),
    title:
      `${facts.update === 'dynamic' ? 'switch' : 'ask for, and wait for,'} ${moves} ` +
      `(TTL ${ttl}s) on every authoritative server (${facts.servers.join(', ')})${viaCname(facts)}; ` +
      `old answers may be cached ${siteTtl}s more`,
    earliest,
    undo: [
      {
        id: 'undo-switch',
        kind: 'dns-record',
        phase: 'cutover',
        record: change(facts, 'new', 'old', siteTtl || ttl),
        title:
          `switch ${recordName(facts)} back to ${facts.oldAddress}` +
          `${facts.oldAddress6 ? ` and ${facts.oldAddress6}` : ''}`,
        undo: [],
      },
      {
        id: 'undo-switch-wait',
        kind: 'dns-wait',
        phase: 'cutover',
        waitSeconds: ttl,
        title:
          `wait ${ttl}s until no cache holds the new address (the proxy keeps every request on ${m.new.host} ` +
          'meanwhile)',
        undo: [],
      },
    ],
  };
}

function finishStep(m: Migration, facts: DnsFacts, earliest: string): DnsForwardStep {
  return {
    id: 'finish',
    kind: 'proxy-stop',
    phase: 'finish',
    host: m.old.host,
    title:
      `remove the proxy from ${m.old.host} (ports ${m.old.port} and ${m.proxy.sidePort}), ` +
      `once no cache can hold ${m.old.address} and no request came for ${facts.quietSeconds}s`,
    earliest,
    undo: [
      {
        id: 'undo-finish',
        kind: 'proxy-start',
        phase: 'finish',
        host: m.old.host,
        instance: 'port',
        title: `start the proxy on ${m.old.host}:${m.old.port} again`,
        undo: [],
      },
    ],
  };
}

function transitionalStep(name: string, m: Migration, observed: DnsObservation, ttl: number): DnsForwardStep {
  if (servesEverywhere(observed, 'transitional', m.new.address)) {
    return {
      id: 'transitional',
      kind: 'dns-check',
      phase: 'prepare',
      title: `${name} already points at ${m.new.address} on every authoritative server`,
      undo: [],
    };
  }
  const current = [...new Set(observed.servers.flatMap((s) => s.transitional.addresses))];
  if (current.length > 1)
    throw new UserError(`${name} has several addresses (${current.join(', ')}); fix it by hand first`);
  const from = current[0];
  return {
    id: 'transitional',
    kind: 'dns-record',
    phase: 'prepare',
    record: { name, ...(from !== undefined && { from }), to: m.new.address, ttl },
    title:
      `${from ? `change ${name} from ${from} to` : `create ${name} →`} ${m.new.address} (TTL ${ttl}s), ` +
      `then wait the negative TTL (${observed.negativeTtl}s) before relying on it`,
    undo: [
      {
        id: 'undo-transitional',
        kind: 'dns-record',
        phase: 'prepare',
        record: { name, from: m.new.address, ...(from !== undefined && { to: from }), ttl },
        title: from ? `change ${name} back to ${from}` : `delete ${name}`,
        undo: [],
      },
    ],
  };
}

/** The whole reverse plan: every forward step's undo, newest first. */
export function reverseDnsSteps(forward: readonly DnsStep[]): DnsStep[] {
  return [...forward].reverse().flatMap((s) => s.undo);
}
