#!/usr/bin/env -S node --max-semi-space-size=2
// qsadmin entry point: oclif reads commands from dist/commands (see package.json "oclif").
// --max-semi-space-size=2 (MB): under a backup's allocation rate V8 grows its young generation to its default maximum
// and keeps it; 2 MB semi-spaces cost no measurable time here and took 38 MB off the peak RSS (142 -> 104 MB, a medium
// nightly backup).
// It must be given at start (v8.setFlagsFromString later does not resize the heap); `node bin/run.js` runs without it.
// `--version` is answered without loading oclif: monitoring and wrappers call it often, and start-up matters.
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';

// --optimize-for-size: V8 grows its old generation less before a full collection. A backup or restore of a site with
// 30,000 share files keeps about 25 MB live, yet V8 let the heap reach 100-115 MB of mostly garbage (an xlarge
// nightly: 214 MB RSS); with this flag it stays near half that, at no measurable cost in time. Unlike the semi-space
// size it takes effect when set at run time, so it also holds for `node bin/run.js` and the Windows exe.
setFlagsFromString('--optimize-for-size');

// Copies (copy_file_range), hashes and fsyncs share libuv's thread pool; its default of 4 threads would queue
// a backup's file copies behind a few slow fsyncs. Set before anything uses the pool.
process.env.UV_THREADPOOL_SIZE ??= '8';

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-v' || args[0] === 'version')) {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`${pkg.oclif?.bin ?? pkg.name}/${pkg.version} ${process.platform}-${process.arch} node-${process.version}\n`);
} else {
  const { execute } = await import('@oclif/core');
  await execute({ dir: import.meta.url });
}
