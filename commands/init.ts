import { Flags } from '@oclif/core';
import { relative } from 'node:path';
import { BatonCommand } from '../src/cli/base-command.js';
import { writeEnvironmentStarter, writeStarter } from '../src/config/starter.js';

export default class Init extends BatonCommand {
  static override summary = 'Write a commented starter baton.yml and its JSON Schema.';
  static override description = [
    'Writes the starter configuration to --config (default ./baton.yml) and baton.schema.json beside it,',
    'so an editor can check the file as you type. It refuses to replace an existing file unless --force.',
    "With -e NAME it writes baton.NAME.yml beside an existing baton.yml instead: an environment's file, commented.",
    '\n\nEdit the hosts, balancer and app for your fleet, then run `baton validate`.',
  ].join(' ');
  static override examples = [
    '<%= config.bin %> init',
    '<%= config.bin %> init -c deploy/baton.yml',
    '<%= config.bin %> init --force',
    '<%= config.bin %> init -e staging',
  ];
  static override flags = {
    force: Flags.boolean({ description: 'overwrite an existing baton.yml' }),
  };

  async run(): Promise<{ config: string; schema?: string }> {
    const { flags } = await this.parse(Init);
    if (flags.environment) {
      const written = await writeEnvironmentStarter(flags.config, flags.environment, { force: flags.force });
      this.log(`wrote ${relative(process.cwd(), written.config)}`);
      this.log(
        `next: write in it what ${flags.environment} changes, then run \`baton validate -e ${flags.environment}\``,
      );
      return written;
    }
    const written = await writeStarter(flags.config, { force: flags.force });
    this.log(`wrote ${relative(process.cwd(), written.config)} and ${relative(process.cwd(), written.schema)}`);
    this.log('next: edit it for your fleet, then run `baton validate`');
    return written;
  }
}
