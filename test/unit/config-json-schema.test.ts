import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { batonJsonSchema, batonJsonSchemaText } from '../../src/config/json-schema.js';
import { configurationReference } from '../../src/config/reference-doc.js';
import { INVALID } from '../fixtures/config/invalid-corpus.js';

const ROOT = join(import.meta.dirname, '../..');
const FIXTURES = join(ROOT, 'test/fixtures/config');
const data = (file: string) => parseDocument(readFileSync(file, 'utf8')).toJS() as unknown;

// The formats zod emits; ajv-formats is not a dependency, so define the three baton uses.
// strictRequired is off because secret references say `oneOf: [{required: [env]}, {required: [file]}]`
// beside their properties, which is valid JSON Schema that ajv's strict mode merely frowns on.
const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false })
  .addFormat('ipv4', /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/)
  .addFormat('ipv6', (s: string) => URL.canParse(`http://[${s}]/`))
  .addFormat('uri', (s: string) => URL.canParse(s));
const validate = ajv.compile(batonJsonSchema());

describe('JSON Schema for editors', () => {
  it(
    'templates/baton.schema.json is the generated schema (fix: ' +
      'node bin/run.js schema > templates/baton.schema.json)',
    () => {
      expect(readFileSync(join(ROOT, 'templates/baton.schema.json'), 'utf8')).toBe(batonJsonSchemaText());
    },
  );

  it('has an $id, a title and the 2020-12 dialect', () => {
    expect(batonJsonSchema()).toMatchObject({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $id: expect.any(String),
      title: 'baton.yml',
    });
  });

  it.each(readdirSync(join(FIXTURES, 'valid')))('accepts valid/%s', (file) => {
    expect(validate(data(join(FIXTURES, 'valid', file))), JSON.stringify(validate.errors)).toBe(true);
  });

  it('accepts the starter template', () => {
    expect(validate(data(join(ROOT, 'templates/baton.yml')))).toBe(true);
  });

  it.each(INVALID.filter((f) => f.schema === 'yes'))('rejects invalid/$file', ({ file }) => {
    expect(validate(data(join(FIXTURES, 'invalid', file)))).toBe(false);
  });

  // These need baton's own checks: a schema cannot compare hosts across lists.
  it.each(INVALID.filter((f) => f.schema === 'cross-field'))(
    'cannot catch invalid/$file (cross-field only)',
    ({ file }) => {
      expect(validate(data(join(FIXTURES, 'invalid', file)))).toBe(true);
    },
  );
});

describe('docs/configuration.md', () => {
  it('is the generated reference (fix: node bin/run.js schema --markdown > docs/configuration.md)', () => {
    expect(readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8')).toBe(configurationReference());
  });

  it('documents every key of the schema', () => {
    const doc = configurationReference();
    for (const key of [
      'app.name',
      'app.health.timeout',
      'ssh.knownHosts',
      'balancer.socket',
      'balancer.managerUrl',
      'balancer.upstreamFile',
      'clusters.a.hosts[].member',
      'smoke[].status',
      'smoke.deadline',
      'watch.max5xxRatio',
      'require.approvals',
      'lock.lease',
      'dns.update.tsigKeyFile',
      'secrets.<name>.env',
      'resolve',
    ]) {
      expect(doc).toContain(`| \`${key}\` |`);
    }
    expect(doc).toContain('| `balancer.socket` | string |  | `/run/haproxy/admin.sock` | (haproxy only)');
  });
});
