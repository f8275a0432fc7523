// baton.yml is read only when it is what it should be: a regular file of text, small enough to be
// a configuration. A FIFO or a device as --config would block the read or never end; a binary or a
// huge file is not a configuration either, and parsing it would only cost time.
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { codePoint, CONTROL_CHARACTER } from '../control-characters.js';
import { ConfigError, UserError, type ConfigIssue } from '../errors.js';

/** A baton.yml is a few kilobytes; yaml needs seconds for a megabyte of tokens. */
export const MAX_CONFIG_BYTES = 256 * 1024;
export const MAX_CONFIG_LINES = 10_000;

/**
 * The text of the configuration file; UserError when it is not a readable regular file, ConfigError when it is not
 * text.
 */
export async function readConfigFile(file: string): Promise<string> {
  let handle: FileHandle;
  try {
    // Non-blocking: opening a FIFO for reading would otherwise wait for a writer.
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw openError(file, (err as NodeJS.ErrnoException).code);
  }
  try {
    const stat = await handle.stat();
    if (stat.isDirectory())
      throw new UserError(`${file} is a folder, not a configuration file`, 'point --config at the baton.yml inside it');
    if (!stat.isFile())
      throw new UserError(
        `${file} is not a regular file (it is ${fileKind(stat)}): baton reads its configuration from a file`,
        'point --config at your baton.yml',
      );
    if (stat.size > MAX_CONFIG_BYTES)
      throw new UserError(
        `${file} is larger than ${MAX_CONFIG_BYTES / 1024} KiB: that is not a baton.yml`,
        'point --config at your baton.yml',
      );
    // Read at most one byte past the cap, in case the file grew since stat.
    const buffer = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length);
      if (bytesRead === 0 || (length += bytesRead) === buffer.length) break;
    }
    if (length > MAX_CONFIG_BYTES)
      throw new UserError(`${file} is larger than ${MAX_CONFIG_BYTES / 1024} KiB: that is not a baton.yml`);
    return decode(buffer.subarray(0, length), file);
  } catch (err) {
    if (err instanceof UserError || err instanceof ConfigError) throw err;
    throw new UserError(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  } finally {
    await handle.close();
  }
}

/** Problems with the text as a whole, found before yaml parses it: too long, or not text. */
export function checkText(text: string, file: string): ConfigIssue[] {
  if (text.length > MAX_CONFIG_BYTES)
    return [
      {
        file,
        line: 1,
        col: 1,
        path: '',
        message: `larger than ${MAX_CONFIG_BYTES / 1024} KiB: that is not a baton.yml`,
      },
    ];
  let offset = -1;
  for (let line = 1; line <= MAX_CONFIG_LINES; line++) {
    offset = text.indexOf('\n', offset + 1);
    if (offset === -1) break;
  }
  if (offset !== -1 && offset < text.trimEnd().length) {
    return [
      {
        file,
        line: MAX_CONFIG_LINES + 1,
        col: 1,
        path: '',
        message: `more than ${MAX_CONFIG_LINES.toLocaleString('en')} lines: that is not a baton.yml`,
      },
    ];
  }
  // A carriage return is allowed only as part of a Windows line end.
  const control = new RegExp(`(?!\\r\\n)${CONTROL_CHARACTER.source}`).exec(text);
  if (control)
    return [
      {
        file,
        ...lineCol(text, control.index),
        path: '',
        message:
          `control character ${codePoint(control[0])}: baton.yml is text (binary content, ` +
          'or a file that is not baton.yml?)',
      },
    ];
  return [];
}

function decode(bytes: Buffer, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const lenient = new TextDecoder('utf-8').decode(bytes);
    const at = lineCol(lenient, Math.max(0, lenient.indexOf('\uFFFD')));
    throw new ConfigError([
      {
        file,
        ...at,
        path: '',
        message: 'not UTF-8 text: baton.yml is text (binary content, or a file that is not baton.yml?)',
      },
    ]);
  }
}

function lineCol(text: string, index: number): { line: number; col: number } {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) line++;
  return { line, col: index - text.lastIndexOf('\n', index - 1) };
}

function openError(file: string, code: string | undefined): UserError {
  switch (code) {
    case 'ENOENT':
      return new UserError(
        `no configuration file at ${file}`,
        'run `baton init` to write a starter baton.yml, or point --config at yours',
      );
    case 'ENOTDIR':
      return new UserError(
        `no configuration file at ${file}: a part of the path is a file, not a folder`,
        'point --config at your baton.yml',
      );
    case 'EACCES':
    case 'EPERM':
      return new UserError(
        `cannot read ${file}: permission denied`,
        "check the file's owner and mode, or run baton as the user who owns it",
      );
    case 'ENAMETOOLONG':
      return new UserError('the --config path is too long');
    default:
      return new UserError(`cannot open ${file} (${code ?? 'error'})`);
  }
}

function fileKind(stat: {
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
}): string {
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  if (stat.isSocket()) return 'a socket';
  return 'not a file';
}
