// EMULATION: the MongoDB stand-in's storage. Real MongoDB keeps WiredTiger files; the stand-in keeps each collection
// as one JSON file <dbPath>/<db>/<collection>.json (an array of documents), which the stand-in service guards with a
// TCP listener on its port and the fake mongodump/mongorestore/mongoexport read and write. Its settings come from
// mongod.cfg in MongoDB's bin folder, as the MongoDB Windows installer writes it (storage.dbPath, net.port,
// net.bindIp, security.authorization).
import fs from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { windowsToEmulated } from '../../host/paths.js';
import type { Doc } from '../../alerting/bson.js';

/** Version the fake tools report: MongoDB Database Tools (the first with --config is 100.3.0). */
export const FAKE_TOOLS_VERSION = '100.9.4';

export interface MongodConfig {
  dbPath: string; // local path
  port: number;
  bindIp: string;
  auth: boolean;
}

/** Parse the two-level YAML of mongod.cfg (the installer's form: "section:" lines, indented "key: value" lines). */
export function readMongodCfg(binDir: string, nodeRoot: string): MongodConfig {
  const file = path.join(binDir, 'mongod.cfg');
  const text = fs.readFileSync(file, 'utf8');
  const v: Record<string, string> = {};
  let section = '';
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim() || line.trim().startsWith('#')) continue;
    const m = /^(\s*)([A-Za-z.]+):\s*(.*)$/.exec(line);
    if (!m) throw new Error(`${file}: cannot read the line ${JSON.stringify(line)}`);
    if (!m[1]) section = m[2];
    if (m[3]) v[m[1] ? `${section}.${m[2]}` : m[2]] = m[3].replace(/^"(.*)"$/, '$1');
  }
  return {
    dbPath: windowsToEmulated(nodeRoot, v['storage.dbPath']),
    port: Number(v['net.port'] ?? 27017),
    bindIp: v['net.bindIp'] ?? '127.0.0.1',
    auth: v['security.authorization'] === 'enabled',
  };
}

const USERS = '.emulated-users.json';

/** Create a user the tools must authenticate as (only a salted hash is kept). */
export function addUser(dbPath: string, user: string, password: string): void {
  const salt = randomBytes(8).toString('hex');
  const users = readUsers(dbPath);
  users[user] = { salt, hash: hash(salt, password) };
  fs.mkdirSync(dbPath, { recursive: true });
  fs.writeFileSync(path.join(dbPath, USERS), JSON.stringify(users, null, 2) + '\n', { mode: 0o600 });
}

function readUsers(dbPath: string): Record<string, { salt: string; hash: string }> {
  try {
    return JSON.parse(fs.readFileSync(path.join(dbPath, USERS), 'utf8'));
  } catch {
    return {};
  }
}

function hash(salt: string, password: string): string {
  return createHash('sha256').update(`${salt}:${password}`).digest('hex');
}

export function authenticate(dbPath: string, user: string | undefined, password: string | undefined): boolean {
  const u = user ? readUsers(dbPath)[user] : undefined;
  return !!u && password !== undefined && hash(u.salt, password) === u.hash;
}

export function databases(dbPath: string): string[] {
  if (!fs.existsSync(dbPath)) return [];
  return fs.readdirSync(dbPath, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
}

export function collections(dbPath: string, db: string): string[] {
  const dir = path.join(dbPath, db);
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
}

export function readCollection(dbPath: string, db: string, coll: string): Doc[] {
  const file = path.join(dbPath, db, `${coll}.json`);
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Doc[]) : [];
}

/** Replace a collection's documents (temp file + rename: a reader sees the old or the new collection). */
export function writeCollection(dbPath: string, db: string, coll: string, docs: Doc[]): void {
  const dir = path.join(dbPath, db);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${coll}.json`);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(docs));
  fs.renameSync(tmp, file);
}

export function dropCollection(dbPath: string, db: string, coll: string): void {
  fs.rmSync(path.join(dbPath, db, `${coll}.json`), { force: true });
}
