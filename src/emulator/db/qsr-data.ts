// Bulk QSR rows for a generated site, made inside the server with INSERT ... SELECT over generate_series
// (much faster than sending rows). IDs are md5(<seed>-<kind>-<n>)::uuid, so a seed always gives the same rows.
import type pg from 'pg';
import { insertRows, md5Uuid, type Row } from './sql.js';

export interface QsrVolume {
  users: number;
  streams: number;
  customRules: number;
  tags: number;
  appObjectsPerApp: number;
  executionResults: number;
  detailsPerResult: number;
}

export interface AppRow {
  id: string;
  name: string;
  size: number;
}

export interface StaticRef {
  logicalPath: string;
  externalPath: string;
  size: number;
  library: string;
}

// The generated ID of the n-th entity of a kind, as JS computes it (SQL uses md5(...)::uuid, the same value).
export function genId(seed: number, kind: string, n: number): string {
  return md5Uuid(`${seed}-${kind}-${n}`);
}

// SQL expression for the generated ID of the entity whose number is `nExpr`.
function idSql(seed: number, kind: string, nExpr: string): string {
  return `md5('${seed}-${kind}-' || (${nExpr}))::uuid`;
}

const BY = `'INTERNAL\\sa_repository'`;

// The INSERT ... SELECT statements: users and streams (before the Apps rows, which reference them), then tasks,
// execution results, rules, tags, app objects and data connections (after them).
export function bulkSql(seed: number, v: QsrVolume, apps: number, nodeNames: string[]): { beforeApps: string[]; afterApps: string[] } {
  const id = (kind: string, n: string) => idSql(seed, kind, n);
  const nodesArr = `ARRAY[${nodeNames.map((n) => `'${n.replace(/'/g, "''")}'`).join(', ')}]`;
  const d = v.detailsPerResult;
  const beforeApps = [
    `SELECT setseed(${((seed % 1000) / 1000).toFixed(3)})`,
    `INSERT INTO "Users" ("ID","ModifiedByUserName","UserId","UserDirectory","Name","Roles")
     SELECT ${id('user', 'i')}, ${BY}, 'user' || lpad(i::text, 6, '0'), 'CORP', 'User ' || i || ' ' || md5(i::text),
            CASE WHEN i % 250 = 0 THEN 'ContentAdmin' ELSE '' END
       FROM generate_series(1, ${v.users}) i`,
    `INSERT INTO "UserAttributes" ("ID","ModifiedByUserName","UserID","AttributeType","AttributeValue","ExternalId")
     SELECT ${id('userattr', 'i')}, ${BY}, ${id('user', `(i - 1) / 3 + 1`)},
            (ARRAY['email','group','group'])[i % 3 + 1],
            CASE i % 3 WHEN 0 THEN 'user' || i || '@corp.example' ELSE 'grp_' || (i % 97) END, md5(i::text)
       FROM generate_series(1, ${v.users * 3}) i`,
    `INSERT INTO "Streams" ("ID","ModifiedByUserName","Name","OwnerID")
     SELECT ${id('stream', 'i')}, ${BY}, 'Stream ' || i, ${id('user', `i % ${v.users} + 1`)} FROM generate_series(1, ${v.streams}) i`,
  ];
  const afterApps = [
    `INSERT INTO "ReloadTasks" ("ID","ModifiedByUserName","Name","AppID","Enabled","OperationalID")
     SELECT ${id('task', 'i')}, ${BY}, 'Reload task of app ' || i, ${id('app', 'i')}, i % 10 <> 0, ${id('taskop', 'i')}
       FROM generate_series(1, ${apps}) i`,
    `INSERT INTO "ReloadTaskOperationals" ("ID","ModifiedByUserName","LastExecutionResultID","NextExecution")
     SELECT ${id('taskop', 'i')}, ${BY}, NULL, now() + (i || ' minutes')::interval FROM generate_series(1, ${apps}) i`,
    `INSERT INTO "ExecutionResults" ("ID","ModifiedByUserName","ExecutionID","AppID","TaskID","Status","StartTime","StopTime",
                                     "Duration","ScriptLogLocation","ScriptLogSize","ExecutingNodeName")
     SELECT ${id('result', 'i')}, 'INTERNAL\\sa_scheduler', ${id('execution', 'i')}, ${id('app', `i % ${apps} + 1`)},
            ${id('task', `i % ${apps} + 1`)}, (random() * 8)::int, now() - (i * 37 || ' seconds')::interval,
            now() - (i * 37 - 30 || ' seconds')::interval, (random() * 600000)::bigint,
            'Script Logs\\' || md5(i::text) || '.log', (random() * 2000000)::bigint,
            (${nodesArr})[i % ${nodeNames.length} + 1]
       FROM generate_series(1, ${v.executionResults}) i`,
    `INSERT INTO "ExecutionResultDetails" ("ID","ModifiedByUserName","DetailsType","Message","DetailCreatedDate")
     SELECT ${id('detail', 'i')}, 'INTERNAL\\sa_scheduler', i % 4,
            (ARRAY['Reload started','Changing task state from Started to','Script log line','Reload finished, duration',
                   'Engine connection established with','Data model saved'])[i % 6 + 1]
              || ' ' || md5(i::text) || ': ' || repeat(md5((i::bigint * 7919)::text) || ' ', 1 + (random() * 8)::int),
            now() - (i * 5 || ' seconds')::interval
       FROM generate_series(1, ${v.executionResults * d}) i`,
    `INSERT INTO "ExecutionResultDetailExecutionResults" ("ID","ModifiedByUserName","ExecutionResultDetailID","ExecutionResultID")
     SELECT ${id('detaillink', 'i')}, 'INTERNAL\\sa_scheduler', ${id('detail', 'i')}, ${id('result', `(i - 1) / ${d} + 1`)}
       FROM generate_series(1, ${v.executionResults * d}) i`,
    `INSERT INTO "SystemRules" ("ID","ModifiedByUserName","Name","Rule","ResourceFilter","Actions","Category","Type","Disabled","Comment","RuleContext")
     SELECT ${id('rule', 'i')}, 'CORP\\admin', 'Custom rule ' || i,
            '((user.group="grp_' || (i % 97) || '" and resource.@GroupAccess="' || md5(i::text) || '") or user.roles="ContentAdmin")',
            (ARRAY['Stream_*','App_*','App.Object_*','DataConnection_*','ReloadTask_*'])[i % 5 + 1],
            (ARRAY[2, 6, 3, 34, 1])[i % 5 + 1], 'Security', 'Custom', i % 17 = 0, 'generated rule ' || md5((i + 1)::text), i % 3
       FROM generate_series(1, ${v.customRules}) i`,
    `INSERT INTO "Tags" ("ID","ModifiedByUserName","Name") SELECT ${id('tag', 'i')}, ${BY}, 'Tag ' || i FROM generate_series(1, ${v.tags}) i`,
    `INSERT INTO "TagApps" ("ID","ModifiedByUserName","TagID","AppID")
     SELECT ${id('tagapp', 'i')}, ${BY}, ${id('tag', `i % ${v.tags} + 1`)}, ${id('app', 'i')} FROM generate_series(1, ${apps}) i`,
    `INSERT INTO "AppObjects" ("ID","ModifiedByUserName","AppID","EngineObjectId","EngineObjectType","Name","ObjectType","Published","Approved","OwnerID","ContentHash")
     SELECT ${id('appobject', 'i')}, ${BY}, ${id('app', `(i - 1) / ${v.appObjectsPerApp} + 1`)}, substr(md5(i::text), 1, 8),
            (ARRAY['sheet','masterobject','bookmark','story','dimension','measure'])[i % 6 + 1], 'Object ' || i,
            (ARRAY['sheet','masterobject','bookmark','story','dimension','measure'])[i % 6 + 1], i % 3 = 0, i % 5 = 0,
            ${id('user', `i % ${v.users} + 1`)}, md5((i * 31)::text)
       FROM generate_series(1, ${apps * v.appObjectsPerApp}) i`,
    `INSERT INTO "DataConnections" ("ID","ModifiedByUserName","Name","ConnectionString","Type","UserName","Password","OwnerID")
     SELECT ${id('dataconn', 'i')}, ${BY}, 'Connection ' || i,
            CASE WHEN i % 2 = 0 THEN 'CUSTOM CONNECT TO "provider=QvOdbcConnectorPackage.exe;driver=postgres;host=db' || i || '.corp;port=5432;db=sales;"'
                 ELSE '\\\\fs\\data\\folder' || i || '\\' END,
            CASE WHEN i % 2 = 0 THEN 'QvOdbcConnectorPackage.exe' ELSE 'folder' END,
            CASE WHEN i % 2 = 0 THEN 'svc_reader' END,
            CASE WHEN i % 2 = 0 THEN 'ENC:' || encode(decode(md5(i::text) || md5((i + 7)::text), 'hex'), 'base64') END,
            ${id('user', `i % ${v.users} + 1`)}
       FROM generate_series(1, ${Math.max(2, Math.ceil(apps / 2))}) i`,
  ];
  return { beforeApps, afterApps };
}

