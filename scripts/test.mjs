// npm test: the unit project beside the lab project, as two vitest runs at once. The lab's files run
// one at a time and mostly wait on its hosts, so the unit files (one worker) fit beside them instead
// of taking two minutes of their own first; vitest 4 cannot do this in one run (its projects share one
// pool, and a project held to one worker runs after all the others).
//
// The lab run's report streams; the unit run's goes to test-artifacts/unit-tests.log and is printed
// once both have ended (whole when it failed, else its summary), so the two never interleave. One
// line says when the unit run ends. Arguments go to both runs (`npm test -- dns` runs the files
// matching it in each). Exit: 0 when both passed, else the first failing run's code.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
const args = process.argv.slice(2);
const filtered = args.length ? ['--passWithNoTests', ...args] : [];

mkdirSync(join(root, 'test-artifacts'), { recursive: true });
const unitLog = join(root, 'test-artifacts', 'unit-tests.log');
const unitOut = openSync(unitLog, 'w');

const children = [];
function run(name, argv, stdio) {
  const child = spawn(process.execPath, [vitest, 'run', ...argv], { cwd: root, stdio });
  children.push(child);
  return new Promise((resolve) => {
    child.on('error', (e) => {
      process.stderr.write(`npm test: could not start the ${name} run: ${e.message}\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 15) : 1)));
  });
}

// Ctrl-C at a terminal already reaches both runs through the process group (a second SIGINT would make
// vitest skip its teardown, the lab's down); a SIGTERM sent to this process alone (a CI job cancelled)
// is passed on, so the lab run still takes its lab down. Either way this process waits for both.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => children.forEach((c) => c.exitCode === null && c.kill('SIGTERM')));

const unit = run('unit', ['--project', 'unit', '--maxWorkers', '1', ...filtered], ['ignore', unitOut, unitOut]).then(
  (code) => {
    process.stdout.write(
      `\n== npm test: the unit run ${code === 0 ? 'passed' : `FAILED (exit ${code})`}; its report follows the lab's ` +
        `(${unitLog})\n\n`,
    );
    return code;
  },
);
const lab = run('lab', ['--project', 'lab', ...filtered], 'inherit');
const [unitCode, labCode] = await Promise.all([unit, lab]);

const report = readFileSync(unitLog, 'utf8');
const summaryAt = report.search(/^.*Test Files /m); // the line may open with colour codes
process.stdout.write('\n== npm test: the unit run\n');
process.stdout.write(unitCode === 0 && summaryAt >= 0 ? report.slice(summaryAt) : report);
process.stdout.write(
  `\n== npm test: unit ${unitCode === 0 ? 'passed' : `failed (exit ${unitCode})`}, ` +
    `lab ${labCode === 0 ? 'passed' : `failed (exit ${labCode})`}\n`,
);
process.exit(unitCode || labCode);
