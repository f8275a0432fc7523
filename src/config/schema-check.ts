// Runs the zod schema over baton.yml's data and turns each zod issue into a Problem whose
// message says what was expected and what was found, in baton.yml's own words.
import { z } from 'zod';
import { describeValue, formatPath, isPlainObject, valueAt, type KeyPath } from './paths.js';
import type { Problem } from './problem.js';
import { Balancer, BatonConfigSchema, type BatonConfigParsed } from './schema.js';
import { closest } from './suggest.js';

type Issue = z.core.$ZodIssue;

/** Which driver each driver-specific balancer key belongs to, e.g. socket → haproxy. */
const DRIVER_OF_KEY: ReadonlyMap<string, string> = (() => {
  const counts = new Map<string, string[]>();
  for (const option of Balancer.options) {
    for (const key of Object.keys(option.shape))
      counts.set(key, [...(counts.get(key) ?? []), option.shape.driver.value]);
  }
  return new Map([...counts].filter(([, drivers]) => drivers.length === 1).map(([key, [driver]]) => [key, driver!]));
})();
const DRIVERS = Balancer.options.map((o) => o.shape.driver.value);

export function checkSchema(data: unknown): { parsed?: BatonConfigParsed; problems: Problem[] } {
  // The keys each strict object allows, by the input object that had unknown ones.
  const knownKeys = new WeakMap<object, string[]>();
  const result = BatonConfigSchema.safeParse(data, {
    error: (iss) => {
      if (iss.code === 'unrecognized_keys' && iss.inst instanceof z.ZodObject && isPlainObject(iss.input)) {
        knownKeys.set(iss.input, Object.keys(iss.inst.shape));
      }
      return expectation(iss as z.core.$ZodRawIssue & { inst?: unknown });
    },
  });
  if (result.success) return { parsed: result.data, problems: [] };
  const problems = result.error.issues.flatMap((i) => toProblems(i, [], data, knownKeys));
  return { problems };
}

function toProblems(issue: Issue, prefix: KeyPath, data: unknown, knownKeys: WeakMap<object, string[]>): Problem[] {
  const path = [...prefix, ...issue.path];
  const input = valueAt(data, path);
  // Nothing under secrets: is repeated, not even its kind.
  const secret = path[0] === 'secrets';
  const found = (message: string) => (secret ? message : `${message}, found ${describeValue(input)}`);
  // A value of the right type but outside its range or form: its kind says nothing more.
  const foundIfNotScalar = (message: string) =>
    input === null || typeof input === 'object' ? found(message) : message;
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => ({
        path: [...path, key],
        at: 'key',
        message: unknownKey(key, path, data, knownKeys.get(input as object) ?? []),
      }));
    case 'invalid_union': {
      if ('discriminator' in issue && issue.discriminator) {
        if (input === undefined)
          return [
            {
              path,
              at: 'parent',
              message: `missing required key \`${String(issue.discriminator)}\` (one of: ${DRIVERS.join(', ')})`,
            },
          ];
        return [{ path, message: oneOf(DRIVERS, secret ? undefined : input, found) }];
      }
      // The branches whose type matched the input say what is wrong inside it.
      const matched = issue.errors.filter((branch) => !typeMismatch(branch));
      const best = matched.sort((a, b) => a.length - b.length)[0];
      if (best) return best.flatMap((i) => toProblems(i, path, data, knownKeys));
      const expected = [
        ...new Set(issue.errors.flatMap((branch) => branch.filter((i) => i.path.length === 0).map((i) => i.message))),
      ];
      return [
        {
          path,
          message: found(
            expected
              .map((m) => m.replace(/^expected /, ''))
              .join(' or ')
              .replace(/^/, 'expected '),
          ),
        },
      ];
    }
    case 'invalid_type':
      if (input === undefined && path.length > 0) return [{ path, at: 'parent', message: missingKey(path, data) }];
      return [{ path, message: found(issue.message) }];
    case 'invalid_value':
      if (issue.values.length > 1 && issue.values.every((v) => typeof v === 'string'))
        return [{ path, message: oneOf(issue.values as string[], secret ? undefined : input, found) }];
      return [{ path, message: foundIfNotScalar(issue.message) }];
    default:
      return [{ path, message: foundIfNotScalar(issue.message) }];
  }
}

/**
 * A union's branch that failed on the input's type itself: its own type was wrong, or it is a union (a hook's command,
 * text or a list) none of whose branches took that type. Such a branch has nothing to say about what is inside.
 */
