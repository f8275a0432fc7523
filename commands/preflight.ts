import { Args } from '@oclif/core';
import { BatonCommand } from '../src/cli/base-command.js';
import { refusals } from '../src/checks/preflight.js';
import { loadConfig } from '../src/config/load.js';
import { openSession } from '../src/engine/session.js';
import { PreflightRefusedError } from '../src/errors.js';
import { runPreflight } from '../src/release/preflight.js';
import { renderPreflight } from '../src/render/preflight.js';

export default class Preflight extends BatonCommand {
  static override summary = 'Check production can take a push of TAG before anything changes: hosts reachable, tag exportable, balancer config valid, free disk, the capacity of the cluster left serving, process memory.';
  static override description =
    'plan and push run it first and record its findings in the plan. Each finding is ok, refused or unchecked (nothing to compare against, e.g. no capacity.perHost in baton.yml); a refusal names each number and where it came from. Exits 0 when nothing is refused, 6 when something is. Changes nothing.';
  static override examples = ['<%= config.bin %> preflight v2.3.1', '<%= config.bin %> preflight            # everything but the tag and disk', '<%= config.bin %> preflight v2.3.1 --json'];
  static override args = { tag: Args.string({ description: 'git tag a push would deploy (without it, the tag and free disk are not checked)' }) };

  async run() {
    const { args, flags } = await this.parse(Preflight);
    const session = await openSession(await loadConfig(flags.config), undefined, { secrets: 'balancer' });
    try {
      const report = await runPreflight(session, args.tag);
      if (!this.jsonEnabled()) this.log(renderPreflight(report).join('\n'));
      const refused = refusals(report);
      if (refused.length > 0) {
        // In text, the findings were just printed: the error only says what they mean.
        const message = this.jsonEnabled() ? `preflight refused:\n  ${refused.map((f) => f.message).join('\n  ')}` : `preflight refused: ${refused.length} finding${refused.length === 1 ? '' : 's'} above (REFUSED)`;
        const error = new PreflightRefusedError(message, refused);
        error.data = { ...report };
        throw error;
      }
      return report;
    } finally {
      await session.close();
    }
  }
}
