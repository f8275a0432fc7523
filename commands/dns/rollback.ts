import { BatonCommand, runFormatFlag } from '../../src/cli/base-command.js';
import { dnsReporter, dnsStream, phaseJson, raiseForPhase } from '../../src/dns/cli.js';
import { phaseText } from '../../src/dns/render.js';
import { openDnsSession, rollbackMigration } from '../../src/dns/service.js';

export default class DnsRollback extends BatonCommand {
  static override summary =
    'Undo every migration step done so far, newest first: the old server serves the site again.';
  static override description =
    'Switches the record back (compare-and-set) and waits out the new TTL while the proxy still forwards, ' +
    'then puts the old web server back on its port (after the reverse sync hook), ' +
    'stops the proxy and removes the transitional record baton created.';
  static override examples = ['<%= config.bin %> dns rollback'];

  static override flags = { format: runFormatFlag };

  async run() {
    const { flags } = await this.parse(DnsRollback);
    this.eventStream = flags.format === 'jsonl';
    const session = await openDnsSession(await this.loadConfig(flags));
    try {
      const r = await rollbackMigration(session, {
        reporter: dnsReporter([], true, dnsStream(this.eventStream, session, 'rollback')),
      });
      if (!this.jsonEnabled()) this.log(phaseText(r));
      raiseForPhase(r);
      return this.done(phaseJson(r));
    } finally {
      await session.close();
    }
  }
}
