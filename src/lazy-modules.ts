// Libraries loaded by the code that uses them, when it first runs: each costs tens of ms of CPU at
// start-up, and a push runs them only when it tracks configuration, verifies signatures or works on
// the control machine itself.
export const loadExeca = async () => (await import('execa')).execa;
