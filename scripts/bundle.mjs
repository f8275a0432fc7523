// Bundles each compiled command with the modules it imports into dist/cli (shared code in chunks, bin/run.js's imports
// with them), run by `npm run build` after tsc. Importing the push command as ~300 separate files took ~0.63 s before
// its first line ran; one bundle with shared chunks takes ~0.25 s (bench:first-step).
// @oclif/core is bundled on its own (dist/cli/oclif-core.js, ~200 files in one), and every command, chunk and
// bin/run.js imports that one copy through the package's `#oclif-core` import, so oclif's classes exist once.
// ssh2 stays outside: it loads its native crypto binding from a path of its own.
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');
const compiled = join(dist, 'commands');
const entries = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? entries(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : [],
  );
// bin/run.js's own imports are bundled with the commands so that module state both read (what
// processInterrupts says a run of this process changed production, for the safety net's exit code) exists once.
// The command_not_found hook (package.json's oclif.hooks) is bundled too: oclif loads it only on a miss.
const boot = [
  'src/cli/compile-cache.js',
  'src/output.js',
  'src/cli/safety-net.js',
  'src/cli/hooks/command-not-found.js',
].map((f) => join(dist, f));
const entryPoints = [...entries(compiled), ...boot];

// zod's namespace re-exports every locale's messages (~290 KB, ~11 ms to load a run); baton reports
// in English, the locale zod configures by default, so the bundle carries that one alone.
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /\/locales\/index\.js$/ }, (a) =>
      a.importer.includes('/node_modules/zod/') ? { path: 'zod-locales', namespace: 'zod-english-only' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-english-only' }, () => ({
      contents: `export { default as en } from ${JSON.stringify(join(root, 'node_modules/zod/v4/locales/en.js'))};`,
      resolveDir: root,
    }));
  },
};

// Bundled CommonJS modules call require(): give each ES module file one of its own.
const banner = {
  js: "import { createRequire as __batonRequire } from 'node:module'; const require = __batonRequire(import.meta.url);",
};

// oclif's own ~200 CommonJS files, resolved and compiled one by one at every start (~50 ms of a `baton --version`),
// as one ES module that names each of oclif's exports (Node cannot see the names a bundled CommonJS module exports).
// typescript stays outside: oclif requires it only to read a tsconfig.json when it runs a plugin from its TypeScript
// sources, which baton never does (and bundled it would be 9 MB).
const oclifNames = Object.keys(createRequire(import.meta.url)('@oclif/core')).filter((n) => n !== 'default');
await build({
  stdin: {
    contents:
      `import * as oclif from ${JSON.stringify(join(root, 'node_modules/@oclif/core/lib/index.js'))};\n` +
      `export const { ${oclifNames.join(', ')} } = oclif;\nexport default oclif;\n`,
    resolveDir: root,
    sourcefile: 'oclif-core-entry.js',
  },
  outfile: join(dist, 'cli', 'oclif-core.js'),
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['typescript'],
  banner,
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
});

// Every `import … from '@oclif/core'` of the commands becomes an import of that bundle.
const oclifBundle = {
  name: 'oclif-bundle',
  setup(b) {
    b.onResolve({ filter: /^@oclif\/core$/ }, () => ({ path: '#oclif-core', external: true }));
  },
};

await build({
  entryPoints,
  outdir: join(dist, 'cli'),
  outbase: dist,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunks/[name]-[hash]',
  external: ['ssh2'],
  banner,
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
  plugins: [zodEnglishOnly, oclifBundle],
});
console.log(
  `dist/cli: ${entryPoints.length - boot.length} commands bundled from ${relative(root, compiled)}, ` +
    `with bin/run.js's imports, the command_not_found hook and @oclif/core`,
);
