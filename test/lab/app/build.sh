#!/bin/sh
# v10-build's build (what bench:artifact's app.build and artifact.build run): the vendored
# TypeScript compiler (vendor/typescript.js, 9 MB) bundled and minified by esbuild twice, CommonJS
# with a source map and ESM, into dist/ (~21 MB; ~1.5 s of CPU). Offline and deterministic: the
# same input gives the same bytes. esbuild comes from PATH (the lab benchmarks put it in each
# host's /srv/shop/bin; on this machine it is the checkout's node_modules/.bin, which npm run puts on PATH).
set -eu
common="--bundle --minify --platform=node --target=es2017 --log-level=error"
esbuild vendor/typescript.js $common --format=cjs --sourcemap --outfile=dist/typescript.min.cjs
esbuild vendor/typescript.js $common --format=esm --outfile=dist/typescript.min.mjs
