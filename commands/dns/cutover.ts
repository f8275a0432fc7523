import { Flags } from '@oclif/core';
import { BatonCommand, runFormatFlag } from '../../src/cli/base-command.js';
import { dnsReporter, dnsStream, phaseJson, raiseForPhase } from '../../src/dns/cli.js';
import { phaseText } from '../../src/dns/render.js';
import { openDnsSession, runPhase } from '../../src/dns/service.js';

export default class DnsCutover extends BatonCommand {
  static override summary = "Put the proxy on the old web server's port (after the sync hook), then switch the record.";
  static override description =
    'In one step on the old host: hold new connections, stop the old web server, ' +
    "run the sync hook while nothing writes, start the proxy on the site's port, verify, " +
    'let connections in. From then on only the new host serves and writes. Then the record is switched ' +
    '(nsupdate compare-and-set, or printed and waited for) ' +
    'and confirmed on every authoritative server. A failure puts the old server back.';
  static override examples = [
    '<%= config.bin %> dns cutover',
    '<%= config.bin %> dns cutover --no-switch   # switch later with a second `dns cutover`',
  ];
  static override flags = {
    'no-switch': Flags.boolean({
      description: 'stop after the proxy took the port; run `baton dns cutover` again to switch the record',
    }),
    format: runFormatFlag,
  };

  async run() {
    const { flags } = await this.parse(DnsCutover);
    this.eventStream = flags.format === 'jsonl';
    const session = await openDnsSession(await this.loadConfig(flags));
    try {
      const steps = session.store.read()?.plan.forward.filter((s) => s.phase === 'cutover') ?? [];
      const r = await runPhase(session, 'cutover', {
        reporter: dnsReporter(steps, this.jsonEnabled(), dnsStream(this.eventStream, session, 'cutover')),
        noSwitch: flags['no-switch'],
      });
      if (!this.jsonEnabled()) this.log(phaseText(r));
      raiseForPhase(r);
      return this.done(phaseJson(r));
    } finally {
      await session.close();
    }
  }
}
