// Pick the Host driver for a node of a site: emulated (Linux stand-in) or windows.
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
    const { WindowsHost } = await import('./windows/index.js');
    return new WindowsHost(site, n);
  }
  throw new Error(`site ${site.name}: unknown driver "${String(site.driver)}": use "emulated" or "windows"`);
}
