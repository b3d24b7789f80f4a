// A scratch PostgreSQL cluster: started as the unprivileged postgres account, reachable with its password only.
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, listDatabases, serverVersion, withClient } from '../src/postgres/client.js';
import { PgCluster } from '../src/postgres/cluster.js';

const PORTS: [number, number] = [15432, 15499];

describe('PgCluster.scratch', () => {
  let cluster: PgCluster;
  let root: string;

  beforeAll(async () => {
    cluster = await PgCluster.scratch({ portRange: PORTS });
    root = path.dirname(cluster.dataDir);
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('listens on a port of the test range and runs as the postgres account', async () => {
    expect(cluster.port).toBeGreaterThanOrEqual(PORTS[0]);
    expect(cluster.port).toBeLessThanOrEqual(PORTS[1]);
    const pid = await cluster.pid();
    expect(pid).toBeGreaterThan(0);
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
    if (process.getuid?.() === 0) expect(uid).not.toBe(0);
    expect((await stat(cluster.dataDir)).uid).toBe(uid);
    expect((await stat(cluster.dataDir)).mode & 0o777).toBe(0o700);
  });

  it('keeps its logs inside the data directory and listens on TCP only', async () => {
    expect(existsSync(path.join(cluster.dataDir, 'log'))).toBe(true);
    const conf = await readFile(path.join(cluster.dataDir, 'postgresql.conf'), 'utf8');
    expect(conf).toMatch(new RegExp(`^port = ${cluster.port}$`, 'm'));
    expect(conf).toMatch(/^listen_addresses = '127\.0\.0\.1'$/m);
    expect(conf).toMatch(/^unix_socket_directories = ''$/m);
  });

  it('answers SQL: version, UTF8 encoding, no user databases yet', async () => {
    const v = await serverVersion(cluster.conn());
    expect(v.major).toBeGreaterThanOrEqual(12);
    expect(v.version).toMatch(/^\d+\.\d+$/);
    expect(await listDatabases(cluster.conn())).toEqual([]);
    const enc = await withClient(cluster.conn(), async (c) => (await c.query('SHOW server_encoding')).rows[0].server_encoding);
    expect(enc).toBe('UTF8');
  });

  it('requires the password (scram-sha-256) and says so clearly', async () => {
    await expect(connect({ ...cluster.conn(), password: 'wrong' })).rejects.toThrow(
      new RegExp(`cannot connect to PostgreSQL at 127\\.0\\.0\\.1:${cluster.port} \\(user "postgres", database "postgres"\\): password authentication failed for user "postgres": check the password`),
    );
    const enc = await withClient(cluster.conn(), async (c) => (await c.query(`SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'`)).rows[0].rolpassword);
    expect(enc).toMatch(/^SCRAM-SHA-256\$/);
  });

  it('reports a refused connection with the fix', async () => {
    await expect(connect({ host: '127.0.0.1', port: 1, user: 'postgres', password: 'x' })).rejects.toThrow(/nothing listens there/);
  });

  it('leaves no password file behind', async () => {
    expect(await readdir(root)).toEqual(['data']);
  });

  it('stops and starts again, and destroy removes everything', async () => {
    await cluster.stop();
    expect(await cluster.isRunning()).toBe(false);
    expect(await cluster.pid()).toBeNull();
    await cluster.start({ timeoutMs: 30_000 });
    expect(await cluster.isRunning()).toBe(true);
    const other = await PgCluster.scratch({ portRange: PORTS, start: false });
    expect(await other.isRunning()).toBe(false);
    await other.destroy();
    expect(existsSync(path.dirname(other.dataDir))).toBe(false);
  });
});
