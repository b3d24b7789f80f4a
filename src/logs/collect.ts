// `qsadmin logs collect`: each node's %ProgramData%\Qlik\Sense\Log and the share's ArchivedLogs (guide §7) for a time
// window, into one zip with a summary: Error/Fatal rows per node and service, and the guide's known signatures
// (src/logs/signatures.ts) with their fixes and sections. It reads the site and writes only the zip.
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import type { Readable } from 'node:stream';
import type { Host } from '../host/types.js';
import { InputError } from '../runbook/errors.js';
import type { SiteConfig } from '../site/model.js';
import { startNodeOrder } from '../runbooks/service-steps.js';
import { KNOWN_SIGNATURES } from './signatures.js';

export interface LogFile {
  node: string;
  /** Where it came from: the node's Log folder or the share's ArchivedLogs. */
  source: 'Log' | 'ArchivedLogs';
  /** The path on the node (Windows form for Log). */
  path: string;
  /** Path inside the zip. */
  entry: string;
  /** The service folder (Repository, Proxy, ...), or '' for files directly in the folder. */
  service: string;
  size: number;
  mtimeMs: number;
  open(): Readable;
}

export interface ServiceCount {
  node: string;
  service: string;
  error: number;
  fatal: number;
}

export interface SignatureHit {
  node: string;
  file: string;
  line: number;
  text: string;
}

export interface SignatureResult {
  id: string;
  text: string;
  section: string;
  fix: string;
  count: number;
  hits: SignatureHit[];
}

export interface LogSummary {
  since: string;
  files: number;
  bytes: number;
  counts: ServiceCount[];
  signatures: SignatureResult[];
}

const MAX_HITS = 20;

/** --since: a duration (30m, 24h, 7d) back from now, or a date/time (ISO 8601). */
export function parseSince(value: string, now = new Date()): Date {
  const m = /^(\d+)\s*([mhd])$/i.exec(value.trim());
  if (m) return new Date(now.getTime() - Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2].toLowerCase() as 'm' | 'h' | 'd']);
  const d = new Date(value);
  if (!/\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(d.getTime())) throw new InputError(`--since "${value}" is neither a duration nor a date`, 'use 30m, 24h or 7d, or a date such as 2026-01-31T08:00:00Z');
  return d;
}

