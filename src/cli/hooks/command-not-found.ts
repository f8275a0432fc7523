// oclif's command_not_found hook: `baton valdate` is a usage error (exit 64) with a suggestion.
// Our own rather than @oclif/plugin-not-found, which asks "Did you mean …? (Y/n)" on a TTY
// (and pulls in a prompt library): baton never prompts except before changing production.
import type { Hook } from '@oclif/core';
import { failUnknownCommand } from '../unknown-command.js';

const hook: Hook<'command_not_found'> = async function ({ id, config }) {
  failUnknownCommand(id, config);
};

export default hook;
