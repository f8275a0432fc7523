// Reads baton.yml with yaml's document API so every problem can be put at file:line:col:
// syntax errors become located issues, and key paths map back to the nodes they came from.
import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  Lexer,
  LineCounter,
  parseDocument,
  type Alias,
  type YAMLError,
  type YAMLMap,
} from 'yaml';
import type { ConfigIssue } from '../errors.js';
import { formatPath, type KeyPath } from './paths.js';
import type { Problem } from './problem.js';

export interface YamlSource {
  file: string;
  /** The document as plain data (undefined when it could not be built). */
  data: unknown;
  syntaxIssues: ConfigIssue[];
  /** The structure itself is broken: schema checks on it would only add noise. */
  broken: boolean;
  locate(problem: Problem): ConfigIssue;
}

type YNode = { range?: [number, number, number] | null } & object;
/** Aliases a file may use: more is an alias bomb, not a configuration. */
export const MAX_ALIASES = 100;
/** Maps and lists nested deeper than this are refused before anything recurses into them. */
export const MAX_DEPTH = 64;

export function readYaml(text: string, file: string): YamlSource {
  const lineCounter = new LineCounter();
  // uniqueKeys is checked below with one set per map: yaml's own check compares every key with
  // every other (40,000 keys took a minute).
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  const at = (offset: number) => lineCounter.linePos(Math.min(offset, text.length));
  const issue = (offset: number, path: KeyPath, message: string): ConfigIssue => ({
    file,
    ...at(offset),
    path: formatPath(path),
    message,
  });

  let quote: { at: number | undefined } | undefined;
  const quoteAt = () => (quote ??= { at: unclosedQuote(text) }).at;
  // yaml turns a stack overflow on deep nesting into one error per token: say it once.
  const overflow = doc.errors.find((e) => /call stack/i.test(e.message));
  const syntaxIssues = overflow
    ? [issue(overflow.pos[0], [], `nested more than ${MAX_DEPTH} levels deep: baton.yml is never that deep`)]
    : withoutCascades(doc.errors, at).map((e) => syntaxIssue(e, text, quoteAt, at, issue));
  const tree = indexTree(doc.contents, issue, at);
  if (!overflow) syntaxIssues.push(...tree.issues);
  // Even a duplicate key leaves the data ambiguous (which value counts?): fix YAML first.
  let broken = syntaxIssues.length > 0;
  let data: unknown;
  if (!broken) {
    try {
      data = doc.toJS({ maxAliasCount: MAX_ALIASES });
    } catch (err) {
      // yaml counts what aliases expand to, so a few nested ones can pass the count above and fail here.
      if (!(err instanceof ReferenceError)) throw err;
      syntaxIssues.push(
        issue(
          tree.firstAlias ?? 0,
          [],
          `aliases here expand to more than ${MAX_ALIASES} copies (the limit, against alias bombs): ` +
            'write the values out instead',
        ),
      );
      broken = true;
    }
  }

  const locate = (p: Problem): ConfigIssue => {
    const target = p.at === 'parent' ? p.path.slice(0, -1) : p.path;
    // The longest part of the path that is in the document; an alias's content is found at the alias.
    let depth = target.length;
    let entry = tree.byPath.get(formatPath(target));
    while (!entry && depth > 0) entry = tree.byPath.get(formatPath(target.slice(0, --depth)));
    const complete = depth === target.length;
    let offset = 0;
    if (entry && complete && p.at === 'key' && entry.key) offset = start(entry.key);
    else if (entry && complete && entry.value && !isEmptyValue(entry.value)) offset = start(entry.value);
    else if (entry?.key) offset = start(entry.key);
    else if (entry?.value) offset = start(entry.value);
    return issue(offset, p.path, p.message);
  };
  return { file, data, syntaxIssues, broken, locate };
}

interface Entry {
  key?: YNode;
  value?: YNode;
}

interface Tree {
  /** Every key and list item by its formatted path, for locating problems in constant time. */
  byPath: Map<string, Entry>;
  issues: ConfigIssue[];
  firstAlias?: number;
}

