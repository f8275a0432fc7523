// `--override-preflight REASON`, shared by plan and push: the one way past a preflight refusal.
import { Flags } from '@oclif/core';
import { UserError } from '../errors.js';

export const overridePreflightFlag = Flags.string({
  description:
    'make the plan (or push) although preflight refused; the reason, and who gave it, ' +
    'is recorded in the plan and journaled when it runs',
  helpValue: 'REASON',
});

/** The reason as PlanOptions takes it; an empty one is refused, since it would explain nothing. */
export function overridePreflightOption(reason: string | undefined): { overridePreflight?: string } {
  if (reason === undefined) return {};
  if (reason.trim() === '')
    throw new UserError(
      '--override-preflight needs a reason',
      'say why, e.g. --override-preflight "incident 42: b is short a host, traffic is low tonight"',
    );
  return { overridePreflight: reason };
}
