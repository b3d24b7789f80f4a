// The one site-config writer: `qsadmin site init`, the emulator (demo) and later `install` write site configs
// through it, so every file is validated by the same rules that read it, and none is half-written.
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../runbook/errors.js';
import { validateSite } from './config.js';
import type { SiteConfig } from './model.js';

/** The JSON text of a site config (two-space indent, newline at the end): what is written and what --dry-run shows. */
export function siteConfigText(site: SiteConfig): string {
  return JSON.stringify(site, null, 2) + '\n';
}

/**
 * Validate and write a site config: to a temporary name in the same folder, then renamed over the target, so a
 * reader never sees half a file. An existing file is replaced only with `force` (it is kept as <file>.bak first).
 * The config holds no secret (passwords stay in environment variables): it is readable by everyone, 0644.
 */
export function writeSiteConfig(file: string, site: SiteConfig, opts: { force?: boolean } = {}): string {
  let abs = path.resolve(file);
  // A folder as --out: the config goes into it as site.json.
  if (fs.statSync(abs, { throwIfNoEntry: false })?.isDirectory()) abs = path.join(abs, 'site.json');
  validateSite(structuredClone(site), abs);
  if (fs.existsSync(abs)) {
    if (!opts.force) throw new InputError(`${abs} already exists`, 'pass --force to replace it (the old file is kept as .bak), or choose another --out');
    fs.copyFileSync(abs, `${abs}.bak`);
  }
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  const tmp = `${abs}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, siteConfigText(site), { mode: 0o644 });
    fs.renameSync(tmp, abs);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    const err = e as NodeJS.ErrnoException;
    throw new InputError(`cannot write ${abs}: ${err.code ?? err.message}`, 'choose an --out folder this account can write');
  }
  return abs;
}
