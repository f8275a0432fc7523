// The JSON Schema editors use for baton.yml, generated from the zod schema so the two never
// disagree. templates/baton.schema.json is this output, committed (a unit test keeps it fresh).
import { z } from 'zod';
import { BatonConfigSchema, DnsUpdate, SecretRef } from './schema.js';

export const SCHEMA_ID = 'urn:baton:schema:baton.yml';

export function batonJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(BatonConfigSchema, {
    io: 'input',
    override: (ctx) => {
      // zod's refine (exactly one of two keys) has no JSON Schema form; say it for editors.
      if (ctx.zodSchema === SecretRef) ctx.jsonSchema.oneOf = [{ required: ['env'] }, { required: ['file'] }];
      if (ctx.zodSchema === DnsUpdate)
        ctx.jsonSchema.oneOf = [{ required: ['tsigKeyFile'] }, { required: ['tsigKey'] }];
      // startsWith becomes a pattern too; `starts_with` is no JSON Schema format editors know.
      if (ctx.jsonSchema.format === 'starts_with') delete ctx.jsonSchema.format;
    },
  });
  const { $schema, ...rest } = generated;
  return { $schema, $id: SCHEMA_ID, title: 'baton.yml', ...rest };
}

/** The schema as written to baton.schema.json. */
export function batonJsonSchemaText(): string {
  return `${JSON.stringify(batonJsonSchema(), null, 2)}\n`;
}
