// A problem found in baton.yml before it has a line and column: where it is (a key path) and
// whether the message is about the key itself, its value, or the map that should hold it.
import type { KeyPath } from './paths.js';

export interface Problem {
  path: KeyPath;
  message: string;
  /** `value` (default): the value at path; `key`: the key at path; `parent`: the map holding path (a missing key). */
  at?: 'value' | 'key' | 'parent';
}
