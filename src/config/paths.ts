// Key paths and values as a person reads them in a message: `clusters.a.hosts[1]`, `text`.

export type KeyPath = readonly PropertyKey[];

/** `['clusters', 'a', 'hosts', 1]` → `clusters.a.hosts[1]`. */
export function formatPath(path: KeyPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

/** The value at `path` inside plain parsed YAML data, or undefined. */
export function valueAt(data: unknown, path: KeyPath): unknown {
  let cur = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur;
}

/** What was found, for "expected …, found …", by its kind only: a config file may be a secret
 *  (`-c .env`), so nothing read from it is repeated (but for a short word where one of a closed
 *  set belongs, see quotableWord in schema-check.ts). */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return v.length === 0 ? 'an empty list' : 'a list';
  if (typeof v === 'object') return Object.keys(v).length === 0 ? 'an empty map' : 'a map';
  if (typeof v === 'string') return v === '' ? 'empty text' : 'text';
  if (typeof v === 'number') return Number.isInteger(v) ? 'a whole number' : 'a number with a fraction';
  if (typeof v === 'boolean') return String(v);
  return 'a value of another kind';
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
