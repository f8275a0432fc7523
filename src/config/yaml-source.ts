// Reads baton.yml with yaml's document API so every problem can be put at file:line:col:
// syntax errors become located issues, and key paths map back to the nodes they came from.
import { isAlias, isMap, isScalar, isSeq, Lexer, LineCounter, parseDocument, visit, type Document, type Pair, type YAMLError } from 'yaml';
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
interface PairAt {
  path: KeyPath;
  pair: Pair<unknown, unknown>;
}

export function readYaml(text: string, file: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const pairs = [...walkPairs(doc.contents, [])];
  const at = (offset: number) => lineCounter.linePos(Math.min(offset, text.length));
  const issue = (offset: number, path: KeyPath, message: string): ConfigIssue => ({ file, ...at(offset), path: formatPath(path), message });

  const syntaxIssues = withoutCascades(doc.errors, at).map((e) => syntaxIssue(e, text, pairs, at, issue));
  visit(doc, {
    Alias(_, alias) {
      if (alias.resolve(doc) === undefined) {
        syntaxIssues.push(issue(start(alias), [], `unknown alias \`*${alias.source}\`: no anchor \`&${alias.source}\` is set before it`));
      }
    },
  });
  // Even a duplicate key leaves the data ambiguous (which value counts?): fix YAML first.
  const broken = syntaxIssues.length > 0;
  let data: unknown;
  try {
    data = doc.toJS();
  } catch {
    data = undefined;
  }

  const locate = (p: Problem): ConfigIssue => {
    const target = p.at === 'parent' ? p.path.slice(0, -1) : p.path;
    const found = walkPath(doc, target);
    let offset = 0;
    if (found.complete && p.at === 'key' && found.keyNode) offset = start(found.keyNode);
    else if (found.complete && found.node && !isEmptyValue(found.node)) offset = start(found.node);
    else if (found.keyNode) offset = start(found.keyNode);
    else if (found.node) offset = start(found.node);
    return issue(offset, p.path, p.message);
  };
  return { file, data, syntaxIssues, broken, locate };
}

// One misplaced line makes yaml report every following line of the same block as a key
// inside a value; only the first of such a run says anything useful.
function withoutCascades(errors: YAMLError[], at: (offset: number) => { line: number }): YAMLError[] {
  const IMPLICIT_KEY = new Set(['BLOCK_AS_IMPLICIT_KEY', 'MULTILINE_IMPLICIT_KEY']);
  const candidates = errors.filter((e) => !(e.code === 'BLOCK_AS_IMPLICIT_KEY' && errors.some((o) => o.code === 'MULTILINE_IMPLICIT_KEY' && o.pos[0] === e.pos[0])));
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
  pairs: PairAt[],
  at: (offset: number) => { line: number; col: number },
  issue: (offset: number, path: KeyPath, message: string) => ConfigIssue,
): ConfigIssue {
  switch (e.code) {
    case 'DUPLICATE_KEY': {
      const dup = pairs.find((p) => isScalar(p.pair.key) && start(p.pair.key) === e.pos[0]);
      const key = dup ? String((dup.pair.key as { value: unknown }).value) : '';
      const first = dup && pairs.find((p) => p !== dup && formatPath(p.path) === formatPath(dup.path));
      const where = first ? ` (first set on line ${at(start(first.pair.key as YNode)).line})` : '';
      return issue(e.pos[0], dup?.path ?? [], `duplicate key \`${key}\`${where}: a key may appear only once in a map`);
    }
    case 'MULTIPLE_DOCS':
      return issue(e.pos[0], [], 'more than one YAML document: baton.yml holds one, so remove this `---` and what follows (or move it to another file)');
    case 'TAB_AS_INDENT':
      return issue(e.pos[0], [], 'a tab is used for indentation: YAML indents with spaces only');
    case 'BAD_INDENT':
      return issue(e.pos[0], [], `bad indentation: ${lowerFirst(e.message)}`);
    case 'MULTILINE_IMPLICIT_KEY': {
      const offset = firstNonSpaceOfLine(text, e.pos[1]);
      return issue(offset, [], 'bad indentation: this line is indented deeper than the key above it, so YAML reads it as part of that value');
    }
    case 'BLOCK_AS_IMPLICIT_KEY':
      return issue(e.pos[0], [], 'a `key: value` cannot follow another key on the same line: put it on its own line, indented under its parent');
    case 'MISSING_CHAR':
      if (/quote/.test(e.message)) {
        const open = unclosedQuote(text) ?? e.pos[0];
        return issue(open, [], `unclosed quote: the string starting here has no closing ${text[open] ?? 'quote'}`);
      }
      return issue(e.pos[0], [], `YAML syntax error: ${lowerFirst(e.message)}`);
    default:
      return issue(e.pos[0], [], `YAML syntax error: ${lowerFirst(e.message)}`);
  }
}

function* walkPairs(node: unknown, path: KeyPath): Generator<PairAt> {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      yield { path: [...path, key], pair };
      yield* walkPairs(pair.value, [...path, key]);
    }
  } else if (isSeq(node)) {
    for (const [i, item] of node.items.entries()) yield* walkPairs(item, [...path, i]);
  }
}

interface Walked {
  complete: boolean;
  node?: YNode;
  keyNode?: YNode;
}

// Follows a key path through the document as far as it exists.
function walkPath(doc: Document, path: KeyPath): Walked {
  let node: unknown = doc.contents;
  let keyNode: YNode | undefined;
  for (const seg of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
      if (!pair) return { complete: false, node: node as YNode, keyNode };
      keyNode = pair.key as YNode;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number' && node.items[seg] !== undefined) {
      keyNode = undefined;
      node = node.items[seg];
    } else {
      return { complete: false, node: node as YNode | undefined, keyNode };
    }
  }
  return { complete: true, node: (node ?? undefined) as YNode | undefined, keyNode };
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

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}
