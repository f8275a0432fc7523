// The last line of defence: an exception or rejection nothing caught. It should never happen
// (commands turn every error into a kind and an exit code), but if it does the operator gets one
// clear line and, by what it may have done, exit 2 (production needs attention: a run may have
// stopped anywhere) or 1 (this process had not changed production yet), not a stack.
import { processInterrupts } from '../engine/interrupts.js';
import { BugError, exitCodeFor } from '../errors.js';
import { isClosedPipe, writeErr } from '../output.js';

const REPORT_HINT =
  'this is a bug in baton: please report it with the command and this output (BATON_DEBUG=1 adds the stack)';

let installed = false;
let fired = false;

export function installSafetyNet(): void {
  if (installed) return;
  installed = true;
  process.on('uncaughtException', report);
  process.on('unhandledRejection', report);
  // Whatever the run ends with afterwards (a later success, a "restored" 1), its state is not known.
  process.on('exit', () => {
    if (fired) process.exitCode = exitCodeOfABug();
  });
}

function report(err: unknown): void {
  // The reader of our output went away (`| head`): that is no error of the run. (Node never marks
  // process.stdout/stderr destroyed, so the error's code is all there is to go by.)
  if (isClosedPipe(err)) return;
  fired = true;
  const changed = processInterrupts.productionChanged();
  process.exitCode = exitCodeOfABug();
  writeErr(`baton: internal error: ${err instanceof Error ? err.message : String(err)}`);
  const production = changed ? 'production may be part-way: `baton status`' : 'nothing in production was changed';
  writeErr(`Hint: ${REPORT_HINT}; ${production}`);
  if (process.env.BATON_DEBUG === '1' && err instanceof Error && err.stack) writeErr(err.stack);
}

/** What nothing caught is a bug, whatever it was raised as: its code is by what this process did to production. */
function exitCodeOfABug(): number {
  return exitCodeFor(new BugError('uncaught'), processInterrupts.productionChanged());
}
