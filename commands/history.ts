import { Flags } from '@oclif/core';
import { BatonCommand } from '../src/cli/base-command.js';
import { readRunRecordAlone } from '../src/engine/run-record.js';
import { listRuns } from '../src/release/history.js';
import { historyText } from '../src/render/status.js';

export default class History extends BatonCommand {
  static override summary =
    'Past pushes from the run record on production (from every machine), newest first: tag, who, when, ' +
    'outcome, duration, run id.';
  static override examples = ['<%= config.bin %> history', '<%= config.bin %> history --limit 5 --json'];
  static override flags = {
    limit: Flags.integer({ description: 'show at most this many', default: 20, min: 1 }),
    all: Flags.boolean({ description: 'include rehearsals' }),
    local: Flags.boolean({
      description: "read this machine's copy only, without reaching the run record on production",
    }),
  };

  async run() {
    const { flags } = await this.parse(History);
    const config = await this.loadConfig(flags);
    if (!flags.local)
      for (const line of await readRunRecordAlone(config, { newest: flags.limit })) this.logToStderr(line);
    const runs = listRuns(config, { limit: flags.limit, pushesOnly: !flags.all });
    if (!this.jsonEnabled()) this.log(historyText(runs, config.environment));
    return runs;
  }
}
