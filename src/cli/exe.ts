// Entry of the Windows single-file build (`npm run dist:win` bundles this with esbuild into qsadmin.exe).
// An npm install starts at bin/run.js instead and never loads this file.
//
// oclif normally finds its commands, help class and hooks as files under the package folder. The executable has no
// such folder: scripts/dist-win/build.mjs gives oclif a package.json whose oclif section names in-bundle modules
// ("qsadmin-bundle:commands" ...), and replaces oclif's module loader with one that returns those modules.
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { setPackaged } from '../runbook/packaged.js';

/** The package.json oclif sees (the build writes it in: commands, helpClass and hooks point into the bundle). */
declare const QSADMIN_EXE_PJSON: { name: string; version: string; oclif: { bin: string } };

/** The first argument that makes the executable the guard of its own children (see src/runbook/children.ts). */
export const GUARD_ARG = '--qsadmin-child-guard';

interface SeaModule {
  isSea(): boolean;
  getAsset(key: string, encoding: string): string;
}

// node:sea exists from Node 20.12; the bundle run as `node qsadmin.cjs` (the tests on Linux) is not a SEA.
function seaModule(): SeaModule | undefined {
  try {
    const sea = require('node:sea') as SeaModule;
    return sea.isSea() ? sea : undefined;
  } catch {
    return undefined;
  }
}

function embedded(sea: SeaModule | undefined, name: string): string | undefined {
  try {
    return sea?.getAsset(name, 'utf8');
  } catch {
    return undefined; // not embedded: the caller reads the file beside the executable
  }
}

async function main(): Promise<void> {
  // Copies, hashes and fsyncs share libuv's pool (see bin/run.js); the executable is started without a shell
  // wrapper, so the variable is set here, before the pool is first used.
  process.env.UV_THREADPOOL_SIZE ??= '8';
  // V8 grows the heap less before a full collection (see bin/run.js: a large site's runs peak 30-50 MB lower).
  setFlagsFromString('--optimize-for-size');
  const args = process.argv.slice(2);
  if (args[0] === GUARD_ARG) {
    process.argv.splice(2, 1);
    await import('../runbook/reaper-main.js');
    return;
  }
  const pjson = QSADMIN_EXE_PJSON;
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-v' || args[0] === 'version')) {
    process.stdout.write(`${pjson.oclif.bin}/${pjson.version} ${process.platform}-${process.arch} node-${process.version}\n`);
    return;
  }
  const sea = seaModule();
  // The executable's folder, or the bundle's when it runs as a script (the release zip lays both out alike).
  const root = path.dirname(sea ? process.execPath : process.argv[1]);
  setPackaged({ root, asset: (name) => embedded(sea, name), guardArgs: sea ? [GUARD_ARG] : [process.argv[1], GUARD_ARG] });
  // oclif (and through the registry every command) is loaded only now: --version above stays a bare Node start.
  const { execute, settings } = await import('@oclif/core');
  // No TypeScript lookup, whatever NODE_ENV says: oclif would look for tsconfig.json and the typescript package.
  settings.enableAutoTranspile = false;
  // userPlugins/devPlugins off: the executable takes no plugins installed later (there is no npm on the server).
  await execute({ args, loadOptions: { root, pjson: pjson as never, userPlugins: false, devPlugins: false } });
}

void main();
