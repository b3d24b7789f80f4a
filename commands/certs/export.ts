import path from 'node:path';
import { Flags } from '@oclif/core';
import { RunbookCommand, EXIT_CODES_HELP, nodeFlag } from '../../src/cli/base.js';
import type { RunResult } from '../../src/runbook/runner.js';

type RunFlags = { node?: string; 'dry-run'?: boolean; resume?: string; yes?: boolean };

export default class CertsExport extends RunbookCommand {
  static override description = `Export the site's certificates from the stores, with their private keys

For each node (or --node): the CA <host>-CA from LocalMachine\\Root (with its key) and its copy in the
service account's CurrentUser\\Root, the server certificate and QlikServiceCluster from LocalMachine\\My,
and QlikClient from the service account's CurrentUser\\My, exported as the service account into
<to>/<node>/ as password-protected PFX files (root.pfx, root-currentuser.pfx, server.pfx,
QlikServiceCluster.pfx, client.pfx), a certs.json index with checksums, and pem/ with the PEM copies of
Exported Certificates\\.Local Certificates. Folders are 0700, files 0600. Without these certificates every
encrypted data-connection password of the site is lost (guide §5.1).

The PFX password comes from the variable named by --password-env (default QSADMIN_CERT_PASSWORD) or, on a
terminal, a prompt; never from the command line.

--via qrs asks QRS (POST /qrs/certificatedistribution/exportcertificates) for a distribution package for other
machines. That is NOT a backup: it has no QlikServiceCluster and says nothing of the CA's private key.`;
  static override examples = [
    'QSADMIN_CERT_PASSWORD=... <%= config.bin %> certs export --to D:\\backup\\certs',
    '<%= config.bin %> certs export --node central --password-env MY_PFX_PASSWORD --to ./certs',
    '<%= config.bin %> certs export --via qrs --to ./distribution',
    '<%= config.bin %> certs export --dry-run',
  ];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    node: nodeFlag,
    to: Flags.string({ description: 'folder to write (one sub-folder per node) [default: ./qsadmin-certs-<site>-<time>]' }),
    'password-env': Flags.string({ description: 'environment variable that holds the PFX password', default: 'QSADMIN_CERT_PASSWORD' }),
    via: Flags.string({ description: 'stores: from the certificate stores (a backup); qrs: QRS distribution export (not a backup)', options: ['stores', 'qrs'], default: 'stores' }),
  };

  // Build the export runbook from the flags and run it.
  async run(): Promise<RunResult> {
    const parsed = await this.parseCommon(CertsExport);
    const flags = parsed.flags as typeof parsed.flags & RunFlags;
    const site = await this.site();
    const to = flags.to ?? (await this.previousTarget(flags.resume)) ?? path.resolve(`qsadmin-certs-${site.name}-${new Date().toISOString().replace(/[:.]/g, '').slice(0, 15)}Z`);
    const { buildCertsExport, NOT_A_BACKUP } = await import('../../src/runbooks/certs.js');
    const rb = await buildCertsExport(
      { sitePath: this.sitePath(), to, node: flags.node, passwordEnv: flags['password-env'], via: flags.via as 'stores' | 'qrs' },
      { stateDir: this.stateDir, interactive: this.interactive() },
    );
    if (flags.via === 'qrs' && !this.jsonEnabled()) process.stderr.write(`NOTE: ${NOT_A_BACKUP}\n`);
    const result = await this.execute(rb, flags);
    if (result.status === 'succeeded') this.say(exportSummary(path.resolve(to), result.outputs));
    return result;
  }

  // The --to of the run being resumed, so a resume writes where the first attempt did.
  private async previousTarget(runId?: string): Promise<string | undefined> {
    if (!runId) return undefined;
    const { readPlan } = await import('../../src/cli/runs.js');
    return (readPlan(this.stateDir, runId).inputs as { to?: string }).to;
  }
}

// What an export wrote and where, for stdout: each node's folder and its files (or the QRS package's files).
function exportSummary(to: string, outputs: Record<string, unknown>): string {
  const lines = [`Certificates exported to ${to} (folders 0700, files 0600):`];
  for (const [key, v] of Object.entries(outputs)) {
    if (key === 'certs.export.qrs') {
      const files = (v as { files: string[] }).files;
      lines.push(`  QRS distribution package (not a backup): ${files.length} files: ${files.join(', ')}`);
    } else if (key.startsWith('certs.export.')) {
      const { dir, files } = v as { dir: string; files: { rel: string }[] };
      lines.push(`  ${key.slice('certs.export.'.length)}: ${dir}: ${files.map((f) => f.rel).join(', ')}`);
    }
  }
  return lines.join('\n');
}
