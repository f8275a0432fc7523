import { Flags } from '@oclif/core';
import { BatonCommand } from '../src/cli/base-command.js';
import { durationFlagMs } from '../src/cli/duration-flag.js';
import { LEASE_BOUNDS } from '../src/config/duration.js';
import { openSession } from '../src/engine/session.js';
import { actor } from '../src/release/push.js';
import { holdLock } from '../src/release/lock-commands.js';

export default class Lock extends BatonCommand {
  static override summary =
    'Hold the release lock, with a reason, so no push runs until you unlock it or its lease runs out.';
  static override description =
    'Running it again while you hold the lock renews the lease (and the reason). Pushes, including yours, ' +
    'wait for `baton unlock`. Exit 4 when someone else holds it.';
  static override examples = [
    '<%= config.bin %> lock --reason "freeze: Black Friday"',
    '<%= config.bin %> lock --reason "incident 42" --lease 2h',
  ];
  static override flags = {
    reason: Flags.string({ description: 'why releases must wait (shown to whoever tries to push)', required: true }),
    lease: Flags.string({
      description: 'the lock expires after this long unless renewed (default: lock.lease in baton.yml)',
      helpValue: '30m',
    }),
  };

  async run() {
    const { flags } = await this.parse(Lock);
    const leaseMs = durationFlagMs('--lease', flags.lease, 'e.g. --lease 30m, 2h, 90s', LEASE_BOUNDS);
    const session = await openSession(await this.loadConfig(flags), undefined, { secrets: 'none' });
    try {
      const details = await holdLock(session, { by: actor(), reason: flags.reason, ...(leaseMs ? { leaseMs } : {}) });
      if (!this.jsonEnabled())
        this.log(
          `release lock held by ${details.by}: ${details.reason}; ` +
            `expires ${details.expires} unless renewed (baton lock again)`,
        );
      return details;
    } finally {
      await session.close();
    }
  }
}
