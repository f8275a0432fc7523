// A DNS migration plan: plain, serialisable data like a push plan, with its own step kinds.
// The runner reads id, kind (its traits in src/dns/kinds.ts), title and undo, so DNS steps run through it as push steps do.
import type { DnsObservation } from './observe.js';
import type { Instance } from './proxy.js';

export const DNS_PLAN_FORMAT = 'baton-dns-plan/1';

/** Which command carries a step out. */
export type DnsPhase = 'prepare' | 'proxy' | 'cutover' | 'finish';

export type { DnsStepKind } from '../model/step-kinds.js';
import type { DnsStepKind } from '../model/step-kinds.js';

export interface RecordChangeSpec {
  name: string;
  /** Address it must hold now (undefined: no A record). */
  from?: string;
  /** Address it gets (undefined: deleted). */
  to?: string;
  ttl: number;
}

export interface DnsStep {
  id: string;
  kind: DnsStepKind;
  title: string;
  phase: DnsPhase;
  host?: string;
  instance?: Instance;
  record?: RecordChangeSpec;
  /** dns-wait: seconds to wait. */
  waitSeconds?: number;
  /** Earliest safe time to start this step, if the steps before it are taken as soon as allowed. */
  earliest?: string;
  undo: DnsStep[];
}

export interface DnsFacts {
  site: string;
  transitional: string;
  oldAddress: string;
  newAddress: string;
  /** Largest TTL the authoritative servers give the site's current answer (CNAME chain included). */
  siteTtl: number;
  negativeTtl: number;
  /** TTL of the records baton writes. */
  ttl: number;
  servers: string[];
  update: 'dynamic' | 'manual';
  proxy: string;
  gate: 'tc' | 'none';
  sync: boolean;
  quietSeconds: number;
}

export interface DnsPlan {
  format: typeof DNS_PLAN_FORMAT;
  createdAt: string;
  createdBy: string;
  observed: DnsObservation;
  facts: DnsFacts;
  /** Earliest safe times (ISO), if every step is taken as soon as allowed. */
  schedule: { transitionalUsable: string; cutover: string; horizon: string; finish: string };
  forward: DnsStep[];
  hash: string;
}
