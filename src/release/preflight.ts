// The preflight service: read everything at once (hosts, balancer, the tag), then judge it with
// the pure checks. Nothing here changes production; a check that fails to read becomes a finding,
// so one report shows every problem instead of the first.
import { allHosts, type Config } from '../config/config.js';
import type { Balancer } from '../balancers/types.js';
import {
  capacityFindings,
  diskFindings,
  formatMiB,
  memoryFindings,
  refusals,
  type Finding,
  type HostDiskReading,
  type HostMemoryReading,
  type PreflightReport,
  type ReleaseSize,
} from '../checks/preflight.js';
import { readCommandsPresent, readDisk, readLoad, readMemory, type LoadClock } from '../checks/preflight-readings.js';
import { internalBaseUrl } from '../checks/smoke.js';
import { isIP } from 'node:net';
import { posix } from 'node:path';
import { recordPlaces } from '../engine/run-record.js';
import {
  privilegeFindings,
  raisedInCommandLine,
  readPrivileges,
  type HostPrivileges,
  type WrittenPath,
} from '../checks/privileges.js';
import type { Session } from '../engine/session.js';
import { PreflightRefusedError } from '../errors.js';
import { forEachHost } from '../transport/fan-out.js';
import type { PlanArtifact } from '../model/artifact.js';
import { cachedArtifactFor } from '../vcs/artifact-build.js';
import { resolveTag, unpackedSize, type ResolvedTag } from '../vcs/git.js';
import { artifactSpec } from './planned-artifact.js';

/**
 * The error a report ends with when something is refused (undefined when nothing is): the refused
 * findings one a line, or, when they were just `shown`, only how many there are, so the refusal
 * is said once. Exit 6, or 1 when a host cannot be reached (see PreflightRefusedError).
 */
export function preflightRefusal(
  report: PreflightReport,
  opts: { shown?: boolean } = {},
): PreflightRefusedError | undefined {
  const refused = refusals(report);
  if (refused.length === 0) return undefined;
  const error = new PreflightRefusedError(
    opts.shown
      ? `preflight refused: ${refused.length} finding${refused.length === 1 ? '' : 's'} above (REFUSED)`
      : `preflight refused:\n  ${refused.map((f) => f.message).join('\n  ')}`,
    refused,
  );
  error.data = { findings: report.findings };
  return error;
}

export interface PreflightOptions {
  /** The tag as the caller resolves it (planPush, at the same time): not resolved twice. */
  resolved?: ResolvedTag | Promise<ResolvedTag>;
  /**
   * The artifact the caller builds for the plan at the same time (with artifact:): the disk check sizes it. Without
   * it, the one in the cache for the tag, else the tag's tree.
   */
  artifact?: Promise<Pick<PlanArtifact, 'sha256' | 'bytes' | 'files' | 'unpackedBytes'> | undefined>;
  /** How the request rate is timed (tests). */
  clock?: LoadClock;
}

/** Every check preflight makes, for TAG when given (without one, the tag and disk checks are skipped and say so). */
export async function runPreflight(
  session: Session,
  tag: string | undefined,
  opts: PreflightOptions = {},
): Promise<PreflightReport> {
  const { config } = session;
  // Caught at once: a build that fails while the hosts are read only leaves the size unknown.
  const artifact = opts.artifact?.catch(() => undefined);
  const [release, hosts, balancerConfig, capacity, internal] = await Promise.all([
    checkTag(config, tag, { ...opts, ...(artifact ? { artifact } : {}) }),
    readHosts(session),
    checkBalancerConfig(session.balancer, config.balancer.host),
    checkCapacity(session, opts.clock),
    checkInternalNames(session),
  ]);
  // A balancer that cannot be reached is said once, under reach, not again as a configuration that does not validate.
  const balancerDown = hosts.reach.some((f) => f.host === config.balancer.host && f.outcome === 'refused');
  const balancerVerdict: Finding = balancerDown
    ? {
        check: 'balancer-config',
        outcome: 'unchecked',
        message: `balancer configuration not checked: ${config.balancer.host} is not reachable`,
      }
    : balancerConfig;
  return {
    findings: [
      ...hosts.reach,
      ...release.findings,
      ...internal,
      balancerVerdict,
      ...privilegeVerdicts(hosts.privileges),
      ...diskVerdicts(config, hosts.disk, release.size),
      ...capacity,
      ...memoryVerdicts(config, hosts.memory),
      ...hosts.tools,
    ],
  };
}

