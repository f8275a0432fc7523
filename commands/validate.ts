import { Flags } from '@oclif/core';
import { BatonCommand } from '../src/cli/base-command.js';
import { checkAllEnvironments, distinctIssues, type EnvironmentCheck } from '../src/config/check-all.js';
import { environmentFile } from '../src/config/environment.js';
import { summarizeConfig } from '../src/config/summary.js';
import { ConfigError, ExitCode, formatConfigIssue, type ConfigIssue } from '../src/errors.js';

export default class Validate extends BatonCommand {
  static override summary = 'Check baton.yml and report every problem in it at file:line:col.';
  static override description = [
    'Reads the configuration (--config, default ./baton.yml; with -e NAME, baton.NAME.yml laid over it), ' +
      'checks it against the schema and the rules',
    "no single key can express (a host in both clusters, duplicate hosts, another driver's keys, inline",
    'secrets), and prints every problem at once, each in the file that holds it. --all checks baton.yml ' +
      `alone and with every environment file beside it. Exits ${ExitCode.USAGE} if it finds any.`,
    '\n\nWith --json it prints {valid, errors: [{file, line, col, path, message}]}; ' +
      'with --all also environments: [{environment, valid}].',
  ].join(' ');
  static override examples = [
    '<%= config.bin %> validate',
    '<%= config.bin %> validate -c deploy/baton.yml',
    '<%= config.bin %> validate -e staging',
    '<%= config.bin %> validate --all',
    '<%= config.bin %> validate --json',
  ];
  static override flags = {
    all: Flags.boolean({
      description:
        'check baton.yml alone and with each environment file beside it (baton.NAME.yml); -e is then not needed',
    }),
  };

  async run(): Promise<{
    valid: boolean;
    errors: ConfigIssue[];
    environments?: { environment: string | null; valid: boolean }[];
  }> {
    const { flags } = await this.parse(Validate);
    const checks = flags.all ? await checkAllEnvironments(flags.config) : [await this.checkOne(flags)];
    const errors = distinctIssues(checks);
    const environments = flags.all
      ? { environments: checks.map((c) => ({ environment: c.environment ?? null, valid: c.issues.length === 0 })) }
      : {};
    for (const c of checks) if (c.config) this.log(`${label(c)} is valid: ${summarizeConfig(c.config)}`);
    if (errors.length === 0) return { valid: true, errors: [], ...environments };
    if (this.jsonEnabled()) {
      this.logJson({ valid: false, errors, ...environments });
    } else {
      for (const issue of errors) this.logToStderr(formatConfigIssue(issue));
      const failed = checks.filter((c) => c.issues.length).map(label);
      this.logToStderr(`${errors.length} problem${errors.length === 1 ? '' : 's'} in ${failed.join('; ')}`);
    }
    return this.exit(ExitCode.USAGE);
  }

  private async checkOne(flags: { config: string; environment?: string | undefined }): Promise<EnvironmentCheck> {
    const { environment } = flags;
    const check = {
      ...(environment && { environment }),
      files: environment ? [flags.config, environmentFile(flags.config, environment)] : [flags.config],
    };
    try {
      return { ...check, config: await this.loadConfig(flags), issues: [] };
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return { ...check, issues: err.issues };
    }
  }
}

/** `baton.yml`, or `baton.yml + baton.staging.yml (staging)`. */
function label(c: EnvironmentCheck): string {
  return `${c.files.join(' + ')}${c.environment ? ` (${c.environment})` : ''}`;
}
