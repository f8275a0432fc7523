// A flag whose value is a duration (`--lock-wait 10m`, `--lease 2h`, `--every 2s`), read the same
// way everywhere: a bad one is a usage error naming the flag, before anything is read or reached.
import { DEFAULT_DURATION_BOUNDS, durationProblem, parseDuration, type DurationBounds } from '../config/duration.js';
import { forTerminal } from '../control-characters.js';
import { UserError } from '../errors.js';

/** The value in ms (undefined when the flag is absent). */
export function durationFlagMs(
  flag: string,
  value: string | undefined,
  example: string,
  bounds: DurationBounds = DEFAULT_DURATION_BOUNDS,
): number | undefined {
  if (value === undefined) return undefined;
  const problem = durationProblem(value, bounds);
  if (problem) throw new UserError(`${flag} ${forTerminal(value)}: ${problem}`, example);
  return parseDuration(value);
}
