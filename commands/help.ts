import { Args, Command, Errors, loadHelpClass } from '@oclif/core';
import { failUnknownCommand, failUsage } from '../src/cli/unknown-command.js';
import { UserError } from '../src/errors.js';

// A plain Command: no --config or --json, which mean nothing here.
export default class Help extends Command {
  static override summary = 'Show help for baton, a topic or a command.';
  static override examples = ['<%= config.bin %> help dns plan', '<%= config.bin %> dns plan --help   # the same'];
  static override args = { command: Args.string({ description: 'command or topic, e.g. `validate` or `dns plan`' }) };
  // The words of a command id (`dns plan`) arrive as separate arguments.
  static override strict = false;

  async run(): Promise<void> {
    const { argv } = await this.parse(Help);
    const words = (argv as string[]).filter((a) => !a.startsWith('-'));
    const id = words.join(':');
    if (id && !this.config.findCommand(id) && !this.config.findTopic(id)) failUnknownCommand(id, this.config);
    const HelpClass = await loadHelpClass(this.config);
    await new HelpClass(this.config, this.config.pjson.oclif.helpOptions).showHelp(words);
  }

  // A bad flag is a usage error (64), as for every other command.
  protected override async catch(err: Error): Promise<never> {
    if (err instanceof Errors.CLIError && !(err instanceof Errors.ExitError))
      failUsage(new UserError(err.message, 'see `baton help --help`'));
    throw err;
  }
}
