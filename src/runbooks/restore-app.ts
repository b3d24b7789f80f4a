// `qsadmin restore app`: one app back from a backup set, through QRS, with every service running (no downtime).
//
// The procedure: find the app in the set's QSR dump (without restoring it) → take its file (stored on the share under
// the app's id) out of the set and check its sha256 against the manifest → upload it to the central node
// (POST /qrs/app/upload) under its old name or --as; with --replace, upload it as a temporary app, replace the
// existing app's content with it (PUT /qrs/app/{uploaded}/replace?app={existing}) and delete the temporary app →
// restore what an upload does not carry and the backup knows, where it still exists on the site: owner, tags and
// custom property values (PUT /qrs/app/{id} with the current modifiedDate), then the stream (PUT /qrs/app/{id}/publish).
// What could not be restored (a stream, a user, a tag that no longer exists) is reported, not an error.
//
// Resume: the uploaded app's id is in outputs before the next step starts. A run killed during the upload itself
// left "upload started at T" in outputs: the resumed upload first looks for the app QRS may have made (same name and
// file size, created after T) and adopts it, so a resume does not upload twice. Every later step is idempotent.
import { requireElevated } from './operator-checks.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkedSetFile, findBackedUpApp, readBackedUpApps, SetReader, type BackedUpApp } from '../backup/app-catalog.js';
import { hashFile } from '../backup/hashcopy.js';
import { mkdirPrivateSync } from '../host/private-files.js';
import type { Host } from '../host/types.js';
import { QrsClient, QrsError } from '../qrs/client.js';
import { centralQrs, getOrNull } from '../qrs/central.js';
import { InputError } from '../runbook/errors.js';
import { faultPoint } from '../runbook/fault.js';
import type { Runbook, Step, StepContext } from '../runbook/step.js';
import { loadSiteConfig } from '../site/config.js';
import { centralNode, type SiteConfig } from '../site/model.js';
import type { BuildEnv } from './registry.js';
import { siteLockKey } from './service-steps.js';

export interface RestoreAppInputs {
  sitePath: string;
  /** The set: a folder or a .tar. */
  source: string;
  /** The app in the set: its id or its name. */
  app: string;
  /** Upload under this name instead of the backed-up one. */
  as?: string;
  /** Replace the content of the existing app (same id, else same name) instead of adding a new app. */
  replace?: boolean;
  /** Publish to this stream (id or name) instead of the backed-up one. */
  publishTo?: string;
}

/** The app as QRS returns it (the fields used here). */
interface QrsApp {
  id: string;
  name: string;
  modifiedDate: string;
  createdDate?: string;
  published: boolean;
  fileSize: number;
  owner: { id: string; userId: string; userDirectory: string } | null;
  stream: { id: string; name: string } | null;
  tags: Array<{ id: string; name: string }>;
  customProperties: Array<{ value: string; definition: { id: string; name: string } }>;
}

interface Entity {
  id: string;
  name?: string;
  userId?: string;
  userDirectory?: string;
}

interface RestoreAppContext extends StepContext {
  site: SiteConfig;
  app: BackedUpApp;
  qrs(): Promise<QrsClient>;
  reader(): Promise<SetReader>;
}

const QVF_TYPE = 'application/vnd.qlik.sense.app';


// The existing app whose content --replace replaces: the backed-up id if it is still there, else the only app of that name.
async function replaceTarget(qrs: QrsClient, app: BackedUpApp, name: string): Promise<QrsApp> {
  const same = await getOrNull<QrsApp>(qrs, `/qrs/app/${app.id}`);
  if (same) return same;
  const named = (await qrs.get<QrsApp[]>('/qrs/app/full')).filter((a) => a.name === name);
  if (named.length === 1) return named[0];
  if (named.length > 1) throw new InputError(`--replace: the app ${app.id} is gone from the site and ${named.length} apps are named "${name}" (${named.map((a) => a.id).join(', ')})`, 'pass --as with a unique name, or restore without --replace as a new app');
  throw new InputError(`--replace: the site has no app ${app.id} and none named "${name}": there is nothing to replace`, 'restore without --replace to add the app again');
}

