// Stands in for @oclif/core's lib/module-loader.js inside the single-file build (build.mjs swaps it in).
// oclif loads commands, the help class and hooks by file path; qsadmin.exe has no files to load. Its package.json
// names them "qsadmin-bundle:<key>" and this loader hands back the module bundled under that key. Anything else
// (a plugin, a path from a user's config) is refused with the reason, not searched for on disk.
'use strict';
// Required on first use, not at load: oclif's own modules require this one while @oclif/core is still loading, and
// the commands in the registry extend its Command class.
let registry;

const PREFIX = 'qsadmin-bundle:';

function lookup(modulePath) {
  const s = String(modulePath);
  const at = s.lastIndexOf(PREFIX);
  const key = at >= 0 ? s.slice(at + PREFIX.length) : undefined;
  registry ??= require('qsadmin-bundle:registry');
  const module = key === undefined ? undefined : registry[key];
  if (!module) {
    const err = new Error(`${s} is not part of the qsadmin.exe build (it loads no modules from disk); use the npm package for plugins`);
    err.code = 'MODULE_NOT_FOUND';
    throw err;
  }
  return { filePath: s, isESM: true, module };
}

exports.load = async (_config, modulePath) => lookup(modulePath).module;
exports.loadWithData = async (_config, modulePath) => lookup(modulePath);
exports.loadWithDataFromManifest = async (cached) => lookup(`${PREFIX}${cached.id}`);
exports.isPathModule = () => false;
