// Loaded into qsadmin by bench-scale.js (NODE_OPTIONS=--import=...): the peak of process.memoryUsage() of the CLI's
// own process, sampled every 50 ms, written at exit to $QSADMIN_BENCH_MEMORY_DIR/<pid>.json. The bench's GNU time
// figure is the largest process of the tree; this one says whether that was qsadmin and how much of it was JS heap.
import fs from 'node:fs';
import path from 'node:path';

const dir = process.env.QSADMIN_BENCH_MEMORY_DIR;
if (dir && process.argv[1]?.endsWith(path.join('bin', 'run.js'))) {
  const peak = { rss: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    if (m.rss > peak.rss) Object.assign(peak, m);
  };
  setInterval(sample, 50).unref();
  process.on('exit', () => {
    sample();
    const mb = (n) => Math.round((n / 1048576) * 10) / 10;
    // VmHWM: the kernel's own peak RSS of this process (Linux), which a 50 ms sample can miss.
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1];
    fs.writeFileSync(path.join(dir, `${process.pid}.json`), JSON.stringify({ rssMB: mb(peak.rss), ...(hwm ? { peakRssMB: mb(Number(hwm) * 1024) } : {}), heapTotalMB: mb(peak.heapTotal), heapUsedMB: mb(peak.heapUsed), externalMB: mb(peak.external) }));
  });
}
