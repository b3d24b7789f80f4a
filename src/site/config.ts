// Reading and checking a site config file (JSON): clear errors name the file and the field.
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../runbook/errors.js';
import type { SiteConfig } from './model.js';
import { DATABASE_SERVICES } from './services.js';

/** Load and validate a site config; relative paths in it are resolved against its folder. */
export function loadSiteConfig(file: string): SiteConfig {
  const abs = path.resolve(file);
  let raw: string;
  try {
    raw = fs.readFileSync(abs, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read site config ${abs}: ${(e as NodeJS.ErrnoException).code ?? e}`, 'pass --site <file> or set QSADMIN_SITE; `qsadmin demo` writes one');
  }
  let site: SiteConfig;
  try {
    site = JSON.parse(raw) as SiteConfig;
  } catch (e) {
    throw new InputError(`site config ${abs} is not valid JSON: ${(e as Error).message}`);
  }
  validateSite(site, abs);
  const base = path.dirname(abs);
  const rel = (p: string | undefined) => (p && !path.isAbsolute(p) && site.driver === 'emulated' ? path.resolve(base, p) : p);
  for (const n of site.nodes) n.root = rel(n.root);
  site.shareRoot = rel(site.shareRoot)!;
  site.database.dataDir = rel(site.database.dataDir);
  return site;
}

/** Throw InputError for the first thing wrong in a site config. */
export function validateSite(site: SiteConfig, where: string): void {
  const bad = (field: string, why: string) => new InputError(`site config ${where}: ${field} ${why}`);
  if (!site || typeof site !== 'object') throw bad('(root)', 'must be an object');
  if (typeof site.name !== 'string' || !site.name) throw bad('"name"', 'is missing');
  if (site.driver !== 'emulated' && site.driver !== 'windows') throw bad('"driver"', 'must be "emulated" or "windows"');
  if (!Array.isArray(site.nodes) || site.nodes.length === 0) throw bad('"nodes"', 'must list at least one node');
  const centrals = site.nodes.filter((n) => n.role === 'central');
  if (centrals.length !== 1) throw bad('"nodes"', `must have exactly one node with "role": "central" (found ${centrals.length})`);
  for (const [i, n] of site.nodes.entries()) {
    if (!n.name || !n.hostname) throw bad(`nodes[${i}]`, 'needs "name" and "hostname"');
    if (n.role !== 'central' && n.role !== 'rim') throw bad(`nodes[${i}].role`, 'must be "central" or "rim"');
    if (site.driver === 'emulated' && !n.root) throw bad(`nodes[${i}].root`, 'is required for an emulated node');
  }
  const db = site.database;
  if (!db || !db.host || !Number.isInteger(db.port)) throw bad('"database"', 'needs "host" and an integer "port"');
  if (db.service !== null && !(db.service in DATABASE_SERVICES)) {
    throw bad('database.service', `must be one of ${Object.keys(DATABASE_SERVICES).join(', ')} or null (a dedicated server)`);
  }
  if (db.service !== null && db.node && !site.nodes.some((n) => n.name === db.node)) throw bad('database.node', `names no node of the site`);
  if (!db.superuser) throw bad('database.superuser', 'is missing');
  if (!site.serviceAccount) throw bad('"serviceAccount"', 'is missing (the Windows account that runs the Qlik services)');
  if (!site.shareRoot) throw bad('"shareRoot"', 'is missing');
}