// The stream to publish to: --publish-to (id or name, must exist) or the backed-up one (may be gone: then reported).
async function streamTarget(qrs: QrsClient, app: BackedUpApp, publishTo: string | undefined): Promise<{ id: string; name: string } | { missing: string } | null> {
  const streams = await qrs.get<Entity[]>('/qrs/stream/full');
  if (publishTo) {
    const byId = streams.find((x) => x.id === publishTo.toLowerCase());
    const found = byId ? [byId] : streams.filter((x) => x.name === publishTo);
    if (found.length === 1) return { id: found[0].id, name: found[0].name ?? '' };
    if (found.length > 1) throw new InputError(`--publish-to "${publishTo}": ${found.length} streams have that name`, 'pass the stream id instead (the QMC shows it under Streams)');
    throw new InputError(`--publish-to "${publishTo}": the site has no such stream`, `streams on the site: ${streams.map((x) => x.name).join(', ') || 'none'}`);
  }
  if (!app.stream) return null;
  const s = streams.find((x) => x.id === app.stream!.id) ?? streams.find((x) => x.name === app.stream!.name);
  return s ? { id: s.id, name: s.name ?? '' } : { missing: `stream "${app.stream.name}" (${app.stream.id}) no longer exists on the site: the app was left unpublished (publish it with --publish-to)` };
}

// Read the uploaded/target app id from outputs.
function appIdOf(ctx: RestoreAppContext): string {
  return ctx.outputs.require<string>('app.id', 'restore-app.upload');
}

// Step: the app file out of the set into the run folder, its sha256 checked against the manifest.
function fileStep(app: BackedUpApp): Step<RestoreAppContext> {
  return {
    id: 'restore-app.file',
    title: `Take the app file ${app.storedPath} out of the set and check its sha256 against the manifest`,
    check: async (ctx) => {
      const f = ctx.outputs.get<{ path: string; sha256: string }>('app.file');
      return !!f && fs.existsSync(f.path) && (await hashFile(f.path)).sha256 === app.file!.sha256;
    },
    run: async (ctx) => {
      const reader = await ctx.reader();
      const src = await checkedSetFile(reader, app.file!);
      const out = path.join(ctx.runDir, 'app', `${app.id}.qvf`);
      mkdirPrivateSync(path.dirname(out));
      await fs.promises.copyFile(src, out);
      fs.chmodSync(out, 0o600);
      reader.close();
      const w = await hashFile(out);
      if (w.sha256 !== app.file!.sha256) throw new Error(`the copy of ${app.storedPath} in ${out} does not match the manifest's sha256 (disk error?)`);
      ctx.outputs.set('app.file', { path: out, sha256: w.sha256, bytes: w.bytes });
      ctx.log(`${app.storedPath}: ${w.bytes} bytes, sha256 ${w.sha256} as in the manifest`);
    },
  };
}

// Step: POST /qrs/app/upload; the new id goes into outputs (under `key`) before the step ends.
function uploadStep(id: string, title: string, key: string, uploadName: (ctx: RestoreAppContext) => string): Step<RestoreAppContext> {
  return {
    id,
    title,
    check: async (ctx) => {
      const up = ctx.outputs.get<string>(key);
      return !!up && (await getOrNull(await ctx.qrs(), `/qrs/app/${up}`)) !== null;
    },
    run: async (ctx) => {
      const qrs = await ctx.qrs();
      const name = uploadName(ctx);
      const file = ctx.outputs.require<{ path: string; bytes: number }>('app.file', 'restore-app.file');
      const started = ctx.outputs.get<string>(`${key}.started`);
      if (started) {
        // A run killed during the upload: QRS may have made the app before the id was recorded.
        const made = (await qrs.get<QrsApp[]>('/qrs/app/full')).filter((a) => a.name === name && Number(a.fileSize) === file.bytes && a.createdDate && Date.parse(a.createdDate) >= Date.parse(started) - 1000);
        if (made.length === 1) {
          ctx.outputs.set(key, made[0].id);
          ctx.log(`the interrupted upload had made app ${made[0].id} ("${name}"): adopted, not uploaded again`);
          return;
        }
      }
      ctx.outputs.set(`${key}.started`, new Date().toISOString());
      const a = await qrs.postFile<QrsApp>(`/qrs/app/upload?name=${encodeURIComponent(name)}&keepdata=true`, file.path, QVF_TYPE);
      faultPoint('restore-app.upload:answered'); // the crash test's window: QRS made the app, its id is not recorded yet
      if (!a || typeof a.id !== 'string') throw new Error(`QRS answered the upload without an app id: ${JSON.stringify(a).slice(0, 200)}`);
      ctx.outputs.set(key, a.id);
      ctx.log(`uploaded as app ${a.id} ("${a.name}", ${a.fileSize} bytes)`);
    },
  };
}

