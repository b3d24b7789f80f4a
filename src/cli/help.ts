// Help that ends every command's page with the documented exit codes: the command's own (its static `help`, when it
// is an EXIT CODES block) or the common ones.
import { Help, type Command } from '@oclif/core';
import { EXIT_CODES_HELP } from './exit-codes.js';

export default class QsadminHelp extends Help {
  override formatCommand(command: Command.Loadable): string {
    const own = typeof command.help === 'string' && command.help.startsWith('EXIT CODES') ? command.help : EXIT_CODES_HELP;
    return `${super.formatCommand(command)}\n\n${own}`;
  }
}
