import { BatonCommand } from '../src/cli/base-command.js';
import { EXIT_CODE_MEANINGS } from '../src/errors.js';

export default class ExitCodes extends BatonCommand {
  static override summary = 'List the exit codes baton ends with, for pipelines to branch on.';
  static override examples = ['<%= config.bin %> exit-codes', '<%= config.bin %> exit-codes --json'];

  async run(): Promise<Record<string, string>> {
    await this.parse(ExitCodes);
    for (const [code, meaning] of Object.entries(EXIT_CODE_MEANINGS)) this.log(`${code.padStart(3)}  ${meaning}`);
    return Object.fromEntries(Object.entries(EXIT_CODE_MEANINGS));
  }
}
