// `status --watch`: a reading per interval until Ctrl-C; on a terminal each frame replaces the
// last, elsewhere frames follow each other with a time; the exit code is the last reading's; a
// stop during the sleep ends it at once, one during a reading lets that reading finish.
import { describe, expect, it } from 'vitest';
import { watchStatus } from '../../src/release/status-watch.js';

const at = () => new Date('2026-12-07T08:30:05Z');

describe('watchStatus', () => {
  it("reads until stopped, printing each reading, and ends with the last reading's code", async () => {
    const stop = new AbortController();
    const frames: string[] = [];
    let n = 0;
    const t0 = Date.now();
    const code = await watchStatus({
      everyMs: 50,
      signal: stop.signal,
      tty: false,
      now: at,
      print: (f) => frames.push(f),
      round: async () => {
        n++;
        if (n === 3) setTimeout(() => stop.abort(), 10); // Ctrl-C while it sleeps after the third
        return { text: `reading ${n}`, exitCode: n === 3 ? 1 : 0 };
      },
    });
    expect(code).toBe(1);
    expect(frames).toEqual([1, 2, 3].map((i) => `--- 08:30:05 UTC · every 0.05s · Ctrl-C to stop\nreading ${i}\n`));
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it(
    'on a terminal, clears the screen before each frame; ' + 'a stop during a reading lets it finish and print',
    async () => {
      const stop = new AbortController();
      const frames: string[] = [];
      const code = await watchStatus({
        everyMs: 10_000,
        signal: stop.signal,
        tty: true,
        now: at,
        print: (f) => frames.push(f),
        round: async () => {
          stop.abort();
          await new Promise((r) => setTimeout(r, 20));
          return { text: 'pool: a serving', exitCode: 0 };
        },
      });
      expect(code).toBe(0);
      expect(frames).toEqual(['\u001b[H\u001b[2Jpool: a serving\n\n08:30:05 UTC · every 10s · Ctrl-C to stop']);
    },
  );
});
