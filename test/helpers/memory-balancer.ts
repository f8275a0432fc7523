// A balancer held in memory for unit tests of the logic above the drivers: drain and ready change
// member states, setWeights their weights (1-256, 1 until set), all logged; nothing is ever in flight.
import type { Balancer, Member, MemberState } from '../../src/balancers/types.js';

export function fakeBalancer(states: Record<string, MemberState>): Balancer & { log: string[] } {
  const log: string[] = [];
  const weights: Record<string, number> = Object.fromEntries(Object.keys(states).map((n) => [n, 1]));
  const set = (names: readonly string[], state: MemberState) => {
    log.push(`${state} ${names.join(',')}`);
    for (const n of names) states[n] = state;
  };
  return {
    driver: 'haproxy',
    log,
    members: async () =>
      Object.entries(states).map(([name, state]): Member => ({
        name,
        address: `10.0.0.${name.length}`,
        state,
        healthy: true,
        sessions: 0,
        queued: 0,
      })),
    drain: async (names) => set(names, 'drain'),
    ready: async (names) => set(names, 'ready'),
    cutOff: async () => undefined,
    sessions: async (names) => Object.fromEntries(names.map((n) => [n, 0])),
    counters: async () => ({ requests: 0, http5xx: 0, redispatches: 0, retries: 0 }),
    configTest: async () => undefined,
    weighing: () => ({ can: true, min: 1, max: 256 }),
    weights: async () => ({ ...weights }),
    setWeights: async (w) => {
      log.push(
        `weigh ${Object.entries(w)
          .map(([n, x]) => `${n}=${x}`)
          .join(',')}`,
      );
      Object.assign(weights, w);
    },
  };
}
