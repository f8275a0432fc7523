import { Flags } from '@oclif/core';
import { BatonCommand, runFormatFlag } from '../../src/cli/base-command.js';
import { durationFlagMs } from '../../src/cli/duration-flag.js';
import { dnsReporter, dnsStream, phaseJson, raiseForPhase } from '../../src/dns/cli.js';
import { dnsPlanText, phaseText } from '../../src/dns/render.js';
import { lowerSiteTtl, openDnsSession } from '../../src/dns/service.js';

export default class DnsLowerTtl extends BatonCommand {
  static override summary =
    "Lower the site's TTL ahead of the move, so that once it switches caches hold the old address briefly.";
  static override description =
    'Run it well before the move (a day ahead for a one-day TTL): ' +
    "the site's record keeps its address and gets the lower TTL (nsupdate compare-and-set, " +
    'or printed and waited for), confirmed on every authoritative server. The plan is made again with it: ' +
    'the switch waits until answers cached under the old TTL have expired (`dns cutover` refuses until then, ' +
    'exit 3), and `dns finish` raises the TTL back. `dns rollback` raises it back too.';
  static override examples = ['<%= config.bin %> dns lower-ttl --to 5m', '<%= config.bin %> dns lower-ttl --to 60s'];
  static override flags = {
    to: Flags.string({ description: 'the TTL the site gets until the move is over (e.g. 60s, 5m)', default: '5m' }),
    format: runFormatFlag,
  };

  async run() {
    const { flags } = await this.parse(DnsLowerTtl);
    this.eventStream = flags.format === 'jsonl';
    const toMs = durationFlagMs('--to', flags.to, 'e.g. --to 5m', { minMs: 1000, maxMs: 86_400_000 }) as number;
    const session = await openDnsSession(await this.loadConfig(flags));
    try {
      const r = await lowerSiteTtl(session, {
        to: Math.round(toMs / 1000),
        reporter: (steps) => dnsReporter(steps, this.jsonEnabled(), dnsStream(this.eventStream, session, 'lower-ttl')),
      });
      if (!this.jsonEnabled())
        this.log([r.prepared && phaseText(r.prepared), dnsPlanText(r.plan, r.state)].filter(Boolean).join('\n\n'));
      if (r.prepared) raiseForPhase(r.prepared);
      return this.done({ plan: r.plan, done: r.state.done, ...(r.prepared && { lowered: phaseJson(r.prepared) }) });
    } finally {
      await session.close();
    }
  }
}
