// Running pg_dump, pg_restore, pg_dumpall, psql, createdb and dropdb. The password reaches the child only
// through its environment (PGPASSWORD) or a 0600 pgpass file (PGPASSFILE), never through its arguments.
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import {
  createdbArgs, dropdbArgs, pgDumpallArgs, pgDumpArgs, pgRestoreArgs, pgRestoreListArgs, psqlArgs,
  type CreatedbArgs, type DropdbArgs, type PgDumpallArgs, type PgDumpArgs, type PgRestoreArgs, type PgTarget, type PsqlArgs,
} from './args.js';
import { toolFile } from './bin.js';
import { withClient, type PgConn } from './client.js';
import { childEnv, ownGroup, track } from '../runbook/children.js';

export * from './args.js';
export { writePgpass, pgpassLine, type PgpassEntry } from './pgpass.js';

export interface PgToolContext {
  /** Folder with the client tools (findPgBinDir). */
  binDir: string;
  password?: string;
  /** A pgpass file to use instead of a password (takes precedence over an inherited PGPASSWORD). */
  pgpassFile?: string;
  /** Extra environment for the child. */
  env?: Record<string, string>;
  timeoutMs?: number;
  platform?: NodeJS.Platform;
}

export interface PgToolResult {
  stdout: string;
  stderr: string;
}

/** A client tool failed: carries the tool, the database and the tool's own stderr. */
export class PgToolError extends Error {
  constructor(
    readonly tool: string,
    readonly db: string | undefined,
    readonly exitCode: number | undefined,
    readonly stderr: string,
    message: string,
  ) {
    super(message);
    this.name = 'PgToolError';
  }
}

interface RunMeta {
  db?: string;
  target?: PgTarget;
  /** The dump file, for tools that read one without a server. */
  file?: string;
}

// Environment for a client tool: the essentials only (children.ts: no inherited secret, no PG* variable of ours),
// plus the password or pgpass file, which only PostgreSQL's tools get.
export function pgToolEnv(ctx: Pick<PgToolContext, 'password' | 'pgpassFile' | 'env'>): Record<string, string> {
  const env = childEnv();
  env.PGCONNECT_TIMEOUT = '15';
  if (ctx.pgpassFile) env.PGPASSFILE = ctx.pgpassFile;
  else if (ctx.password !== undefined) env.PGPASSWORD = ctx.password;
  return { ...env, ...ctx.env };
}

// Describe what a tool was doing, for messages: `pg_dump of database "QSR" at db1:4432`.
function describe(tool: string, meta: RunMeta): string {
  const at = meta.target ? ` at ${meta.target.host}:${meta.target.port}` : '';
  if (meta.file) return `${tool} of ${meta.file}`;
  return meta.db ? `${tool} of database "${meta.db}"${at}` : `${tool}${at}`;
}

// Turn a failed or unstartable child into a PgToolError.
function toolError(tool: string, meta: RunMeta, r: { exitCode?: number; stderr?: unknown; timedOut?: boolean; code?: string; message?: string }, file: string): PgToolError {
  const stderr = String(r.stderr ?? '').trim();
  let why: string;
  if (r.code === 'ENOENT') why = `${file} does not exist: check the PostgreSQL bin folder`;
  else if (r.timedOut) why = 'timed out';
  else why = `exit ${r.exitCode ?? '?'}${stderr ? `: ${stderr}` : ''}`;
  return new PgToolError(tool, meta.db, r.exitCode, stderr, `${describe(tool, meta)} failed (${why})`);
}

// Run one client tool to completion and return its output; throws PgToolError on failure.
export async function runPgTool(ctx: PgToolContext, tool: string, args: string[], meta: RunMeta = {}, input?: string): Promise<PgToolResult> {
  const file = toolFile(ctx.binDir, tool, ctx.platform);
  const r = await track(
    execa(file, args, {
      reject: false,
      env: pgToolEnv(ctx),
      extendEnv: false,
      timeout: ctx.timeoutMs,
      ...ownGroup(),
      ...(input !== undefined ? { input } : { stdin: 'ignore' as const }),
    }),
  );
  if (r.failed) throw toolError(tool, meta, r as never, file);
  return { stdout: String(r.stdout), stderr: String(r.stderr) };
}

