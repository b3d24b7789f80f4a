// Qlik Sense client-managed releases as Programs and Features names them ("Qlik Sense February 2022", patches as
// "Qlik Sense February 2022 Patch 3"; before June 2017 versions: "Qlik Sense 3.1 SR1"), ordered, and the facts the
// guide ties to a release: QPI from February 2022, the upgrade path (§3.3), the root certificate (§4.2, §4.4).
import type { InstalledProduct } from '../host/types.js';

const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];

export interface QlikRelease {
  /** "February 2022" (or "3.1 SR1" for the numbered releases before June 2017). */
  name: string;
  /** Sortable: year * 12 + month index (numbered releases sort before June 2017). */
  order: number;
  version: string;
  /** "Patch 3" entries for this release. */
  patches: string[];
  /** The build that runs: the version of the latest patch, else the release's (what /qrs/about reports). */
  build: string;
}

const JUNE_2017 = 2017 * 12 + 5;

/** Order of a release name ("February 2022", "3.1 SR1"), or null when it is neither form. */
export function releaseOrder(name: string): number | null {
  const m = /^(\w+)\s+(\d{4})$/.exec(name.trim());
  if (m) {
    const month = MONTHS.indexOf(m[1].toLowerCase());
    return month < 0 ? null : Number(m[2]) * 12 + month;
  }
  // 1.0 ... 3.2 SR5: before June 2017, in version order (a fraction of a month apart)
  const v = /^(\d)\.(\d)(?:\s+SR(\d+))?$/i.exec(name.trim());
  if (!v) return null;
  return JUNE_2017 - 1 - (40 - (Number(v[1]) * 10 + Number(v[2]))) / 10 + Number(v[3] ?? 0) / 100;
}

/** The order of a release name that must be valid (a constant of this module or a checked input). */
function orderOf(name: string): number {
  const o = releaseOrder(name);
  if (o === null) throw new Error(`"${name}" is not a Qlik Sense release name (e.g. "February 2022" or "3.1 SR1")`);
  return o;
}

/** The patch number of "Patch 3", or null. */
export function patchNumber(patch: string): number | null {
  const m = /^Patch (\d+)$/i.exec(patch.trim());
  return m ? Number(m[1]) : null;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The installed Qlik Sense release and its patches, from the product list; null when Qlik Sense is not listed. */
export function installedRelease(products: InstalledProduct[]): QlikRelease | null {
  const base = products.map((p) => ({ p, m: /^Qlik Sense (\w+ \d{4}|\d\.\d(?: SR\d+)?)$/.exec(p.name.trim()) })).find((x) => x.m);
  if (!base) return null;
  const name = base.m![1];
  const rows = products.filter((p) => new RegExp(`^Qlik Sense ${escape(name)} Patch \\d+$`).test(p.name.trim()));
  rows.sort((a, b) => patchNumber(a.name.slice(`Qlik Sense ${name} `.length))! - patchNumber(b.name.slice(`Qlik Sense ${name} `.length))!);
  const patches = rows.map((p) => p.name.trim().slice(`Qlik Sense ${name} `.length));
  return { name, order: orderOf(name), version: base.p.version, patches, build: rows.length ? rows[rows.length - 1].version : base.p.version };
}

/** A refusal of the upgrade path, with the setup exit code the emulator gives it (labelled there as assumptions). */
export interface PathProblem {
  code: number;
  message: string;
  hint: string;
}

/**
 * The guide's upgrade path (§3.3 "Upgrade path constraints"): 3.1 SR1 and earlier go to June 2017 first; February
 * 2021 and later need November 2020 first; a downgrade or the same release is no upgrade. Null: the path is supported.
 */
export function upgradePathProblem(from: string, to: string): PathProblem | null {
  const a = orderOf(from);
  const b = orderOf(to);
  if (b < a) return { code: -4, message: `Qlik Sense ${to} is older than the installed ${from}: that is a downgrade`, hint: 'use the setup file of a later release; to go back, restore the backup taken before the upgrade' };
  if (b === a) return { code: -7, message: `Qlik Sense ${to} is already installed: that is no upgrade`, hint: 'to repair it use qsadmin repair; to update it use qsadmin patch' };
  if (a <= orderOf('3.1 SR1') && b > JUNE_2017) return { code: -7, message: `Qlik Sense ${from} (3.1 SR1 or earlier) must be upgraded to June 2017 before a later release (guide §3.3)`, hint: 'upgrade to Qlik Sense June 2017 first, then to the target' };
  if (a < orderOf('November 2020') && b >= orderOf('February 2021')) return { code: -11, message: `Qlik Sense ${to} supports only .NET 4.8 and must be reached from November 2020 (guide §3.3); the installed release is ${from}`, hint: 'upgrade to Qlik Sense November 2020 first, then to the target' };
  return null;
}

/** Local PostgreSQL 9.6 blocks an upgrade to August 2023 or later (guide §3.3). */
export function blocksLocal96(to: string): boolean {
  return orderOf(to) >= orderOf('August 2023');
}

/**
 * The root certificate must be re-created (guide §4.2 step 5, §3.3 "February 2020"): deployments first installed with
 * June 2019 or earlier, upgraded to February 2020 or later.
 */
export function rootCertMustBeRecreated(firstInstalled: string, to: string): boolean {
  return orderOf(firstInstalled) <= orderOf('June 2019') && orderOf(to) >= orderOf('February 2020');
}

/** Patches after which the root certificate is re-created (guide §4.4 "Recreating root certificates"): these and later. */
export const ROOT_CERT_PATCHES: Record<string, number> = { 'February 2019': 8, 'April 2019': 8, 'June 2019': 11, 'September 2019': 7, 'November 2019': 6 };

/** The root certificate must be re-created after this patch (guide §4.4). */
export function patchNeedsRootCert(release: string, patch: number): boolean {
  const from = ROOT_CERT_PATCHES[release];
  return from !== undefined && patch >= from;
}
