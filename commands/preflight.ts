import { Args } from '@oclif/core';
import { BatonCommand } from '../src/cli/base-command.js';
import { openSession } from '../src/engine/session.js';
import { preflightRefusal, runPreflight } from '../src/release/preflight.js';
import { renderFindings } from '../src/render/preflight.js';

export default class Preflight extends BatonCommand {
  static override summary =
    'Check production can take a push of TAG before anything changes: hosts reachable, tag exportable, ' +
    'balancer config valid, free disk, the capacity of the cluster left serving, process memory.';
  static override description =
    'plan and push run it first and record its findings in the plan. Each finding is ok, ' +
    'refused or unchecked (nothing to compare against, e.g. no capacity.perHost in baton.yml); ' +
    'a refusal names each number and where it came from. Exits 0 when nothing is refused, ' +
    '6 when something is, and 1 when a host cannot be reached (as plan and push do). Changes nothing.';
  static override examples = [
    '<%= config.bin %> preflight v2.3.1',
    '<%= config.bin %> preflight            # everything but the tag and disk',
    '<%= config.bin %> preflight v2.3.1 --json',
  ];
  static override args = {
    tag: Args.string({
      description: 'git tag a push would deploy (without it, the tag and free disk are not checked)',
    }),
  };

  async run() {
    const { args, flags } = await this.parse(Preflight);
    const session = await openSession(await this.loadConfig(flags), undefined, { secrets: 'balancer' });
    try {
      const report = await runPreflight(session, args.tag);
      const shown = !this.jsonEnabled();
      if (shown) this.log(renderFindings(report).join('\n'));
      // In text the findings were just printed: the error says once that they refused, and what to do.
      const refused = preflightRefusal(report, { shown });
      if (refused) throw refused;
      if (shown) this.log('preflight passed');
      return report;
    } finally {
      await session.close();
    }
  }
}