// Dump one database to a file.
export async function pgDump(ctx: PgToolContext, o: PgDumpArgs & { file: string }): Promise<PgToolResult> {
  return runPgTool(ctx, 'pg_dump', pgDumpArgs(o), { db: o.db, target: o });
}

// Restore a dump file into a database.
export async function pgRestore(ctx: PgToolContext, o: PgRestoreArgs): Promise<PgToolResult> {
  return runPgTool(ctx, 'pg_restore', pgRestoreArgs(o), { db: o.db, target: o });
}

// Read a dump's table of contents: the entries (comment lines dropped) and their count.
export async function pgRestoreList(ctx: PgToolContext, file: string): Promise<{ count: number; entries: string[] }> {
  const r = await runPgTool(ctx, 'pg_restore', pgRestoreListArgs(file), { file });
  const entries = r.stdout.split('\n').filter((l) => l.trim() !== '' && !l.startsWith(';'));
  return { count: entries.length, entries };
}

// Dump roles and tablespaces (pg_dumpall -g).
export async function pgDumpall(ctx: PgToolContext, o: PgDumpallArgs): Promise<PgToolResult> {
  return runPgTool(ctx, 'pg_dumpall', pgDumpallArgs(o), { target: o });
}

// Run an SQL script or command with psql (stops at the first error).
export async function psql(ctx: PgToolContext, o: PsqlArgs): Promise<PgToolResult> {
  return runPgTool(ctx, 'psql', psqlArgs(o), { db: o.db, target: o });
}

// Create a database (from template0, UTF8).
export async function createdb(ctx: PgToolContext, o: CreatedbArgs): Promise<PgToolResult> {
  return runPgTool(ctx, 'createdb', createdbArgs(o), { db: o.db, target: o });
}

// Drop a database.
export async function dropdb(ctx: PgToolContext, o: DropdbArgs): Promise<PgToolResult> {
  return runPgTool(ctx, 'dropdb', dropdbArgs(o), { db: o.db, target: o });
}

export interface PgDumpStream {
  /** The dump bytes as pg_dump writes them. */
  stdout: Readable;
  pid: number | undefined;
  /** Resolves when pg_dump exits 0; rejects with PgToolError (its stderr) otherwise. */
  done: Promise<void>;
  kill(): void;
}

// Start pg_dump writing to stdout, for dump → compress → checksum → disk in one pass. The caller must read stdout.
export function spawnPgDump(ctx: PgToolContext, o: Omit<PgDumpArgs, 'file'>): PgDumpStream {
  if (o.format === 'directory') throw new Error(`pg_dump of "${o.db}": the directory format cannot be streamed`);
  return spawnToStdout(ctx, 'pg_dump', pgDumpArgs(o), { db: o.db, target: o });
}

// Start psql running `commands` (one -c each, in one session) with its output to stdout, e.g. a COPY ... TO STDOUT
// inside a transaction that imported a snapshot. The caller must read stdout.
export function spawnPsqlOut(ctx: PgToolContext, o: PgTarget & { db: string }, commands: string[]): PgDumpStream {
  const args = [...psqlArgs({ ...o, command: commands[0] }), ...commands.slice(1).flatMap((c) => ['-c', c])];
  return spawnToStdout(ctx, 'psql', args, { db: o.db, target: o });
}

// A client tool whose stdout the caller streams; `done` settles with its exit (PgToolError with its stderr).
function spawnToStdout(ctx: PgToolContext, tool: string, args: string[], meta: RunMeta): PgDumpStream {
  const file = toolFile(ctx.binDir, tool, ctx.platform);
  const child = track(
    execa(file, args, {
      reject: false,
      env: pgToolEnv(ctx),
      extendEnv: false,
      timeout: ctx.timeoutMs,
      stdin: 'ignore',
      buffer: { stdout: false, stderr: true },
      ...ownGroup(),
    }),
  );
  const done = child.then((r) => {
    if (r.failed) throw toolError(tool, meta, r as never, file);
  });
  done.catch(() => undefined); // observed by the caller; never an unhandled rejection here
  return { stdout: child.stdout, pid: child.pid, done, kill: () => child.kill() };
}

// End every session on a database except our own (before dropdb or a restore); returns how many were ended.
export async function terminateConnections(cfg: PgConn, db: string): Promise<number> {
  return withClient(cfg, async (c) => {
    const r = await c.query<{ ok: boolean }>(
      'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [db],
    );
    return r.rows.filter((x) => x.ok).length;
  });
}
