#!/usr/bin/env node
// Service start benchmark on one emulated site: N rounds of the backup's service downtime on the central node —
// stop the Qlik services (database stays up), start them again in the guide's order and wait for servicestate 2 —
// through the same runbook steps and emulated host driver the CLI uses. Prints the median start latency of each
// service (start call → running) and of the whole stop+start cycle.
//
// With --compare <other dist folder> (e.g. a copy of the build before a change) the rounds of both builds are
// interleaved on the same site, so that the noise of this shared machine hits both alike.
//
// Usage: npm run build && node scripts/bench-service-start.js [--rounds 5] [--size tiny] [--compare /tmp/old/dist] [--dir /var/tmp/qsadmin-bench-start]
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};
const rounds = Number(arg('rounds', '5'));
const size = arg('size', 'tiny');
const siteDir = path.resolve(arg('dir', '/var/tmp/qsadmin-bench-start'));
const compare = arg('compare', null);

// The modules of one build that a stop/start cycle needs.
async function loadBuild(label, dist) {
  const load = (p) => import(path.join(dist, p));
  return {
    label,
    ...(await load('src/runbooks/service-steps.js')),
    ...(await load('src/host/emulated/index.js')),
    runner: await load('src/runbook/step.js'),
  };
}

const current = await loadBuild('this build', path.join(root, 'dist'));
const builds = compare ? [await loadBuild(`compare (${compare})`, path.resolve(compare)), current] : [current];
const { createEmulatedSite, destroySite } = await import(path.join(root, 'dist/src/emulator/site.js'));

// Run runbook items as the runner does (check, then run when the check does not hold); parallel groups at once.
// Records how long each start step's run took, by service.
async function runItems(b, items, ctx, times) {
  const runStep = async (step) => {
    if (step.check && (await step.check(ctx))) return;
    const t0 = performance.now();
    await step.run(ctx);
    times[step.id.slice(step.id.lastIndexOf('.') + 1)] = performance.now() - t0;
  };
  for (const item of items) {
    if (b.runner.isGroup(item)) await Promise.all(item.steps.map(runStep));
    else await runStep(item);
  }
}

// One cycle with one build: stop in reverse order, start in order, wait for servicestate 2.
async function cycle(b, site) {
  const node = site.nodes.find((n) => n.role === 'central');
  const host = new b.EmulatedHost(site, node);
  const ctx = { site, host: async () => host, progress: () => undefined, log: () => undefined };
  const stopTimes = {};
  const startTimes = {};
  const t0 = performance.now();
  await runItems(b, b.serviceItems(node, 'stop', { idPrefix: 'bench.stop' }), ctx, stopTimes);
  const t1 = performance.now();
  await runItems(b, [...b.serviceItems(node, 'start', { idPrefix: 'bench.start' }), b.waitRepositoryStep(node, { idPrefix: 'bench.start' })], ctx, startTimes);
  const t2 = performance.now();
  return { start: startTimes, stopMs: t1 - t0, startMs: t2 - t1, cycleMs: t2 - t0 };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

await destroySite(siteDir).catch(() => undefined);
const created = await createEmulatedSite({ dir: siteDir, size, portOffset: 47000, baseAddress: '127.0.0.250', startServices: true });
const site = created.site;
process.env[site.database.passwordEnv ?? 'QSADMIN_DB_PASSWORD'] = created.superuserPassword;
const results = new Map(builds.map((b) => [b.label, []]));
try {
  // One warm-up cycle per build (first start of a build pays for cold file caches), then the measured rounds.
  for (const b of builds) await cycle(b, site);
  for (let r = 0; r < rounds; r++) {
    for (const b of builds) {
      const res = await cycle(b, site);
      results.get(b.label).push(res);
      const per = Object.entries(res.start).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ');
      process.stderr.write(`  round ${r + 1} ${b.label}: stop ${res.stopMs.toFixed(0)} ms, start ${res.startMs.toFixed(0)} ms (${per})\n`);
    }
  }
} finally {
  await destroySite(siteDir);
}

console.log(`\nmedians over ${rounds} rounds, site ${size}, central node (ms):`);
for (const b of builds) {
  const rs = results.get(b.label);
  const order = ['QSD', 'QRS', 'QPS', 'QES', 'QSS', 'QPR', 'servicestate'];
  const names = Object.keys(rs[0].start).sort((a, b) => order.indexOf(a) - order.indexOf(b));
  const per = names.map((n) => `${n} ${median(rs.map((r) => r.start[n])).toFixed(0)}`).join('  ');
  console.log(`${b.label}:\n  start: ${per}\n  stop all ${median(rs.map((r) => r.stopMs)).toFixed(0)}  start all+servicestate ${median(rs.map((r) => r.startMs)).toFixed(0)}  cycle ${median(rs.map((r) => r.cycleMs)).toFixed(0)}`);
}
