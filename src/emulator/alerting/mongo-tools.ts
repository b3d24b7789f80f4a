// EMULATION: fake mongodump, mongorestore and mongoexport (MongoDB Database Tools 100.x) for the emulated Alerting
// node. They take the real tools' option syntax (go-flags: --name=value, --name value, -x value, -xvalue; bool
// options take no value) and refuse an unknown option, a missing value or a stray positional argument the way the
// real ones do ("error parsing command line options: ...", exit 3 = ExitBadOptions). Options of the real tools that
// this stand-in does not implement (--archive, --gzip, --nsInclude, ...) are refused by name, exit 1, rather than
// ignored. They connect first (the stand-in MongoDB must listen on the port), authenticate when mongod.cfg enables
// authorization (the password from --password or from the --config YAML file), then read and write the stand-in's
// data folder (store.ts) and a real dump folder: <out>/<db>/<collection>.bson (BSON) and .metadata.json.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { decodeAll, encodeDoc, type Doc } from '../../alerting/bson.js';
import type { SiteConfig } from '../../site/model.js';
import { SITE_ENV } from '../services/site-env.js';
import { authenticate, collections, databases, dropCollection, readCollection, readMongodCfg, writeCollection, FAKE_TOOLS_VERSION, type MongodConfig } from './store.js';

type Tool = 'mongodump' | 'mongorestore' | 'mongoexport';
interface Opt { short?: string; value: boolean; unsupported?: boolean }

const COMMON: Record<string, Opt> = {
  help: { value: false }, version: { value: false }, quiet: { value: false }, verbose: { short: 'v', value: false },
  config: { value: true }, uri: { value: true }, host: { short: 'h', value: true }, port: { value: true },
  username: { short: 'u', value: true }, password: { short: 'p', value: true }, authenticationDatabase: { value: true },
  authenticationMechanism: { value: true }, ssl: { value: false, unsupported: true }, tls: { value: false, unsupported: true },
  readPreference: { value: true, unsupported: true }, db: { short: 'd', value: true }, collection: { short: 'c', value: true },
};
const OPTIONS: Record<Tool, Record<string, Opt>> = {
  mongodump: { ...COMMON, out: { short: 'o', value: true }, gzip: { value: false, unsupported: true }, archive: { value: true, unsupported: true }, query: { short: 'q', value: true, unsupported: true }, oplog: { value: false, unsupported: true }, excludeCollection: { value: true, unsupported: true }, numParallelCollections: { short: 'j', value: true } },
  mongorestore: { ...COMMON, dir: { value: true }, drop: { value: false }, gzip: { value: false, unsupported: true }, archive: { value: true, unsupported: true }, nsInclude: { value: true, unsupported: true }, nsExclude: { value: true, unsupported: true }, stopOnError: { value: false }, maintainInsertionOrder: { value: false }, numParallelCollections: { short: 'j', value: true }, dryRun: { value: false, unsupported: true } },
  mongoexport: { ...COMMON, out: { short: 'o', value: true }, jsonArray: { value: false }, type: { value: true }, fields: { short: 'f', value: true, unsupported: true }, query: { short: 'q', value: true, unsupported: true }, pretty: { value: false } },
};

class BadOptions extends Error {}
class Failed extends Error {}

function stamp(): string {
  return new Date().toISOString().replace('Z', '+0000');
}
function log(line: string): void {
  process.stderr.write(`${stamp()}\t${line}\n`);
}

