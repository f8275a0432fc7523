import { Args, Flags } from '@oclif/core';
import { BatonCommand, runFormatFlag } from '../src/cli/base-command.js';
import { loadConfig } from '../src/config/load.js';
import { openSession } from '../src/engine/session.js';
import { OperationFailedError } from '../src/errors.js';
import { changesNothing } from '../src/model/plan.js';
import { readPlanFile, writePlanFile } from '../src/release/approve.js';
import { lockWaitFlag, lockWaitMs, waitForLockIfAsked } from '../src/cli/lock-wait-flag.js';
import { checkPlan } from '../src/release/rederive.js';
import { idleSideSteps, rehearseAgainst, rehearseOnIdleSide, signRehearsal } from '../src/release/rehearse.js';
import { sshSigner } from '../src/release/review-signatures.js';
import { signingKey } from '../src/release/signing-key.js';

export default class Rehearse extends BatonCommand {
  static override summary =
    'Carry out the plan forward then in reverse where no user sees it, check each ends where expected, ' +
    'and record the result in the plan file.';
  static override description =
    "On production the idle side is the plan's first cluster, " +
    'drained from the public pool for the rehearsal: it is staged, ' +
    'switched to the new release and smoke-checked through its internal hostname, ' +
    'then switched back and returned to the pool; the new release never takes public traffic. With ' +
    '--against, the whole push is carried out and reversed on a staging baton.yml instead. The record is ' +
    'signed with your SSH key (--key, else git config user.signingkey; namespace baton-rehearsal, ' +
    'message `baton rehearsal HASH OUTCOME`): apply counts a required rehearsal only when its signature ' +
    'verifies against require.allowedSigners. Exit 0 when it passed, ' +
    '1 when it failed and everything is back where it started, 2 when it is not.';
  static override examples = [
    '<%= config.bin %> rehearse push-v2.3.1.json --key ~/.ssh/id_ed25519',
    '<%= config.bin %> rehearse push-v2.3.1.json --against staging/baton.yml',
  ];
  static override args = { plan: Args.string({ description: 'plan file written by `baton plan -o`', required: true }) };
  static override flags = {
    against: Flags.string({
      description: "a staging baton.yml to rehearse on instead of production's idle side",
      helpValue: 'STAGING_CONFIG',
    }),
    key: Flags.string({
      description: 'SSH key to sign the rehearsal record with (default: git config user.signingkey)',
      helpValue: 'KEY_FILE',
    }),
    format: runFormatFlag,
    'lock-wait': lockWaitFlag,
  };

  async run() {
    const { args, flags } = await this.parse(Rehearse);
    this.eventStream = flags.format === 'jsonl';
    const plan = readPlanFile(args.plan);
    const waitMs = lockWaitMs(flags['lock-wait']);
    const production = await this.loadConfig(flags);
    checkPlan(plan, production);
    if (changesNothing(plan)) return this.nothingToDo(plan);
    // Found before anything runs: where production requires a rehearsal, one whose record cannot be signed would not
    // count.
    const sign = flags.key !== undefined || production.require.rehearsal ? sshSigner(signingKey(flags.key)) : undefined;
    const session = await openSession(flags.against ? await loadConfig(flags.against) : production);
    try {
      await waitForLockIfAsked(session, waitMs);
      const shown = flags.against ? plan : { ...plan, forward: idleSideSteps(plan).forward };
      const opts = { reporter: await this.reporterFor(shown) };
      const r = flags.against
        ? await rehearseAgainst(session, plan, { ...opts, against: flags.against })
        : await rehearseOnIdleSide(session, plan, opts);
      const signed = sign
        ? await signRehearsal(r, sign).catch((err: unknown) => {
            writePlanFile(args.plan, r.plan);
            throw err;
          })
        : r;
      writePlanFile(args.plan, signed.plan);
      const { rehearsal } = signed;
      const data = { plan: args.plan, hash: plan.hash, rehearsal, run: r.run, journal: r.journal };
      if (!this.jsonEnabled()) {
        this.log(
          `rehearsal ${rehearsal.outcome} against ${rehearsal.against}: ` +
            `forward ${(rehearsal.forwardMs / 1000).toFixed(1)}s, ` +
            `reverse ${(rehearsal.reverseMs / 1000).toFixed(1)}s; recorded in ${args.plan}`,
        );
        if (rehearsal.outcome === 'failed') this.log(`  ${rehearsal.detail?.split('; ').join('\n  ')}`);
        if (!sign)
          this.log(
            'recorded unsigned: where baton.yml requires a rehearsal, apply counts only a signed one (--key KEY_FILE)',
          );
      }
      if (rehearsal.outcome === 'failed') {
        throw new OperationFailedError(
          `rehearsal of ${plan.release.tag} failed`,
          { ran: r.ended },
          r.needsAttention ? `not back where it started: see the journal ${r.journal}` : `journal: ${r.journal}`,
          data,
        );
      }
      return this.done(data);
    } finally {
      await session.close();
    }
  }
}