// Steps of --replace: the uploaded copy's content into the existing app, then the copy deleted.
function replaceSteps(target: QrsApp): Step<RestoreAppContext>[] {
  return [
    {
      id: 'restore-app.replace',
      title: `Replace the content of app ${target.id} ("${target.name}") with the backed-up one (PUT /qrs/app/{uploaded}/replace?app=${target.id})`,
      destructive: true,
      check: async (ctx) => ctx.outputs.get('app.id') === target.id,
      run: async (ctx) => {
        const uploaded = ctx.outputs.require<string>('upload.id', 'restore-app.upload');
        await (await ctx.qrs()).put(`/qrs/app/${uploaded}/replace?app=${target.id}`);
        ctx.outputs.set('app.id', target.id);
        ctx.log(`app ${target.id} now has the content of the backup (via the temporary app ${uploaded})`);
      },
    },
    {
      id: 'restore-app.cleanup',
      title: 'Delete the temporary app the content came from',
      check: async (ctx) => {
        const uploaded = ctx.outputs.get<string>('upload.id');
        return !uploaded || (await getOrNull(await ctx.qrs(), `/qrs/app/${uploaded}`)) === null;
      },
      run: async (ctx) => {
        const uploaded = ctx.outputs.require<string>('upload.id', 'restore-app.upload');
        await (await ctx.qrs()).delete(`/qrs/app/${uploaded}`);
        ctx.log(`temporary app ${uploaded} deleted`);
      },
    },
  ];
}

// Record something that could not be restored (kept in outputs: the report and --json show it).
function notRestored(ctx: RestoreAppContext, what: string): void {
  const list = ctx.outputs.get<string[]>('notRestored') ?? [];
  if (!list.includes(what)) ctx.outputs.set('notRestored', [...list, what]);
  ctx.log(`not restored: ${what}`);
}

