import { Flags } from '@oclif/core';
import { BatonCommand } from '../src/cli/base-command.js';
import { loadConfig } from '../src/config/load.js';
import { openSession } from '../src/engine/session.js';
import { actor } from '../src/release/push.js';
import { releaseLock } from '../src/release/lock-commands.js';

export default class Unlock extends BatonCommand {
  static override summary = 'Release the release lock: your own, or an expired one; someone else\'s only with --force.';
  static override examples = ['<%= config.bin %> unlock', '<%= config.bin %> unlock --force   # the CI job that held it is gone'];
  static override flags = { force: Flags.boolean({ description: 'release it even though someone else holds it' }) };

  async run() {
    const { flags } = await this.parse(Unlock);
    const session = await openSession(await loadConfig(flags.config), undefined, { secrets: 'none' });
    try {
      const r = await releaseLock(session, { by: actor(), force: flags.force });
      if (!this.jsonEnabled()) {
        const h = r.holder;
        this.log(
          h
            ? `released the lock held by ${h.by} since ${h.since} (${h.reason})${r.expired ? '; its lease had run out' : ''}${r.forced ? '; forced' : ''}`
            : r.released
              ? 'removed a release lock whose details could not be read; forced'
              : 'the release lock was not held',
        );
      }
      return r;
    } finally {
      await session.close();
    }
  }
}
