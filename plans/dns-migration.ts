// The DNS migration: transitional name → proxy on a side port → cut-over (proxy on the old
// web server's port, old server stopped) → switch the record → wait out every cache → remove
// the proxy. Every step carries its undo; the reverse plan restores the old server.
import type { Config } from '../src/config/config.js';
import { digest } from '../src/model/canonical.js';
import { schedule } from '../src/dns/horizon.js';
import { largestTtl, servesEverywhere, type DnsObservation } from '../src/dns/observe.js';
import type { Migration } from '../src/dns/proxy.js';
import { DNS_PLAN_FORMAT, type DnsFacts, type DnsForwardStep, type DnsPlan, type DnsStep } from '../src/dns/types.js';
import { UserError } from '../src/errors.js';

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
  const onOld = refuseUnmovable(observed, m);
  const lowered = input.lowerTtl && {
    from: input.lowerTtl.from ?? largestTtl(observed, 'site'),
    to: input.lowerTtl.to,
  };
  const facts = dnsFacts(dns, m, observed, lowered);
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
    ...(lowered ? [lowerTtlStep(m, lowered, at(now))] : []),
    transitionalStep(dns.transitional, m, observed, facts.ttl),
    proxySideStep(m, at(now)),
    cutoverStep(m, at(times.cutover)),
    // Already on the new address (planned again after the switch): nothing to switch.
    ...(onOld ? [switchStep(m, facts, at(times.cutover))] : []),
    finishStep(m, facts, at(times.finish)),
    ...(lowered ? [restoreTtlStep(m, lowered, at(times.finish))] : []),
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

/** The site must resolve to the old or the new address, as an A record: whether it is still on the old one. */
function refuseUnmovable(observed: DnsObservation, m: Migration): boolean {
  const onOld = servesEverywhere(observed, 'site', m.old.address);
  const onNew = servesEverywhere(observed, 'site', m.new.address);
  if (!onOld && !onNew) {
    const seen = [...new Set(observed.servers.map((s) => s.site.addresses.join(',') || 'nothing'))].join(' / ');
    throw new UserError(
      `${m.site} resolves to ${seen} on the authoritative servers, neither the old (${m.old.address}) ` +
        `nor the new (${m.new.address}) address`,
      'fix dns.migrate.old.address or the record first',
    );
  }
  if (observed.servers.some((s) => s.site.cnames.length > 0)) {
    throw new UserError(
      `${m.site} is a CNAME (${observed.servers[0]?.site.cnames.join(' → ')}); baton moves A records`,
      'migrate the name at the end of the chain',
    );
  }
  return onOld;
}

function dnsFacts(dns: DnsConfig, m: Migration, observed: DnsObservation, lowered: DnsFacts['ttlLowered']): DnsFacts {
  // Lowered ahead of the move, the site's answer is cached for the lower TTL once it switches.
  const siteTtl = lowered ? lowered.to : largestTtl(observed, 'site');
  return {
    site: m.site,
    transitional: dns.transitional,
    oldAddress: m.old.address,
    newAddress: m.new.address,
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

type Lowered = NonNullable<DnsFacts['ttlLowered']>;

/** The site's TTL lowered at its address now; undone by raising it again. */
function lowerTtlStep(m: Migration, lowered: Lowered, earliest: string): DnsForwardStep {
  const a = m.old.address;
  return {
    id: 'lower-ttl',
    kind: 'dns-record',
    phase: 'lower-ttl',
    record: { name: m.site, from: a, to: a, ttl: lowered.to },
    title:
      `lower the TTL of ${m.site} A ${a} from ${lowered.from}s to ${lowered.to}s on every authoritative ` +
      `server; answers cached before may be kept ${lowered.from}s more, so the switch waits that long`,
    earliest,
    undo: [
      {
        id: 'undo-lower-ttl',
        kind: 'dns-record',
        phase: 'lower-ttl',
        record: { name: m.site, from: a, to: a, ttl: lowered.from },
        title: `raise the TTL of ${m.site} A ${a} back to ${lowered.from}s`,
        undo: [],
      },
    ],
  };
}

/** Once the move is over, the site's TTL back to what it was before it was lowered. */
function restoreTtlStep(m: Migration, lowered: Lowered, earliest: string): DnsForwardStep {
  const a = m.new.address;
  return {
    id: 'restore-ttl',
    kind: 'dns-record',
    phase: 'finish',
    record: { name: m.site, from: a, to: a, ttl: lowered.from },
    title: `raise the TTL of ${m.site} A ${a} back to ${lowered.from}s`,
    earliest,
    undo: [
      {
        id: 'undo-restore-ttl',
        kind: 'dns-record',
        phase: 'finish',
        record: { name: m.site, from: a, to: a, ttl: lowered.to },
        title: `lower the TTL of ${m.site} A ${a} to ${lowered.to}s again`,
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
  return {
    id: 'switch',
    kind: 'dns-record',
    phase: 'cutover',
    record: { name: m.site, from: m.old.address, to: m.new.address, ttl },
    title:
      `${facts.update === 'dynamic' ? 'switch' : 'ask for, and wait for,'} ${m.site} A ${m.old.address} ` +
      `→ ${m.new.address} (TTL ${ttl}s) on every authoritative server (${facts.servers.join(', ')}); ` +
      `old answers may be cached ${siteTtl}s more`,
    earliest,
    undo: [
      {
        id: 'undo-switch',
        kind: 'dns-record',
        phase: 'cutover',
        record: { name: m.site, from: m.new.address, to: m.old.address, ttl: siteTtl || ttl },
        title: `switch ${m.site} back to ${m.old.address}`,
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
