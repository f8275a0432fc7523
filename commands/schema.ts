import { Flags } from '@oclif/core';
import { BatonCommand } from '../src/cli/base-command.js';
import { writeOut } from '../src/output.js';
import { batonJsonSchema, batonJsonSchemaText } from '../src/config/json-schema.js';
import { configurationReference } from '../src/config/reference-doc.js';
import { eventsJsonSchemaText } from '../src/engine/events.js';

export default class Schema extends BatonCommand {
  static override summary = 'Print the JSON Schema of baton.yml, for editors (or the configuration reference).';
  static override description = [
    'The schema is generated from the same definition `baton validate` uses. Save it beside baton.yml and',
    'start baton.yml with `# yaml-language-server: $schema=./baton.schema.json` (as `baton init` does):',
    'the YAML extension for VS Code then completes keys and flags mistakes as you type.',
    '\n\nWith --markdown it prints the configuration reference, docs/configuration.md.',
  ].join(' ');
  static override examples = [
    '<%= config.bin %> schema > baton.schema.json',
    '<%= config.bin %> schema --markdown > docs/configuration.md',
    '<%= config.bin %> schema --events > templates/events.schema.json',
  ];
  static override flags = {
    markdown: Flags.boolean({
      description: 'print the configuration reference (Markdown) instead of the JSON Schema',
      exclusive: ['events'],
    }),
    events: Flags.boolean({
      description: 'print the JSON Schema of the run events `--format jsonl` streams (templates/events.schema.json)',
    }),
  };

  async run(): Promise<Record<string, unknown>> {
    const { flags } = await this.parse(Schema);
    if (flags.events) {
      const text = eventsJsonSchemaText();
      if (!this.jsonEnabled()) writeOut(text);
      return JSON.parse(text) as Record<string, unknown>;
    }
    const text = flags.markdown ? configurationReference() : batonJsonSchemaText();
    if (!this.jsonEnabled()) writeOut(text);
    return batonJsonSchema();
  }
}
