import { Flags } from '@oclif/core';
import { RunbookCommand, EXIT_CODES_HELP, nodeFlag } from '../src/cli/base.js';
import type { RunResult } from '../src/runbook/runner.js';

export default class Uninstall extends RunbookCommand {
  static override description = `Uninstall Qlik Sense from a node silently (Qlik_Sense_setup.exe -s -uninstall)

Give the setup file of the installed version (the guide requires it). The local licence and any patches are removed
with Qlik Sense; --cleanup also deletes the Qlik certificates and ProgramData\\Qlik\\Sense (cleanup=1). Uninstalling
the central node breaks its rim nodes: refused while rims are registered, unless --force. Take a backup and a
certificate export first (qsadmin backup create, qsadmin certs export).`;
  static override examples = [
    '<%= config.bin %> uninstall --silent --node rim1 --setup C:\\Installers\\Qlik_Sense_setup.exe',
    '<%= config.bin %> uninstall --silent --node central --setup C:\\Installers\\Qlik_Sense_setup.exe --cleanup --dry-run',
  ];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    silent: Flags.boolean({ description: 'run setup without its user interface (required)', required: true }),
    node: { ...nodeFlag, required: true, description: 'the node to uninstall (name or hostname)' },
    setup: Flags.string({ description: 'path of the installed version\'s Qlik_Sense_setup.exe on the node', required: true }),
    cleanup: Flags.boolean({ description: 'also delete the Qlik certificates and ProgramData\\Qlik\\Sense (cleanup=1)' }),
    force: Flags.boolean({ description: 'uninstall the central node even though rim nodes are registered' }),
  };

  async run(): Promise<RunResult> {
    const { flags } = await this.parseCommon(Uninstall);
    const { buildUninstall } = await import('../src/runbooks/uninstall.js');
    const rb = await buildUninstall({ sitePath: this.sitePath(), node: flags.node!, setup: flags.setup, cleanup: flags.cleanup, force: flags.force });
    return this.execute(rb, flags);
  }
}
