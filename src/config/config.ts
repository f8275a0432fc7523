// The configuration as the rest of baton sees it: validated, defaults applied, paths
// resolved against baton.yml's folder, hosts and smoke checks in one normal form.
import type { BatonConfigParsed, HOOK_NAMES, NOTIFY_EVENTS } from './schema.js';

export type ClusterId = 'a' | 'b';
export const CLUSTER_IDS: readonly ClusterId[] = ['a', 'b'];

export interface HostRef {
  /** As written in baton.yml and given to ssh. */
  host: string;
  cluster: ClusterId;
  /** Balancer member name when given explicitly; otherwise matched by address. */
  member?: string;
}

export interface ClusterConfig {
  id: ClusterId;
  internal: string;
  hosts: HostRef[];
}

export type SmokeCheckConfig = Extract<BatonConfigParsed['smoke'], unknown[]>[number];

export interface MigrateConfig {
  /** App host the migration commands run on. */
  host: string;
  expand: string;
  reverse?: string;
  contract?: string;
  timeout: number;
  /** The checks the release still serving must pass on the expanded schema (`smoke` resolved to the smoke checks). */
  gate: SmokeCheckConfig[];
  /** How long the gate retries a failing check (ms). */
  gateDeadline: number;
}

export type HookName = (typeof HOOK_NAMES)[number];
export type NotifyEventName = (typeof NOTIFY_EVENTS)[number];

/** A hook as it runs: a command line (run with sh -c) or argv (no shell), and its time limit. */
export interface HookConfig {
  run: string | string[];
  timeoutMs: number;
}

export type NotifyTargetConfig = NonNullable<BatonConfigParsed['notify']>[number];

export type ArtifactConfig = NonNullable<BatonConfigParsed['artifact']> & { cache: string };

export interface Config {
  /** Absolute path of the baton.yml this came from. */
  file: string;
  /** Folder relative paths were resolved against. */
  dir: string;
  /** The environment (`-e NAME`) whose file was laid over `file`; absent: baton.yml alone. */
  environment?: string;
  /** Absolute path of that environment's file (baton.NAME.yml). */
  environmentFile?: string;
  app: BatonConfigParsed['app'];
  /**
   * The release built once on the control machine (absent: uploaded as the tag and built on each host); cache absolute.
   */
  artifact?: ArtifactConfig;
  /** Paths (identity, knownHosts, config) are absolute, `~` expanded. */
  ssh: BatonConfigParsed['ssh'];
  balancer: BatonConfigParsed['balancer'];
  clusters: Record<ClusterId, ClusterConfig>;
  resolve: Record<string, string>;
  smoke: { checks: SmokeCheckConfig[]; deadlineMs: number };
  watch?: BatonConfigParsed['watch'];
  canary?: BatonConfigParsed['canary'];
  require: BatonConfigParsed['require'];
  lock: BatonConfigParsed['lock'];
  record: BatonConfigParsed['record'];
  dns?: BatonConfigParsed['dns'];
  /** Host defaulted, gate resolved to the checks it names. */
  migrate?: MigrateConfig;
  /** repo absolute. */
  track?: BatonConfigParsed['track'];
  capacity: BatonConfigParsed['capacity'];
  secrets: NonNullable<BatonConfigParsed['secrets']>;
  /** Commands run on this machine at named moments of a run (each with its time limit resolved). */
  hooks?: Partial<Record<HookName, HookConfig>>;
  /** Where to tell what a run did. */
  notify?: NotifyTargetConfig[];
}

/** Every host of both clusters, cluster a first. */
export function allHosts(config: Config): HostRef[] {
  return [...config.clusters.a.hosts, ...config.clusters.b.hosts];
}
