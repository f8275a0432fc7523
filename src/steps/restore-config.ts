// restore-config: put a host's tracked configuration back from a snapshot commit (packages it
// lacks, then folders, files and links with their modes and owners), on a host out of the pool.
import { applyRunbook, loadRunbook } from '../config-track/restore.js';
import { SnapshotStore } from '../config-track/store.js';
import { trackConfig } from '../config-track/tracked-hosts.js';
import type { StepOf } from '../model/steps.js';
import type { StepKindSpec, StepRunEnv } from './kind.js';
import { STEP_TRAITS } from '../model/step-kinds.js';
import type { Progress } from './env.js';

async function runRestoreConfig(step: StepOf<'restore-config'>, env: StepRunEnv, progress: Progress): Promise<unknown> {
  const host = step.hosts[0];
  if (!host) throw new Error(`step ${step.id} names no host`);
  const runbook = await loadRunbook(env.config, host, step.snapshot);
  const store = await SnapshotStore.open(trackConfig(env.config).repo);
  return applyRunbook(runbook, store, env.transports.get(host), progress, env.config.ssh.sudo.packages);
}

export const restoreConfigKind: StepKindSpec<'restore-config'> = {
  kind: 'restore-config',
  ...STEP_TRAITS['restore-config'],
  run: runRestoreConfig,
};