function typeMismatch(branch: readonly Issue[]): boolean {
  return branch.some(
    (i) =>
      i.path.length === 0 &&
      (i.code === 'invalid_type' ||
        (i.code === 'invalid_union' && !('discriminator' in i && i.discriminator) && i.errors.every(typeMismatch))),
  );
}

/**
 * A value outside a closed set (a driver, a mode, a method): what was found and, for a typo, the
 * allowed value it is closest to. The value is quoted only when it is a short word like the
 * allowed ones (see quotableWord); anything else is described by its kind, like every value.
 */
function oneOf(allowed: readonly string[], input: unknown, found: (message: string) => string): string {
  const expected = `expected one of: ${allowed.join(', ')}`;
  const word = quotableWord(input, allowed);
  if (word === undefined) return found(expected);
  const suggestion = closest(word, allowed);
  return `${expected}, found \`${word}\`${suggestion ? `; did you mean \`${suggestion}\`?` : ''}`;
}

/**
 * The value itself, when it can be repeated in a message: letters, digits, `.`, `_` and `-` only,
 * and at most a few characters longer than the longest allowed value. A file passed by mistake
 * may be a secret (`-c .env`), so a config value is otherwise never repeated (paths.ts); a short
 * word where `haproxy` or `GET` belongs is a choice, not a token.
 */
function quotableWord(input: unknown, allowed: readonly string[]): string | undefined {
  if (typeof input !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(input)) return undefined;
  return input.length <= Math.max(...allowed.map((a) => a.length)) + 8 ? input : undefined;
}

function unknownKey(key: string, parentPath: KeyPath, data: unknown, known: string[]): string {
  const balancer = valueAt(data, parentPath);
  const driver = DRIVER_OF_KEY.get(key);
  if (
    formatPath(parentPath) === 'balancer' &&
    driver &&
    isPlainObject(balancer) &&
    typeof balancer.driver === 'string' &&
    (DRIVERS as readonly string[]).includes(balancer.driver)
  ) {
    return `\`${key}\` is for the ${driver} driver, not ${balancer.driver}`;
  }
  const allowed = known.filter((k) => k !== '$schema');
  const suggestion = closest(key, allowed);
  return (
    `unknown key \`${key}\` (expected one of: ${allowed.join(', ')}` +
    `)${suggestion ? `; did you mean \`${suggestion}\`?` : ''}`
  );
}

function missingKey(path: KeyPath, data: unknown): string {
  const key = String(path[path.length - 1]);
  const parent = valueAt(data, path.slice(0, -1));
  const driver = DRIVER_OF_KEY.get(key);
  if (formatPath(path.slice(0, -1)) === 'balancer' && driver && isPlainObject(parent)) {
    return `missing required key \`${key}\` (the ${driver} driver needs it)`;
  }
  return `missing required key \`${key}\``;
}

const TYPE_WORDS: Record<string, string> = {
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a map',
  record: 'a map',
};

// What a schema node expected, for issues whose schema gave no message of its own.
function expectation(iss: z.core.$ZodRawIssue & { inst?: unknown }): string {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.inst instanceof z.ZodObject)
        return `expected a map with keys ${Object.keys(iss.inst.shape)
          .filter((k) => k !== '$schema')
          .join(', ')}`;
      return `expected ${TYPE_WORDS[iss.expected] ?? iss.expected}`;
    case 'too_small':
      if (iss.origin === 'string')
        return Number(iss.minimum) <= 1 ? 'expected non-empty text' : `expected at least ${iss.minimum} characters`;
      if (iss.origin === 'array') return `expected at least ${iss.minimum} item${Number(iss.minimum) === 1 ? '' : 's'}`;
      return `expected ${iss.inclusive ? 'at least' : 'more than'} ${iss.minimum}`;
    case 'too_big':
      if (iss.origin === 'string') return `expected at most ${iss.maximum} characters`;
      if (iss.origin === 'array') return `expected at most ${iss.maximum} items`;
      return `expected ${iss.inclusive ? 'at most' : 'less than'} ${iss.maximum}`;
    case 'invalid_value':
      return `expected ${iss.values.length === 1 ? '' : 'one of: '}${iss.values.map((v) => String(v)).join(', ')}`;
    case 'invalid_format':
      if (iss.format === 'starts_with' && 'prefix' in iss) return `expected text starting with "${String(iss.prefix)}"`;
      if (iss.format === 'regex' && 'pattern' in iss) return `expected text matching ${String(iss.pattern)}`;
      return `expected ${iss.format === 'url' ? 'a URL' : `a valid ${iss.format}`}`;
    case 'unrecognized_keys':
      return 'unknown key';
    case 'invalid_union':
      return 'expected one of the allowed forms';
    default:
      return 'invalid value';
  }
}
