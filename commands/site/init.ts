import { Flags } from '@oclif/core';
import { QsadminCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import { InputError } from '../../src/runbook/errors.js';
import type { SiteConfig } from '../../src/site/model.js';

export default class SiteInit extends QsadminCommand {
  static override description = `Write the site config of this site, read from its central node

Run on the central node, elevated. Reads Host.cfg (the node's hostname), the installed Qlik and repository database
services (the database's port from its postgresql.conf, the service account from the services' logon account), then
QSR: the nodes (ServerNodeConfigurations) and the share folders. Rim nodes are reached with PowerShell remoting
(WinRM, the current identity): add "reach" to a node in the file to change that. Nothing on the site changes.
The superuser password is read from QSADMIN_DB_PASSWORD (or --password-env), or asked for; it is never written.
Next: qsadmin site check --site <file>.`;
  static override examples = [
    '<%= config.bin %> site init --out C:\\ProgramData\\qsadmin\\site.json',
    '<%= config.bin %> site init --db-host db01.example.com --db-port 4432 --out site.json',
    '<%= config.bin %> site init --emulated-node /var/tmp/qsadmin-demo/nodes/central --name demo --dry-run',
  ];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    out: Flags.string({ description: 'where to write the site config', default: 'site.json' }),
    name: Flags.string({ description: 'the site\'s name in qsadmin [default: the central node\'s short hostname]' }),
    'db-host': Flags.string({ description: 'host of a dedicated database server (when this node runs no repository database service)' }),
    'db-port': Flags.integer({ description: 'port of the repository database [default: from postgresql.conf of this node\'s database, or 4432]', min: 1, max: 65535 }),
    'password-env': Flags.string({ description: 'environment variable that holds the database superuser password', default: 'QSADMIN_DB_PASSWORD' }),
    'emulated-node': Flags.string({ description: 'read an emulated node (the folder that plays its C: drive) instead of this Windows machine' }),
    force: Flags.boolean({ description: 'replace an existing file (kept as <file>.bak)' }),
    'dry-run': Flags.boolean({ description: 'print the config and write nothing', env: 'QSADMIN_DRY_RUN' }),
  };

  async run(): Promise<{ file: string | null; site: SiteConfig; found: string[] }> {
    const { flags } = await this.parseCommon(SiteInit);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(flags['password-env'])) throw new InputError(`--password-env ${flags['password-env']} is not an environment variable name`, 'name the variable, not the password');
    const { initSite } = await import('../../src/site/init.js');
    const { openHost } = await import('../../src/host/index.js');
    const { readSecret } = await import('../../src/cli/secrets.js');
    const { writeSiteConfig, siteConfigText } = await import('../../src/site/writer.js');
    const interactive = this.interactive();
    const env = flags['password-env'];
    const result = await initSite({
      emulatedNode: flags['emulated-node'],
      name: flags.name,
      dbHost: flags['db-host'],
      dbPort: flags['db-port'],
      passwordEnv: env === 'QSADMIN_DB_PASSWORD' ? undefined : env,
      password: async () => {
        if (process.env[env]) return process.env[env]!;
        // The emulator keeps its superuser password in a file of the site (0600), as demo does.
        const { emulatedPasswordFile } = await import('../../src/site/init-emulated.js');
        const fromFile = flags['emulated-node'] ? emulatedPasswordFile(flags['emulated-node']) : null;
        return fromFile ?? readSecret({ label: 'password of the database superuser "postgres"', env }, interactive);
      },
      openHost: (s, n) => openHost(s, n),
    });
    for (const f of result.found) this.say(`found  ${f}`);
    if (flags['dry-run']) {
      this.say(siteConfigText(result.site).trimEnd());
      return { file: null, ...result };
    }
    const file = writeSiteConfig(flags.out, result.site, { force: flags.force });
    this.say(`wrote ${file}\nnext: qsadmin site check --site ${file}`);
    return { file, ...result };
  }
}
