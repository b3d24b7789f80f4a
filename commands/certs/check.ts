import { Flags } from '@oclif/core';
import { QsadminCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import { EXIT } from '../../src/runbook/errors.js';
import type { CertsCheckResult } from '../../src/runbooks/certs.js';

export default class CertsCheck extends QsadminCommand {
  static override description = `Check every Qlik certificate in every location on every node

For each certificate: subject, store, thumbprint, not-after and days left; the Qlik extension against its
store; the private key (server, client, and the root on the central node); the chain to the site CA; server
and client signed by the machine's root; duplicates (QRS deletes duplicate client or server certificates and
stops on a second root); more than 300 trusted roots; the server certificate's name against the node's Qlik
hostname (Host.cfg, not the OS name; a warning, as right after a hostname restore).

Read-only and cheap: no lock, no service touched; fit for a daily monitor. Exits 4 when a certificate is
expired, invalid or missing, and names the fix (the renewal procedure of guide §6.1, or QRS bootstrap mode).`;
  static override examples = [
    '<%= config.bin %> certs check',
    '<%= config.bin %> certs check --warn-days 90 --node central',
    '<%= config.bin %> certs check --json',
  ];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    'warn-days': Flags.integer({ description: 'warn when a certificate expires within this many days', default: 60, min: 0 }),
    node: Flags.string({ description: 'only this node (name or hostname)', env: 'QSADMIN_NODE' }),
  };

  // Check the stores of every node, print the table and findings, exit 4 on errors.
  async run(): Promise<CertsCheckResult> {
    const { flags } = await this.parseCommon(CertsCheck);
    const site = await this.site();
    const { checkSiteCertificates, formatCheck } = await import('../../src/runbooks/certs.js');
    const result = await checkSiteCertificates(site, { node: flags.node, warnDays: flags['warn-days'] });
    this.say(formatCheck(result));
    if (!result.ok) {
      process.exitCode = EXIT.verificationFailed;
      if (!this.jsonEnabled()) process.stderr.write(`Error: certificates are expired, invalid or missing (${result.findings.filter((f) => f.level === 'error').length} error(s)); the fixes are listed above\n`);
    }
    return result;
  }
}
