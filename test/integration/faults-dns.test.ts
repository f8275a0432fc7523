// The fault suite's DNS drill, against the lab under load: the old web server killed (SIGKILL) at
// the hand-over of its port rather than stopped gracefully, as an old.stop may do; no client may
// lose a request. (`npm test` runs the drill with a graceful stop, test/integration/dns.test.ts.)
import { afterAll, describe, expect, it } from 'vitest';
import { HARD_STOP, restoreLab, runDnsDrill } from '../../bench/dns.js';
import { labIsAsFound } from './helpers/dns-lab.js';

afterAll(async () => {
  await restoreLab();
});

describe('baton dns when the old server dies at the hand-over', () => {
  it(
    'hands the port over without a failed request when the old web server is killed rather than stopped ' +
      'gracefully',
    async () => {
      // baton cannot know how old.stop stops the server: it stops it only once nothing is owed.
      const r = await runDnsDrill({
        proxy: 'varnish',
        resolvingClients: 2,
        pinnedClients: 2,
        slowClients: 1,
        oldStop: HARD_STOP,
      });
      expect(r.failures).toEqual([]);
      expect(r.failed).toBe(0);
      expect(r.reverse.failed).toBe(0);
      expect(r.writesOnOldHost).toBe(0);
      await labIsAsFound();
    },
  );
});