// Step: owner, tags and custom properties as the backup knows them, where they exist on the site.
function propertiesStep(app: BackedUpApp): Step<RestoreAppContext> {
  return {
    id: 'restore-app.properties',
    title: `Restore the owner${app.owner ? ` (${app.owner.userDirectory}\\${app.owner.userId})` : ''}, ${app.tags.length} tags and ${app.customProperties.length} custom property values the backup records`,
    run: async (ctx) => {
      const qrs = await ctx.qrs();
      const id = appIdOf(ctx);
      const body: Record<string, unknown> = {};
      if (app.owner) {
        const o = app.owner;
        const user = (await getOrNull<Entity>(qrs, `/qrs/user/${o.id}`)) ?? (await qrs.get<Entity[]>('/qrs/user/full')).find((u) => u.userDirectory?.toLowerCase() === o.userDirectory.toLowerCase() && u.userId?.toLowerCase() === o.userId.toLowerCase());
        if (user) body.owner = { id: user.id };
        else notRestored(ctx, `owner ${o.userDirectory}\\${o.userId} (${o.id}) no longer exists on the site: the app is owned by the uploading user`);
      }
      const tags: Array<{ id: string }> = [];
      const siteTags = app.tags.length ? await qrs.get<Entity[]>('/qrs/tag/full') : [];
      for (const t of app.tags) {
        const found = siteTags.find((x) => x.id === t.id) ?? siteTags.find((x) => x.name === t.name);
        if (found) tags.push({ id: found.id });
        else notRestored(ctx, `tag "${t.name}" (${t.id}) no longer exists on the site`);
      }
      body.tags = tags;
      const cps: Array<{ definition: { id: string }; value: string }> = [];
      const defs = app.customProperties.length ? await qrs.get<Entity[]>('/qrs/custompropertydefinition/full') : [];
      for (const cp of app.customProperties) {
        const found = defs.find((d) => d.id === cp.definitionId) ?? defs.find((d) => d.name === cp.definition);
        if (found) cps.push({ definition: { id: found.id }, value: cp.value });
        else notRestored(ctx, `custom property ${cp.definition} = "${cp.value}": its definition no longer exists on the site`);
      }
      body.customProperties = cps;
      // QRS refuses an update whose modifiedDate is not the app's current one (409): read, send, and read again once on a conflict.
      for (let attempt = 1; ; attempt++) {
        const current = await qrs.get<QrsApp>(`/qrs/app/${id}`);
        try {
          await qrs.put(`/qrs/app/${id}`, { ...body, id, modifiedDate: current.modifiedDate });
          break;
        } catch (e) {
          if (!(e instanceof QrsError && e.status === 409) || attempt >= 3) throw e;
          ctx.log(`app ${id} changed while it was updated (409): read again`);
        }
      }
      ctx.outputs.set('properties', { owner: body.owner ?? null, tags: tags.length, customProperties: cps.length });
    },
  };
}

// Step: publish the app to the backed-up stream (or --publish-to), where it exists.
function publishStep(app: BackedUpApp, stream: { id: string; name: string } | { missing: string } | null): Step<RestoreAppContext> {
  const title = !stream ? 'Leave the app unpublished, as it was in the backup' : 'missing' in stream ? 'Report the backed-up stream as gone (the app stays unpublished)' : `Publish the app to stream "${stream.name}" (PUT /qrs/app/{id}/publish)`;
  return {
    id: 'restore-app.publish',
    title,
    check: async (ctx) => {
      if (!stream || 'missing' in stream) return false;
      const a = await qrs(ctx);
      return a.published && a.stream?.id === stream.id;
    },
    run: async (ctx) => {
      if (!stream) return;
      if ('missing' in stream) return notRestored(ctx, stream.missing);
      const id = appIdOf(ctx);
      const a = await qrs(ctx);
      if (a.published) {
        if (a.stream?.id !== stream.id) notRestored(ctx, `the app is published in stream "${a.stream?.name}"; it was not moved to "${stream.name}" (move it in the QMC)`);
        return;
      }
      await (await ctx.qrs()).put(`/qrs/app/${id}/publish?stream=${stream.id}`);
      ctx.log(`app ${id} published to stream "${stream.name}"${app.stream && app.stream.id !== stream.id ? ` (the backup had "${app.stream.name}")` : ''}`);
    },
  };
  async function qrs(ctx: RestoreAppContext): Promise<QrsApp> {
    return (await ctx.qrs()).get<QrsApp>(`/qrs/app/${appIdOf(ctx)}`);
  }
}

