// Where a migration stands, replayed from the journal alone: the runs of this site's DNS phases
// (plan, proxy install, cutover, finish, rollback, hours apart) say which steps are done and when
// each DNS change was first served everywhere. Only the plan is kept beside the journal, as a
// push run's plan is: nothing can say a step is done before the journal does.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurably } from '../transport/durable-file.js';
import {
  journalDir,
  listJournals,
  localStateDir,
  readJournal,
  type JournalRecord,
  type RunsOf,
} from '../engine/journal.js';
import { cacheHorizon } from './horizon.js';
import type { DnsForwardStepId } from '../model/steps.js';
import type { DnsPlan } from './types.js';

export interface DnsState {
  site: string;
  plan: DnsPlan;
  /** Forward step ids carried out, in order. */
  done: DnsForwardStepId[];
  /** When every authoritative server served the lowered TTL (`dns lower-ttl`). */
  ttlLoweredAt?: string;
  /** When the transitional record was first seen on every authoritative server. */
  transitionalSince?: string;
  /** When every authoritative server served the new address for the site. */
  switchedAt?: string;
  /** The moment no cache can hold the old address any more. */
  horizon?: string;
  cutoverAt?: string;
  finishedAt?: string;
}

/** The journal tag of a site's DNS runs. */
export function dnsRunTag(site: string): string {
  return `dns:${site}`;
}

export class DnsStateStore {
  readonly planFile: string;

  constructor(
    private readonly configDir: RunsOf,
    readonly site: string,
  ) {
    const dir = localStateDir(configDir, 'dns');
    mkdirSync(dir, { recursive: true });
    this.planFile = join(dir, `${site.replace(/[^A-Za-z0-9.-]/g, '_')}.plan.json`);
  }

  /** The stored plan and what the journal says of it; undefined before a plan was stored. */
  read(): DnsState | undefined {
    if (!existsSync(this.planFile)) return undefined;
    const plan = JSON.parse(readFileSync(this.planFile, 'utf8')) as DnsPlan;
    return replayDns(this.site, plan, this.records());
  }

  /** Store the plan (whole or not at all); what is done stays what the journal says. */
  writePlan(plan: DnsPlan): void {
    writeFileDurably(this.planFile, `${JSON.stringify(plan, null, 2)}\n`);
  }

  private records(): JournalRecord[] {
    return listJournals(journalDir(this.configDir)).flatMap((file) => {
      const records = readJournal(file);
      const begin = records.find((r) => r.event === 'run-begin');
      return begin && 'tag' in begin && begin.tag === dnsRunTag(this.site) ? records : [];
    });
  }
}

type Moment = 'ttlLoweredAt' | 'transitionalSince' | 'switchedAt' | 'cutoverAt' | 'finishedAt';

/** The moment each forward step dates (what its change journaled, else when it ended); its undo forgets it. */
const MOMENT_OF: Partial<
  Record<
    DnsForwardStepId,
    { field: Moment; from: (c: { confirmedAt?: string; cutoverAt?: string }) => string | undefined }
  >
> = {
  'lower-ttl': { field: 'ttlLoweredAt', from: (c) => c.confirmedAt },
  transitional: { field: 'transitionalSince', from: (c) => c.confirmedAt },
  switch: { field: 'switchedAt', from: (c) => c.confirmedAt },
  cutover: { field: 'cutoverAt', from: (c) => c.cutoverAt },
  finish: { field: 'finishedAt', from: () => undefined },
};

/** A migration's state from its journal records, oldest first: steps done and undone, and when. */
export function replayDns(site: string, plan: DnsPlan, records: readonly JournalRecord[]): DnsState {
  // The forward step each undo belongs to, and whether it is that step's last undo (the step is then undone).
  const owners = new Map<string, { forward: DnsForwardStepId; first: boolean; last: boolean }>(
    plan.forward.flatMap((f) =>
      f.undo.map((u, i) => [u.id, { forward: f.id, first: i === 0, last: i === f.undo.length - 1 }] as const),
    ),
  );
  const state: DnsState = { site, plan, done: [] };
  const forwardIds = new Set<string>(plan.forward.map((s) => s.id));
  const isForward = (id: string): id is DnsForwardStepId => forwardIds.has(id);
  for (const r of records) {
    if (r.event !== 'step-ok') continue;
    const changed = (r.changed ?? {}) as { confirmedAt?: string; cutoverAt?: string };
    if (r.phase === 'forward') {
      // Steps of an earlier plan that this one no longer has are not "done" here.
      if (!isForward(r.step)) continue;
      if (!state.done.includes(r.step)) state.done.push(r.step);
      const moment = MOMENT_OF[r.step];
      if (moment) state[moment.field] = moment.from(changed) ?? r.ts;
      continue;
    }
    const owner = owners.get(r.step);
    if (!owner) continue;
    if (owner.last) state.done = state.done.filter((id) => id !== owner.forward);
    const moment = MOMENT_OF[owner.forward];
    if (moment && owner.first) delete state[moment.field];
  }
  if (state.switchedAt) {
    state.horizon = cacheHorizon({
      confirmedAt: new Date(state.switchedAt),
      oldTtl: plan.facts.siteTtl,
      existedBefore: true,
      negativeTtl: plan.facts.negativeTtl,
    }).toISOString();
  }
  return state;
}
