// What the Qlik Sense installer lays down on a node, reproduced in an emulated node directory (guide §1.3 services
// table, §5.2 local paths): program folders and config files, Host.cfg, log folders, Custom Data, Settings.ini.
import fs from 'node:fs';
import path from 'node:path';
import { defaultSitePaths, windowsToEmulated } from '../../host/paths.js';
import type { NodeConfig, SiteConfig } from '../../site/model.js';
import { DATABASE_SERVICES, QLIK_SERVICES, type QlikServiceName } from '../../site/services.js';
import { writeHostCfg } from '../qrs/host-cfg.js';
import { repositoryConfigXml } from '../qrs/repository-config.js';
import { SERVICE_LOG_FOLDERS } from './log.js';
import { entryCommand } from './spawn.js';

export interface NodeLayoutOptions {
  /** Password of the qliksenserepository role, written encrypted into Repository.exe.config. */
  repositoryPassword: string;
  /** Database role QRS connects as. */
  repositoryUser?: string;
  /** Write the hosts file from the site's nodes (default); false keeps the machine's own (a bare node's). */
  hostsFile?: boolean;
}

/** Connector packages found under Custom Data on a typical node (local to each node). */
const CONNECTORS = ['QvOdbcConnectorPackage', 'QvRestConnector', 'QvSalesforceConnector', 'QvWebStorageProviderConnectorPackage'];

// Local path of a Windows path on the node.
function local(root: string, windowsPath: string): string {
  return windowsToEmulated(root, windowsPath);
}

// Write a file, creating its folder (mode 0755) first.
function put(file: string, content: string | Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  fs.writeFileSync(file, content);
}

// The node's root directory; every emulated node has one.
export function nodeRoot(node: NodeConfig): string {
  if (!node.root) throw new Error(`node ${node.name} has no "root" directory: an emulated node needs one (the folder that mirrors its C: drive)`);
  return node.root;
}

// services.conf of the Service Dispatcher: which node.js services it runs and on which ports (digest §3.2).
function servicesConf(): string {
  const block = (key: string, identity: string, folder: string, port: number): string =>
    [
      `[${key}]`,
      `Identity=${identity}`,
      'Enabled=true',
      `DisplayName=${folder}`,
      'ExecType=nodejs',
      'ExePath=Node\\node.exe',
      `Script=..\\${folder}\\server.js`,
      '',
      `[${key}.parameters]`,
      `--port=${port}`,
      '--ssl=369098752',
      '',
    ].join('\r\n');
  return [
    '[globals]',
    'LogPath="${ALLUSERSPROFILE}\\Qlik\\Sense\\Log"',
    'CertificatePath="${ALLUSERSPROFILE}\\Qlik\\Sense\\Repository\\Exported Certificates\\.Local Certificates"',
    'QrsHttpPort=4242',
    '',
    block('broker', 'Qlik.Sense.Broker', 'BrokerService', 4900),
    block('hub', 'Qlik.Sense.Hub', 'HubService', 9028),
    block('licenses', 'Qlik.Sense.Licenses', 'Licenses', 9200),
  ].join('\r\n');
}

// A .NET exe.config with a few appSettings (Proxy and Scheduler), plausible rather than copied from a real node.
function dotnetConfig(settings: Record<string, string>): string {
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<configuration>',
    '  <appSettings>',
    ...Object.entries(settings).map(([k, v]) => `    <add key="${k}" value="${v}" />`),
    '  </appSettings>',
    '  <startup>',
    '    <supportedRuntime version="v4.0" sku=".NETFramework,Version=v4.8" />',
    '  </startup>',
    '</configuration>',
    '',
  ].join('\r\n');
}

// Settings.ini of the engine (digest §17: [Settings 7] with the telemetry thresholds).
function engineSettingsIni(): string {
  return ['[Settings 7]', 'ErrorPeakMemory=2147483648', 'WarningPeakMemory=1073741824', 'ErrorProcessTimeMS=60000', 'WarningProcessTimeMS=30000', ''].join('\r\n');
}

