import { Flags } from '@oclif/core';
import { RunbookCommand, EXIT_CODES_HELP, nodeFlag } from '../src/cli/base.js';
import type { RunResult } from '../src/runbook/runner.js';
import { inputsOrResumed } from '../src/cli/backup-first.js';

export default class Repair extends RunbookCommand {
  static override description = `Repair Qlik Sense on one node silently (Qlik_Sense_setup.exe -s -repair, guide §3.8, §4.3)

A repair puts back missing files, shortcuts and registry entries; it changes no credentials. It is disabled once
patches are applied (refused here: uninstall the patches first), and the setup file must be the installed
version (refused here when --release says otherwise; setup refuses it too, reported as bad input with nothing
changed). The node's services are stopped first and started and checked (servicestate 2) afterwards.`;
  static override examples = [
    '<%= config.bin %> repair --node rim1 --setup C:\\Installers\\Qlik_Sense_setup.exe --dry-run',
    '<%= config.bin %> repair --node central --setup C:\\Installers\\Qlik_Sense_setup.exe --release "May 2025" --yes --json',
  ];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    node: { ...nodeFlag, description: 'the node to repair (name or hostname) [default: central]' },
    setup: Flags.string({ description: 'path of the installed version\'s Qlik_Sense_setup.exe on the node', required: true }),
    release: Flags.string({ description: 'the release of that setup file (e.g. "May 2025"): refused up front if it is not the installed one' }),
    'original-installer': Flags.string({ description: 'the account that installed the node (DOMAIN\\user)' }),
    'stop-timeout': Flags.integer({ description: 'seconds to wait for each service to stop', default: 60 }),
  };

  async run(): Promise<RunResult> {
    const { flags } = await this.parseCommon(Repair);
    const { buildRepair } = await import('../src/runbooks/qlik-patch.js');
    const inputs = await inputsOrResumed(this.stateDir, flags.resume, async () => {
      const site = await this.site();
      return { sitePath: this.sitePath(), node: flags.node ?? site.nodes.find((n) => n.role === 'central')!.name, setup: flags.setup, release: flags.release, originalInstaller: flags['original-installer'], stopTimeoutMs: flags['stop-timeout'] * 1000 };
    });
    const rb = await buildRepair(inputs, { stateDir: this.stateDir, interactive: this.interactive() });
    return this.execute(rb, flags);
  }
}
