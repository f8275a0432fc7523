import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Args, Flags } from '@oclif/core';
import { BatonCommand } from '../src/cli/base-command.js';
import { readRunRecordAlone } from '../src/engine/run-record.js';
import { reportHtml } from '../src/render/report-html.js';
import { reportData } from '../src/report/report-data.js';
import { approvalChecks, defaultReportFile, selectRun } from '../src/report/select-run.js';

export default class Report extends BatonCommand {
  static override summary =
    'Write one self-contained HTML page for a run: steps per host over time, requests, 5xx and sessions, ' +
    'outcome, plan hash and approvals.';
  static override description = 'The page needs no network: open it in any browser, from disk or a CI artifact.';
  static override examples = ['<%= config.bin %> report', '<%= config.bin %> report 20261127T200102Z -o run.html'];
  static override args = { run: Args.string({ description: 'run id or the start of one (default: the newest run)' }) };
  static override flags = {
    output: Flags.string({
      char: 'o',
      description: 'where to write the page (default: .baton/reports/<run>.html beside baton.yml)',
    }),
    local: Flags.boolean({
      description: "read this machine's copy only, without reaching the run record on production",
    }),
  };

  async run() {
    const { args, flags } = await this.parse(Report);
    const config = await this.loadConfig(flags);
    if (!flags.local)
      for (const line of await readRunRecordAlone(config, {
        newest: 1,
        ...(args.run !== undefined ? { run: args.run } : {}),
      }))
        this.logToStderr(line);
    const selected = selectRun(config, args.run);
    const file = flags.output ? resolve(flags.output) : defaultReportFile(config.dir, selected.run);
    mkdirSync(dirname(file), { recursive: true });
    const checks = await approvalChecks(selected.plan, config.require.allowedSigners);
    const extras = {
      ...(checks ? { approvalChecks: checks } : {}),
      ...(selected.planProblem ? { planProblem: selected.planProblem } : {}),
    };
    writeFileSync(file, reportHtml(reportData(selected.run, selected.records, selected.plan, extras)));
    this.log(file);
    return { run: selected.run, file };
  }
}
