import fs from 'node:fs';
import path from 'node:path';
import { Flags } from '@oclif/core';
import { QsadminCommand, EXIT_CODES_HELP } from '../src/cli/base.js';
import { InputError } from '../src/runbook/errors.js';

export default class Demo extends QsadminCommand {
  static override description = `Create and start an emulated Qlik Sense site to try qsadmin on, or remove it (--down)

The emulated site mirrors a Windows node in a folder: Program Files and ProgramData trees, a share, a real
PostgreSQL repository database (QSR, SenseServices, QSMQ, Licenses) run as the unprivileged postgres user,
the Qlik services as real processes on their documented ports (one loopback address per node), QRS over
HTTPS with client certificates, and the certificate stores as folders. Later commands find the demo site
without --site.`;
  static override examples = ['<%= config.bin %> demo', '<%= config.bin %> demo --nodes 3 --size small', '<%= config.bin %> demo --down'];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    dir: Flags.string({ description: 'folder of the demo site [default: <state-dir>/demo; /var/tmp/qsadmin-demo when run as root, since the database runs as postgres]' }),
    nodes: Flags.integer({ description: '1 (single node) or 3 (a central node and two rims sharing one database)', default: 1, options: ['1', '3'] as never }),
    size: Flags.string({ description: 'how much data to generate: tiny (tests), small, medium (~0.2 GB share), large (~2.6 GB share, ~410 MB QSR), xlarge (~10.7 GB in 30,000 files, ~1.5 GB QSR); shapes in the README (The emulated site)', default: 'tiny', options: ['tiny', 'small', 'medium', 'large', 'xlarge'] }),
    layout: Flags.string({ description: 'database ownership: manual (guide §2.5, qliksenserepository owns all four) or installer (QSR owned by postgres)', default: 'installer', options: ['manual', 'installer'] }),
    'database-service': Flags.string({ description: 'the database service name', default: 'QlikSenseRepositoryDatabase', options: ['QlikSenseRepositoryDatabase', 'postgresql-x64-14'] }),
    'port-offset': Flags.integer({ description: 'added to every port (default 0 as root, 10000 otherwise: ports below 1024 need root)' }),
    down: Flags.boolean({ description: 'stop the demo site and remove its folder' }),
    'via-install': Flags.boolean({ description: 'build the site the way a real one is built: bare nodes, qsadmin install --silent on each, cluster join for the rims (slower)' }),
  };

  private async viaInstall(dir: string, flags: { nodes: number; size: string; 'port-offset'?: number }) {
    const asRoot = process.getuid?.() === 0;
    return viaInstallSite(dir, { nodes: flags.nodes as 1 | 3, size: flags.size, portOffset: flags['port-offset'] ?? (asRoot ? 0 : 10_000), stateDir: this.stateDir, say: (l) => process.stderr.write(`  ${l}\n`) });
  }

  async run(): Promise<Record<string, unknown>> {
    const { flags } = await this.parseCommon(Demo);
    const pointer = path.join(this.stateDir, 'demo.json');
    const { createEmulatedSite, destroySite } = await import('../src/emulator/site.js');
    if (flags.down) {
      const dir = flags.dir ?? readPointer(pointer);
      if (!dir || !fs.existsSync(dir)) {
        this.say('no demo site to remove');
        return { removed: null };
      }
      await destroySite(dir);
      fs.rmSync(pointer, { force: true });
      this.say(`removed the demo site in ${dir}`);
      return { removed: dir };
    }
    const asRoot = process.getuid?.() === 0;
    const dir = path.resolve(flags.dir ?? (asRoot && process.platform === 'linux' ? '/var/tmp/qsadmin-demo' : path.join(this.stateDir, 'demo')));
    if (fs.existsSync(path.join(dir, 'site.json'))) {
      throw new InputError(`a demo site already exists in ${dir}`, 'use it (qsadmin services status), or remove it first with: qsadmin demo --down');
    }
    const started = Date.now();
    process.stderr.write(`creating an emulated ${flags.nodes}-node site (${flags.size}) in ${dir}${flags['via-install'] ? ' by install --silent and cluster join' : ''} ...\n`);
    const site = flags['via-install'] ? await this.viaInstall(dir, flags) : await createEmulatedSite({
      dir,
      name: 'demo',
      nodes: flags.nodes as 1 | 3,
      size: flags.size as never,
      layout: flags.layout as never,
      databaseService: flags['database-service'] as never,
      portOffset: flags['port-offset'] ?? (asRoot ? 0 : 10_000),
      startServices: true,
      rulesDemo: true,
    });
    fs.mkdirSync(this.stateDir, { recursive: true });
    fs.writeFileSync(pointer, JSON.stringify({ dir, siteFile: site.siteFile }) + '\n');
    const central = site.site.nodes[0];
    const off = central.portOffset ?? 0;
    this.say(
      [
        `Demo site "demo" is running (${((Date.now() - started) / 1000).toFixed(1)} s): ${site.site.nodes.map((n) => `${n.name}=${n.hostname}@${n.address}`).join(', ')}`,
        `  site config   ${site.siteFile}`,
        `  database      ${site.site.database.host}:${site.site.database.port} (${site.site.database.service}); superuser password in ${path.join(dir, 'secrets', 'db-password')}`,
        `  QRS           https://${central.address}:${4242 + off}/qrs/about (client certificate: ${path.join(central.root!, 'ProgramData/Qlik/Sense/Repository/Exported Certificates/.Local Certificates')})`,
        `  servicestate  http://${central.address}:${4444 + off}/status/servicestate`,
        '',
        'Try next:',
        '  qsadmin services status',
        `  qsadmin site init --emulated-node ${central.root} --dry-run`,
        '  qsadmin services stop --dry-run',
        '  export QSADMIN_CERT_PASSWORD=choose-a-long-one',
        '  qsadmin backup create --dry-run',
        '  qsadmin backup create && qsadmin backup list',
        '  qsadmin certs check',
        `  qsadmin rules lint ${path.join(this.config.root, 'templates', 'rules', 'customer-case')}`,
        `  qsadmin rules import ${path.join(this.config.root, 'templates', 'rules', 'demo')} --dry-run`,
        '  qsadmin rules audit --user CORP\\\\carol --groups proj1_aud1',
        '  qsadmin runs list',
        '  qsadmin demo --down',
      ].join('\n'),
    );
    return { dir, siteFile: site.siteFile, nodes: site.site.nodes, database: site.site.database };
  }
}

// Build the demo from bare nodes with qsadmin's own install and join; the same shape as createEmulatedSite's answer.
async function viaInstallSite(dir: string, o: { nodes: 1 | 3; size: string; portOffset: number; stateDir: string; say: (l: string) => void }) {
  const { installEmulatedSite } = await import('../src/emulator/install-site.js');
  const { loadEmulatedSite } = await import('../src/emulator/site.js');
  const siteFile = await installEmulatedSite({ dir, nodes: o.nodes, size: o.size as never, portOffset: o.portOffset, stateDir: o.stateDir, say: o.say });
  return { siteFile, site: loadEmulatedSite(dir) };
}

function readPointer(file: string): string | undefined {
  try {
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { dir: string }).dir;
  } catch {
    return undefined;
  }
}
