// Libraries loaded by the code that uses them, when it first runs: each costs tens of ms of CPU at
// start-up, and a command that never needs one (validate; a push refused before it connects; a push
// that neither tracks configuration, nor verifies signatures, nor works on the control machine
// itself, for execa) never pays for it.
export const loadExeca = async () => (await import('execa')).execa;

// ssh2 is CommonJS: Node's ESM loader only sees each file's default export. Loaded by the first
// dial, while a command's git processes already run: its client and key parser alone (the package's
// index also loads its server, key generator and HTTP agents, which baton never uses: ~47 → ~31 ms
// on Node 24 with the compile cache).
export interface Ssh2 {
  Client: typeof import('ssh2').Client;
  parseKey: typeof import('ssh2').utils.parseKey;
}
let ssh2Loading: Promise<Ssh2> | undefined;
export const loadSsh2 = () =>
  (ssh2Loading ??= Promise.all([import('ssh2/lib/client.js'), import('ssh2/lib/protocol/keyParser.js')]).then(
    ([client, keys]) => ({ Client: client.default, parseKey: keys.default.parseKey }),
  ));
