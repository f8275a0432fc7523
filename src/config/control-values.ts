// A value or key with a control character in it (written as an escape in a double-quoted
// string: "\e[2J", "\r"): it would reach a command line, a balancer's config or a terminal.
import { codePoint, CONTROL_CHARACTER } from '../control-characters.js';
import { isPlainObject, type KeyPath } from './paths.js';
import type { Problem } from './problem.js';

export function controlCharacterChecks(data: unknown): Problem[] {
  const problems: Problem[] = [];
  const visit = (node: unknown, path: KeyPath): void => {
    if (typeof node === 'string') {
      const found = CONTROL_CHARACTER.exec(node);
      if (found)
        problems.push({
          path,
          message: `control character ${codePoint(found[0])} in this text: only tab and newline may be written here`,
        });
    } else if (Array.isArray(node)) {
      node.forEach((item, i) => visit(item, [...path, i]));
    } else if (isPlainObject(node)) {
      for (const [key, value] of Object.entries(node)) {
        const found = CONTROL_CHARACTER.exec(key);
        if (found)
          problems.push({
            path: [...path, key],
            at: 'key',
            message: `control character ${codePoint(found[0])} in this key`,
          });
        else visit(value, [...path, key]);
      }
    }
  };
  // readYaml refuses nesting deeper than MAX_DEPTH before this runs, so recursion is bounded.
  visit(data, []);
  return problems;
}