// Insert the app rows that match the app files on the share.
export async function insertApps(c: pg.Client, seed: number, v: QsrVolume, apps: AppRow[]): Promise<void> {
  const rows: Row[] = apps.map((a, i) => {
    const published = i % 3 !== 0;
    return {
      ID: a.id, ModifiedByUserName: 'INTERNAL\\sa_repository', Name: a.name, AppId: a.id, FileSize: a.size,
      Published: published, PublishTime: published ? new Date(Date.now() - i * 3_600_000) : null,
      StreamID: published ? genId(seed, 'stream', (i % v.streams) + 1) : null,
      OwnerID: genId(seed, 'user', (i % v.users) + 1), LastReloadTime: new Date(Date.now() - i * 60_000),
      SavedInProductVersion: '14.187.4',
    };
  });
  await insertRows(c, 'Apps', rows);
}

// Insert content libraries and one StaticContentReferences row per static file.
export async function insertStaticRefs(c: pg.Client, seed: number, refs: StaticRef[]): Promise<void> {
  const libs = [...new Set(refs.map((r) => r.library))];
  const libIds = new Map(libs.map((l, i) => [l, genId(seed, 'library', i + 1)]));
  await insertRows(c, 'ContentLibraries', libs.map((l) => ({ ID: libIds.get(l), ModifiedByUserName: 'INTERNAL\\sa_repository', Name: l, Type: 0 })));
  const rows = refs.map((r, i) => ({
    ID: genId(seed, 'staticref', i + 1), ModifiedByUserName: 'INTERNAL\\sa_repository',
    LogicalPath: r.logicalPath, ExternalPath: r.externalPath, FileSize: r.size,
  }));
  await insertRows(c, 'StaticContentReferences', rows);
  await insertRows(c, 'StaticContentReferenceContentLibraries', refs.map((r, i) => ({
    ID: genId(seed, 'staticreflib', i + 1), ModifiedByUserName: 'INTERNAL\\sa_repository',
    StaticContentReferenceID: genId(seed, 'staticref', i + 1), ContentLibraryID: libIds.get(r.library),
  })));
}
