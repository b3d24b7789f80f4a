// Undo a restore's changes to the certificate stores when nothing else live changed (the failure came before the
// database swap): the backup's certificates it imported are removed again (not those that were there before the
// run), the certificates it removed are imported back from their safety export, and Exported Certificates (with its
// PEM copies) is put back from the safety folder. The node is then as before the run, and its services can start.
import fs from 'node:fs';
import path from 'node:path';
import type { CertSetIndex } from '../certs/export.js';
import { placements, type LoadedSet } from '../certs/import.js';
import { storeLabel } from '../certs/qlik.js';
import type { Host, StoreRef } from '../host/types.js';

const key = (store: StoreRef, thumbprint: string) => `${storeLabel(store)}|${thumbprint.toUpperCase()}`;

/** The set's certificates already in the stores (recorded before the run changes them). */
export async function setCertsPresent(host: Host, set: LoadedSet, serviceAccount: string): Promise<string[]> {
  const out: string[] = [];
  for (const p of placements(set, serviceAccount)) {
    if ((await host.certs.list(p.store)).some((c) => c.thumbprint.toUpperCase() === p.cert.info.thumbprint.toUpperCase())) out.push(key(p.store, p.cert.info.thumbprint));
  }
  return out;
}

/** Put the stores and Exported Certificates back as they were before the run; returns what it did, a line each. */
export async function undoCertificates(host: Host, o: { set: LoadedSet; serviceAccount: string; presentBefore: string[]; safetyDir: string; password: string }): Promise<string[]> {
  const done: string[] = [];
  const before = new Set(o.presentBefore);
  for (const p of placements(o.set, o.serviceAccount)) {
    const k = key(p.store, p.cert.info.thumbprint);
    if (before.has(k)) continue;
    if ((await host.certs.list(p.store)).some((c) => c.thumbprint.toUpperCase() === p.cert.info.thumbprint.toUpperCase())) {
      await host.certs.remove(p.store, p.cert.info.thumbprint);
      done.push(`removed the backup's ${p.cert.info.subject} from ${storeLabel(p.store)}`);
    }
  }
  const indexFile = path.join(o.safetyDir, 'replaced.json');
  const index = fs.existsSync(indexFile) ? (JSON.parse(fs.readFileSync(indexFile, 'utf8')) as CertSetIndex) : [];
  for (const e of index) {
    if ((await host.certs.list(e.store)).some((c) => c.thumbprint.toUpperCase() === e.thumbprint.toUpperCase())) continue;
    await host.certs.importPfx(e.store, fs.readFileSync(path.join(o.safetyDir, e.file)), o.password);
    done.push(`imported ${e.subject} back into ${storeLabel(e.store)}`);
  }
  const kept = path.join(o.safetyDir, 'Exported Certificates');
  if (fs.existsSync(kept)) {
    const live = host.files.resolve(host.paths.exportedCertificates);
    fs.mkdirSync(live, { recursive: true });
    fs.cpSync(kept, live, { recursive: true, force: true });
    done.push(`put Exported Certificates back from ${kept}`);
  }
  const pem = path.join(o.safetyDir, 'local-pem');
  if (fs.existsSync(pem)) {
    // Named after their Windows paths by keepAside: the part after the last "__" is the file name.
    for (const f of fs.readdirSync(pem)) await host.files.write(path.win32.join(host.paths.localCertificates, f.slice(f.lastIndexOf('__') + 2)), fs.readFileSync(path.join(pem, f)), { mode: /key/i.test(f) ? 0o600 : 0o644 });
    done.push(`put the PEM copies back from ${pem}`);
  }
  return done;
}
