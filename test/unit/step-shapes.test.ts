// Steps typed per kind: one table says which fields each kind's steps carry, the types follow from
// it, and the plan reader checks a plan read from a file against the same table.
import { describe, expect, expectTypeOf, it } from 'vitest';
import { stepProblems } from '../../src/model/step-kinds.js';
import {
  isDnsStep,
  isPushStep,
  STEP_KINDS,
  STEP_SHAPES,
  type AnyStep,
  type DnsStepOf,
  type Step,
  type StepOf,
} from '../../src/model/steps.js';
import { dnsStepRunner } from '../../src/dns/kinds.js';
import type { DnsEnv } from '../../src/dns/steps.js';
import { sessionStepRunner } from '../../src/steps/index.js';
import type { Session } from '../../src/engine/session.js';
import { BugError } from '../../src/errors.js';

const drain: StepOf<'drain'> = {
  id: 'drain-a',
  kind: 'drain',
  title: 'drain a',
  cluster: 'a',
  members: ['w1'],
  undo: [],
};
const cutover: DnsStepOf<'cutover'> = {
  id: 'cutover',
  kind: 'cutover',
  phase: 'cutover',
  host: 'old.example.test',
  title: 'cut over',
  undo: [],
};

describe('step shapes', () => {
  it("give a kind's code its fields as required, and keep the others off it", () => {
    expectTypeOf<StepOf<'drain'>['members']>().toEqualTypeOf<string[]>();
    expectTypeOf<StepOf<'flip'>['readyMembers']>().toEqualTypeOf<string[]>();
    expectTypeOf<StepOf<'stage'>['artifact']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<StepOf<'drain'>['snapshot']>().toEqualTypeOf<undefined>();
    expectTypeOf<DnsStepOf<'dns-wait'>['waitSeconds']>().toEqualTypeOf<number>();
    // @ts-expect-error a drain step without members is not a drain step
    const noMembers: StepOf<'drain'> = { id: 'd', kind: 'drain', title: 'd', cluster: 'a', undo: [] };
    expect(noMembers.kind).toBe('drain');
  });

  it('cover every push kind, each field once', () => {
    expect(Object.keys(STEP_SHAPES).sort()).toEqual([...STEP_KINDS].sort());
    for (const [kind, shape] of Object.entries(STEP_SHAPES)) {
      const fields: readonly string[] = [...shape.requires, ...shape.may];
      expect(new Set(fields).size, kind).toBe(fields.length);
    }
  });

  it('refuse, when a plan is read, a field its kind does not carry, and a bad value of one it may', () => {
    expect(stepProblems({ ...drain, snapshot: 'a'.repeat(40) } as unknown as Step)).toEqual([
      'drain-a: snapshot is not something a drain step carries',
    ]);
    expect(stepProblems({ ...drain, kind: 'ready', vouchHealthy: 'yes' } as unknown as Step)).toEqual([
      'drain-a: vouchHealthy "yes" is not something a ready step can carry',
    ]);
    expect(stepProblems({ ...drain, members: undefined } as unknown as Step)).toEqual([
      'drain-a: a drain step needs members',
    ]);
    expect(stepProblems(drain)).toEqual([]);
  });

  it('tell a push step from a DNS step by its kind', () => {
    const steps: AnyStep[] = [drain, cutover];
    expect(steps.map((s) => [isPushStep(s), isDnsStep(s)])).toEqual([
      [true, false],
      [false, true],
    ]);
  });

  it("are what each runner checks: a push's runner refuses a DNS step, a DNS phase's a push step", async () => {
    const session = {
      config: {},
      secrets: {},
      transports: {},
      balancer: {},
      lock: {},
    } as unknown as Session;
    const push = sessionStepRunner(
      session,
      { membership: { a: [], b: [] } },
      {} as Parameters<typeof sessionStepRunner>[2],
      { forward: [] },
    );
    await expect(push(cutover, () => undefined)).rejects.toThrow(BugError);
    await expect(dnsStepRunner({} as DnsEnv)(drain, () => undefined)).rejects.toThrow(
      /a DNS phase's runner was handed the drain step drain-a/,
    );
  });
});
