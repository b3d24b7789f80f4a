import { Flags } from '@oclif/core';
import path from 'node:path';
import { RunbookCommand, EXIT_CODES_HELP } from '../src/cli/base.js';
import { InputError } from '../src/runbook/errors.js';
import type { RunResult } from '../src/runbook/runner.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export default class Install extends RunbookCommand {
  static override description = `Install Qlik Sense on this node silently: a new site (central) or a node that joins one (rim)

Runs the guide's silent install (§4.1): preflight (the requirements, qsadmin preflight), the shared persistence
configuration written from templates/spc.xml (or --spc) and checked by the documented rules (one of CreateCluster
and JoinCluster; InstallLocalDb only with CreateCluster; ConfigureDbListener needs ListenAddresses and IpRange;
DbMaximumConnectionPoolSize 90-1000; DbUserName not postgres; one character set), then
Qlik_Sense_setup.exe -s -l <log> spc=<file> accepteula=1 userwithdomain=... userpassword=... [dbpassword=...]
hostname=<this node>. Setup's exit code is read through the guide's table (§8.11); on failure the setup log is
scanned for the failing component. The services are started in order; a central node ends at servicestate 2, a rim
at 1 (waiting for its certificates: then run qsadmin cluster join on the central node). Finally the site config is
written (central: --out) or given the new node (rim: --site). skipvalidation is never passed unless asked.

Passwords come from environment variables only (setup takes them on its command line and in the spc: qsadmin's
own log, journal and --json show them as ***, and the spc file, readable by the caller only, is deleted afterwards).`;
  static override examples = [
    '$env:QSADMIN_SERVICE_PASSWORD="..."; $env:QSADMIN_DB_PASSWORD="..."; $env:QSADMIN_REPOSITORY_PASSWORD="..."\n<%= config.bin %> install --silent --role central --setup C:\\Installers\\Qlik_Sense_setup.exe --share \\\\fs01\\QlikShare --service-account DOMAIN\\qlikservice --out C:\\ProgramData\\qsadmin\\site.json',
    '<%= config.bin %> install --silent --role rim --setup C:\\Installers\\Qlik_Sense_setup.exe --site \\\\fs01\\qsadmin\\site.json --share \\\\fs01\\QlikShare --service-account DOMAIN\\qlikservice',
    '<%= config.bin %> install --silent --role central --spc C:\\Installers\\spc.cfg --setup C:\\Installers\\Qlik_Sense_setup.exe --service-account DOMAIN\\qlikservice --dry-run',
  ];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    silent: Flags.boolean({ description: 'run setup without its user interface (required: the only mode qsadmin drives)', required: true }),
    role: Flags.string({ description: 'central: create a new site; rim: join the site of --site', options: ['central', 'rim'], required: true }),
    setup: Flags.string({ description: 'path of Qlik_Sense_setup.exe on this node', required: true }),
    out: Flags.string({ description: 'central: where to write the new site config', default: 'site.json' }),
    spc: Flags.string({ description: 'a ready shared persistence configuration file (checked, then used as is) instead of the flags below' }),
    share: Flags.string({ description: 'the share root (\\\\server\\share); Apps, StaticContent and ArchivedLogs go under it' }),
    'db-host': Flags.string({ description: 'host of the repository database [default: this node with a local database; the site\'s for a rim]' }),
    'db-port': Flags.integer({ description: 'port of the repository database [default: 4432]', min: 1, max: 65535 }),
    'no-local-db': Flags.boolean({ description: 'central: the database is on a dedicated server (InstallLocalDb false)' }),
    'listen-addresses': Flags.string({ description: 'central with a local database: ConfigureDbListener with these ListenAddresses (e.g. *)' }),
    'ip-range': Flags.string({ description: 'central with a local database: the IpRange (CIDRs) of the nodes allowed to connect' }),
    'max-connections': Flags.integer({ description: 'central with a local database: MaxConnections (100 per node)', min: 1 }),
    'pool-size': Flags.integer({ description: 'DbMaximumConnectionPoolSize (90 to 1000)', default: 90 }),
    'service-account': Flags.string({ description: 'the account that runs the Qlik services (DOMAIN\\user; a UPN when the name is over 20 characters)', required: true }),
    'service-password-env': Flags.string({ description: 'environment variable with the service account\'s password', default: 'QSADMIN_SERVICE_PASSWORD' }),
    'db-password-env': Flags.string({ description: 'environment variable with the database superuser password (dbpassword)', default: 'QSADMIN_DB_PASSWORD' }),
    'repository-password-env': Flags.string({ description: 'environment variable with the qliksenserepository password (DbUserPassword)', default: 'QSADMIN_REPOSITORY_PASSWORD' }),
    name: Flags.string({ description: 'this node\'s name in the site config [default: central, or the first label of the hostname]' }),
    hostname: Flags.string({ description: 'this node\'s hostname as the other nodes reach it [default: the machine\'s]' }),
    'install-dir': Flags.string({ description: 'installdir [default: %ProgramFiles%\\Qlik\\Sense]' }),
    'skip-validation': Flags.boolean({ description: 'pass skipvalidation=1: setup does not check the service account, the share or the database (not recommended)' }),
    'skip-preflight': Flags.boolean({ description: 'do not run qsadmin\'s preflight first (setup still makes its own checks)' }),
    'emulated-node': Flags.string({ description: 'install a bare emulated node (its folder) instead of this Windows machine' }),
    force: Flags.boolean({ description: 'replace an existing --out file (kept as .bak) / a node of that name in --site' }),
    timeout: Flags.integer({ description: 'seconds to wait for each service and for the servicestate', default: 180 }),
  };

  async run(): Promise<RunResult> {
    const { flags } = await this.parseCommon(Install);
    for (const f of ['service-password-env', 'db-password-env', 'repository-password-env'] as const) {
      if (!ENV_NAME.test(flags[f])) throw new InputError(`--${f} ${flags[f]} is not an environment variable name`, 'name the variable, not the password');
    }
    const { buildInstall } = await import('../src/runbooks/install.js');
    const role = flags.role as 'central' | 'rim';
    if (role === 'rim' && !flags.site && !process.env.QSADMIN_SITE) throw new InputError('--role rim needs --site: the site config of the site this node joins', 'copy the site config from the central node (or a share) and pass --site');
    const rb = await buildInstall({
      role,
      setup: flags.setup,
      sitePath: role === 'central' ? path.resolve(flags.out) : this.sitePath(),
      emulatedNode: flags['emulated-node'] ? path.resolve(flags['emulated-node']) : undefined,
      name: flags.name,
      hostname: flags.hostname,
      spc: flags.spc,
      dbHost: flags['db-host'],
      dbPort: flags['db-port'],
      share: flags.share,
      serviceAccount: flags['service-account'],
      serviceAccountPasswordEnv: flags['service-password-env'],
      dbPasswordEnv: flags['db-password-env'],
      repositoryPasswordEnv: flags['repository-password-env'],
      installLocalDb: !flags['no-local-db'],
      listenAddresses: flags['listen-addresses'],
      ipRange: flags['ip-range'],
      maxConnections: flags['max-connections'],
      poolSize: flags['pool-size'],
      skipValidation: flags['skip-validation'],
      skipPreflight: flags['skip-preflight'],
      installDir: flags['install-dir'],
      force: flags.force,
      timeoutMs: flags.timeout * 1000,
    }, { stateDir: this.stateDir, interactive: this.interactive(), dryRun: flags['dry-run'] });
    return this.execute(rb, flags);
  }
}
