// Layers only point down (DESIGN.md §4): a file may import from its own layer and the ones below,
// never from a layer above. Highest first; a folder stands for every file under it.
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

export const LAYERS = [
  ['commands', 'src/cli', 'src/dns/cli.ts'],
  ['src/render', 'src/report', 'src/dns/render.ts'],
  ['src/release', 'src/dns/service.ts'],
  // The DNS migration's plan builder, step kinds and proxy code sit with the push's.
  ['plans', 'src/steps', 'src/dns/!(cli|render|service).ts'],
  ['src/engine'],
  ['src/config-track'],
  ['src/model'],
  ['src/checks'],
  ['src/balancers'],
  ['src/transport'],
  ['src/vcs', 'src/config'],
];

const asFrom = (path) => (path.endsWith('.ts') ? path : `${path}/**`);

/** One zone per (layer, higher path): files of the layer may not import from there. */
export function layerZones(layers = LAYERS) {
  return layers.flatMap((layer, i) =>
    layer.flatMap((target) =>
      layers
        .slice(0, i)
        .flat()
        .map((higher) => ({
          target,
          from: asFrom(higher),
          message: `${target} is below ${higher} (DESIGN.md §4: layers only point down); move what both need down, or pass it in`,
        })),
    ),
  );
}

export const layersConfig = {
  files: ['commands/**/*.ts', 'plans/**/*.ts', 'src/**/*.ts'],
  plugins: { 'import-x': importX },
  settings: { 'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })] },
  rules: { 'import-x/no-restricted-paths': ['error', { zones: layerZones(), basePath: import.meta.dirname }] },
};

/** Runs begin and end in one place: outside src/engine, nothing runs steps or opens a run but through runPlan. */
export const oneRunnerConfig = {
  files: ['commands/**/*.ts', 'plans/**/*.ts', 'src/**/*.ts'],
  ignores: ['src/engine/**'],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            group: ['**/engine/executor.js'],
            importNames: ['execute', 'reverse'],
            message:
              'runs go through runPlan (src/engine/run-plan.ts), which owns the lock, the journal and the run-end',
          },
          {
            group: ['**/engine/run.js'],
            importNames: ['openRun'],
            message:
              'runs go through runPlan (src/engine/run-plan.ts), which owns the lock, the journal and the run-end',
          },
        ],
      },
    ],
  },
};
