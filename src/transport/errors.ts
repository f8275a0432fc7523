// Failures of the carrier itself (cannot connect, cannot authenticate, connection lost), as
// opposed to a command that ran and exited non-zero (ExternalCommandError).
import { BatonError, type Effect } from '../errors.js';

export class TransportError extends BatonError {
  readonly kind = 'transport';
  constructor(
    readonly host: string,
    message: string,
    hint?: string,
    effect?: Effect,
  ) {
    super(message, effect, hint);
  }
}

/** The last `lines` lines of a command's stderr, for error messages. */
export function tail(text: string, lines = 20): string {
  return text.replace(/\s+$/, '').split('\n').slice(-lines).join('\n');
}
