// `--force REASON`, shared by plan and push: push every cluster although it already runs and
// serves the release (to restart it, say). Without it such a cluster is left alone, and a fleet
// that runs and serves the release everywhere gets "No changes".
import { Flags } from '@oclif/core';
import { UserError } from '../errors.js';

export const forcePushFlag = Flags.string({
  description:
    'push every cluster even where every host already runs and serves the release (e.g. to restart them); ' +
    'the reason, and who gave it, is recorded in the plan and journaled when it runs',
  helpValue: 'REASON',
});

/** The reason as PlanOptions takes it; an empty one is refused, since it would explain nothing. */
export function forcePushOption(reason: string | undefined): { force?: string } {
  if (reason === undefined) return {};
  if (reason.trim() === '')
    throw new UserError('--force needs a reason', 'say why, e.g. --force "restart to pick up the new TLS bundle"');
  return { force: reason.trim() };
}
