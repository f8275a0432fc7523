import { Flags } from '@oclif/core';
import { BatonCommand, runFormatFlag } from '../../src/cli/base-command.js';
import { dnsReporter, dnsStream, phaseJson, raiseForPhase } from '../../src/dns/cli.js';
import { phaseText } from '../../src/dns/render.js';
import { finishMigration, openDnsSession } from '../../src/dns/service.js';

export default class DnsFinish extends BatonCommand {
  static override summary =
    'Remove the transitional proxy, once no cache can hold the old address and no request came for the quiet period.';
  static override description =
    'Refuses (exit 3) while the horizon has not passed or requests still arrive; `baton dns watch` shows both.';
  static override examples = ['<%= config.bin %> dns finish'];
  static override flags = {
    force: Flags.boolean({ description: 'remove the proxy even though clients may still reach the old host' }),
    format: runFormatFlag,
  };

  async run() {
    const { flags } = await this.parse(DnsFinish);
    this.eventStream = flags.format === 'jsonl';
    const session = await openDnsSession(await this.loadConfig(flags));
    try {
      const steps = session.store.read()?.plan.forward.filter((s) => s.phase === 'finish') ?? [];
      const r = await finishMigration(session, {
        reporter: dnsReporter(steps, this.jsonEnabled(), dnsStream(this.eventStream, session, 'finish')),
        force: flags.force,
      });
      if (!this.jsonEnabled()) this.log(phaseText(r));
      raiseForPhase(r);
      return this.done({ ...phaseJson(r), watch: r.watch });
    } finally {
      await session.close();
    }
  }
}
