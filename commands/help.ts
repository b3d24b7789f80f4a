import { Args, Command, loadHelpClass } from '@oclif/core';

export default class HelpCommand extends Command {
  static override description = 'Show help for qsadmin or for one of its commands (the same as --help)';
  static override examples = ['<%= config.bin %> help', '<%= config.bin %> help backup create'];
  static override strict = false;
  static override args = { command: Args.string({ description: 'a command or topic, e.g. "backup create"', required: false }) };

  async run(): Promise<void> {
    const { argv } = await this.parse(HelpCommand);
    const Help = await loadHelpClass(this.config);
    await new Help(this.config, this.config.pjson.oclif.helpOptions ?? {}).showHelp(argv as string[]);
  }
}
