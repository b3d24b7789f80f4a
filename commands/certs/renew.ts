import { Flags } from '@oclif/core';
import { RunbookCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import type { RunResult } from '../../src/runbook/runner.js';

type RunFlags = { 'dry-run'?: boolean; resume?: string; yes?: boolean };

export default class CertsRenew extends RunbookCommand {
  static override description = `Renew the site's self-signed certificates after they expire (guide §6.1)

Qlik Sense does not watch the expiry of its certificates (\`qsadmin certs check --warn-days 30\` does; the nightly
wrapper can warn a month ahead). On the central node, in the guide's order:

  1. the whole set is exported from the stores (PFX with keys, the password from --password-env) and every
     certificate to remove on its own, and the export is verified before anything is removed;
  2. all Qlik services stop; the repository database keeps running;
  3. the expired Qlik certificates (and those issued by an expired Qlik CA) are deleted from LocalMachine\\My and
     LocalMachine\\Root, and QlikClient from the service account's CurrentUser\\My; no other certificate is touched
     (--force: every Qlik certificate, expired or not);
  4. the contents of Exported Certificates are deleted;
  5. the services start, QRS makes a new set; the set is checked (certs check) and /qrs/about must answer over
     mTLS with the new client certificate.

It then lists what must follow: the data connections that store credentials (read from QRS), whose passwords
must be re-entered in the QMC (§6.1 step 5), and, on a multi-node site, the rim nodes that must be registered
again: the guide is silent on rims, so that is an INFERENCE (qsadmin cluster join is the command for it).

Refused with exit 2 before anything changes: nothing has expired (without --force), only part of the set has
expired (QRS makes a new set only when none is left: use --force), or a rim node is being joined (servicestate 1).`;
  static override examples = [
    'QSADMIN_CERT_PASSWORD=... <%= config.bin %> certs renew --dry-run',
    'QSADMIN_CERT_PASSWORD=... <%= config.bin %> certs renew --yes',
    '<%= config.bin %> certs renew --force --to D:\\qsadmin\\certs-before-renew --yes',
  ];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    force: Flags.boolean({ description: 'renew every Qlik certificate of the central node, expired or not' }),
    to: Flags.string({ description: 'folder for the verified export made first [default: the run folder, certs-before-renew/]' }),
    'password-env': Flags.string({ description: 'environment variable that holds the PFX password of the export', default: 'QSADMIN_CERT_PASSWORD' }),
    timeout: Flags.integer({ description: 'seconds to wait for each service to stop or start', default: 120 }),
  };

  // Build the renewal runbook and run it; the follow-ups go to stdout (and into --json's outputs).
  async run(): Promise<RunResult> {
    const parsed = await this.parseCommon(CertsRenew);
    const flags = parsed.flags as typeof parsed.flags & RunFlags;
    const { buildCertsRenew } = await import('../../src/runbooks/certs-renew.js');
    const rb = await buildCertsRenew(
      { sitePath: this.sitePath(), force: flags.force, to: flags.to, passwordEnv: flags['password-env'], timeoutMs: flags.timeout * 1000 },
      { stateDir: this.stateDir, interactive: this.interactive(), dryRun: flags['dry-run'] },
    );
    const result = await this.execute(rb, flags);
    if (result.status === 'succeeded' && !this.config.findCommand('cluster:join')) {
      const { rimNodes } = await import('../../src/site/model.js');
      if (rimNodes(await this.site()).length) this.say('  (qsadmin cluster join is not in this version yet: register the rims in the QMC > Nodes)');
    }
    return result;
  }
}
