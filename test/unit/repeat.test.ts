import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { repeat } from '../../src/engine/repeat.js';

describe('repeat', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('skips a tick while the last run is still going, and stop() waits for it to land', async () => {
    let started = 0;
    let landed = 0;
    const task = async () => {
      started++;
      await new Promise((r) => setTimeout(r, 250));
      landed++;
    };
    const r = repeat(100, task);
    await vi.advanceTimersByTimeAsync(300); // ticks at 100, 200, 300: the one at 100 runs until 350
    expect(started).toBe(1);
    const stopping = r.stop();
    await vi.advanceTimersByTimeAsync(60);
    await stopping;
    expect(landed).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(started).toBe(1); // no tick after stop
  });

  it('with a grace, stop() gives up on a run that hangs', async () => {
    const r = repeat(100, () => new Promise<void>(() => undefined));
    await vi.advanceTimersByTimeAsync(100);
    let stopped = false;
    const stopping = r.stop(1000).then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(stopped).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await stopping;
    expect(stopped).toBe(true);
  });

  it('a failing run does not stop the next ones', async () => {
    let runs = 0;
    const r = repeat(100, async () => {
      runs++;
      throw new Error('host unreachable');
    });
    await vi.advanceTimersByTimeAsync(350);
    expect(runs).toBe(3);
    await r.stop();
  });
});
