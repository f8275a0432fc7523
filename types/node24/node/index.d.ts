// The Node 24 typings (@types/node-24, an npm alias of @types/node@24) under the name `node`, for
// tsconfig.check-node24.json: its typeRoots is this folder's parent, so `types: ["node"]` and every
// `/// <reference types="node" />` in other typings (@types/ssh2, @types/dns-packet) resolve here,
// and @types/node (20, the oldest Node baton supports) is not loaded beside it.
/// <reference path="../../../node_modules/@types/node-24/index.d.ts" />
