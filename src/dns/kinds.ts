// What each DNS migration step kind means to the runner: whether it changes what the public sees.
// A DNS step that fails puts back what it did itself (see steps.ts), so none asks for its own undo.
import type { StepTraits } from '../steps/kind.js';
import type { DnsStepKind } from './types.js';

const traits = (changesProduction: boolean): StepTraits => ({ requires: [], changesProduction, undoWhenFailed: false });

export const DNS_STEP_KINDS: Record<DnsStepKind, StepTraits> = {
  'dns-check': traits(false),
  // A record the public resolves (the site's, or the transitional name before anyone uses it).
  'dns-record': traits(true),
  'dns-wait': traits(false),
  // A proxy on a side port takes no public traffic; stopping one may be the one on the site's port.
  'proxy-start': traits(false),
  'proxy-stop': traits(true),
  cutover: traits(true),
  cutback: traits(true),
};
