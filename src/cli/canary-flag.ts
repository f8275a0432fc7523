// `--canary 5%:2m[,25%:5m]` and `--no-canary`, shared by plan and push: the canary steps of one
// push, in place of baton.yml's canary.steps (its analysis is kept, or the defaults), or none.
import { Flags } from '@oclif/core';
import type { Config } from '../config/config.js';
import { durationProblem, parseDuration } from '../config/duration.js';
import { Canary } from '../config/schema.js';
import { UserError } from '../errors.js';

export const canaryFlags = {
  canary: Flags.string({
    description:
      'canary steps for this push, in place of canary.steps in baton.yml: ' +
      'a share of public traffic and how long, e.g. 5%:2m,25%:5m',
    helpValue: 'SHARE:DURATION[,…]',
    exclusive: ['no-canary'],
  }),
  'no-canary': Flags.boolean({ description: 'no canary steps for this push, whatever baton.yml says' }),
};

const STEP = /^(\d+(?:\.\d+)?)%:(\S+)$/;

/** The configuration a push plans with, after --canary or --no-canary. */
export function withCanaryFlags(config: Config, flags: { canary?: string; 'no-canary'?: boolean }): Config {
  if (flags['no-canary']) {
    const { canary: _off, ...rest } = config;
    return rest;
  }
  if (flags.canary === undefined) return config;
  const steps = flags.canary.split(',').map((part) => {
    const m = STEP.exec(part.trim());
    if (!m)
      throw new UserError(
        `--canary ${JSON.stringify(part)} is not a share and a duration`,
        'e.g. --canary 5%:2m,25%:5m',
      );
    const weight = Number(m[1]);
    if (!(weight >= 1 && weight <= 99))
      throw new UserError(`--canary ${part}: a share is a percentage from 1 to 99`, 'e.g. --canary 5%:2m');
    const problem = durationProblem(m[2] as string, { minMs: 1000, maxMs: 24 * 3_600_000 });
    if (problem) throw new UserError(`--canary ${part}: ${problem}`, 'e.g. --canary 5%:2m');
    return { weight, for: parseDuration(m[2] as string) as number };
  });
  const analysis = config.canary?.analysis ?? Canary.parse({ steps: [{ weight: 1, for: '1s' }] }).analysis;
  return { ...config, canary: { steps, analysis } };
}
