// Member weights, checked the same way for every driver before anything reaches a balancer, and
// compared the same way after the balancer read them back.
import { UserError } from '../errors.js';
import type { Weighing } from './types.js';

/**
 * The weights of a change, in the order given, once every one is a whole number in the driver's
 * range; `where` names the balancer (`haproxy backend web on lb1`). Refuses, naming every bad
 * value, when one is not, and with the driver's reason when it cannot weigh at all.
 */
export function checkWeightValues(
  where: string,
  weighing: Weighing,
  weights: Readonly<Record<string, number>>,
): [string, number][] {
  if (!weighing.can) throw new UserError(`${where}: ${weighing.reason}`);
  const asked = Object.entries(weights);
  const bad = asked.filter(([, w]) => !Number.isInteger(w) || w < weighing.min || w > weighing.max);
  if (bad.length > 0) {
    throw new UserError(
      `${where} takes weights from ${weighing.min} to ${weighing.max} (whole numbers), ` +
        `not ${bad.map(([n, w]) => `${n} ${String(w)}`).join(', ')}`,
      bad.some(([, w]) => w === 0)
        ? 'a weight of 0 is a drain by another name: drain the member instead'
        : 'weights are relative: members weighted 1 and 19 take 5 % and 95 % of new requests',
    );
  }
  return asked;
}

/** Refuses the names the balancer has no member by, naming them and the members it has. */
export function checkKnown(
  where: string,
  names: readonly string[],
  known: (name: string) => boolean,
  members: readonly string[],
): void {
  const unknown = names.filter((n) => !known(n));
  if (unknown.length > 0)
    throw new UserError(
      `${where} has no member ${unknown.join(', ')}: members are ${members.join(', ') || '(none)'}`,
      'name members as `baton status` lists them',
    );
}

/** The members whose weight did not read back as asked: `web1a: reads back 1`. */
export function weightsNotTaken(
  asked: readonly (readonly [string, number])[],
  readBack: (name: string) => number | undefined,
): string[] {
  return asked.flatMap(([name, want]) => {
    const got = readBack(name);
    if (got === undefined) return [`${name}: not read back`];
    return got === want ? [] : [`${name}: reads back ${got}`];
  });
}

/** Per member whose weight differs between balancers, what each says: `web1a: weight 19 on lb1, 1 on lb2`. */
export function describeWeightDisagreement(
  reads: readonly { host: string; weights: Readonly<Record<string, number>> }[],
): string[] {
  const names: string[] = [];
  for (const r of reads) for (const n of Object.keys(r.weights)) if (!names.includes(n)) names.push(n);
  return names.flatMap((name) => {
    const says = reads.map((r) => ({ host: r.host, weight: r.weights[name] ?? 'absent' }));
    return new Set(says.map((s) => s.weight)).size > 1
      ? [`${name}: weight ${says.map((s) => `${s.weight} on ${s.host}`).join(', ')}`]
      : [];
  });
}
