import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';
import { layersConfig, oneRunnerConfig } from './eslint.layers.js';

export default defineConfig(
  // types/node24 holds one line that points `node` at @types/node 24 for tsconfig.check-node24.json.
  { ignores: ['dist/**', 'node_modules/**', 'test/lab/app/**', 'types/node24/**'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        URL: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        fetch: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // A promise nobody awaits turns a failure into an unhandled rejection that ends the run: these
  // rules need types, so the .ts files are linted against tsconfig.check.json (which covers them all).
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.check.json', tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  // Prettier wraps code at 120 columns but leaves long strings, template literals and comments alone:
  // max-len holds those to the same width (a URL cannot be broken, so a line with one may run over).
  {
    files: ['test/**', 'bench/**', 'scripts/**', 'src/**', 'commands/**', 'plans/**'],
    plugins: { '@stylistic': stylistic },
    rules: {
      '@stylistic/max-len': ['error', { code: 120, tabWidth: 2, ignoreUrls: true }],
    },
  },
  layersConfig,
  oneRunnerConfig,
);