/** go-flags parsing of one tool's argv: options by long name, positional arguments. */
export function parseArgs(tool: Tool, argv: string[]): { opts: Record<string, string | true>; positional: string[] } {
  const spec = OPTIONS[tool];
  const opts: Record<string, string | true> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    let name: string;
    let value: string | undefined;
    if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      value = eq < 0 ? undefined : a.slice(eq + 1);
      if (!spec[name]) throw new BadOptions(`unknown flag \`${name}'`);
    } else if (a.startsWith('-') && a.length > 1 && a !== '-') {
      const s = a[1];
      const found = Object.entries(spec).find(([, o]) => o.short === s);
      if (!found) throw new BadOptions(`unknown flag \`${s}'`);
      name = found[0];
      const rest = a.slice(2).replace(/^=/, '');
      if (rest) value = rest;
    } else {
      positional.push(a);
      continue;
    }
    const o = spec[name];
    if (!o.value) {
      if (value !== undefined) throw new BadOptions(`bool flag \`--${name}' cannot have an argument`);
      opts[name] = true;
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length || argv[i + 1].startsWith('-')) throw new BadOptions(`expected argument for flag \`--${name}'`);
      value = argv[++i];
    }
    opts[name] = value;
  }
  for (const name of Object.keys(opts)) if (spec[name].unsupported) throw new Failed(`${tool} (emulated): --${name} is a real option that this stand-in does not implement`);
  return { opts, positional };
}

/** The --config YAML file: only password, uri and sslPEMKeyPassword, as the real tools allow. */
function readConfigFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new BadOptions(`error opening file with --config: ${(e as Error).message}`);
  }
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim() || line.trim().startsWith('#')) continue;
    const m = /^([A-Za-z]+):\s*(.*)$/.exec(line);
    if (!m) throw new BadOptions(`error parsing config file ${file}: cannot read ${JSON.stringify(line)}`);
    if (!['password', 'uri', 'sslPEMKeyPassword'].includes(m[1])) throw new BadOptions(`error parsing config file ${file}: unknown key ${m[1]} (only password, uri and sslPEMKeyPassword are allowed)`);
    const raw = m[2].trim();
    out[m[1]] = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw.replace(/^'(.*)'$/, '$1');
  }
  return out;
}

interface Ctx {
  tool: Tool;
  cfg: MongodConfig;
  opts: Record<string, string | true>;
}

// Connect and authenticate as the real tools do before any work.
async function connect(tool: Tool, opts: Record<string, string | true>): Promise<Ctx> {
  const root = process.env.QSADMIN_EMULATOR_NODE_ROOT;
  const bin = process.env.QSADMIN_FAKE_MONGO_BIN;
  const siteJson = process.env[SITE_ENV];
  if (!root || !bin || !siteJson) throw new Failed(`${tool} (emulated) must be run through the emulated host (its node and site are not set)`);
  const site = JSON.parse(siteJson) as SiteConfig;
  const node = site.nodes.find((n) => n.root === root);
  const cfg = readMongodCfg(bin, root);
  const file = typeof opts.config === 'string' ? readConfigFile(opts.config) : {};
  if (opts.uri || file.uri) throw new Failed(`${tool} (emulated): connection strings (--uri) are not implemented by this stand-in; use --host and --port`);
  let host = typeof opts.host === 'string' ? opts.host : 'localhost';
  let port = typeof opts.port === 'string' ? Number(opts.port) : 27017;
  const hp = /^([^:]+):(\d+)$/.exec(host);
  if (hp) [host, port] = [hp[1], Number(hp[2])];
  // EMULATION: localhost on the node is the node's own loopback address.
  const address = host === 'localhost' || host === '127.0.0.1' ? (node?.address ?? host) : host;
  const url = `mongodb://${host}:${port}/`;
  if (!(await accepts(address, port))) throw new Failed(`Failed: can't create session: failed to connect to ${url}: server selection error: server selection timeout, current topology: { Type: Single, Servers: [{ Addr: ${host}:${port}, Type: Unknown, Last error: dial tcp ${address}:${port}: connect: connection refused }, ] }`);
  if (cfg.auth) {
    const password = typeof opts.password === 'string' ? opts.password : file.password;
    const user = typeof opts.username === 'string' ? opts.username : undefined;
    if (!authenticate(cfg.dbPath, user, password)) {
      throw new Failed(`Failed: can't create session: failed to connect to ${url}: connection() error occurred during connection handshake: auth error: sasl conversation error: unable to authenticate using mechanism "SCRAM-SHA-256": (AuthenticationFailed) Authentication failed.`);
    }
  }
  return { tool, cfg, opts };
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(2000);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });
}