async function checkTag(
  config: Config,
  tag: string | undefined,
  opts: Pick<PreflightOptions, 'resolved' | 'artifact'>,
): Promise<{ findings: Finding[]; size?: ReleaseSize }> {
  const { resolved } = opts;
  if (tag === undefined)
    return {
      findings: [
        {
          check: 'tag',
          outcome: 'unchecked',
          message: 'no TAG given: the tag, and the disk a new release needs, are not checked',
        },
      ],
    };
  try {
    const r = await (resolved ?? resolveTag(config.app.repo, tag, { requireSigned: config.app.signedTags }));
    const bytes = await unpackedSize(config.app.repo, r.commit);
    return {
      findings: [
        {
          check: 'tag',
          outcome: 'ok',
          message:
            `tag ${tag} is commit ${r.shortCommit}${r.signed ? ' (signed)' : ''}; ` +
            `its tree reads whole: ${formatMiB(bytes)} unpacked`,
        },
      ],
      size: (await artifactSize(config, r, opts.artifact)) ?? {
        bytes,
        source: `git ls-tree of ${tag}${config.artifact ? '; its artifact is not built yet' : ''}`,
      },
    };
  } catch (err) {
    return { findings: [{ check: 'tag', outcome: 'refused', message: `tag ${tag}: ${messageOf(err)}` }] };
  }
}

/**
 * With artifact: what a host needs for it: the bytes its file list counted when it was packed, and the artifact kept
 * beside them. Undefined when the artifact is not known (not built yet, its build failed, or no file list).
 */
async function artifactSize(
  config: Config,
  resolved: ResolvedTag,
  building: PreflightOptions['artifact'],
): Promise<ReleaseSize | undefined> {
  const spec = artifactSpec(config);
  if (!spec) return undefined;
  const a = await (building ?? cachedArtifactFor(resolved, spec).catch(() => undefined));
  if (!a || a.unpackedBytes === undefined || a.files === 0) return undefined;
  return {
    bytes: a.unpackedBytes,
    source: `the file list of artifact ${a.sha256.slice(0, 12)}`,
    artifactBytes: a.bytes,
  };
}

/**
 * Smoke checks reach each cluster from this machine through its internal hostname: one that does
 * not resolve here would fail every check after the cluster is drained and staged, and the push
 * would reverse for a reason that was known before it began.
 */
async function checkInternalNames(session: Session): Promise<Finding[]> {
  const { config } = session;
  return Promise.all(
    (['a', 'b'] as const).map(async (c): Promise<Finding> => {
      // `internal` may be a URL (http://prod-a.example.com:8088): checks connect to its host name.
      const name = hostnameOf(internalBaseUrl(config.clusters[c]));
      if (name === undefined)
        return {
          check: 'internal',
          outcome: 'refused',
          message: `clusters.${c}.internal (${config.clusters[c].internal}) is not a host name or an http(s) URL`,
        };
      if (isIP(name))
        return { check: 'internal', outcome: 'ok', message: `${name} (clusters.${c}.internal) is an address` };
      if (config.resolve[name])
        return {
          check: 'internal',
          outcome: 'ok',
          message: `${name} (clusters.${c}.internal) is pinned to ${config.resolve[name]} (resolve:)`,
        };
      try {
        const addresses = await session.addressOf(name);
        if (!addresses.length) throw new Error('no address');
        return {
          check: 'internal',
          outcome: 'ok',
          message: `${name} (clusters.${c}.internal) resolves here to ${addresses.join(', ')}`,
        };
      } catch (err) {
        return {
          check: 'internal',
          outcome: 'refused',
          message:
            `${name} (clusters.${c}.internal) does not resolve on this machine, ` +
            `and smoke checks reach cluster ${c} through it: ${messageOf(err)}`,
        };
      }
    }),
  );
}

function hostnameOf(url: string): string | undefined {
  try {
    return new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
  } catch {
    return undefined;
  }
}

