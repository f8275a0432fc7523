import { BatonCommand } from '../src/cli/base-command.js';
import { summarizeConfig } from '../src/config/summary.js';
import { ConfigError, ExitCode, formatConfigIssue, type ConfigIssue } from '../src/errors.js';

export default class Validate extends BatonCommand {
  static override summary = 'Check baton.yml and report every problem in it at file:line:col.';
  static override description = [
    'Reads the configuration (--config, default ./baton.yml), checks it against the schema and the rules',
    'no single key can express (a host in both clusters, duplicate hosts, another driver\'s keys, inline',
    `secrets), and prints every problem at once. Exits ${ExitCode.USAGE} if it finds any.`,
    '\n\nWith --json it prints {valid, errors: [{file, line, col, path, message}]}.',
  ].join(' ');
  static override examples = [
    '<%= config.bin %> validate',
    '<%= config.bin %> validate -c deploy/baton.yml',
    '<%= config.bin %> validate --json',
  ];

  async run(): Promise<{ valid: boolean; errors: ConfigIssue[] }> {
    const { flags } = await this.parse(Validate);
    try {
      const config = await this.loadConfig(flags);
      this.log(`${flags.config} is valid: ${summarizeConfig(config)}`);
      return { valid: true, errors: [] };
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      if (this.jsonEnabled()) {
        this.logJson({ valid: false, errors: err.issues });
      } else {
        for (const issue of err.issues) this.logToStderr(formatConfigIssue(issue));
        this.logToStderr(`${err.issues.length} problem${err.issues.length === 1 ? '' : 's'} in ${flags.config}`);
      }
      return this.exit(ExitCode.USAGE);
    }
  }
}