// One pass over the document: indexes paths, and finds what yaml leaves to toJS or does slowly:
// duplicate keys, unknown and recursive aliases, too many aliases, nesting too deep.
function indexTree(
  root: unknown,
  issue: (offset: number, path: KeyPath, message: string) => ConfigIssue,
  at: (offset: number) => { line: number },
): Tree {
  const walk = new TreeWalk(root, issue, at);
  walk.node(root, [], 0);
  const { byPath, issues, firstAlias } = walk;
  return { byPath, issues, ...(firstAlias !== undefined && { firstAlias }) };
}

/** The state of indexTree's pass: what it has indexed and found so far, and the anchors seen. */
class TreeWalk {
  readonly byPath: Map<string, Entry>;
  readonly issues: ConfigIssue[] = [];
  firstAlias: number | undefined;
  private readonly anchors = new Map<string, YNode>();
  private aliases = 0;
  private tooDeep = false;

  constructor(
    root: unknown,
    private readonly issue: (offset: number, path: KeyPath, message: string) => ConfigIssue,
    private readonly at: (offset: number) => { line: number },
  ) {
    this.byPath = new Map<string, Entry>([['', { value: root as YNode }]]);
  }

  node(node: unknown, path: KeyPath, depth: number): void {
    if (isAlias(node)) return this.alias(node, path);
    if ((isScalar(node) || isMap(node) || isSeq(node)) && node.anchor) this.anchors.set(node.anchor, node as YNode);
    if (!isMap(node) && !isSeq(node)) return;
    if (depth >= MAX_DEPTH) {
      if (!this.tooDeep)
        this.issues.push(
          this.issue(
            start(node as YNode),
            path,
            `nested more than ${MAX_DEPTH} levels deep: baton.yml is never that deep`,
          ),
        );
      this.tooDeep = true;
      return;
    }
    if (isSeq(node)) {
      node.items.forEach((item, i) => {
        this.byPath.set(formatPath([...path, i]), { value: item as YNode });
        this.node(item, [...path, i], depth + 1);
      });
      return;
    }
    this.map(node, path, depth);
  }

  private alias(node: Alias, path: KeyPath): void {
    this.aliases += 1;
    this.firstAlias ??= start(node);
    const target = this.anchors.get(node.source);
    const problem =
      this.aliases === MAX_ALIASES + 1
        ? `more than ${MAX_ALIASES} aliases (the limit, against alias bombs): write the values out instead`
        : !target
          ? 'unknown alias: no anchor of that name is set before it'
          : contains(target, node)
            ? 'recursive alias: it stands for a map or list that contains it, which would never end'
            : undefined;
    if (problem) this.issues.push(this.issue(start(node), path, problem));
  }

  private map(node: YAMLMap, path: KeyPath, depth: number): void {
    const firstLine = new Map<string, number>();
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const keyPath = [...path, key];
      const keyNode = pair.key as YNode | null;
      if (keyNode && !isScalar(keyNode)) this.node(keyNode, keyPath, depth + 1);
      const keyOffset = keyNode ? start(keyNode) : 0;
      const first = firstLine.get(key);
      if (first !== undefined) {
        this.issues.push(
          this.issue(
            keyOffset,
            keyPath,
            `duplicate key \`${key}\` (first set on line ${first}): a key may appear only once in a map`,
          ),
        );
        continue;
      }
      firstLine.set(key, this.at(keyOffset).line);
      this.byPath.set(formatPath(keyPath), {
        ...(keyNode && { key: keyNode }),
        ...(pair.value !== null && { value: pair.value as YNode }),
      });
      this.node(pair.value, keyPath, depth + 1);
    }
  }
}

// True when `inner` lies inside `outer`'s source range: an alias inside the node its anchor names.
function contains(outer: YNode, inner: YNode): boolean {
  const [o0, , o2] = outer.range ?? [0, 0, 0];
  const [i0, i1] = inner.range ?? [0, 0, 0];
  return (isMap(outer) || isSeq(outer)) && o0 <= i0 && i1 <= o2;
}

