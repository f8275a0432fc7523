// Contract: drop what only the old release needed, as a plan of its own and never inside a push.
// Both clusters share one database, so a contract is safe only once every host runs the release
// the schema was expanded for: an older release still serving would lose what it reads.
import type { Config } from '../src/config/config.js';
import { PlanRefusedError, UserError } from '../src/errors.js';
import type { ObservedHost, ObservedState, Plan, Step } from '../src/model/plan.js';
import { planHooks, planOwner, sealPlan } from '../src/model/plan.js';
import { releaseOfDir } from '../src/model/release.js';
import { lockStep, unlockStep } from './blue-green.js';

export interface ContractInput {
  config: Config;
  observed: ObservedState;
  /** The release the ledger on the migrate host names (the last expand's), or null when there is none. */
  ledger: string | null;
  createdBy: string;
  now?: Date;
}

/**
 * Why the schema cannot be contracted now, or undefined when it can: there must be an expand on
 * record, and every host must run the release it was for (each one that does not is named).
 */
export function contractRefusal(
  hosts: readonly Pick<ObservedHost, 'host' | 'release'>[],
  ledger: string | null,
  ledgerWhere = 'the migrate host',
): string | undefined {
  if (!ledger)
    return (
      `no schema expand is recorded on ${ledgerWhere}: no push with migrate.expand has run since the last ` +
      'contract, so there is nothing to contract'
    );
  const behind = hosts.filter((h) => h.release !== ledger);
  if (!behind.length) return undefined;
  return (
    `the schema was expanded for ${ledger}, but not every host runs ` +
    `it: ${behind.map((h) => `${h.host} runs ${h.release ?? 'nothing'}`).join(', ')}; ` +
    'contracting now would take from a release still serving what it needs'
  );
}

/**
 * Lock, contract on the migrate host, unlock; refused (exit 3) when `contractRefusal` says so, exit 64 without
 * migrate.contract.
 */
export function buildContractPlan(input: ContractInput): Plan {
  const { config, observed, ledger } = input;
  const migrate = config.migrate;
  if (!migrate?.contract) {
    throw new UserError(
      'baton.yml has no migrate.contract: there is no contract command to run',
      'add migrate.contract (the command that drops what only the old release needed), then run `baton contract` again',
    );
  }
  const refusal = contractRefusal(observed.hosts, ledger, `${migrate.host} (${config.app.path}/migrations/expanded)`);
  if (refusal) {
    throw new PlanRefusedError(
      refusal,
      ledger
        ? 'finish the push (or roll it back and push again) until every host runs the expanded release, ' +
            'then contract; nothing was changed'
        : 'push a release with migrate.expand first; nothing was changed',
    );
  }
  const dir = ledger as string;
  const contract: Step = {
    id: 'contract',
    kind: 'contract',
    title:
      `contract the schema on ${migrate.host} for ${dir}, which every host runs (irreversible: ` +
      `baton cannot undo a contract; the releases before ${dir} can no longer run on this schema)`,
    hosts: [migrate.host],
    // Every host must still run this release when the step begins: it checks again before it runs.
    releases: Object.fromEntries(observed.hosts.map((h) => [h.host, dir])),
    undo: [],
  };
  return sealPlan({
    kind: 'contract',
    ...planOwner(config),
    ...planHooks(config),
    release: releaseOfDir(dir),
    createdAt: (input.now ?? new Date()).toISOString(),
    createdBy: input.createdBy,
    observed,
    forward: [lockStep(config), contract, unlockStep()],
  });
}