// A stand-in for a program file: a Node script (the emulated host runs .exe files with node) that says it is not emulated.
function placeholderExe(what: string): string {
  return `#!/usr/bin/env node\n// emulated ${what}: placeholder for the Windows executable\nconsole.error(${JSON.stringify(`${what}: this executable is not emulated (the emulator runs services through the service control)`)});\nprocess.exit(1);\n`;
}

// A launcher .exe that runs an emulator program (the emulated host runs .exe files with node); `env` is what the file
// itself carries (a setup file's release, as a real one carries its file version).
export function launcherExe(entry: string, what: string, env: Record<string, string> = {}): string {
  const { command, args } = entryCommand(entry);
  const withEnv = Object.keys(env).length ? `, env: Object.assign({}, process.env, ${JSON.stringify(env)})` : '';
  return [
    '#!/usr/bin/env node',
    `// emulated ${what}`,
    "const { spawnSync } = require('node:child_process');",
    `const r = spawnSync(${JSON.stringify(command)}, ${JSON.stringify(args)}.concat(process.argv.slice(2)), { stdio: 'inherit'${withEnv} });`,
    'process.exit(r.status === null ? 1 : r.status);',
    '',
  ].join('\n');
}

// The fake Proxy.exe / Scheduler.exe: placeholders as services, launchers of the emulated bootstrap mode (bootstrap-exe.ts).
function bootstrapExe(program: 'proxy' | 'scheduler'): string {
  const { command, args } = entryCommand('bootstrap-exe');
  return [
    '#!/usr/bin/env node',
    `// emulated Qlik Sense ${program}.exe: -bootstrap (guide §2.11 B); see src/emulator/services/bootstrap-exe.ts`,
    "const { spawnSync } = require('node:child_process');",
    `const r = spawnSync(${JSON.stringify(command)}, ${JSON.stringify([...args, program])}.concat(process.argv.slice(2)), { stdio: 'inherit' });`,
    'process.exit(r.status === null ? 1 : r.status);',
    '',
  ].join('\n');
}

/** Where the emulator puts the Qlik PostgreSQL Installer on the central node (as an administrator downloads it). */
export const QPI_SETUP = 'C:\\Installers\\Qlik_PostgreSQL_setup.exe';

/**
 * What an installer-made node of a release holds for the database: Programs and Features (Qlik Sense, its patches,
 * the bundled database MSI) and the Package Cache with the MSIs (PostgreSQL125.msi from 12.5, PostgreSQL.msi from
 * 9.6, PostgreSQL14.msi since August 2023), plus msiexec.exe and, on the central node, the Qlik PostgreSQL Installer.
 */
export function writeProducts(node: NodeConfig, release: { name: string; version: string; patches?: string[] }, bundledMajor: number | null): void {
  const root = nodeRoot(node);
  const bundled = bundledMajor === 12 ? { msi: 'PostgreSQL125.msi', product: 'Qlik Sense Repository Database 12.5', version: '12.5' } : bundledMajor === 9 ? { msi: 'PostgreSQL.msi', product: 'Qlik Sense Repository Database 9.6', version: '9.6' } : bundledMajor ? { msi: 'PostgreSQL14.msi', product: 'Qlik Sense Repository Database 14', version: '14.17' } : null;
  const products = [{ name: `Qlik Sense ${release.name}`, version: release.version }, ...(release.patches ?? []).map((p) => ({ name: `Qlik Sense ${release.name} ${p}`, version: release.version }))];
  if (bundled) products.push({ name: bundled.product, version: bundled.version });
  put(path.join(root, '.emulator', 'products.json'), JSON.stringify(products, null, 2) + '\n');
  const cache = 'C:\\ProgramData\\Package Cache';
  const msis = [
    { guid: '{6A1D2C3E-0F4B-4E55-9A21-7C2D1E5B1250}', msi: 'PostgreSQL125.msi', product: 'Qlik Sense Repository Database 12.5', version: '12.5', bin: '12.5' },
    { guid: '{0B7E4F21-93C6-4D18-8E0A-5F3B2C7D1400}', msi: 'PostgreSQL14.msi', product: 'Qlik Sense Repository Database 14', version: '14.17', bin: '14' },
    ...(bundledMajor === 9 ? [{ guid: '{9C3A5E17-2D4B-4F6A-B8C1-0E9D7F5A0960}', msi: 'PostgreSQL.msi', product: 'Qlik Sense Repository Database 9.6', version: '9.6', bin: '9.6' }] : []),
  ];
  for (const m of msis) {
    const files = ['psql.exe', 'pg_dump.exe', 'pg_restore.exe'].map((f) => `Repository\\PostgreSQL\\${m.bin}\\bin\\${f}`);
    put(local(root, `${cache}\\${m.guid}\\${m.msi}`), JSON.stringify({ product: m.product, version: m.version, files }) + '\n');
  }
  put(local(root, 'C:\\Windows\\System32\\msiexec.exe'), launcherExe('../qpi/msiexec', 'msiexec.exe (Windows Installer)'));
  if (node.role === 'central') put(local(root, QPI_SETUP), launcherExe('../qpi/main', 'Qlik_PostgreSQL_setup.exe (Qlik PostgreSQL Installer, guide §2.6)'));
}

