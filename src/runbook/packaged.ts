// Where qsadmin runs from. An npm install reads its templates and scripts from the package folder and starts
// helper processes as `node <script>`. The Windows single-file build (src/cli/exe.ts, `npm run dist:win`) has no
// package folder: it says so here once, at start-up, and the few places that read files or start helpers ask.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PackagedRuntime {
  /** The folder of qsadmin.exe: the release zip puts scripts\ and templates\ beside it. */
  root: string;
  /** A file embedded in the executable (templates/<name>), or undefined when it is not embedded. */
  asset(name: string): string | undefined;
  /** The arguments that make the executable itself run the children's guard (instead of `node reaper-main.js`). */
  guardArgs: string[];
}

let packaged: PackagedRuntime | undefined;

/** Called by the single-file entry before any command runs. */
export function setPackaged(p: PackagedRuntime): void {
  packaged = p;
}

export function packagedRuntime(): PackagedRuntime | undefined {
  return packaged;
}

/** The installation's root folder: the package folder (above dist/ when built), or the executable's folder. */
export function installRoot(): string {
  if (packaged) return packaged.root;
  const here = path.dirname(fileURLToPath(import.meta.url));
  // src/runbook (tsx, tests) or dist/src/runbook (built)
  return path.resolve(here, '..', '..', ...(here.split(path.sep).includes('dist') ? ['..'] : []));
}