// The files of one folder changed since `since`, each under a zip prefix.
async function folderFiles(files: Host['files'], dir: string, node: string, source: LogFile['source'], prefix: string, since: Date, serviceDepth: number): Promise<LogFile[]> {
  const out: LogFile[] = [];
  const rel = (p: string) => (/^[A-Za-z]:\\|^\\\\/.test(dir) ? path.win32.relative(dir, p).split('\\') : path.relative(dir, p).split(path.sep));
  try {
    for await (const f of files.walk(dir)) {
      if (f.mtimeMs < since.getTime()) continue;
      const parts = rel(f.path);
      out.push({ node, source, path: f.path, entry: [prefix, ...parts].join('/'), service: parts.length > serviceDepth ? parts[serviceDepth] : '', size: f.size, mtimeMs: f.mtimeMs, open: () => files.createReadStream(f.path) });
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return out;
}

/** Every log file of the window: each node's Log folder, then ArchivedLogs (one sub-folder per node) as QSR names it. */
export async function listLogFiles(site: SiteConfig, hostOf: (node: string) => Promise<Host>, archivedLogs: string | null, since: Date): Promise<LogFile[]> {
  const out: LogFile[] = [];
  const nodes = startNodeOrder(site);
  for (const n of nodes) {
    const host = await hostOf(n.name);
    out.push(...(await folderFiles(host.files, host.paths.logDir, n.name, 'Log', `${n.name}/Log`, since, 0)));
  }
  if (archivedLogs) {
    const central = await hostOf(nodes[0].name);
    for (const f of await folderFiles(central.files, archivedLogs, nodes[0].name, 'ArchivedLogs', 'ArchivedLogs', since, 1)) {
      // ArchivedLogs\<node hostname>\<Service>\...: the node is the first folder
      const first = f.entry.split('/')[1] ?? '';
      const node = nodes.find((n) => n.hostname.split('.')[0].toLowerCase() === first.split('.')[0].toLowerCase())?.name ?? first;
      out.push({ ...f, node });
    }
  }
  return out;
}

// Scan one file: Error/Fatal rows (by the Level column of Qlik's header) and the known signatures, line by line.
async function scanFile(f: LogFile, counts: Map<string, ServiceCount>, sigs: SignatureResult[]): Promise<void> {
  const rl = readline.createInterface({ input: f.open(), crlfDelay: Infinity });
  let level = -1;
  let n = 0;
  const key = `${f.node}|${f.service}`;
  for await (const line of rl) {
    n += 1;
    if (n === 1 && line.includes('\t') && /\bLevel\b/.test(line)) {
      level = line.split('\t').indexOf('Level');
      continue;
    }
    if (level >= 0) {
      const v = (line.split('\t')[level] ?? '').toUpperCase();
      if (v === 'ERROR' || v === 'FATAL') {
        const c = counts.get(key) ?? { node: f.node, service: f.service, error: 0, fatal: 0 };
        if (v === 'ERROR') c.error += 1;
        else c.fatal += 1;
        counts.set(key, c);
      }
    }
    for (const s of KNOWN_SIGNATURES) {
      if (!s.pattern.test(line)) continue;
      const r = sigs.find((x) => x.id === s.id)!;
      r.count += 1;
      if (r.hits.length < MAX_HITS) r.hits.push({ node: f.node, file: f.entry, line: n, text: line.replace(/\t/g, ' ').slice(0, 300) });
    }
  }
}

/** The summary of a set of log files. */
export async function summarize(files: LogFile[], since: Date): Promise<LogSummary> {
  const counts = new Map<string, ServiceCount>();
  const sigs: SignatureResult[] = KNOWN_SIGNATURES.map((s) => ({ id: s.id, text: s.text, section: s.section, fix: s.fix, count: 0, hits: [] }));
  for (const f of files) if (/\.(txt|log)$/i.test(f.entry)) await scanFile(f, counts, sigs);
  return {
    since: since.toISOString(),
    files: files.length,
    bytes: files.reduce((a, f) => a + f.size, 0),
    counts: [...counts.values()].sort((a, b) => a.node.localeCompare(b.node) || a.service.localeCompare(b.service)),
    signatures: sigs.filter((s) => s.count > 0),
  };
}

/** The summary as text (also summary.txt in the zip). */
export function formatSummary(s: LogSummary): string {
  const lines = [`${s.files} log file(s), ${s.bytes} bytes, changed since ${s.since}`, '', 'Error/Fatal rows per node and service:'];
  if (!s.counts.length) lines.push('  none');
  for (const c of s.counts) lines.push(`  ${c.node.padEnd(10)} ${(c.service || '(top)').padEnd(20)} error ${String(c.error).padStart(5)}  fatal ${String(c.fatal).padStart(5)}`);
  lines.push('', 'Known problems from the guide:');
  if (!s.signatures.length) lines.push('  none found');
  for (const g of s.signatures) {
    lines.push(`  "${g.text}": ${g.count} line(s) (${g.section})`);
    for (const h of g.hits.slice(0, 3)) lines.push(`    ${h.node} ${h.file}:${h.line}: ${h.text}`);
    lines.push(`    fix: ${g.fix}`);
  }
  return lines.join('\n');
}

/** Write the files and the summary into a zip (written as <file>.partial, then renamed: a zip that exists is complete). */
export async function writeZip(to: string, files: LogFile[], summary: LogSummary): Promise<{ file: string; bytes: number }> {
  const { ZipArchive } = await import('archiver');
  const tmp = `${to}.partial`;
  const out = fs.createWriteStream(tmp, { mode: 0o600 });
  const zip = new ZipArchive({ zlib: { level: 6 } });
  const closed = new Promise<void>((resolve, reject) => {
    out.on('close', resolve);
    out.on('error', reject);
    zip.on('error', reject);
  });
  zip.pipe(out);
  for (const f of files) zip.append(f.open(), { name: f.entry, date: new Date(f.mtimeMs) });
  zip.append(JSON.stringify(summary, null, 2) + '\n', { name: 'summary.json' });
  zip.append(formatSummary(summary) + '\n', { name: 'summary.txt' });
  try {
    await zip.finalize();
    await closed;
    fs.renameSync(tmp, to);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  return { file: to, bytes: fs.statSync(to).size };
}
