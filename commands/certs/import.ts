import { Args, Flags } from '@oclif/core';
import { RunbookCommand, EXIT_CODES_HELP, nodeFlag } from '../../src/cli/base.js';
import type { RunResult } from '../../src/runbook/runner.js';

type RunFlags = { node?: string; 'dry-run'?: boolean; resume?: string; yes?: boolean };

export default class CertsImport extends RunbookCommand {
  static override description = `Import a certificate set into a node's stores

The set (a folder written by \`qsadmin certs export\`, one of its node folders, or a backup set with
certs/<node>/) is validated first: the password, the private keys, the Qlik extension of each certificate
against its target store, the CA's expiry, and that the server and client certificates are signed by the
set's CA. Only then is anything written: the CA into LocalMachine\\Root (with its key) and the service
account's CurrentUser\\Root, the server certificate and QlikServiceCluster into LocalMachine\\My, QlikClient
into the service account's CurrentUser\\My (keys exportable, the service account granted the keys), and the
PEM copies into Exported Certificates\\.Local Certificates.

A node that already holds Qlik certificates is refused unless --replace, which exports them to the run's
folder first (same password) and removes them. By default the node's Qlik services are stopped before and
started after the import, and QRS must then answer over mTLS with the imported client certificate.
--no-start (what a restore uses) requires the services stopped and leaves them stopped.

A set made for another hostname is refused unless --hostname-restore (a restore to a new hostname, guide §5.7).`;
  static override examples = [
    'QSADMIN_CERT_PASSWORD=... <%= config.bin %> certs import ./qsadmin-certs-prod-20260101T020000Z',
    '<%= config.bin %> certs import D:\\backups\\2026-01-01 --no-start --node central',
    '<%= config.bin %> certs import ./certs/central --replace --yes',
    '<%= config.bin %> certs import ./old-site-certs --no-start --hostname-restore',
  ];
  static override help = EXIT_CODES_HELP;
  static override args = { source: Args.string({ description: 'set folder, export folder or backup set folder', required: true }) };
  static override flags = {
    node: nodeFlag,
    start: Flags.boolean({ description: 'stop the Qlik services before and start them (and check QRS) after; --no-start leaves them stopped', allowNo: true, default: true }),
    replace: Flags.boolean({ description: 'replace Qlik certificates already in the stores (exported to the run folder first)' }),
    'hostname-restore': Flags.boolean({ description: 'accept a set made for another hostname (restore to a new hostname)' }),
    'password-env': Flags.string({ description: 'environment variable that holds the PFX password', default: 'QSADMIN_CERT_PASSWORD' }),
    timeout: Flags.integer({ description: 'seconds to wait for each service to stop or start', default: 120 }),
  };

  // Build the import runbook for the chosen node and run it.
  async run(): Promise<RunResult> {
    const parsed = await this.parseCommon(CertsImport);
    const flags = parsed.flags as typeof parsed.flags & RunFlags;
    const site = await this.site();
    const { centralNode, findNode } = await import('../../src/site/model.js');
    const node = flags.node ? findNode(site, flags.node) : centralNode(site);
    const { buildCertsImport } = await import('../../src/runbooks/certs.js');
    const rb = await buildCertsImport(
      {
        sitePath: this.sitePath(),
        source: parsed.args.source,
        node: node.name,
        passwordEnv: flags['password-env'],
        replace: flags.replace,
        start: flags.start,
        hostnameRestore: flags['hostname-restore'],
        timeoutMs: flags.timeout * 1000,
      },
      { stateDir: this.stateDir, interactive: this.interactive() },
    );
    const result = await this.execute(rb, flags);
    const safety = result.outputs[`certs.import.${node.name}.safetyDir`];
    if (typeof safety === 'string') this.say(`Replaced certificates were exported to ${safety} (same password)`);
    if (result.status === 'succeeded') this.say(importSummary(node.name, rb.inputs.source as string, result.outputs, flags.start));
    return result;
  }
}

// What an import put where, for stdout: each certificate with its store and file, the PEM copies, the services.
function importSummary(node: string, source: string, outputs: Record<string, unknown>, started: boolean): string {
  const imported = (outputs[`certs.import.${node}.imported`] ?? []) as { subject: string; thumbprint: string; store: string; file: string }[];
  const pem = outputs[`certs.import.${node}.pem`] as { folder: string; files: string[] } | undefined;
  const lines = [`Certificates imported on ${node} from ${source}:`];
  for (const c of imported) lines.push(`  ${c.subject} (${c.thumbprint}) into ${c.store} from ${c.file}`);
  if (imported.length === 0) lines.push('  none: the stores already held this set');
  if (pem) lines.push(`  PEM copies in ${pem.folder}: ${pem.files.map((f) => f.split(/[\\/]/).pop()).join(', ')}`);
  lines.push(started ? '  services started again' : '  services left stopped (--no-start)');
  return lines.join('\n');
}
