// Help that ends every command's page with the documented exit codes.
import { Help, type Command } from '@oclif/core';
import { EXIT_CODES_HELP } from './exit-codes.js';

export default class QsadminHelp extends Help {
  override formatCommand(command: Command.Loadable): string {
    return `${super.formatCommand(command)}\n\n${EXIT_CODES_HELP}`;
  }
}
