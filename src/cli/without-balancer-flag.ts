// `--without-balancer HOST`: one command works through the surviving balancer of a pair.
import { Flags } from '@oclif/core';
import type { Config } from '../config/config.js';
import { withoutBalancer } from '../config/without-balancer.js';
import { actor } from '../release/actor.js';

export const withoutBalancerFlag = Flags.string({
  description:
    'a balancer of a pair that is lost (balancer.host or one of balancer.peers): leave it out, ' +
    'and work through the survivor, which holds the release lock and the run record for this command ' +
    '(journaled)',
  helpValue: 'HOST',
});

/** The config to work with, and the line saying what was left out (none without the flag). */
export function applyWithoutBalancer(config: Config, host: string | undefined): { config: Config; notes: string[] } {
  if (host === undefined) return { config, notes: [] };
  const w = withoutBalancer(config, host, actor());
  return { config: w.config, notes: [w.note] };
}
