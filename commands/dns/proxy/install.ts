import { BatonCommand, runFormatFlag } from '../../../src/cli/base-command.js';
import { dnsReporter, dnsStream, phaseJson, raiseForPhase } from '../../../src/dns/cli.js';
import { phaseText } from '../../../src/dns/render.js';
import { openDnsSession, runPhase } from '../../../src/dns/service.js';

export default class DnsProxyInstall extends BatonCommand {
  static override summary =
    "Start the transitional proxy on the old host's side port and verify it serves the new host's pages.";
  static override description =
    'Renders templates/varnish|nginx|apache for dns.migrate.proxy.kind (Varnish passes everything and pipes ' +
    'websockets, and refuses an HTTPS site), starts it on proxy.sidePort with its own pid and log files, ' +
    "and checks that a request with the site's Host header gets exactly what the new host answers.";
  static override examples = ['<%= config.bin %> dns proxy install'];

  static override flags = { format: runFormatFlag };

  async run() {
    const { flags } = await this.parse(DnsProxyInstall);
    this.eventStream = flags.format === 'jsonl';
    const session = await openDnsSession(await this.loadConfig(flags));
    try {
      const steps = session.store.read()?.plan.forward.filter((s) => s.phase === 'proxy') ?? [];
      const r = await runPhase(session, 'proxy', {
        reporter: dnsReporter(steps, this.jsonEnabled(), dnsStream(this.eventStream, session, 'proxy-install')),
      });
      if (!this.jsonEnabled()) this.log(phaseText(r));
      raiseForPhase(r);
      return this.done(phaseJson(r));
    } finally {
      await session.close();
    }
  }
}
