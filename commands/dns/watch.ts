import { Flags } from '@oclif/core';
import { BatonCommand } from '../../src/cli/base-command.js';
import { watchText } from '../../src/dns/render.js';
import { openDnsSession, watchMigration } from '../../src/dns/service.js';

export default class DnsWatch extends BatonCommand {
  static override summary =
    "Requests still reaching the old host's proxy, per minute, and when no cache can hold the old address.";
  static override examples = [
    '<%= config.bin %> dns watch',
    '<%= config.bin %> dns watch --until-ready   # returns once `dns finish` may run',
  ];
  static override flags = {
    'until-ready': Flags.boolean({
      description: 'keep watching (a line every interval) until the proxy may be removed',
    }),
    interval: Flags.integer({ description: 'seconds between looks with --until-ready', default: 60 }),
  };

  async run() {
    const { flags } = await this.parse(DnsWatch);
    const session = await openDnsSession(await this.loadConfig(flags), { withoutKey: true });
    try {
      let report = await watchMigration(session);
      while (flags['until-ready'] && !report.verdict.finishable) {
        if (!this.jsonEnabled())
          this.log(
            `${report.now} requests ${report.total}, quiet ${report.verdict.quietSeconds}s, ` +
              `ready in ${report.verdict.waitSeconds}s`,
          );
        await new Promise((r) => setTimeout(r, flags.interval * 1000));
        report = await watchMigration(session);
      }
      if (!this.jsonEnabled()) this.log(watchText(report));
      return report;
    } finally {
      await session.close();
    }
  }
}
