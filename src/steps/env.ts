// Everything a step needs to act, passed in (no globals): steps never know which balancer or transport they drive.
import type { Balancer } from '../balancers/types.js';
import type { Config } from '../config/config.js';
import type { Secrets } from '../config/secrets.js';
import type { ReleaseLock, LockDetails } from '../engine/lock.js';
import type { Release } from '../model/release.js';
import type { Transports } from '../transport/types.js';

export interface StepEnv {
  config: Config;
  /** Secret values read when the session opened (smoke checks' request headers). */
  secrets: Secrets;
  transports: Transports;
  balancer: Balancer;
  lock: ReleaseLock;
  lockOwner: Omit<LockDetails, 'since' | 'expires'>;
  /** A run whose lock may be taken over (the interrupted run being rolled back). */
  takeOverLockOf?: string;
  /** The command took the lock already (while it looked at production). */
  preLocked?: boolean;
  release: Release;
  /**
   * Local path of the release archive stage uploads: the tag's `git archive`, or with artifact: the artifact built once
   * (in the cache).
   */
  artifact: string;
  /** Where the balancer sends each host's traffic (its member's address and port): direct smoke checks go there. */
  endpoints: Record<string, { address: string; port?: number }>;
}

export type Progress = (message: string) => void;
