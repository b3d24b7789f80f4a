// Emulated sites for integration tests: created in a temp folder, always destroyed afterwards.
import fs from 'node:fs';
import path from 'node:path';
import { createEmulatedSite, destroySite, type CreateSiteOptions, type EmulatedSite } from '../../src/emulator/site.js';
import { tempDir } from './tmp.js';

const sites: string[] = [];

/** Create (and remember for cleanup) an emulated site in a fresh temp folder. */
export async function makeSite(o: Omit<CreateSiteOptions, 'dir'>): Promise<EmulatedSite> {
  const dir = path.join(tempDir('qsadmin-site-'), 'site');
  sites.push(dir);
  return createEmulatedSite({ ...o, dir });
}

/** Destroy every site made by this test file (stops services and the database, kills strays). */
export async function destroySites(): Promise<void> {
  for (const d of sites.splice(0)) await destroySite(d).catch((e) => console.error(`cleanup of ${d} failed: ${(e as Error).message}`));
}

/** Rewrite a site's site.json with a change (e.g. emulator faults). */
export function editSite(s: EmulatedSite, change: (site: EmulatedSite['site']) => void): void {
  const site = JSON.parse(fs.readFileSync(s.siteFile, 'utf8')) as EmulatedSite['site'];
  change(site);
  fs.writeFileSync(s.siteFile, JSON.stringify(site, null, 2) + '\n');
  s.site = site;
}