// One misplaced line makes yaml report every following line of the same block as a key
// inside a value; only the first of such a run says anything useful.
function withoutCascades(errors: YAMLError[], at: (offset: number) => { line: number }): YAMLError[] {
  const IMPLICIT_KEY = new Set(['BLOCK_AS_IMPLICIT_KEY', 'MULTILINE_IMPLICIT_KEY']);
  const multiline = new Set(errors.filter((o) => o.code === 'MULTILINE_IMPLICIT_KEY').map((o) => o.pos[0]));
  const candidates = errors.filter((e) => !(e.code === 'BLOCK_AS_IMPLICIT_KEY' && multiline.has(e.pos[0])));
  let previousEndLine = 0;
  return candidates.filter((e) => {
    const cascade = IMPLICIT_KEY.has(e.code) && at(e.pos[0]).line <= previousEndLine;
    previousEndLine = at(e.pos[1]).line;
    return !cascade;
  });
}

function syntaxIssue(
  e: YAMLError,
  text: string,
  quoteAt: () => number | undefined,
  at: (offset: number) => { line: number; col: number },
  issue: (offset: number, path: KeyPath, message: string) => ConfigIssue,
): ConfigIssue {
  switch (e.code) {
    case 'MULTIPLE_DOCS':
      return issue(
        e.pos[0],
        [],
        'more than one YAML document: baton.yml holds one, so remove this `---` and what follows (or move it ' +
          'to another file)',
      );
    case 'TAB_AS_INDENT':
      return issue(e.pos[0], [], 'a tab is used for indentation: YAML indents with spaces only');
    case 'BAD_INDENT':
      return issue(e.pos[0], [], `bad indentation: ${lowerFirst(e.message)}`);
    case 'MULTILINE_IMPLICIT_KEY': {
      const offset = firstNonSpaceOfLine(text, e.pos[1]);
      return issue(
        offset,
        [],
        'bad indentation: this line is indented deeper than the key above it, so YAML reads it as part of that value',
      );
    }
    case 'BLOCK_AS_IMPLICIT_KEY':
      return issue(
        e.pos[0],
        [],
        'a `key: value` cannot follow another key on the same line: put it on its own line, indented under its parent',
      );
    case 'MISSING_CHAR':
      if (/quote/.test(e.message)) {
        const open = quoteAt() ?? e.pos[0];
        return issue(open, [], `unclosed quote: the string starting here has no closing ${text[open] ?? 'quote'}`);
      }
      return issue(e.pos[0], [], `YAML syntax error: ${lowerFirst(e.message)}`);
    case 'TAG_RESOLVE_FAILED':
      return issue(e.pos[0], [], 'unknown YAML tag: baton.yml uses no tags (`!name`)');
    default:
      return issue(e.pos[0], [], `YAML syntax error: ${lowerFirst(withoutSource(e.message))}`);
  }
}

function start(node: YNode): number {
  return node.range?.[0] ?? 0;
}

// `key:` with nothing after it: the value node is empty, so the key is the better place to point.
function isEmptyValue(node: YNode): boolean {
  return isScalar(node) && node.value === null && (node.range?.[0] ?? 0) === (node.range?.[1] ?? 0);
}

function firstNonSpaceOfLine(text: string, offset: number): number {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  const m = /^[ \t]*/.exec(text.slice(lineStart));
  return lineStart + (m?.[0].length ?? 0);
}

// Tokens yaml's lexer inserts that are not in the source (document start, scalar, flow error end).
const LEXER_MARKERS = new Set(['\x02', '\x1f', '\x18']);

// Offset of the quote that opens a quoted scalar which never closes.
function unclosedQuote(text: string): number | undefined {
  let offset = 0;
  for (const token of new Lexer().lex(text)) {
    if (LEXER_MARKERS.has(token)) continue;
    const q = token[0];
    if (q === '"' || q === "'") {
      const body = token.trimEnd();
      const closed = body.length > 1 && body.endsWith(q) && (q === "'" || !/(^|[^\\])(\\\\)*\\"$/.test(body));
      if (!closed) return offset;
    }
    offset += token.length;
  }
  return undefined;
}

// A few of yaml's messages end by quoting the source (`…extra characters: <text>`), which may be a secret.
function withoutSource(message: string): string {
  return message.replace(/:\s.*$/s, '');
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}
