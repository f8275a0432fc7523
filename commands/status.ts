import { BatonCommand } from '../src/cli/base-command.js';
import { applyWithoutBalancer, withoutBalancerFlag } from '../src/cli/without-balancer-flag.js';
import { loadConfig } from '../src/config/load.js';
import { readRunRecord } from '../src/engine/run-record.js';
import { openSession } from '../src/engine/session.js';
import { gatherStatus, statusExitCode } from '../src/release/status.js';
import { statusText } from '../src/render/status.js';

export default class Status extends BatonCommand {
  static override summary = 'Which cluster serves, what each host runs, sessions and health per member, the release lock (and whether its run is alive), and the last run (with any step it left pending).';
  static override description = 'Exits 0 when it read everything it shows; exits 1 when some part could not be read (shown as unknown, with the reason; nothing was changed).';
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json', '<%= config.bin %> status --without-balancer lb1.example.com   # lb1 of a pair is lost'];
  static override flags = { 'without-balancer': withoutBalancerFlag };

  async run() {
    const { flags } = await this.parse(Status);
    const { config, notes } = applyWithoutBalancer(await loadConfig(flags.config), flags['without-balancer']);
    for (const line of notes) this.logToStderr(line);
    const session = await openSession(config, undefined, { secrets: 'balancer' });
    try {
      for (const line of await readRunRecord(config, session.transports)) this.logToStderr(line);
      const report = await gatherStatus(session);
      if (!this.jsonEnabled()) this.log(statusText(report));
      // The report is still printed (and returned for --json); the exit code says it is incomplete.
      process.exitCode = statusExitCode(report);
      return report;
    } finally {
      await session.close();
    }
  }
}
