import { writeFileSync } from 'node:fs';
import { Flags } from '@oclif/core';
import { BatonCommand } from '../../src/cli/base-command.js';
import { dnsReporter, phaseJson, raiseForPhase } from '../../src/dns/cli.js';
import { dnsPlanMarkdown, dnsPlanText, phaseText } from '../../src/dns/render.js';
import { openDnsSession, planMigration } from '../../src/dns/service.js';

export default class DnsPlan extends BatonCommand {
  static override summary =
    "Read the site's records and TTLs from the authoritative servers, create the transitional name, " +
    'and print the migration runbook.';
  static override description =
    'Asks every authoritative server of dns.zone (not a resolver) for the serial, ' +
    "the site's record and the transitional name; creates the transitional record (nsupdate with a " +
    'compare-and-set, or prints it and waits when updates are manual); ' +
    'prints each step with its earliest safe time and its undo.';
  static override examples = [
    '<%= config.bin %> dns plan',
    '<%= config.bin %> dns plan --markdown -o migration.md',
    '<%= config.bin %> dns plan --dry-run --json',
  ];
  static override flags = {
    'dry-run': Flags.boolean({
      description: 'change nothing: do not create the transitional record, do not store the plan',
    }),
    markdown: Flags.boolean({ description: 'print the runbook as Markdown' }),
    output: Flags.string({ char: 'o', description: 'also write the runbook to this file' }),
  };

  async run() {
    const { flags } = await this.parse(DnsPlan);
    const session = await openDnsSession(await this.loadConfig(flags));
    try {
      const first = await planMigration(session, { dryRun: true });
      const reporter = dnsReporter(
        first.plan.forward.filter((s) => s.phase === 'prepare'),
        this.jsonEnabled(),
      );
      const r = flags['dry-run'] ? first : await planMigration(session, { reporter });
      const text = flags.markdown ? dnsPlanMarkdown(r.plan, r.state) : dnsPlanText(r.plan, r.state);
      if (flags.output) writeFileSync(flags.output, `${text}\n`);
      if (!this.jsonEnabled()) this.log([r.prepared && phaseText(r.prepared), text].filter(Boolean).join('\n\n'));
      if (r.prepared) raiseForPhase(r.prepared);
      return { plan: r.plan, done: r.state.done, ...(r.prepared && { prepared: phaseJson(r.prepared) }) };
    } finally {
      await session.close();
    }
  }
}
