// Local configuration files of a node (--only config): same host and same Qlik version only, with a diff shown first.
// Host.cfg is never written onto a new hostname (the runbook refuses --only config for a hostname change).
import fs from 'node:fs';
import path from 'node:path';
import type { Manifest, ManifestFile } from '../backup/manifest.js';
import type { Host } from '../host/types.js';
import { keepAside } from './aside.js';

/** The config files of a node in a set (those with a recorded Windows source path on the node). */
function configFiles(m: Manifest, node: string): ManifestFile[] {
  return m.files.filter((f) => f.kind === 'config' && f.node === node && f.source && /^[A-Za-z]:\\/.test(f.source));
}

/** Lines of a tiny diff between the current file and the backup's (removed "-", added "+"), at most `max` lines. */
function lineDiff(now: string, then: string, max = 12): string[] {
  const a = now.split(/\r?\n/);
  const b = then.split(/\r?\n/);
  const inB = new Set(b);
  const inA = new Set(a);
  const out = [...a.filter((l) => !inB.has(l)).map((l) => `- ${l}`), ...b.filter((l) => !inA.has(l)).map((l) => `+ ${l}`)];
  return out.length > max ? [...out.slice(0, max), `  ... ${out.length - max} more changed line(s)`] : out;
}

/** Plan notes: per config file, unchanged / would be overwritten (with its diff) / missing on the node. */
export async function configDiff(host: Host, setDir: string, m: Manifest, node: string): Promise<string[]> {
  const notes: string[] = ['--only config: local files of the same host are restored; the diff of each file against the backup:'];
  for (const f of configFiles(m, node)) {
    const then = fs.readFileSync(path.join(setDir, ...f.path.split('/')), 'utf8');
    const now = (await host.files.exists(f.source!)) ? (await host.files.read(f.source!)).toString('utf8') : null;
    if (now === null) notes.push(`config ${f.source}: missing on the node; restored from the backup`);
    else if (now === then) notes.push(`config ${f.source}: unchanged`);
    else notes.push(`config ${f.source}: OVERWRITTEN; diff (current → backup):`, ...lineDiff(now, then).map((l) => `    ${l}`));
  }
  return notes;
}

/** Write the backup's config files of a node back to their places (each live one kept in `asideDir` first); returns the Windows paths written. */
export async function restoreConfigFiles(host: Host, setDir: string, m: Manifest, node: string, asideDir: string): Promise<string[]> {
  const written: string[] = [];
  for (const f of configFiles(m, node)) {
    await keepAside(host, f.source!, asideDir);
    await host.files.write(f.source!, fs.readFileSync(path.join(setDir, ...f.path.split('/'))));
    written.push(f.source!);
  }
  return written;
}
