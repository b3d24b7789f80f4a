// A plain-SQL pg_dumpall file (the guide's §5 "after uninstall" backup), split for a restore by new name and swap:
// the roles part (only missing roles are created, never a password) and one script per Qlik database, rewritten to
// load into "<DB>__qsadmin_restore" (createdb is done by qsadmin with the owner and encoding the file records).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../runbook/fsutil.js';
import { restoreName } from './database.js';

export const QLIK_DATABASES = ['QSR', 'SenseServices', 'QSMQ', 'Licenses', 'QLogs'];

export interface SplitDumpall {
  dir: string;
  globals: string;
  serverVersion?: string;
  databases: Array<{ name: string; owner: string; encoding: string; file: string }>;
}

/** Unquote an SQL identifier ("QSR" → QSR). */
function unquote(s: string): string {
  return s.startsWith('"') ? s.slice(1, -1).replace(/""/g, '"') : s;
}

/** Rewrite one database's section to load into its restore name; returns the script and what it records. */
export function rewriteSection(db: string, lines: string[]): { sql: string; owner?: string; encoding?: string } {
  const target = `"${restoreName(db).replace(/"/g, '""')}"`;
  const name = `(?:"${db.replace(/"/g, '""').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"|${db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')})`;
  const onDb = new RegExp(`(DATABASE )${name}(?=[ ;])`);
  let owner: string | undefined;
  let encoding: string | undefined;
  const out: string[] = [];
  for (const line of lines) {
    if (new RegExp(`^CREATE DATABASE ${name} `).test(line)) {
      encoding = /ENCODING = '([^']+)'/.exec(line)?.[1];
      continue; // qsadmin creates the database (template0, recorded owner and encoding)
    }
    if (/^DROP DATABASE /.test(line)) continue;
    const own = new RegExp(`^ALTER DATABASE ${name} OWNER TO (.+);$`).exec(line);
    if (own) {
      owner = unquote(own[1]);
      continue;
    }
    if (/^\\connect /.test(line)) {
      out.push(`\\connect ${target}`);
      continue;
    }
    if (/^(ALTER|COMMENT ON|GRANT|REVOKE|SECURITY LABEL ON)\b/.test(line) && onDb.test(line)) {
      out.push(line.replace(onDb, `$1${target}`));
      continue;
    }
    out.push(line);
  }
  return { sql: out.join('\n'), owner, encoding };
}

/** Split a pg_dumpall file once into a folder under scratchBase (kept for resume); returns the parts. */
export function splitDumpall(file: string, scratchBase: string): SplitDumpall {
  const st = fs.statSync(file);
  const key = createHash('sha256').update(`${file}|${st.size}|${st.mtimeMs}`).digest('hex').slice(0, 12);
  const dir = path.join(scratchBase, `${path.basename(file)}-${key}`);
  const index = path.join(dir, 'index.json');
  if (fs.existsSync(index)) return JSON.parse(fs.readFileSync(index, 'utf8')) as SplitDumpall;
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const serverVersion = lines.map((l) => /^-- Dumped from database version ([0-9.]+)/.exec(l)?.[1]).find(Boolean);
  const marks: Array<{ at: number; db: string }> = [];
  lines.forEach((l, i) => {
    const m = /^-- Database "(.+)" dump$/.exec(l);
    if (m) marks.push({ at: i, db: m[1] });
  });
  const firstDb = marks.length ? marks[0].at : lines.length;
  const globals = path.join(dir, 'globals.sql');
  fs.writeFileSync(globals, lines.slice(0, firstDb).join('\n'), { mode: 0o600 });
  const databases: SplitDumpall['databases'] = [];
  marks.forEach((m, i) => {
    if (!QLIK_DATABASES.includes(m.db)) return;
    const section = lines.slice(m.at, i + 1 < marks.length ? marks[i + 1].at : lines.length);
    const r = rewriteSection(m.db, section);
    const out = path.join(dir, `${m.db}.sql`);
    fs.writeFileSync(out, r.sql, { mode: 0o600 });
    databases.push({ name: m.db, owner: r.owner ?? 'postgres', encoding: r.encoding ?? 'UTF8', file: out });
  });
  const result: SplitDumpall = { dir, globals, serverVersion, databases };
  writeFileAtomic(index, JSON.stringify(result, null, 2) + '\n');
  return result;
}
