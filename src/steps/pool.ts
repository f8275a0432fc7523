// Pool steps: drain, wait for in-flight requests, return to the pool. They only speak the Balancer interface.
import { waitForDrain } from '../balancers/drain.js';
import type { Member } from '../balancers/types.js';
import { describeSessionsLeft, waitForSessions } from '../balancers/session-drain.js';
import { formatDuration } from '../config/duration.js';
import { OperationFailedError, UserError } from '../errors.js';
import type { StepOf } from '../model/steps.js';
import type { Progress, StepEnv } from './env.js';
import type { StepKindSpec, StepRunEnv } from './kind.js';
import { STEP_TRAITS } from '../model/step-kinds.js';
import { abortableSleep } from '../engine/interrupts.js';

export async function runDrain(step: StepOf<'drain'>, env: StepEnv): Promise<unknown> {
  await env.balancer.drain(step.members);
  return { drained: step.members };
}

/** Ready, then wait until the balancer's own health checks see every member up: a member marked
 *  ready while its checks still say down takes no traffic, and draining the other cluster then would leave nothing
 *  serving. */
export async function runReady(step: StepOf<'ready'>, env: StepEnv, progress: Progress): Promise<unknown> {
  return returnToPool(step.members, step.vouchHealthy === true, env, progress);
}

