// The contract service: observe production and read the ledger of the last schema expand (at
// once, both read-only), build the contract plan (refused while any host runs another release),
// and carry it out with the journal and the lock like any other plan.
import { buildContractPlan } from '../../plans/contract.js';
import { PlanRefusedError, UserError } from '../errors.js';
import { observe, type Observation } from '../engine/observe.js';
import type { Reporter } from '../engine/reporter.js';
import type { Session } from '../engine/session.js';
import type { Plan } from '../model/plan.js';
import { isReleaseDirName } from '../model/release.js';
import { appPaths, migrationLedger, readMigrationLedger } from '../model/host-commands.js';
import { actor } from './actor.js';
import { carryOut, type ApplyResult } from './carry-out.js';

export interface ContractProposal {
  plan: Plan;
  observation: Observation;
  /** The release the ledger names. */
  ledger: string;
}

export async function proposeContract(session: Session, opts: { by?: string } = {}): Promise<ContractProposal> {
  const { config } = session;
  // Before any host is asked anything: without the command there is nothing to plan.
  if (!config.migrate?.contract) {
    throw new UserError(
      'baton.yml has no migrate.contract: there is no contract command to run',
      'add migrate.contract (the command that drops what only the old release needed), then run `baton contract` again',
    );
  }
  const paths = appPaths(config.app.path);
  const host = config.migrate.host;
  const [observation, read] = await Promise.all([
    observe(config, session.balancer, session.transports, session.addressOf),
    session.transports.get(host).run(readMigrationLedger(paths)),
  ]);
  const text = read.stdout.trim();
  if (text && !isReleaseDirName(text)) {
    throw new PlanRefusedError(
      `the ledger ${migrationLedger(paths)} on ${host} does not name ` +
        `a release: ${JSON.stringify(read.stdout.trim().slice(0, 80))}`,
      'it should hold the release directory of the last expand: look at it by hand; nothing was changed',
    );
  }
  const ledger = text || null;
  const plan = buildContractPlan({ config, observed: observation.observed, ledger, createdBy: opts.by ?? actor() });
  return { plan, observation, ledger: plan.release.dir };
}

export function carryOutContract(
  session: Session,
  p: ContractProposal,
  reporter: Reporter,
  opts: { by?: string } = {},
): Promise<ApplyResult> {
  return carryOut(session, p.plan, {
    command: 'contract',
    reporter,
    observation: p.observation,
    ...(opts.by ? { by: opts.by } : {}),
  });
}
