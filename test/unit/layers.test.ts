// The lint rule that keeps layers pointing down (eslint.layers.js) must fire: a resolver that
// stopped finding `.js` specifiers' `.ts` files would let every import through in silence.
import { join } from 'node:path';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
// @ts-expect-error -- a plain JavaScript module of the lint configuration, without types
import { LAYERS, layersConfig, oneRunnerConfig } from '../../eslint.layers.js';

const ROOT = join(import.meta.dirname, '../..');
const eslint = new ESLint({
  cwd: ROOT,
  overrideConfigFile: true,
  overrideConfig: [{ languageOptions: { parser: tseslint.parser } }, layersConfig],
});

async function problems(file: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: join(ROOT, file) });
  return (result?.messages ?? []).map((m) => `${m.ruleId}: ${m.message}`);
}

describe('layers only point down', () => {
  it('refuses an import from a higher layer, a type-only one too', async () => {
    expect(
      await problems(
        'src/engine/probe.ts',
        "import { closestCommand } from '../cli/unknown-command.js';\nexport const x = closestCommand;\n",
      ),
    ).toEqual([expect.stringMatching(/^import-x\/no-restricted-paths: .*src\/engine is below src\/cli/)]);
    expect(
      await problems('src/config/probe.ts', "import type { Plan } from '../model/plan.js';\nexport type P = Plan;\n"),
    ).toHaveLength(1);
    // A DNS module at the steps' level may not reach the DNS service above it.
    expect(
      await problems('src/dns/probe.ts', "import { runPhase } from './service.js';\nexport const x = runPhase;\n"),
    ).toHaveLength(1);
  });

  it('lets a file import from its own layer and the ones below', async () => {
    expect(
      await problems(
        'src/release/probe.ts',
        "import { observe } from '../engine/observe.js';\nimport { planPush } from './push.js';\nexport " +
          'const x = [observe, planPush];\n',
      ),
    ).toEqual([]);
    expect(
      await problems('src/model/probe.ts', "import { BugError } from '../errors.js';\nexport const x = BugError;\n"),
    ).toEqual([]);
  });

  it('keeps running steps and opening runs inside src/engine (runPlan)', async () => {
    const runner = new ESLint({
      cwd: ROOT,
      overrideConfigFile: true,
      overrideConfig: [{ languageOptions: { parser: tseslint.parser } }, oneRunnerConfig],
    });
    // A file outside the rule's files is not linted at all (ESLint says so without a rule id).
    const lint = async (file: string, source: string) =>
      ((await runner.lintText(source, { filePath: join(ROOT, file) }))[0]?.messages ?? []).flatMap((m) =>
        m.ruleId ? [m.ruleId] : [],
      );
    expect(
      await lint(
        'src/release/probe.ts',
        "import { execute } from '../engine/executor.js';\nexport const x = execute;\n",
      ),
    ).toEqual(['no-restricted-imports']);
    expect(
      await lint('src/dns/probe.ts', "import { openRun } from '../engine/run.js';\nexport const x = openRun;\n"),
    ).toEqual(['no-restricted-imports']);
    expect(
      await lint(
        'src/release/probe.ts',
        "import type { StepRunner } from '../engine/executor.js';\nexport type X = StepRunner;\n",
      ),
    ).toEqual([]);
    expect(
      await lint('src/engine/probe.ts', "import { execute } from './executor.js';\nexport const x = execute;\n"),
    ).toEqual([]);
  });

  it('names every source folder in some layer', async () => {
    const { readdirSync } = await import('node:fs');
    const folders = readdirSync(join(ROOT, 'src'), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => `src/${e.name}`);
    const named = (LAYERS as string[][]).flat();
    expect(folders.filter((f) => !named.some((n) => n === f || n.startsWith(`${f}/`)))).toEqual([]);
  });
});
