// The one line a person watching a run reads about traffic: sessions and pool members per cluster.
import type { ClusterId } from '../config/config.js';
import { perCluster, type TrafficSample } from './traffic.js';

/**
 * e.g. `cluster a: 12 sessions, 2/2 in the pool · cluster b: 0 sessions, 0/2 in the pool (draining)`; clusters without
 * members are left out.
 */
export function trafficLine(sample: TrafficSample): string {
  const counts = perCluster(sample);
  return (['a', 'b'] as ClusterId[])
    .filter((id) => counts[id].members > 0)
    .map((id) => {
      const c = counts[id];
      const draining = sample.members.some((m) => m.cluster === id && m.state === 'drain');
      const sessions = `${c.sessions} session${c.sessions === 1 ? '' : 's'}`;
      return `cluster ${id}: ${sessions}, ${c.inPool}/${c.members} in the pool${draining ? ' (draining)' : ''}`;
    })
    .join(' · ');
}

/**
 * Calls `apply` with the latest value at most once every `ms`: a value that arrives too soon waits
 * for the end of the interval, and only the newest waiting one is applied (a redraw shows now, not history).
 */
export function latestEvery<T>(ms: number, apply: (value: T) => void): { push(value: T): void; flush(): void } {
  let last = -Infinity;
  let timer: NodeJS.Timeout | undefined;
  let pending: { value: T } | undefined;
  const run = () => {
    timer = undefined;
    if (!pending) return;
    const { value } = pending;
    pending = undefined;
    last = Date.now();
    apply(value);
  };
  return {
    push(value) {
      pending = { value };
      if (timer) return;
      const wait = last + ms - Date.now();
      if (wait <= 0) run();
      else timer = setTimeout(run, wait);
    },
    /** Apply what is waiting now (the run is over). */
    flush() {
      clearTimeout(timer);
      run();
    },
  };
}
