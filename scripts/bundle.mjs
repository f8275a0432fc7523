// Bundles each compiled command with the modules it imports into dist/cli (shared code in chunks, bin/run.js's imports
// with them), run by `npm run build` after tsc. Importing the push command as ~300 separate files took ~0.63 s before
// its first line ran; one bundle with shared chunks takes ~0.25 s (bench:first-step).
// @oclif/core stays outside (oclif loads the command classes it defines); so does ssh2, which
// loads its native crypto binding from a path of its own.
import { readdirSync } from 'node:fs';
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
const boot = ['src/output.js', 'src/cli/safety-net.js'].map((f) => join(dist, f));
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
  external: ['@oclif/core', 'ssh2'],
  // Bundled CommonJS modules call require(): give each ES module file one of its own.
  banner: {
    js:
      "import { createRequire as __batonRequire } from 'node:module'; " +
      'const require = __batonRequire(import.meta.url);',
  },
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
  plugins: [zodEnglishOnly],
});
console.log(
  `dist/cli: ${entryPoints.length - boot.length} commands bundled from ${relative(root, compiled)}, ` +
    `with bin/run.js's imports`,
);
