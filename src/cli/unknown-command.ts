// What `baton valdate` (or `baton help valdate`) answers: a usage error naming the closest command.
import { Errors, type Interfaces, toConfiguredId } from '@oclif/core';
import { UserError } from '../errors.js';
import { writeErr } from '../output.js';

/** Prints the usage error for an unknown command and ends with its exit code (64). */
export function failUnknownCommand(id: string, config: Interfaces.Config): never {
  failUsage(unknownCommandError(id, config));
}

/** Prints a usage error as BatonCommand does and ends with its exit code. For the not-found hook
 *  and `baton help`, which run outside BatonCommand's error handling. */
export function failUsage(err: UserError): never {
  writeErr(`Error: ${err.message}`);
  if (err.hint) writeErr(`Hint: ${err.hint}`);
  // oclif prints nothing for an ExitError and exits with its code.
  throw new Errors.ExitError(err.exitCode);
}

/** The usage error for an unknown command id (oclif's form, `dns:plann`). */
export function unknownCommandError(id: string, config: Interfaces.Config): UserError {
  const typed = toConfiguredId(id, config);
  const ids = config.commands.filter((c) => !c.hidden).flatMap((c) => [c.id, ...c.aliases]);
  const best = closestCommand(
    typed,
    ids.map((i) => toConfiguredId(i, config)),
  );
  return new UserError(
    `unknown command "${typed}"${best ? `; did you mean "${best}"?` : ''}`,
    `\`${config.bin} --help\` lists every command`,
  );
}

/** The known command closest to what was typed, or undefined when none is close enough to be a typo.
 *  `cutover` finds `dns cutover`: a command's name without its topic counts as a match too. A tie
 *  goes to the command with fewer words, then the shorter one (`rolback`: `rollback`, not `dns
 *  rollback`), whatever order the commands are listed in. */
export function closestCommand(typed: string, known: readonly string[]): string | undefined {
  let best: { id: string; distance: number; words: number } | undefined;
  for (const id of known) {
    const distance = Math.min(editDistance(typed, id), editDistance(typed, id.split(' ').pop() ?? id));
    const words = id.split(' ').length;
    if (
      !best ||
      distance < best.distance ||
      (distance === best.distance && (words < best.words || (words === best.words && id.length < best.id.length)))
    )
      best = { id, distance, words };
  }
  // More than about a third of the word changed is a different word, not a typo of this one.
  return best && best.distance <= Math.max(2, Math.floor(typed.length / 3)) ? best.id : undefined;
}

/** Levenshtein distance: insertions, deletions and substitutions, one each. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        (prev[j] ?? 0) + 1,
        (row[j - 1] ?? 0) + 1,
        (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}
