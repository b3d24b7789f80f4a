// Which repository database service an emulated node runs now. site.json says what qsadmin was told when the site
// was made; a QPI upgrade installs postgresql-x64-14 beside the bundled QlikSenseRepositoryDatabase (which stays
// installed and stopped), so the node keeps its own record in .emulator/database.json, as Windows keeps its services.
import fs from 'node:fs';
import path from 'node:path';
import type { SiteConfig } from '../../site/model.js';
import type { DatabaseServiceName } from '../../site/services.js';

export const DATABASE_STATE = 'database.json';

export interface EmulatedDbService {
  service: DatabaseServiceName;
  /** Server programs (initdb, pg_ctl, postgres). */
  binDir: string;
  dataDir: string;
}

export interface EmulatedDbState {
  current: EmulatedDbService;
  /** Services replaced by QPI: installed, stopped, never to be started again (guide §2.6). */
  retired: EmulatedDbService[];
}

function stateFile(site: SiteConfig): string | null {
  const node = site.nodes.find((n) => n.name === site.database.node);
  return node?.root ? path.join(node.root, '.emulator', DATABASE_STATE) : null;
}

/** The node's database service as it is now: its own record, else what site.json says; null for a dedicated server. */
export function emulatedDatabase(site: SiteConfig): EmulatedDbState | null {
  const file = stateFile(site);
  if (file && fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')) as EmulatedDbState;
  const db = site.database;
  if (!db.dataDir || !db.binDir) return null;
  return { current: { service: db.service ?? 'QlikSenseRepositoryDatabase', binDir: db.binDir, dataDir: db.dataDir }, retired: [] };
}

/** Record the node's database services (written atomically: a killed QPI leaves the old record or the new one). */
export function writeEmulatedDatabase(site: SiteConfig, state: EmulatedDbState): void {
  const file = stateFile(site);
  if (!file) throw new Error(`site ${site.name}: the database node has no root folder`);
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n');
  fs.renameSync(tmp, file);
}