/** Build the single-app restore; reads the set's QSR dump and asks QRS what exists, changes nothing. */
export async function buildRestoreApp(inputs: RestoreAppInputs, env: BuildEnv): Promise<Runbook<RestoreAppContext>> {
  void env;
  const site = loadSiteConfig(inputs.sitePath);
  if (inputs.as !== undefined && !inputs.as.trim()) throw new InputError('--as is empty', 'give the name the restored app gets, e.g. --as "Sales (restored)"');
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'qsadmin-restore-app-'));
  let app: BackedUpApp;
  try {
    const reader = await SetReader.open(inputs.source, scratch);
    try {
      app = findBackedUpApp(await readBackedUpApps(reader), inputs.app, inputs.source);
      if (!app.file) {
        throw new InputError(
          `the backup ${inputs.source} does not hold the file of app ${app.id} ("${app.name}")${app.storedPath ? `: ${app.storedPath} is not in its manifest` : ': the set has no copy of the share\'s app folder'}`,
          'the set was made with --skip-share or without the app folder: use another set (qsadmin backup apps <set> shows which apps have their file)',
        );
      }
      // The file is checked now, so that a damaged set is refused before anything is planned or uploaded.
      await checkedSetFile(reader, app.file);
    } finally {
      reader.close();
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  const name = inputs.as ?? app.name;
  const { openHost } = await import('../host/index.js');
  const central = centralNode(site);
  let host: Host | undefined;
  let client: QrsClient | undefined;
  const qrsClient = async () => (client ??= await centralQrs(site, (host ??= await openHost(site, central.name))));
  const close = async () => {
    client?.close();
    client = undefined;
    await host?.close().catch(() => undefined);
    host = undefined;
  };
  let target: QrsApp | undefined;
  let stream: Awaited<ReturnType<typeof streamTarget>>;
  try {
    // The node's client certificate (ProgramData) and QRS as an administrator: elevated, as the guide runs everything.
    await requireElevated(async () => (host ??= await openHost(site, central.name)), [central], 'qsadmin restore app');
    const qrs = await qrsClient();
    if (inputs.replace) target = await replaceTarget(qrs, app, name);
    stream = await streamTarget(qrs, app, inputs.publishTo);
  } catch (e) {
    await close();
    throw e;
  }
  const notes = [
    `app ${app.id} "${app.name}" from ${inputs.source}: ${app.file.bytes} bytes, sha256 ${app.file.sha256.slice(0, 16)}… (checked)`,
    `backed-up owner ${app.owner ? `${app.owner.userDirectory}\\${app.owner.userId}` : 'none'}, stream ${app.stream ? `"${app.stream.name}"` : 'none (unpublished)'}, ${app.tags.length} tags, ${app.customProperties.length} custom property values`,
    target
      ? `--replace: the content of app ${target.id} ("${target.name}") is replaced; its id, and so its links, stay`
      : `uploaded to the central node as a new app "${name}" (QRS gives it a new id)${inputs.as ? '' : '; an app of that name that is still there is left alone'}`,
    'services keep running: QRS does the upload, nothing is stopped',
  ];
  if (stream && 'missing' in stream) notes.push(stream.missing);
  const uploadTitle = target
    ? `Upload the backed-up app as a temporary app "${name} (qsadmin restore)" to the central node (POST /qrs/app/upload)`
    : `Upload the app to the central node as "${name}" (POST /qrs/app/upload)`;
  const items: Step<RestoreAppContext>[] = [
    fileStep(app),
    target
      ? uploadStep('restore-app.upload', uploadTitle, 'upload.id', () => `${name} (qsadmin restore)`)
      : uploadStep('restore-app.upload', uploadTitle, 'app.id', () => name),
    ...(target ? replaceSteps(target) : []),
    propertiesStep(app),
    publishStep(app, stream),
  ];
  let reader: SetReader | undefined;
  return {
    name: 'restore.app',
    site: inputs.sitePath,
    lockKey: siteLockKey(site),
    inputs: { ...inputs },
    notes,
    items,
    context: (b: StepContext): RestoreAppContext => ({
      ...b,
      site,
      app,
      qrs: qrsClient,
      reader: async () => (reader ??= await SetReader.open(inputs.source, b.runDir)),
    }),
    report: (r) => {
      const id = r.outputs?.['app.id'] as string | undefined;
      const missing = (r.outputs?.notRestored as string[] | undefined) ?? [];
      if (r.status !== 'succeeded') return '';
      return [
        `app "${app.name}" restored as ${id}${target ? ' (content replaced)' : ''}`,
        ...(missing.length ? ['not restored:', ...missing.map((m) => `  - ${m}`)] : ['owner, tags, custom properties and stream: as in the backup']),
      ].join('\n');
    },
    dispose: async () => {
      reader?.close();
      await close();
    },
    close,
  };
}
