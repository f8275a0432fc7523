// Control characters (C0 but tab and newline, DEL, C1) in data from outside: a config file, a
// host's answer, a name on the command line. On a terminal they are commands (ESC [2J clears it,
// ESC ]8 writes links, a CR overwrites what a line said), so data is shown without them.

/** The first control character other than tab and newline, or none. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
export const CONTROL_CHARACTER = /[\x00-\x08\x0B-\x1F\x7F-\x9F]/;
const CONTROL_CHARACTERS = new RegExp(CONTROL_CHARACTER.source, 'g');
// An escape sequence goes as a whole, so no `[2J` is left behind: CSI, OSC/DCS (up to BEL or ST), or ESC and one
// character.
const ESCAPE_SEQUENCE =
  // eslint-disable-next-line no-control-regex -- as above
  /\x1b\[[0-?]*[ -/]*[@-~]|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[\s\S]?|\x9b[0-?]*[ -/]*[@-~]/g;

/** `text` with escape sequences and other control characters removed; tab and newline kept. */
export function forTerminal(text: string): string {
  return CONTROL_CHARACTER.test(text) ? text.replace(ESCAPE_SEQUENCE, '').replace(CONTROL_CHARACTERS, '') : text;
}

/** `U+001B`: how a message names a control character without printing it. */
export function codePoint(char: string): string {
  return `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}
