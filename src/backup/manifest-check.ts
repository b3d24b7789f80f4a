// What a manifest must hold before anything reads a file it names or writes one where it says: every path a plain
// relative path inside the set (safe-path.ts) under one of the set's folders, each named once, share folders inside
// files/, and every supporting-content file's recorded source its folder's root joined with its path in the set.
import { unsafePathReason } from './safe-path.js';
import type { Manifest, ManifestFile } from './manifest.js';

/** The folders at the top of a set (besides manifest.json and verified.json). */
export const SET_TOP_FOLDERS = ['db', 'files', 'certs', 'config', 'alerting'];

const EXTRA_PREFIX = 'files/extra/';

/** Problems of a manifest's paths, one line each naming the entry; empty when all are safe. */
export function manifestPathProblems(m: Manifest): string[] {
  const problems: string[] = [];
  if (!Array.isArray(m.files)) return ['manifest.json has no list of files'];
  const seen = new Set<string>();
  const extraRoots = new Map<string, string>();
  for (const f of m.files) {
    const why = unsafePathReason(f?.path);
    if (why) {
      problems.push(`manifest entry ${JSON.stringify(f?.path)} is refused: it has ${why}; a set's paths stay inside the set`);
      continue;
    }
    const slash = f.path.indexOf('/');
    if (slash < 0 || !SET_TOP_FOLDERS.includes(f.path.slice(0, slash))) problems.push(`manifest entry ${f.path} is refused: a set's files live under ${SET_TOP_FOLDERS.join('/, ')}/`);
    if (seen.has(f.path)) problems.push(`manifest entry ${f.path} is listed twice`);
    seen.add(f.path);
    if (!Number.isSafeInteger(f.bytes) || f.bytes < 0) problems.push(`manifest entry ${f.path} has a size of ${JSON.stringify(f.bytes)} bytes`);
    if (typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256)) problems.push(`manifest entry ${f.path} has no valid sha256`);
    if (f.kind === 'extra') {
      const t = extraTarget(f);
      if (!t) problems.push(`supporting content ${f.path} is refused: its source ${JSON.stringify(f.source)} is not its folder's root joined with its path in the set`);
      else if ((extraRoots.get(t.folder) ?? t.root) !== t.root) problems.push(`supporting content ${f.path} is refused: its source ${f.source} lies under another root than the other files of ${t.folder} (${extraRoots.get(t.folder)})`);
      else extraRoots.set(t.folder, t.root);
    }
  }
  for (const s of m.site?.share ?? []) {
    const why = unsafePathReason(s?.stored);
    if (why) problems.push(`share folder ${s?.role} is stored at ${JSON.stringify(s?.stored)}, refused: it has ${why}`);
    else if (!s.stored.startsWith('files/')) problems.push(`share folder ${s.role} is stored at ${s.stored}, refused: share folders are stored under files/`);
  }
  return problems;
}

/**
 * Where a supporting-content file goes back to: its folder's root (as recorded, Windows or local form) and its path
 * below it, taken from the set path `files/extra/<folder>/<rel>`; null when the recorded source does not end in
 * `<rel>` (a manifest that names any other place is not believed).
 */
export function extraTarget(f: ManifestFile): { folder: string; root: string; rel: string } | null {
  if (!f.path.startsWith(EXTRA_PREFIX) || typeof f.source !== 'string') return null;
  const [folder, ...rest] = f.path.slice(EXTRA_PREFIX.length).split('/');
  if (!folder || !rest.length) return null;
  const rel = rest.join('/');
  const win = /^[A-Za-z]:\\|^\\\\/.test(f.source);
  const tail = win ? `\\${rest.join('\\')}` : `/${rel}`;
  if (!f.source.endsWith(tail)) return null;
  const root = f.source.slice(0, -tail.length);
  if (win ? !/^[A-Za-z]:(\\|$)|^\\\\[^\\]+\\[^\\]+/.test(root) : root !== '' && !root.startsWith('/')) return null;
  return { folder, root: root === '' ? '/' : root, rel };
}
