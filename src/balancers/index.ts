// The one place a driver is chosen: steps get a Balancer and never know which one it is.
import type { Config } from '../config/config.js';
import { UserError } from '../errors.js';
import type { Transport } from '../transport/types.js';
import { HaproxyBalancer } from './haproxy.js';
import type { Balancer } from './types.js';

/** The balancer driver of `config.balancer`, talking to its host through `transport`. */
export function createBalancer(config: Pick<Config, 'balancer'>, transport: Transport): Balancer {
  const b = config.balancer;
  switch (b.driver) {
    case 'haproxy':
      return new HaproxyBalancer(transport, { backend: b.backend, socket: b.socket });
    default:
      throw new UserError(`balancer driver ${b.driver} is not yet supported`, 'use driver: haproxy for now');
  }
}

export type { Balancer, BackendCounters, DrainProgress, Member, MemberState } from './types.js';
export { HaproxyBalancer } from './haproxy.js';
export { matchMembers, type MemberMatch, type Membership } from './membership.js';
export { waitForDrain, type DrainResult, type WaitForDrainOptions } from './drain.js';
