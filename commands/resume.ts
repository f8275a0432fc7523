import { Flags } from '@oclif/core';
import { BatonCommand, runFormatFlag } from '../src/cli/base-command.js';
import { lockWaitFlag, lockWaitMs, waitForLockIfAsked } from '../src/cli/lock-wait-flag.js';
import { raiseForOutcome, summary } from '../src/cli/run-plan.js';
import { readRunRecord } from '../src/engine/run-record.js';
import { openSession } from '../src/engine/session.js';
import { findResumable, remainingSteps, resumeRun } from '../src/release/resume.js';
import { resultText } from '../src/render/plan.js';

export default class Resume extends BatonCommand {
  static override summary =
    'Continue a push that was interrupted (or held) from its journal: the pending step runs again, then the rest.';
  static override examples = [
    '<%= config.bin %> resume',
    '<%= config.bin %> resume --run 20261127T200102Z-k3j2hq',
    '<%= config.bin %> resume --lock-wait 10m   # queue behind a release under way',
  ];
  static override flags = {
    run: Flags.string({ description: 'run id to resume (default: the newest interrupted or held run)' }),
    'lock-wait': lockWaitFlag,
    format: runFormatFlag,
  };

  async run() {
    const { flags } = await this.parse(Resume);
    this.eventStream = flags.format === 'jsonl';
    const waitMs = lockWaitMs(flags['lock-wait']);
    const config = await this.loadConfig(flags);
    const session = await openSession(config);
    try {
      // Another machine may have run it: the record on production is read first.
      for (const line of await readRunRecord(config, session.transports)) this.logToStderr(line);
      const record = findResumable(config, flags.run ? { run: flags.run } : {});
      const { remaining, reversal } = remainingSteps(record);
      if (!this.jsonEnabled()) {
        const pending = record.state.pending;
        const runsAgain = pending ? `: pending step ${pending.step} (${pending.title}) runs again` : '';
        const finishing = reversal ? ', finishing its reversal' : '';
        this.logToStderr(
          `resuming run ${record.run} (${record.plan.release.tag}, by ${record.state.by ?? '?'})` +
            `${runsAgain}${finishing}\nthen: ${remaining.map((s) => s.id).join(', ')}`,
        );
      }
      // The run being resumed holds the lock (it was killed, or held): that lock is not waited for.
      await waitForLockIfAsked(session, waitMs, record.run);
      const result = await resumeRun(session, record, await this.reporterFor(record.plan));
      if (!this.jsonEnabled()) this.log(resultText(result));
      raiseForOutcome(result);
      return this.done(summary(result));
    } finally {
      await session.close();
    }
  }
}