export async function returnToPool(names: string[], vouchHealthy: boolean, env: StepEnv, progress: Progress) {
  // Smoke-checked a moment ago: the balancer need not wait for its own checks to rise again.
  if (vouchHealthy && env.balancer.vouchHealthy) await env.balancer.vouchHealthy(names);
  await env.balancer.ready(names);
  const deadline = Date.now() + Math.max(env.config.smoke.deadlineMs, 10_000);
  // When each member the balancer rests after failed requests (Apache's Err) was first seen to end
  // its rest: the wait covers that rest once, not a new one each time the member fails again.
  const restEnds = new Map<string, number>();
  for (;;) {
    const members = (await env.balancer.members()).filter((m) => names.includes(m.name));
    const notUp = members.filter((m) => m.state !== 'ready' || m.healthy === false);
    if (!notUp.length) return { ready: names };
    const resting = notUp.filter((m) => m.resting !== undefined);
    for (const m of resting)
      if (!restEnds.has(m.name)) restEnds.set(m.name, Date.now() + (m.resting as RestingMember).leftMs);
    progress(
      resting.length
        ? describeRest(env.balancer.driver, resting)
        : `waiting for the balancer to see ${notUp.map((m) => m.name).join(', ')} up`,
    );
    if (Date.now() > Math.max(deadline, ...[...restEnds.values()].map((t) => t + REST_GRACE_MS))) {
      const described = notUp.map(
        (m) =>
          `${m.name} (${m.state}${m.healthy === false ? ', failing health checks' : ''}` +
          `${m.resting ? ', resting after failed requests' : ''})`,
      );
      throw new OperationFailedError(`members ${described.join(', ')} are not up in the pool`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

type RestingMember = NonNullable<Member['resting']>;

/** How long after a rest ends the balancer is given to take the member again. */
const REST_GRACE_MS = 2_000;

/** Why the wait is long: `apache rests web1a after failed requests for up to 48 s more (retry 60 s)`. */
export function describeRest(driver: string, resting: readonly Member[]): string {
  const rests = resting.map((m) => m.resting as RestingMember);
  const left = Math.max(...rests.map((r) => r.leftMs));
  const retries = [...new Set(rests.map((r) => `${r.retryMs / 1000} s`))].join(', ');
  return (
    `${driver} rests ${resting.map((m) => m.name).join(', ')} after failed requests ` +
    `for up to ${Math.ceil(left / 1000)} s more (retry ${retries})`
  );
}

/**
 * Return one cluster to the pool and drain the other. A driver whose every change costs (nginx:
 * each reload resets requests racing its old workers' exit) does both in one change; the others
 * return the members, wait until the balancer sees them up, then drain.
 */
export async function runFlip(step: StepOf<'flip'>, env: StepEnv, progress: Progress): Promise<unknown> {
  const { readyMembers: ready, members: drain } = step;
  if (env.balancer.switchPool) {
    if (step.vouchHealthy && env.balancer.vouchHealthy) await env.balancer.vouchHealthy(ready);
    await env.balancer.switchPool(ready, drain);
  } else {
    await returnToPool(ready, step.vouchHealthy === true, env, progress);
    await env.balancer.drain(drain);
  }
  return { ready, drained: drain };
}

export async function runWaitDrain(
  step: StepOf<'wait-drain'>,
  env: StepEnv & Pick<StepRunEnv, 'signal'>,
  progress: Progress,
): Promise<unknown> {
  if (step.waitFor === 'sessions') return runWaitSessions(step, env, progress);
  const names = step.members;
  const { drainTimeout, cutOffAfterDrainTimeout } = env.config.balancer;
  const result = await waitForDrain(env.balancer, names, {
    timeoutMs: drainTimeout,
    sleep: (ms) => abortableSleep(ms, env.signal),
    onProgress: (p) => {
      const left = Object.entries(p.busy).filter(([, n]) => n > 0);
      progress(
        left.length
          ? `${left.reduce((s, [, n]) => s + n, 0)} sessions left on ${left.map(([m]) => m).join(', ')}`
          : 'no sessions left',
      );
    },
  });
  if (result.drained) return { elapsedMs: result.elapsedMs };
  const busy = Object.entries(result.busy ?? {}).filter(([, n]) => n > 0);
  if (cutOffAfterDrainTimeout) {
    await env.balancer.cutOff(busy.map(([m]) => m));
    return { elapsedMs: result.elapsedMs, cutOff: Object.fromEntries(busy) };
  }
  throw new OperationFailedError(
    `drain timed out after ${drainTimeout} ms with sessions ` +
      `still open: ${busy.map(([m, n]) => `${m} (${n})`).join(', ')}`,
    undefined,
    'raise balancer.drainTimeout, or set balancer.cutOffAfterDrainTimeout: true to cut them',
  );
}

/**
 * Wait until the drained members' users are gone: no request in flight and every sticky session
 * over (balancer.sessions). Then, with a stick table, drop the entries left (idle past the limit)
 * so a user who comes back later is balanced onto a member in the pool, not sent to one being deployed.
 */
export async function runWaitSessions(
  step: StepOf<'wait-drain'>,
  env: StepEnv & Pick<StepRunEnv, 'signal'>,
  progress: Progress,
): Promise<unknown> {
  const names = step.members;
  const { balancer, config } = env;
  const sessions = config.balancer.driver === 'haproxy' ? config.balancer.sessions : undefined;
  if (!sessions || !balancer.stickySessions) {
    throw new UserError(
      `step ${step.id} waits for sticky sessions, but baton.yml has no balancer.sessions for ` +
        `the ${config.balancer.driver} driver`,
      'make the plan again with the baton.yml it will run with',
    );
  }
  const table = sessions.track === 'table' ? (sessions.table ?? config.balancer.backend) : undefined;
  const result = await waitForSessions({ stickySessions: balancer.stickySessions.bind(balancer) }, names, {
    idleAfterMs: sessions.idleAfter,
    timeoutMs: sessions.timeout,
    ...(table ? { table } : {}),
    sleep: (ms) => abortableSleep(ms, env.signal),
    onProgress: (left) => progress(left.length ? `users still on ${describeSessionsLeft(left)}` : 'no user left'),
  });
  const figures = {
    elapsedMs: result.elapsedMs,
    ...(result.boundAtStart !== undefined
      ? {
          sessionsBoundAtStart: result.boundAtStart,
          sessionsActiveDuringWait: result.activeDuringWait,
          sessionsIdleAtEnd: result.boundAtEnd,
        }
      : {}),
  };
  if (!result.drained && !config.balancer.cutOffAfterDrainTimeout) {
    throw new OperationFailedError(
      `users were still on ${result.left.map((l) => l.member).join(', ')} ` +
        `after ${formatDuration(sessions.timeout)}: ${describeSessionsLeft(result.left)}`,
      undefined,
      'raise balancer.sessions.timeout, lower balancer.sessions.idleAfter, ' +
        'or set balancer.cutOffAfterDrainTimeout: true to cut them off',
    );
  }
  const cutOff = result.drained ? [] : result.left.filter((l) => l.inFlight > 0).map((l) => l.member);
  if (cutOff.length) await balancer.cutOff(cutOff);
  const forgotten = table && balancer.forgetSessions ? await balancer.forgetSessions(names, table) : undefined;
  return {
    ...figures,
    ...(forgotten !== undefined ? { sessionsForgotten: forgotten } : {}),
    ...(result.drained ? {} : { cutOff: result.left.map((l) => l.member) }),
  };
}

export const drainKind: StepKindSpec<'drain'> = {
  kind: 'drain',
  ...STEP_TRAITS.drain,
  run: (step, env) => runDrain(step, env),
  effect: (step, state) => step.members.forEach((m) => (state.memberState[m] = 'drain')),
};

export const waitDrainKind: StepKindSpec<'wait-drain'> = {
  kind: 'wait-drain',
  ...STEP_TRAITS['wait-drain'],
  run: (step, env, progress) => runWaitDrain(step, env, progress),
};

export const readyKind: StepKindSpec<'ready'> = {
  kind: 'ready',
  ...STEP_TRAITS.ready,
  run: (step, env, progress) => runReady(step, env, progress),
  effect: (step, state) => step.members.forEach((m) => (state.memberState[m] = 'ready')),
};

export const flipKind: StepKindSpec<'flip'> = {
  kind: 'flip',
  ...STEP_TRAITS.flip,
  run: (step, env, progress) => runFlip(step, env, progress),
  effect: (step, state) => {
    step.readyMembers.forEach((m) => (state.memberState[m] = 'ready'));
    step.members.forEach((m) => (state.memberState[m] = 'drain'));
  },
};