/** Where Capabilities.json lives (an upgrade replaces it: guide §3.3 "Considerations about custom configurations"). */
export const CAPABILITIES_JSON = 'C:\\Program Files\\Qlik\\Sense\\CapabilityService\\Capabilities.json';

/**
 * The program files of a node (what a repair puts back when they are missing; `only: 'missing'`), and the release's
 * default Capabilities.json (written by install and upgrade, left alone by a repair).
 */
export function layOutPrograms(node: NodeConfig, opts: { only?: 'missing'; release?: string } = {}): string[] {
  const root = nodeRoot(node);
  const p = defaultSitePaths();
  const files: Array<[string, string]> = [
    ...QLIK_SERVICES.filter((f) => f.exe).map((f): [string, string] => [`${p.qlikInstallDir}\\${f.exe}`, placeholderExe(f.display)]),
    [p.repositoryExe, launcherExe('../qrs/bootstrap', 'Qlik Sense Repository.exe: -bootstrap -standalone -restorehostname (guide §5.7); see src/emulator/qrs/bootstrap.ts')],
    [`${p.qlikInstallDir}\\Proxy\\Proxy.exe`, bootstrapExe('proxy')],
    [`${p.qlikInstallDir}\\Scheduler\\Scheduler.exe`, bootstrapExe('scheduler')],
  ];
  const written: string[] = [];
  for (const [win, content] of files) {
    if (opts.only === 'missing' && fs.existsSync(local(root, win))) continue;
    put(local(root, win), content);
    written.push(win);
  }
  if (opts.only !== 'missing') put(local(root, CAPABILITIES_JSON), JSON.stringify({ release: opts.release ?? 'May 2025', capabilities: [] }, null, 2) + '\r\n');
  return written;
}

/** The installer's own Proxy.exe.config, Scheduler.exe.config and services.conf (an upgrade with keepcurrentsettings=0). */
export function defaultServiceConfigs(node: NodeConfig): Array<[string, string]> {
  const p = defaultSitePaths();
  return [
    [p.configFiles[1], dotnetConfig({ DisableAutomaticBootstrap: 'false', HttpsPort: '443', RestApiPort: '4243', WindowsAuthenticationPort: '4244' })],
    [p.configFiles[2], dotnetConfig({ DisableAutomaticBootstrap: 'false', ManagerApiPort: '5050', WorkerApiPort: '5151', SchedulerServiceType: node.role === 'central' ? 'Master' : 'Slave' })],
    [p.configFiles[3], servicesConf()],
  ];
}

