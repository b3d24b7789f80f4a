// Pick the Host driver for a node of a site: emulated now, windows later.
import { findNode, type NodeConfig, type SiteConfig } from '../site/model.js';
import type { Host } from './types.js';

// Open the host of one node (by name, hostname or config) with the site's driver.
export async function openHost(site: SiteConfig, node: string | NodeConfig): Promise<Host> {
  const n = typeof node === 'string' ? findNode(site, node) : node;
  if (site.driver === 'emulated') {
    const { EmulatedHost } = await import('./emulated/index.js');
    return new EmulatedHost(site, n);
  }
  if (site.driver === 'windows') {
    throw new Error(`the windows host driver is not implemented yet (site ${site.name}, node ${n.name}): use an emulated site for now (qsadmin demo)`);
  }
  throw new Error(`site ${site.name}: unknown driver "${String(site.driver)}": use "emulated" or "windows"`);
}