function metadata(coll: string): string {
  return JSON.stringify({ indexes: [{ v: { $numberInt: '2' }, key: { _id: { $numberInt: '1' } }, name: '_id_' }], uuid: randomBytes(16).toString('hex'), collectionName: coll, type: 'collection' });
}

// mongodump: every collection of --db (or of every database) into <out>/<db>/.
function dump(c: Ctx): void {
  const out = typeof c.opts.out === 'string' ? c.opts.out : 'dump';
  if (out === '-') throw new Failed('mongodump (emulated): --out=- (to stdout) is not implemented by this stand-in');
  const dbs = typeof c.opts.db === 'string' ? [c.opts.db] : databases(c.cfg.dbPath).filter((d) => d !== 'admin' && d !== 'local');
  for (const db of dbs) {
    const colls = typeof c.opts.collection === 'string' ? [c.opts.collection] : collections(c.cfg.dbPath, db);
    fs.mkdirSync(path.join(out, db), { recursive: true });
    for (const coll of colls) {
      const docs = readCollection(c.cfg.dbPath, db, coll);
      const file = path.join(out, db, `${coll}.bson`);
      log(`writing ${db}.${coll} to ${file}`);
      fs.writeFileSync(file, Buffer.concat(docs.map(encodeDoc)));
      fs.writeFileSync(path.join(out, db, `${coll}.metadata.json`), metadata(coll));
      log(`done dumping ${db}.${coll} (${docs.length} ${docs.length === 1 ? 'document' : 'documents'})`);
    }
  }
}

// mongorestore: the dump folder (a folder of database folders, or with --db one database's folder) into the stand-in.
function restore(c: Ctx, positional: string[]): void {
  const dir = positional[0] ?? (typeof c.opts.dir === 'string' ? c.opts.dir : 'dump');
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Failed(`Failed: mongorestore target '${dir}' invalid: stat ${dir}: no such file or directory`);
  const targets: Array<{ db: string; dir: string }> =
    typeof c.opts.db === 'string'
      ? [{ db: c.opts.db, dir }]
      : fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => ({ db: e.name, dir: path.join(dir, e.name) }));
  log(`preparing collections to restore from`);
  let ok = 0;
  let failed = 0;
  for (const t of targets) {
    for (const f of fs.readdirSync(t.dir).filter((x) => x.endsWith('.bson')).sort()) {
      const coll = f.slice(0, -5);
      let docs: Doc[];
      try {
        docs = decodeAll(fs.readFileSync(path.join(t.dir, f)));
      } catch (e) {
        throw new Failed(`Failed: ${t.db}.${coll}: error reading ${path.join(t.dir, f)}: ${(e as Error).message}`);
      }
      log(`reading metadata for ${t.db}.${coll} from ${path.join(t.dir, `${coll}.metadata.json`)}`);
      if (c.opts.drop) {
        log(`dropping collection ${t.db}.${coll} before restoring`);
        dropCollection(c.cfg.dbPath, t.db, coll);
      }
      const existing = readCollection(c.cfg.dbPath, t.db, coll);
      const ids = new Set(existing.map((d) => JSON.stringify(d._id)));
      let collFailed = 0;
      for (const d of docs) {
        if (ids.has(JSON.stringify(d._id))) {
          collFailed++;
          log(`continuing through error: E11000 duplicate key error collection: ${t.db}.${coll} index: _id_ dup key: { _id: ${JSON.stringify(d._id)} }`);
          if (c.opts.stopOnError) throw new Failed(`Failed: ${t.db}.${coll}: error restoring from ${path.join(t.dir, f)}: E11000 duplicate key error`);
          continue;
        }
        existing.push(d);
        ids.add(JSON.stringify(d._id));
      }
      writeCollection(c.cfg.dbPath, t.db, coll, existing);
      log(`finished restoring ${t.db}.${coll} (${docs.length - collFailed} documents, ${collFailed} failures)`);
      ok += docs.length - collFailed;
      failed += collFailed;
    }
  }
  log(`${ok} document(s) restored successfully. ${failed} document(s) failed to restore.`);
}

