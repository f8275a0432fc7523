// Who answers, when: GET a path through one frontend every few milliseconds and keep each
// answer's time, status, release and host — so a test can line the answers up with the journal
// (no request on a cluster while it was out of the pool, errors only inside a failover).
import http from 'node:http';
import { checkTarget } from './load.js';

export interface Answer {
  /** When the request was sent. */
  at: number;
  /**
   * When its answer (or its error) came: a SYN lost in a failover is retried a second later, so a request may be served
   * long after `at`.
   */
  doneAt: number;
  status: number;
  version?: string;
  host?: string;
}

export function watchAnswers(url: string, everyMs = 25): { stop(): Promise<Answer[]> } {
  const target = new URL(url);
  checkTarget(target);
  const answers: Answer[] = [];
  // A new connection each time: after a failover a kept connection would still be on the old balancer.
  let stopped = false;
  const one = () =>
    new Promise<void>((resolve) => {
      const at = Date.now();
      const req = http.get(
        { agent: false, hostname: target.hostname, port: target.port || 80, path: target.pathname + target.search },
        (res) => {
          res.resume();
          res.on('end', () => {
            const header = (name: string) =>
              typeof res.headers[name] === 'string'
                ? { [name === 'x-version' ? 'version' : 'host']: res.headers[name] as string }
                : {};
            answers.push({
              at,
              doneAt: Date.now(),
              status: res.statusCode ?? 0,
              ...header('x-version'),
              ...header('x-host'),
            });
            resolve();
          });
        },
      );
      req.setTimeout(5000, () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        answers.push({ at, doneAt: Date.now(), status: 0 });
        resolve();
      });
    });
  const loop = (async () => {
    while (!stopped) {
      await one();
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return answers;
    },
  };
}
