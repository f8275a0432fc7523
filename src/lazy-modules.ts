// Libraries loaded by the code that uses them, when it first runs: each costs tens of ms of CPU at
// start-up, and a command that never needs one (validate; a push refused before it connects; a push
// that neither tracks configuration, nor verifies signatures, nor works on the control machine
// itself, for execa) never pays for it.
export const loadExeca = async () => (await import('execa')).execa;

// ssh2 (~90 ms) is CommonJS: Node's ESM loader only sees its default export. Loaded by the first
// dial, while a command's git processes already run.
let ssh2Loading: Promise<typeof import('ssh2')> | undefined;
export const loadSsh2 = () => (ssh2Loading ??= import('ssh2').then((m) => m.default));