// mongoexport: one collection as JSON lines (or one array with --jsonArray), to stdout or --out.
function exportColl(c: Ctx): void {
  if (typeof c.opts.collection !== 'string') throw new Failed('Failed: must specify a collection');
  if (typeof c.opts.type === 'string' && c.opts.type !== 'json') throw new Failed(`mongoexport (emulated): --type=${c.opts.type} is not implemented by this stand-in (json only)`);
  const db = typeof c.opts.db === 'string' ? c.opts.db : 'test';
  const docs = readCollection(c.cfg.dbPath, db, c.opts.collection);
  const text = c.opts.jsonArray ? JSON.stringify(docs) + '\n' : docs.map((d) => JSON.stringify(d) + '\n').join('');
  if (typeof c.opts.out === 'string') fs.writeFileSync(c.opts.out, text);
  else process.stdout.write(text);
  log(`exported ${docs.length} ${docs.length === 1 ? 'record' : 'records'}`);
}

async function main(): Promise<number> {
  const tool = process.argv[2] as Tool;
  if (!OPTIONS[tool]) {
    process.stderr.write(`unknown emulated MongoDB tool ${tool}\n`);
    return 1;
  }
  // Every call is recorded (tool, argv, cwd) for tests that check the exact arguments qsadmin passes.
  const root = process.env.QSADMIN_EMULATOR_NODE_ROOT;
  if (root) fs.appendFileSync(path.join(root, '.emulator', 'mongo-tools.jsonl'), JSON.stringify({ tool, argv: process.argv.slice(3), cwd: process.cwd() }) + '\n');
  try {
    const { opts, positional } = parseArgs(tool, process.argv.slice(3));
    if (opts.help) {
      process.stdout.write(`Usage:\n  ${tool} <options>${tool === 'mongorestore' ? ' <directory or file to restore>' : tool === 'mongodump' ? ' <connection-string>' : ''}\n`);
      return 0;
    }
    if (opts.version) {
      process.stdout.write(`${tool} version: ${FAKE_TOOLS_VERSION}\ngit version: emulated\nGo version: go1.21\n`);
      return 0;
    }
    if (tool === 'mongodump' && positional.length && !(positional.length === 1 && positional[0].startsWith('mongodb://'))) throw new BadOptions(`positional arguments not allowed: [${positional.join(' ')}]`);
    // Options are checked before connecting, as the real tools do.
    if (tool !== 'mongodump' && positional.length > (tool === 'mongorestore' ? 1 : 0)) throw new BadOptions(`too many positional arguments: [${positional.join(' ')}]`);
    if (tool === 'mongorestore' && positional.length && typeof opts.dir === 'string') throw new BadOptions('cannot use both --dir and a positional argument to set the input source');
    if (tool === 'mongodump' && positional.length) throw new Failed('mongodump (emulated): connection strings are not implemented by this stand-in; use --host and --port');
    const c = await connect(tool, opts);
    if (tool === 'mongodump') dump(c);
    else if (tool === 'mongorestore') restore(c, positional);
    else exportColl(c);
    return 0;
  } catch (e) {
    if (e instanceof BadOptions) {
      log(`error parsing command line options: ${e.message}`);
      log(`try '${tool} --help' for more information`);
      return 3;
    }
    log(e instanceof Failed ? e.message : `Failed: ${(e as Error).stack ?? e}`);
    return 1;
  }
}

main().then((code) => process.exit(code));
