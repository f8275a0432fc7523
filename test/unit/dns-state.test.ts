// A migration's state comes from the journal alone: a step is done once its end is journaled (a
// run killed during a step leaves it not done), an undo that finishes takes it back, the times
// come from what the steps journaled, and another site's runs do not count.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DnsStateStore, dnsRunTag } from '../../src/dns/state.js';
import type { DnsPlan, DnsStep, DnsStepId } from '../../src/dns/types.js';
import { Journal, journalDir } from '../../src/engine/journal.js';

const step = (id: DnsStepId, undo: DnsStepId[] = []): DnsStep => ({
  id,
  kind: 'dns-record',
  phase: 'cutover',
  record: { name: 'shop.example.test', to: '192.0.2.7', ttl: 60 },
  title: id,
  undo: undo.map((u) => step(u)),
});
const plan = {
  facts: { siteTtl: 300, negativeTtl: 60 },
  forward: [
    step('transitional', ['undo-transitional']),
    step('proxy-side', ['undo-proxy-side']),
    step('cutover', ['undo-cutover']),
    step('switch', ['undo-switch', 'undo-switch-wait']),
    step('finish', ['undo-finish']),
  ],
} as unknown as DnsPlan;

function run(dir: string, id: string, site: string, events: ((j: Journal) => void)[]) {
  const j = new Journal(journalDir(dir), id);
  j.append({ event: 'run-begin', command: 'dns x', plan: 'h', tag: dnsRunTag(site), by: 't', steps: [] });
  events.forEach((e) => e(j));
}
const ok =
  (step: string, phase: 'forward' | 'reverse' = 'forward', changed?: unknown) =>
  (j: Journal) =>
    j.append({ event: 'step-ok', step, phase, ms: 1, ...(changed ? { changed } : {}) });
const begin = (step: string) => (j: Journal) =>
  j.append({ event: 'step-begin', step, kind: 'dns-record', title: step, phase: 'forward' });

describe('DNS migration state from the journal', () => {
  it('says what is done, when, and the horizon, from the journaled ends of steps only', () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-dns-state-'));
    const store = new DnsStateStore(dir, 'shop.example.com');
    expect(store.read()).toBeUndefined();
    store.writePlan(plan);
    run(dir, '20261129T100000.000Z-aaaaaa', 'shop.example.com', [
      ok('transitional', 'forward', { confirmedAt: '2026-11-29T10:00:01.000Z' }),
    ]);
    run(dir, '20261129T110000.000Z-bbbbbb', 'shop.example.com', [ok('proxy-side')]);
    run(dir, '20261129T120000.000Z-cccccc', 'shop.example.com', [
      ok('cutover', 'forward', { cutoverAt: '2026-11-29T12:00:05.000Z' }),
      ok('switch', 'forward', { confirmedAt: '2026-11-29T12:00:10.000Z' }),
      begin('finish'),
    ]);
    run(dir, '20261129T120000.500Z-dddddd', 'other.example.com', [ok('finish')]);
    const s = store.read();
    expect(s?.done).toEqual(['transitional', 'proxy-side', 'cutover', 'switch']);
    expect(s).toMatchObject({
      transitionalSince: '2026-11-29T10:00:01.000Z',
      cutoverAt: '2026-11-29T12:00:05.000Z',
      switchedAt: '2026-11-29T12:00:10.000Z',
    });
    expect(s?.finishedAt).toBeUndefined();
    // The old answer lives in caches up to the site's TTL (300 s) after every server serves the new one.
    expect(new Date(s?.horizon as string).getTime()).toBeGreaterThanOrEqual(
      new Date('2026-11-29T12:05:10.000Z').getTime(),
    );
  });

  it('an undo that finishes takes its step back; one killed half-way leaves it done', () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-dns-state-'));
    const store = new DnsStateStore(dir, 'shop.example.com');
    store.writePlan(plan);
    run(dir, '20261129T100000.000Z-aaaaaa', 'shop.example.com', [
      ok('transitional'),
      ok('proxy-side'),
      ok('cutover'),
      ok('switch', 'forward', { confirmedAt: '2026-11-29T10:00:10.000Z' }),
    ]);
    run(dir, '20261129T110000.000Z-bbbbbb', 'shop.example.com', [ok('undo-switch', 'reverse')]);
    expect(store.read()?.done).toContain('switch');
    expect(store.read()?.switchedAt).toBeUndefined();
    run(dir, '20261129T110001.000Z-cccccc', 'shop.example.com', [
      ok('undo-switch-wait', 'reverse'),
      ok('undo-cutover', 'reverse'),
    ]);
    expect(store.read()?.done).toEqual(['transitional', 'proxy-side']);
    expect(store.read()?.cutoverAt).toBeUndefined();
  });

  it('dates a TTL lowered ahead of the move, and forgets it once raised back by a rollback', () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-dns-state-'));
    const store = new DnsStateStore(dir, 'shop.example.com');
    store.writePlan({
      ...plan,
      forward: [step('lower-ttl', ['undo-lower-ttl']) as DnsPlan['forward'][number], ...plan.forward],
    });
    run(dir, '20261129T090000.000Z-aaaaaa', 'shop.example.com', [
      ok('lower-ttl', 'forward', { confirmedAt: '2026-11-29T09:00:02.000Z' }),
    ]);
    expect(store.read()).toMatchObject({ done: ['lower-ttl'], ttlLoweredAt: '2026-11-29T09:00:02.000Z' });
    run(dir, '20261129T100000.000Z-bbbbbb', 'shop.example.com', [ok('undo-lower-ttl', 'reverse')]);
    expect(store.read()?.done).toEqual([]);
    expect(store.read()?.ttlLoweredAt).toBeUndefined();
  });
});
