import { Flags } from '@oclif/core';
import path from 'node:path';
import { QsadminCommand } from '../src/cli/base.js';
import type { PreflightCheck } from '../src/install/preflight.js';

export default class Preflight extends QsadminCommand {
  static override description = `Check this machine against the guide's requirements before an install or upgrade

Each check passes, warns or fails with its reason: OS version, AVX, memory (8 GB), 5 GB free disk, .NET Framework 4.8
(a silent install cannot answer setup's .NET prompt), PowerShell 4.0+ and an execution policy that lets unsigned
scripts run, the caller an elevated administrator with a non-blank password (and, with --original-installer, the
account that did the original install), no pending reboot, the hostname resolving to this machine, the Qlik ports
free here, the repository database reachable from here, 4242 and 4444 open between the central node and this node
(both ways once something listens here), the share reachable and writable, the clock in step with the central node,
and the service account (exists, password, administrator). Changes nothing.
For a rim, --site names the site it joins (its central node, database and share are read from it).`;
  static override examples = [
    '<%= config.bin %> preflight --role central --share \\\\fs01\\QlikShare --service-account DOMAIN\\qlikservice',
    '<%= config.bin %> preflight --role rim --site \\\\fs01\\qsadmin\\site.json --service-account DOMAIN\\qlikservice --json',
  ];
  static override help = `EXIT CODES
  0  no check failed (warnings may be listed)
  2  bad input (a flag, the site config)
  4  at least one check failed: fix it before installing`;
  static override flags = {
    role: Flags.string({ description: 'the role this node will have', options: ['central', 'rim'], default: 'central' }),
    hostname: Flags.string({ description: 'the hostname this node will have [default: the machine\'s]' }),
    share: Flags.string({ description: 'the share root to check [default for a rim: the site\'s]' }),
    'db-host': Flags.string({ description: 'a repository database to check (a dedicated server) [default for a rim: the site\'s]' }),
    'db-port': Flags.integer({ description: 'its port', default: 4432, min: 1, max: 65535 }),
    'local-db': Flags.boolean({ description: 'central: the database will be installed here (its port must be free)', default: true, allowNo: true }),
    'service-account': Flags.string({ description: 'the account that will run the Qlik services (DOMAIN\\user)' }),
    'service-password-env': Flags.string({ description: 'environment variable with its password (checked when set)', default: 'QSADMIN_SERVICE_PASSWORD' }),
    'original-installer': Flags.string({ description: 'upgrades: the account that did the original install (DOMAIN\\user)' }),
    'emulated-node': Flags.string({ description: 'check a bare or installed emulated node (its folder) instead of this Windows machine' }),
  };

  async run(): Promise<{ ok: boolean; hostname: string; role: string; checks: PreflightCheck[] }> {
    const { flags } = await this.parseCommon(Preflight);
    const { runPreflight, formatPreflight } = await import('../src/install/preflight.js');
    const { openHost } = await import('../src/host/index.js');
    const { loadSiteConfig } = await import('../src/site/config.js');
    const { centralNode } = await import('../src/site/model.js');
    const { QRS_API_PORT, QRS_STATE_PORT, DEFAULT_DB_PORT } = await import('../src/site/services.js');
    const os = await import('node:os');
    const role = flags.role as 'central' | 'rim';
    const site = role === 'rim' ? loadSiteConfig(this.sitePath()) : null;
    let node;
    if (flags['emulated-node']) {
      const root = path.resolve(flags['emulated-node']);
      const { readMachineFacts } = await import('../src/emulator/services/install-layout.js');
      const f = readMachineFacts(root);
      node = { name: path.basename(root), hostname: flags.hostname ?? f.hostname ?? 'localhost', role, address: f.address ?? '127.0.0.1', root, portOffset: f.portOffset };
    } else {
      const hostname = flags.hostname ?? os.hostname();
      node = { name: hostname.split('.')[0], hostname, role, address: hostname, reach: { via: 'local' as const } };
    }
    const draft = site ?? { name: 'preflight', driver: flags['emulated-node'] ? 'emulated' : 'windows', nodes: [node], database: { host: 'localhost', port: DEFAULT_DB_PORT, service: null, superuser: 'postgres' }, serviceAccount: 'x', shareRoot: 'x' };
    const host = await openHost(draft as never, node as never);
    const c = site ? centralNode(site) : null;
    const centralHost = site && c ? await openHost(site, c) : null;
    try {
      const offset = node.portOffset ?? 0;
      const password = process.env[flags['service-password-env']];
      const checks = await runPreflight({
        role,
        host,
        hostname: node.hostname,
        database: flags['db-host'] ? { host: flags['db-host'], port: flags['db-port'] } : site ? { host: site.database.host, port: site.database.port } : undefined,
        localDbPort: role === 'central' && flags['local-db'] && !flags['db-host'] ? flags['db-port'] : undefined,
        share: flags.share ?? site?.shareRoot,
        serviceAccount: flags['service-account'] ? { name: flags['service-account'], password } : site ? { name: site.serviceAccount, password } : undefined,
        central: c && centralHost ? { host: centralHost, address: c.address, api: QRS_API_PORT + (c.portOffset ?? 0), state: QRS_STATE_PORT + (c.portOffset ?? 0) } : undefined,
        self: { address: node.address, api: QRS_API_PORT + offset, state: QRS_STATE_PORT + offset },
        originalInstaller: flags['original-installer'],
      });
      this.say(formatPreflight(checks));
      const ok = !checks.some((x) => x.status === 'fail');
      this.say(ok ? `\n${node.hostname}: ready (${checks.filter((x) => x.status === 'warn').length} warning(s))` : `\n${node.hostname}: not ready: fix the FAIL lines first`);
      if (!ok) process.exitCode = 4;
      return { ok, hostname: node.hostname, role, checks };
    } finally {
      await host.close();
      await centralHost?.close();
    }
  }
}
