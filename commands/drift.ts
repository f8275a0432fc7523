import { Args } from '@oclif/core';
import { BatonCommand } from '../src/cli/base-command.js';
import { findDrift, hasDrift } from '../src/config-track/drift.js';
import { notifyDrift } from '../src/engine/notify.js';
import { openSession } from '../src/engine/session.js';
import { ExitCode } from '../src/errors.js';
import { driftText } from '../src/render/config-track.js';
import { notReachedError } from '../src/transport/fan-out.js';

export default class Drift extends BatonCommand {
  static override summary = 'What differs on each host from its last snapshot, as a diff; changes nothing.';
  static override description =
    'Exits 0 when every host is as in its last snapshot, 5 when some host differs (for a scheduled CI job to ' +
    'branch on), 1 when a host could not be reached.';
  static override examples = [
    '<%= config.bin %> drift',
    '<%= config.bin %> drift lb.example.com',
    '<%= config.bin %> drift --json || [ $? -eq 5 ] && echo drifted',
  ];
  static override strict = false;
  static override args = { host: Args.string({ description: 'hosts to check (default: every tracked host)' }) };

  async run() {
    const { argv, flags } = await this.parse(Drift);
    const config = await this.loadConfig(flags);
    const session = await openSession(config, undefined, { secrets: 'none' });
    try {
      const result = await findDrift(config, session.transports, argv as string[]);
      if (!this.jsonEnabled()) this.log(driftText(result));
      if (result.failed.length > 0) throw notReachedError(result.failed, 'drift unknown there', 'drift');
      // The report is printed (and returned for --json) either way; the exit code says whether anything drifted.
      const drifted = result.hosts.filter(hasDrift).map((h) => h.host);
      if (drifted.length) process.exitCode = ExitCode.DRIFTED;
      await notifyDrift(config, drifted, {
        problem: (line) => this.logToStderr(`warning: ${line}`),
        note: (line) => this.logToStderr(line),
      });
      return result;
    } finally {
      await session.close();
    }
  }
}
