// What the Qlik Alerting installer and MongoDB's Windows installer lay down on an emulated node (seed 000):
// C:\Program Files\Qlik Alerting\config\default.json and config\certificates (server.pem, server_key.pem without a
// passphrase, CA.crt), MongoDB's bin folder with mongod.cfg and the tools (fake, see mongo-tools.ts), and the
// stand-in's data folder with a few Alerting users.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { windowsToEmulated } from '../../host/paths.js';
import type { NodeConfig, SiteConfig } from '../../site/model.js';
import { alertingOf, alertingPaths, ALERTING_DB, DEFAULT_MONGO_PORT } from '../../alerting/config.js';
import { generateCA, generateLeaf } from '../../certs/generate.js';
import { entryCommand } from '../services/spawn.js';
import { addUser, writeCollection } from './store.js';
import type { Doc } from '../../alerting/bson.js';

export const MONGO_TOOLS = ['mongodump', 'mongorestore', 'mongoexport'] as const;
export const MONGO_SERVICE = 'MongoDB'; // the service name MongoDB's Windows installer gives by default

export interface AlertingLayoutOptions {
  /** MongoDB with authorization: a user the tools log in as (its password is then in default.json's mongodb.uri). */
  mongoUser?: { name: string; password: string };
  users?: Doc[];
}

function put(file: string, content: string | Buffer, mode = 0o644): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  fs.writeFileSync(file, content, { mode });
}

// A launcher for a fake tool: the node script the emulated host runs for <tool>.exe. Compiled, it loads the tool's
// module in its own process (one Node start per call); from the sources it runs it through tsx.
function toolLauncher(tool: string): string {
  const { command, args } = entryCommand('../alerting/mongo-tools');
  const file = args[args.length - 1];
  const head = ['#!/usr/bin/env node', `// EMULATION: ${tool}.exe, a fake that takes the real tool's arguments (see src/emulator/alerting/mongo-tools.ts)`, 'process.env.QSADMIN_FAKE_MONGO_BIN = __dirname;'];
  if (file.endsWith('.js')) {
    return [...head, `process.argv.splice(2, 0, ${JSON.stringify(tool)});`, `import(${JSON.stringify(pathToFileURL(file).href)});`, ''].join('\n');
  }
  return [
    ...head,
    "const { spawnSync } = require('node:child_process');",
    `const r = spawnSync(${JSON.stringify(command)}, ${JSON.stringify([...args, tool])}.concat(process.argv.slice(2)), { stdio: 'inherit' });`,
    'process.exit(r.status === null ? 1 : r.status);',
    '',
  ].join('\n');
}

/** The Alerting users a fresh emulated install holds (collection "users": an assumption, see alerting/check.ts). */
export function sampleUsers(): Doc[] {
  return [
    { _id: { $oid: '65f000000000000000000001' }, userDirectory: 'EMULATED', userId: 'alertadmin', name: 'Alert Admin', email: 'alertadmin@emulated.test', role: 'admin', licenses: ['professional'] },
    { _id: { $oid: '65f000000000000000000002' }, userDirectory: 'EMULATED', userId: 'anna', name: 'Anna', email: 'anna@emulated.test', role: 'user', licenses: ['analyzer'] },
  ];
}

/** Lay out Qlik Alerting and MongoDB on the Alerting node of an emulated site. */
export function layOutAlerting(site: SiteConfig, node: NodeConfig, o: AlertingLayoutOptions = {}): void {
  const root = node.root!;
  const p = alertingPaths(alertingOf(site));
  const off = node.portOffset ?? 0;
  const local = (w: string) => windowsToEmulated(root, w);
  const mongoPort = DEFAULT_MONGO_PORT + off;
  const cred = o.mongoUser ? `${encodeURIComponent(o.mongoUser.name)}:${encodeURIComponent(o.mongoUser.password)}@` : '';
  const defaultJson = {
    hstsMaxAge: 31536000,
    // EMULATION: the node's "localhost" is its own loopback address (several nodes share one machine).
    gateway: { ip: node.address, httpPort: 4551 + off, httpsPort: 4552 + off, https: true },
    mongodb: { uri: `mongodb://${cred}localhost:${mongoPort}/?authSource=admin` },
  };
  put(local(p.defaultJson), JSON.stringify(defaultJson, null, 4) + '\n', 0o600);
  const ca = generateCA(`${node.hostname}-Alerting-CA`, null);
  const server = generateLeaf(ca, node.hostname, null, { kind: 'server' });
  put(local(`${p.certificatesDir}\\server.pem`), server.certPem, 0o600);
  put(local(`${p.certificatesDir}\\server_key.pem`), server.keyPem, 0o600);
  put(local(`${p.certificatesDir}\\CA.crt`), ca.certPem, 0o600);
  const bin = local(p.mongoBinDir);
  for (const t of MONGO_TOOLS) put(path.join(bin, `${t}.exe`), toolLauncher(t), 0o755);
  const serverDir = path.win32.dirname(p.mongoBinDir);
  const cfg = [
    '# mongod.conf (as the MongoDB Windows installer writes it)',
    'storage:',
    `  dbPath: ${serverDir}\\data`,
    'systemLog:',
    '  destination: file',
    `  path: ${serverDir}\\log\\mongod.log`,
    'net:',
    `  port: ${mongoPort}`,
    '  bindIp: 127.0.0.1',
    ...(o.mongoUser ? ['security:', '  authorization: enabled'] : []),
    '',
  ].join('\r\n');
  put(path.join(bin, 'mongod.cfg'), cfg);
  const dbPath = local(`${serverDir}\\data`);
  fs.mkdirSync(dbPath, { recursive: true, mode: 0o700 });
  if (o.mongoUser) addUser(dbPath, o.mongoUser.name, o.mongoUser.password);
  writeCollection(dbPath, ALERTING_DB, 'users', o.users ?? sampleUsers());
  writeCollection(dbPath, ALERTING_DB, 'alerts', [{ _id: { $oid: '65f0000000000000000000a1' }, name: 'Sales below target', owner: 'alertadmin', enabled: true }]);
}
