// npm run bench:signals -- [--per-cluster N] [--concurrency N] [--slow-clients N]
// A push stopped by SIGTERM at each step boundary under load (what a cancelled CI job sends
// first): seconds from the signal to the process's exit (the current step finishing, then the
// reversal), against the grace a CI runner gives before SIGKILL; plus the failed requests.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { readJournal } from '../src/engine/journal.js';
import { pushAndAct } from '../test/lab/signalled-push.js';
import { writeLabConfig } from './lab-config.js';
import { LOAD_OPTIONS, labUp, quietPush, round, shapeOf, underLoad } from './lab-push.js';

const { values } = parseArgs({ options: { ...LOAD_OPTIONS, signal: { type: 'string', default: 'SIGTERM' } } });
const shape = shapeOf(values);
const signal = values.signal as NodeJS.Signals;
labUp(Number(values['per-cluster']));
const config = writeLabConfig();
if ((await quietPush('v1', config)) !== 0) throw new Error('could not prepare the lab: push v1');

// The push's steps, from a plan of the lab as it is.
const STEPS = 12; // lock … ready-b: a signal after the last of them has only `unlock` left to stop
const rows: { boundary: number; exitCode: number | null; secondsToExit: number; reversalSeconds: number | null }[] = [];
let requests = 0;
let failed = 0;
let redispatches = 0;
for (let k = 1; k <= STEPS; k++) {
  let row: (typeof rows)[number] | undefined;
  // underLoad runs a command; here the "command" is a push signalled at boundary k.
  const r = await underLoad([], { ...shape, padSeconds: 0.5 }, config, undefined, async () => {
    const ended = await pushAndAct(config, 'v2', k, (child) => void child.kill(signal));
    const journals = join(dirname(config), '.baton', 'journal');
    const newest = readdirSync(journals)
      .filter((f) => f.endsWith('.jsonl'))
      .sort()
      .at(-1) as string;
    const events = readJournal(join(journals, newest));
    const begin = events.find((e) => e.event === 'reversal-begin');
    const end = events.find((e) => e.event === 'run-end');
    row = {
      boundary: k,
      exitCode: ended.code,
      secondsToExit: round(ended.secondsAfterAct),
      reversalSeconds: begin && end ? round((new Date(end.ts).getTime() - new Date(begin.ts).getTime()) / 1000) : null,
    };
    return { code: ended.code ?? -1, stdout: ended.output };
  });
  rows.push(row as (typeof rows)[number]);
  requests += r.load.requests;
  failed += r.load.failed;
  redispatches += r.redispatches + r.retries;
  // A run the signal did not stop (it ended first) left v2 in place: go back for the next boundary.
  if (row?.exitCode === 0 && (await quietPush('v1', config)) !== 0) throw new Error('could not return to v1');
}
const seconds = rows.map((r) => r.secondsToExit);
console.log(
  JSON.stringify(
    {
      signal,
      load: shape,
      requests,
      failed,
      redispatches,
      secondsToExit: {
        max: Math.max(...seconds),
        median: round([...seconds].sort((a, b) => a - b)[Math.floor(seconds.length / 2)] ?? 0),
      },
      githubActionsGraceSeconds: 10,
      boundaries: rows,
    },
    null,
    2,
  ),
);
