// Data shown on a terminal loses its control characters; JSON keeps its own escapes.
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { writeErr, writeOut } from '../../src/output.js';
import { codePoint, CONTROL_CHARACTER, forTerminal } from '../../src/control-characters.js';

describe('forTerminal', () => {
  it.each([
    ['plain text', 'v1.2.3 on web-1', 'v1.2.3 on web-1'],
    ['tab and newline', 'a\tb\nc', 'a\tb\nc'],
    ['a CSI sequence as a whole', 'tag \x1b[2J\x1b[31mred\x1b[0m', 'tag red'],
    ['an OSC hyperlink', '\x1b]8;;http://evil.example\x07click\x1b]8;;\x1b\\', 'click'],
    ['a lone ESC and BEL', 'a\x1bb\x07c', 'ac'],
    ['a carriage return that would overwrite the line', 'approved by alice\rrejected', 'approved by alicerejected'],
    ['C1 controls and DEL', 'a\x9b31mb\x85c\x7fd', 'abcd'],
    ['NUL and backspace', 'ok\x00\x08', 'ok'],
  ])('%s', (_, input, expected) => {
    expect(forTerminal(input)).toBe(expected);
  });

  it('names a control character by its code point', () => {
    expect(codePoint('\x1b')).toBe('U+001B');
  });
});

describe('the terminal writers', () => {
  afterEach(() => vi.restoreAllMocks());

  it('writeErr and writeOut strip control characters', () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    writeErr('step \x1b[2Jstage v1');
    writeOut(`${JSON.stringify({ title: 'a\x1bb' })}\n`);
    expect(err).toHaveBeenCalledWith('step stage v1\n');
    // JSON.stringify already wrote the ESC as \u001b: nothing to strip, nothing lost.
    expect(out).toHaveBeenCalledWith('{"title":"a\\u001bb"}\n');
  });

  it("a command's error line shows no escape sequence from its input", { timeout: 30_000 }, async () => {
    const root = join(import.meta.dirname, '../..');
    const r = await execa(
      'node',
      [join(root, 'bin/run.js'), 'validate', '-c', '/nonexistent/\x1b[2J\x1b]0;pwned\x07baton.yml'],
      { reject: false, env: { NO_COLOR: '1' } },
    );
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toContain('no configuration file at /nonexistent/baton.yml');
    expect(r.stderr).not.toMatch(CONTROL_CHARACTER);
  });
});
