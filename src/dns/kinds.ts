// DNS migration step kinds, one entry each: whether it changes what the public sees, and how it
// runs. A DNS step that fails puts back what it did itself (see steps.ts), so none asks for its
// own undo. The push kinds' registry (src/steps/registry.ts) answers for these too.
import type { StepTraits } from '../steps/kind.js';
import { confirmTransitional, cutback, cutover, recordChange, startInstance, stopInstances, waitSeconds, type DnsEnv, type Progress } from './steps.js';
import type { DnsStep, DnsStepKind } from './types.js';

export interface DnsStepKindSpec extends StepTraits {
  run(step: DnsStep, env: DnsEnv, progress: Progress): Promise<unknown>;
}

const kind = (changesProduction: boolean, run: DnsStepKindSpec['run']): DnsStepKindSpec => ({ requires: [], changesProduction, undoWhenFailed: false, run });

export const DNS_STEP_KINDS: Record<DnsStepKind, DnsStepKindSpec> = {
  'dns-check': kind(false, (_s, env) => confirmTransitional(env)),
  // A record the public resolves (the site's, or the transitional name before anyone uses it).
  'dns-record': kind(true, (s, env, p) => recordChange(env, s, p)),
  'dns-wait': kind(false, (s, env, p) => waitSeconds(env, s.waitSeconds ?? 0, p)),
  // A proxy on a side port takes no public traffic; stopping one may be the one on the site's port.
  'proxy-start': kind(false, (s, env, p) => startInstance(env, s.instance ?? 'side', p)),
  'proxy-stop': kind(true, (s, env) => stopInstances(env, s.instance ? [s.instance] : ['port', 'side'])),
  cutover: kind(true, (_s, env, p) => cutover(env, p)),
  cutback: kind(true, (_s, env, p) => cutback(env, p)),
};

/** The runner a DNS phase hands each step to: its kind carries it out. */
export function dnsStepRunner(env: DnsEnv): (step: DnsStep, progress: Progress) => Promise<unknown> {
  return (step, progress) => DNS_STEP_KINDS[step.kind].run(step, env, progress);
}
