// `--without-balancer HOST`: one lost balancer of a pair is left out, the first survivor becomes
// balancer.host (the lock and the run record are then its), and a host that is not a balancer,
// or the only one, is refused with the reason.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { withoutBalancer } from '../../src/config/without-balancer.js';
import { UserError } from '../../src/errors.js';

const ROOT = join(import.meta.dirname, '../..');
const text = readFileSync(join(ROOT, 'test/lab/baton.haproxy.yml'), 'utf8');
const pair = (peers: string[]) => {
  const { config, issues } = parseConfig(
    text.replace(/^( {2}host: lb\.baton\.test)$/m, `$1\n  peers: [${peers.join(', ')}]`),
    '/srv/deploy/baton.yml',
  );
  if (!config) throw new Error(JSON.stringify(issues));
  return config;
};

describe('withoutBalancer', () => {
  it('leaves out the lock host: the first peer takes its place, the others stay peers', () => {
    const w = withoutBalancer(pair(['lb2.baton.test', 'lb3.baton.test']), 'lb.baton.test', 'ada');
    expect(w.config.balancer.host).toBe('lb2.baton.test');
    expect(w.config.balancer.peers).toEqual(['lb3.baton.test']);
    expect(w.note).toBe(
      'balancer lb.baton.test left out by ada (--without-balancer): ' +
        'lb2.baton.test holds the release lock and the run record, with lb3.baton.test',
    );
  });

  it('leaves out a peer: balancer.host keeps the lock, and a pair of two becomes one balancer', () => {
    const w = withoutBalancer(pair(['lb2.baton.test']), 'lb2.baton.test', 'ada');
    expect(w.config.balancer.host).toBe('lb.baton.test');
    expect(w.config.balancer.peers).toBeUndefined();
    expect(w.config.clusters).toEqual(pair(['lb2.baton.test']).clusters);
  });

  it('refuses a host that is not a balancer, and the only balancer, saying why', () => {
    expect(() => withoutBalancer(pair(['lb2.baton.test']), 'web1a', 'ada')).toThrow(UserError);
    expect(() => withoutBalancer(pair(['lb2.baton.test']), 'web1a', 'ada')).toThrow(
      /not one of the balancers \(balancer.host and balancer.peers: lb\.baton\.test, lb2\.baton\.test\)/,
    );
    const { config } = parseConfig(text, '/srv/deploy/baton.yml');
    expect(() => withoutBalancer(config!, 'lb.baton.test', 'ada')).toThrow(/it is the only balancer .*no survivor/);
  });
});
