// DNS migration step kinds, one entry each: how it runs. Whether it changes what the public sees
// is data with the push kinds' traits (src/model/step-kinds.ts).
import { DNS_STEP_TRAITS, type StepTraits } from '../model/step-kinds.js';
import {
  confirmTransitional,
  cutback,
  cutover,
  recordChange,
  startInstance,
  stopInstances,
  waitSeconds,
  type DnsEnv,
  type Progress,
} from './steps.js';
import type { DnsStep, DnsStepKind } from './types.js';

export interface DnsStepKindSpec extends StepTraits {
  run(step: DnsStep, env: DnsEnv, progress: Progress): Promise<unknown>;
}

const kind = (k: DnsStepKind, run: DnsStepKindSpec['run']): DnsStepKindSpec => ({ ...DNS_STEP_TRAITS[k], run });

export const DNS_STEP_KINDS: Record<DnsStepKind, DnsStepKindSpec> = {
  'dns-check': kind('dns-check', (_s, env) => confirmTransitional(env)),
  'dns-record': kind('dns-record', (s, env, p) => recordChange(env, s, p)),
  'dns-wait': kind('dns-wait', (s, env, p) => waitSeconds(env, s.waitSeconds ?? 0, p)),
  'proxy-start': kind('proxy-start', (s, env, p) => startInstance(env, s.instance ?? 'side', p)),
  'proxy-stop': kind('proxy-stop', (s, env) => stopInstances(env, s.instance ? [s.instance] : ['port', 'side'])),
  cutover: kind('cutover', (_s, env, p) => cutover(env, p)),
  cutback: kind('cutback', (_s, env, p) => cutback(env, p)),
};

/** The runner a DNS phase hands each step to: its kind carries it out. */
export function dnsStepRunner(env: DnsEnv): (step: DnsStep, progress: Progress) => Promise<unknown> {
  return (step, progress) => DNS_STEP_KINDS[step.kind].run(step, env, progress);
}
