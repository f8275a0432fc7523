// What the public side sees of the shared database: GET /orders through the public frontend
// every few milliseconds, each answer's time and status kept, so a test or a benchmark can say
// exactly when requests failed (and line that up with the journal's steps).
import http from 'node:http';
import { checkTarget } from './load.js';

export interface OrdersAnswer {
  at: number;
  status: number;
  version?: string;
}

export function watchOrders(url: string, everyMs = 25): { stop(): Promise<OrdersAnswer[]> } {
  const target = new URL(url);
  checkTarget(target);
  const answers: OrdersAnswer[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  let stopped = false;
  const one = () =>
    new Promise<void>((resolve) => {
      const at = Date.now();
      const req = http.get({ agent, hostname: target.hostname, port: target.port || 80, path: target.pathname }, (res) => {
        res.resume();
        res.on('end', () => {
          answers.push({ at, status: res.statusCode ?? 0, ...(typeof res.headers['x-version'] === 'string' ? { version: res.headers['x-version'] } : {}) });
          resolve();
        });
      });
      req.setTimeout(5000, () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        answers.push({ at, status: 0 });
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
      agent.destroy();
      return answers;
    },
  };
}