// Lay out one node: programs, configs, Host.cfg, ProgramData folders, log folders and Custom Data connectors.
export function layOutNode(site: SiteConfig, node: NodeConfig, opts: NodeLayoutOptions): void {
  const root = nodeRoot(node);
  fs.mkdirSync(root, { recursive: true, mode: 0o755 });
  fs.chmodSync(root, 0o755);
  const p = defaultSitePaths();
  layOutPrograms(node);
  put(local(root, p.configFiles[0]), repositoryConfigXml(root, {
    host: site.database.host,
    port: site.database.port,
    user: opts.repositoryUser ?? 'qliksenserepository',
    password: opts.repositoryPassword,
  }));
  for (const [win, text] of defaultServiceConfigs(node)) put(local(root, win), text);
  put(local(root, p.configFiles[4]), engineSettingsIni());
  writeHostCfg(root, node.hostname);
  fs.mkdirSync(local(root, p.localCertificates), { recursive: true, mode: 0o755 });
  for (const folder of Object.values(SERVICE_LOG_FOLDERS)) {
    for (const kind of folder === 'ServiceDispatcher' ? ['Trace'] : ['Audit', 'System', 'Trace']) {
      fs.mkdirSync(path.join(local(root, p.logDir), folder, kind), { recursive: true, mode: 0o755 });
    }
  }
  for (const sub of ['Repository', 'Proxy', 'Printing', 'Engine']) fs.mkdirSync(local(root, `${p.qlikProgramData}\\${sub}`), { recursive: true, mode: 0o755 });
  for (const c of CONNECTORS) put(local(root, `${p.customData}\\${c}\\${c}.exe`), placeholderExe(`connector ${c}`));
  fs.mkdirSync(path.join(root, '.emulator', 'services'), { recursive: true, mode: 0o755 });
  writeMachineFacts(site, node, { hostsFile: opts.hostsFile });
}

/**
 * What Windows itself knows about the node and `qsadmin site init` reads: the installed services with their command
 * lines and logon accounts (the registry's Services key, as Win32_Service shows it), and the hosts file that
 * resolves the site's hostnames. The port offset is the emulator's own (several sites on one machine).
 */
export function writeMachineFacts(site: SiteConfig, node: NodeConfig, opts: { hostsFile?: boolean; services?: EmulatedServiceRow[] } = {}): void {
  const root = nodeRoot(node);
  const p = defaultSitePaths();
  const services: EmulatedServiceRow[] = opts.services ?? (node.services ?? QLIK_SERVICES.map((f) => f.name as QlikServiceName)).map((name) => {
    const fact = QLIK_SERVICES.find((f) => f.name === name)!;
    return { Name: name, PathName: fact.exe ? `"${p.qlikInstallDir}\\${fact.exe}"` : `"${p.programFiles}\\nodejs\\node.exe"`, StartName: site.serviceAccount };
  });
  const db = site.database;
  if (!opts.services && db.service && db.node === node.name && db.binDir && db.dataDir) {
    services.unshift({ Name: db.service, PathName: `"${path.join(db.binDir, 'pg_ctl')}" runservice -N "${db.service}" -D "${db.dataDir}" -w`, StartName: DATABASE_SERVICES[db.service].account });
  }
  // What a bare node's facts already say (its address, hostname) stays; the installed services are replaced.
  const file = path.join(root, '.emulator', MACHINE_FACTS);
  const before = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  put(file, JSON.stringify({ ...before, bare: undefined, services, portOffset: node.portOffset ?? 0 }, null, 2) + '\n');
  if (opts.hostsFile === false) return;
  const hosts = site.nodes.map((n) => `${n.address}\t${n.hostname}`).join('\r\n');
  put(local(root, 'C:\\Windows\\System32\\drivers\\etc\\hosts'), `# written by the emulator, as an administrator would for the site's nodes\r\n${hosts}\r\n`);
}

export const MACHINE_FACTS = 'machine-facts.json';

/** The facts writeMachineFacts wrote for a node (throws the fs error when there are none). */
export function readMachineFacts(root: string): { services: EmulatedServiceRow[]; portOffset: number; address?: string; hostname?: string } {
  const facts = JSON.parse(fs.readFileSync(path.join(root, '.emulator', MACHINE_FACTS), 'utf8')) as { services: EmulatedServiceRow[]; portOffset?: number; address?: string; hostname?: string };
  return { services: facts.services, portOffset: facts.portOffset ?? 0, address: facts.address, hostname: facts.hostname };
}

export interface EmulatedServiceRow {
  Name: string;
  PathName: string;
  StartName: string;
}
