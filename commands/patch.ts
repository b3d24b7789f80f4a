import { Flags } from '@oclif/core';
import { RunbookCommand, EXIT_CODES_HELP } from '../src/cli/base.js';
import type { RunResult } from '../src/runbook/runner.js';
import { backupFirstFlags, backupFirstInputs, inputsOrResumed } from '../src/cli/backup-first.js';

export default class Patch extends RunbookCommand {
  static override description = `Install a Qlik Sense patch on every node (Qlik_Sense_update.exe, guide §3.7, §4.4)

Preflight (exit 2, nothing changed): one version on every node, the patch not superseded (patches are cumulative),
elevated, no reboot pending, the account of the original install (--original-installer), the update file on every
node. Then a verified qsadmin backup; the services stopped on ALL nodes (rims first); central patched
(Qlik_Sense_update.exe install log=...), its services started in order and checked (servicestate 2), then each
rim the same way; /qrs/about on every node checked for the patched build. startservices is not passed (the guide
is inconsistent about it): qsadmin starts and checks the services itself. Rollback: uninstall the patch
(Qlik_Sense_update.exe uninstall) or restore the backup.`;
  static override examples = [
    '<%= config.bin %> patch --update C:\\Installers\\Qlik_Sense_update.exe --patch 3 --dry-run',
    '<%= config.bin %> patch --update C:\\Installers\\Qlik_Sense_update.exe --patch 3 --backup-to D:\\QlikBackups --yes --json',
  ];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    update: Flags.string({ description: 'path of Qlik_Sense_update.exe, the same on every node', required: true }),
    patch: Flags.integer({ description: 'the patch number that update file installs ("Patch 3" → 3)', required: true }),
    'original-installer': Flags.string({ description: 'the account that installed the nodes (DOMAIN\\user): the update must run as it' }),
    ...backupFirstFlags,
  };

  async run(): Promise<RunResult> {
    const { flags } = await this.parseCommon(Patch);
    const { buildPatch } = await import('../src/runbooks/qlik-patch.js');
    const inputs = await inputsOrResumed(this.stateDir, flags.resume, async () => ({
      sitePath: this.sitePath(),
      update: flags.update,
      patch: flags.patch,
      originalInstaller: flags['original-installer'],
      stopTimeoutMs: flags['stop-timeout'] * 1000,
      backup: await backupFirstInputs({ sitePath: this.sitePath(), siteName: (await this.site()).name, stateDir: this.stateDir, toolVersion: this.config.version, flags }),
    }));
    const rb = await buildPatch(inputs, { stateDir: this.stateDir, interactive: this.interactive() });
    return this.execute(rb, flags);
  }
}
