// Host.cfg: %ProgramData%\Qlik\Sense\Host.cfg holds the node's hostname, base64 encoded (UTF-8), no newline.
import fs from 'node:fs';
import path from 'node:path';
import { defaultSitePaths, windowsToEmulated } from '../../host/paths.js';

// Local path of Host.cfg on an emulated node.
export function hostCfgFile(nodeRoot: string): string {
  return windowsToEmulated(nodeRoot, defaultSitePaths().hostCfg);
}

// Encode a hostname the way Qlik writes Host.cfg.
export function encodeHostCfg(hostname: string): string {
  return Buffer.from(hostname, 'utf8').toString('base64');
}

// Decode Host.cfg content into the hostname.
export function decodeHostCfg(content: string): string {
  const text = content.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) throw new Error(`Host.cfg does not hold a base64 hostname (found "${text.slice(0, 40)}")`);
  return Buffer.from(text, 'base64').toString('utf8');
}

// Write Host.cfg of an emulated node.
export function writeHostCfg(nodeRoot: string, hostname: string): void {
  const file = hostCfgFile(nodeRoot);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, encodeHostCfg(hostname));
}

// Read the hostname from Host.cfg of an emulated node; null when the file is missing.
export function readHostCfg(nodeRoot: string): string | null {
  try {
    return decodeHostCfg(fs.readFileSync(hostCfgFile(nodeRoot), 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}
