// A DNS migration plan: plain, serialisable data like a push plan, with its own step kinds.
// Its steps are typed with the push's (src/model/steps.ts): one union the runner carries out.
import type { DnsObservation } from './observe.js';

export const DNS_PLAN_FORMAT = 'baton-dns-plan/1';

export type { DnsForwardStep, DnsPhase, DnsStep, DnsStepId, DnsStepKind, RecordChangeSpec } from '../model/steps.js';
import type { DnsForwardStep } from '../model/steps.js';

export interface DnsFacts {
  site: string;
  /** The site is a CNAME (chain in `cnames`): the record that changes is `record`'s, the name at its end. */
  record?: string;
  cnames?: string[];
  transitional: string;
  oldAddress: string;
  newAddress: string;
  /** The site has an AAAA record: it moves with the A record, from and to these. */
  oldAddress6?: string;
  newAddress6?: string;
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
  /**
   * `dns lower-ttl`: the site's TTL lowered from `from` to `to` seconds ahead of the move (so caches
   * hold its answer briefly once it switches); `finish` raises it back. Absent: the TTL found is used.
   */
  ttlLowered?: { from: number; to: number };
}

export interface DnsPlan {
  format: typeof DNS_PLAN_FORMAT;
  createdAt: string;
  createdBy: string;
  observed: DnsObservation;
  facts: DnsFacts;
  /** Earliest safe times (ISO), if every step is taken as soon as allowed. */
  schedule: { transitionalUsable: string; cutover: string; horizon: string; finish: string };
  forward: DnsForwardStep[];
  hash: string;
}
