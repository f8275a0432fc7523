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
import { BugError } from '../errors.js';
import { isDnsStep, type AnyStep, type DnsStep, type DnsStepKind, type DnsStepOf } from '../model/steps.js';

/** A DNS kind's code, with its traits spread in: it gets its own kind's steps. */
export interface DnsStepKindSpec<K extends DnsStepKind = DnsStepKind> extends StepTraits {
  run(step: DnsStepOf<K>, env: DnsEnv, progress: Progress): Promise<unknown>;
}

const kind = <K extends DnsStepKind>(k: K, run: DnsStepKindSpec<K>['run']): DnsStepKindSpec<K> => ({
  ...DNS_STEP_TRAITS[k],
  run,
});

export const DNS_STEP_KINDS: { [K in DnsStepKind]: DnsStepKindSpec<K> } = {
  'dns-check': kind('dns-check', (_s, env) => confirmTransitional(env)),
  'dns-record': kind('dns-record', (s, env, p) => recordChange(env, s, p)),
  'dns-wait': kind('dns-wait', (s, env, p) => waitSeconds(env, s.waitSeconds, p)),
  'proxy-start': kind('proxy-start', (s, env, p) => startInstance(env, s.instance ?? 'side', p)),
  'proxy-stop': kind('proxy-stop', (s, env) => stopInstances(env, s.instance ? [s.instance] : ['port', 'side'])),
  cutover: kind('cutover', (_s, env, p) => cutover(env, p)),
  cutback: kind('cutback', (_s, env, p) => cutback(env, p)),
};

/** The runner a DNS phase hands each step to: its kind carries it out. */
export function dnsStepRunner(env: DnsEnv): (step: AnyStep, progress: Progress) => Promise<unknown> {
  return async (step, progress) => {
    if (!isDnsStep(step)) throw new BugError(`a DNS phase's runner was handed the ${step.kind} step ${step.id}`);
    // Each entry takes its own kind's steps and is given only those: the types cannot say the two go together.
    const spec = DNS_STEP_KINDS[step.kind] as unknown as { run(s: DnsStep, e: DnsEnv, p: Progress): Promise<unknown> };
    return spec.run(step, env, progress);
  };
}