async function checkBalancerConfig(balancer: Balancer, host: string): Promise<Finding> {
  try {
    await balancer.configTest();
    return {
      check: 'balancer-config',
      outcome: 'ok',
      message: `the ${balancer.driver} configuration on ${host} validates`,
    };
  } catch (err) {
    return {
      check: 'balancer-config',
      outcome: 'refused',
      message: `the ${balancer.driver} configuration on ${host} does not validate: ${messageOf(err)}`,
    };
  }
}

async function checkCapacity(session: Session, clock: LoadClock | undefined): Promise<Finding[]> {
  const { config } = session;
  try {
    const load = await readLoad(
      session.balancer,
      config.capacity.sampleFor,
      clock,
      config.capacity.perHost.requestsPerSecond !== undefined,
    );
    return capacityFindings(
      load,
      { a: config.clusters.a.hosts.length, b: config.clusters.b.hosts.length },
      config.capacity,
    );
  } catch (err) {
    return [
      {
        check: 'capacity',
        outcome: 'unchecked',
        message: `capacity not checked: the load could not be read at ${config.balancer.host}: ${messageOf(err)}`,
      },
    ];
  }
}

interface HostReadings {
  reach: Finding[];
  /** Per app host that answered: what was read, or why it could not be. */
  disk: Map<string, HostDiskReading | Error>;
  memory: Map<string, HostMemoryReading | Error>;
  /** Per host with raised commands that answered: what sudo said of each, or why it could not be asked. */
  privileges: Map<string, HostPrivileges | Error>;
  /** Per app host, when a built artifact is deployed: whether it has the commands that check and unpack it. */
  tools: Finding[];
}

/** What a host needs to check and unpack a built artifact: each entry is met by any one of its names. */
function artifactTools(config: Config): string[][] {
  if (!config.artifact) return [];
  return [['sha256sum', 'shasum'], ['tar'], ...(config.artifact.compression === 'zstd' ? [['zstd']] : [])];
}

function toolsVerdict(host: string, needed: readonly string[][], present: Set<string> | Error): Finding {
  if (present instanceof Error) {
    return { check: 'tools', host, outcome: 'unchecked', message: `${host}: commands not checked: ${present.message}` };
  }
  const missing = needed.filter((any) => !any.some((c) => present.has(c))).map((any) => any.join(' or '));
  if (missing.length) {
    const message =
      `${host}: has no ${missing.join(', no ')} on the SSH user's PATH, ` + 'which a built artifact needs (artifact:)';
    return { check: 'tools', host, outcome: 'refused', message };
  }
  const found = needed.map((any) => any.find((c) => present.has(c))).join(', ');
  return { check: 'tools', host, outcome: 'ok', message: `${host}: has what a built artifact needs (${found})` };
}

/** Every host once (`true`: it answers, with a known key), then free disk and memory on the app hosts that answered. */
async function readHosts(session: Session): Promise<HostReadings> {
  const { config } = session;
  const appHosts = new Set(allHosts(config).map((h) => h.host));
  const everyHost = [...new Set([...appHosts, config.balancer.host, ...(config.balancer.peers ?? [])])];
  const memory = config.capacity.memory;
  const out: HostReadings = { reach: [], disk: new Map(), memory: new Map(), privileges: new Map(), tools: [] };
  const tools = artifactTools(config);
  const access = accessByHost(session, appHosts);
  // Each host's errors are caught here: forEachHost never throws, and every host is reported.
  await forEachHost(everyHost, config.ssh.concurrency, async (host) => {
    const transport = session.transports.get(host);
    try {
      await transport.run(['true']);
    } catch (err) {
      out.reach.push({
        check: 'reach',
        host,
        outcome: 'refused',
        message: `${host}: not reachable: ${messageOf(err)}`,
      });
      return;
    }
    out.reach.push({ check: 'reach', host, outcome: 'ok', message: `${host}: answers over ssh` });
    const asked = access.get(host);
    const privileges = asked ? readPrivileges(transport, asked.argvs, asked.paths).catch(asError) : undefined;
    if (!appHosts.has(host)) {
      if (privileges) out.privileges.set(host, await privileges);
      return;
    }
    const [disk, mem, priv, present] = await Promise.all([
      readDisk(transport, config.app.path).catch(asError),
      memory ? readMemory(transport, memory.pidFile).catch(asError) : undefined,
      privileges,
      tools.length ? readCommandsPresent(transport, tools.flat()).catch(asError) : undefined,
    ]);
    if (present) out.tools.push(toolsVerdict(host, tools, present));
    if (priv) out.privileges.set(host, priv);
    out.disk.set(host, disk);
    if (mem) out.memory.set(host, mem);
  });
  const order = new Map(everyHost.map((h, i) => [h, i]));
  out.reach.sort((x, y) => order.get(x.host!)! - order.get(y.host!)!);
  out.tools.sort((x, y) => order.get(x.host!)! - order.get(y.host!)!);
  out.privileges = new Map([...out.privileges].sort(([x], [y]) => order.get(x)! - order.get(y)!));
  return out;
}

