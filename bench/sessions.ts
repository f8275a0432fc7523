// npm run bench:sessions -- [--users N] [--requests N] [--think MS] [--idle-after DURATION]
// Users, not just requests: the same push (v1 → v2 through HAProxy) under the request load of
// bench:push plus users who each make a few requests in a sticky session, once with today's
// request-only drain and once with balancer.sessions (track: table and track: idle). Prints,
// per mode, the sessions that broke (a user's requests split across releases or members, or
// one failed), failed requests at the client, redispatches at the balancer, and how long the
// drains waited.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readJournal } from '../src/engine/journal.js';
import { startSessionUsers, type SessionUsersReport } from '../test/lab/session-users.js';
import { writeLabConfig } from './lab-config.js';
import { DEFAULT_LOAD, labUp, PUBLIC_URL, quietPush, ROOT, round, underLoad } from './lab-push.js';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '12' },
    requests: { type: 'string', default: '5' },
    think: { type: 'string', default: '400' },
    'idle-after': { type: 'string', default: '2s' },
  },
});

labUp(2);

type Mode = 'requests' | 'table' | 'idle';

async function measure(mode: Mode) {
  const sessions =
    mode === 'requests'
      ? []
      : ([[['balancer', 'sessions'], { track: mode, idleAfter: values['idle-after'], timeout: '2m' }]] as [
          string[],
          unknown,
        ][]);
  const config = writeLabConfig(
    join(mkdtempSync(join(tmpdir(), `baton-bench-sessions-${mode}-`)), 'baton.yml'),
    sessions,
  );
  if ((await quietPush('v1', config)) !== 0) throw new Error('could not put v1 on every host');
  let users: SessionUsersReport | undefined;
  let pushSeconds = 0;
  const r = await underLoad(
    ['node', `${ROOT}/bin/run.js`, 'push', 'v2', '-c', config, '--json'],
    DEFAULT_LOAD,
    config,
    PUBLIC_URL,
    async () => {
      const run = startSessionUsers({
        url: PUBLIC_URL + 'version',
        users: Number(values.users),
        requestsPerSession: Number(values.requests),
        thinkMs: Number(values.think),
      });
      // Users are mid-session when the push starts, and still coming when it ends.
      await new Promise((res) => setTimeout(res, 3000));
      const { execa } = await import('execa');
      const t0 = performance.now();
      const push = await execa('node', [`${ROOT}/bin/run.js`, 'push', 'v2', '-c', config, '--json'], {
        reject: false,
        env: { CI: '1' },
      });
      pushSeconds = round((performance.now() - t0) / 1000);
      await new Promise((res) => setTimeout(res, 2000));
      users = await run.stop();
      return { code: push.exitCode ?? 1, stdout: push.stdout };
    },
  );
  const json = JSON.parse(r.stdout) as { journal?: string; outcome?: string };
  if (r.exitCode !== 0 || !json.journal)
    throw new Error(`push failed in mode ${mode} (exit ${r.exitCode}): ${r.stdout}`);
  const records = readJournal(json.journal);
  const waits: Record<string, { seconds: number; changed?: unknown }> = {};
  for (const e of records) {
    if (e.event === 'step-ok' && e.step.startsWith('wait-drain-'))
      waits[e.step] = { seconds: round(e.ms / 1000), changed: e.changed };
  }
  const u = users as unknown as SessionUsersReport;
  return {
    mode,
    sessions: u.sessions,
    brokenSessions: u.broken,
    brokenBy: u.brokenBy,
    sessionRequests: u.requests,
    sessionRequestsFailed: u.failedRequests,
    pushSeconds,
    drainWaitSeconds: waits,
    requests: r.load.requests,
    failed: r.load.failed,
    redispatches: r.redispatches + r.retries,
  };
}

const runs = [];
for (const mode of ['requests', 'table', 'idle'] as const) runs.push(await measure(mode));
console.log(
  JSON.stringify(
    {
      users: Number(values.users),
      requestsPerSession: Number(values.requests),
      thinkMs: Number(values.think),
      idleAfter: values['idle-after'],
      runs,
    },
    null,
    2,
  ),
);