/**
 * What a push needs of the SSH user, by host: the raised commands (the balancer driver's, and
 * app.restart when it starts with sudo) and the paths written without sudo (the driver's files,
 * the lock's folder, the deploy root).
 */
function accessByHost(
  session: Session,
  appHosts: ReadonlySet<string>,
): Map<string, { argvs: string[][]; paths: WrittenPath[] }> {
  const { config } = session;
  const out = new Map<string, { argvs: string[][]; paths: WrittenPath[] }>();
  const on = (host: string) => out.get(host) ?? out.set(host, { argvs: [], paths: [] }).get(host)!;
  for (const c of session.balancer.raisedCommands?.() ?? []) on(c.host).argvs.push(c.argv);
  const restart = raisedInCommandLine(config.app.restart);
  for (const f of session.balancer.writtenFiles?.() ?? []) on(f.host).paths.push({ ...f, kind: 'file' });
  on(config.balancer.host).paths.push({
    host: config.balancer.host,
    path: posix.dirname(config.lock.path),
    kind: 'folder',
    what: 'the release lock (lock.path)',
  });
  for (const place of recordPlaces(config, session.transports))
    on(place.host).paths.push({
      host: place.host,
      path: place.dir,
      kind: 'folder',
      what: 'the run record (record.path)',
    });
  for (const host of appHosts) {
    if (restart) on(host).argvs.push(restart);
    on(host).paths.push({ host, path: config.app.path, kind: 'folder', what: 'the deploy root (app.path)' });
  }
  return out;
}

function privilegeVerdicts(readings: Map<string, HostPrivileges | Error>): Finding[] {
  return [...readings].flatMap(([host, r]) =>
    r instanceof Error
      ? [
          {
            check: 'privileges',
            host,
            outcome: 'unchecked',
            message: `${host}: sudo not asked: ${messageOf(r)}`,
          } as const,
        ]
      : privilegeFindings([r]),
  );
}

function diskVerdicts(
  config: Config,
  readings: Map<string, HostDiskReading | Error>,
  size: ReleaseSize | undefined,
): Finding[] {
  if (!size)
    return [
      {
        check: 'disk',
        outcome: 'unchecked',
        message:
          'free disk not checked: the size of the new release is not known (no tag, or the tag could not be read)',
      },
    ];
  return orderedHosts(config, readings).flatMap(([host, r]) =>
    r instanceof Error
      ? [
          {
            check: 'disk',
            host,
            outcome: 'unchecked',
            message: `${host}: free disk not read: ${messageOf(r)}`,
          } as const,
        ]
      : diskFindings([r], size, config.capacity.diskFactor),
  );
}

function memoryVerdicts(config: Config, readings: Map<string, HostMemoryReading | Error>): Finding[] {
  const memory = config.capacity.memory;
  if (!memory)
    return [
      {
        check: 'memory',
        outcome: 'unchecked',
        message: 'memory not checked: capacity.memory (pidFile, processLimit) is not set in baton.yml',
      },
    ];
  return orderedHosts(config, readings).flatMap(([host, r]) =>
    r instanceof Error
      ? [{ check: 'memory', host, outcome: 'unchecked', message: `${host}: memory not read: ${messageOf(r)}` } as const]
      : memoryFindings([r], memory.processLimit),
  );
}

// Findings in baton.yml's host order, whatever order the hosts answered in.
function orderedHosts<T>(config: Config, readings: Map<string, T>): [string, T][] {
  return allHosts(config).flatMap((h) =>
    readings.has(h.host) ? [[h.host, readings.get(h.host) as T] as [string, T]] : [],
  );
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

// One line: a finding is one line of the report.
function messageOf(err: unknown): string {
  return (err instanceof Error ? err.message : String(err))
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join('; ');
}
