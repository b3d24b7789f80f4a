// Qlik Sense client-managed releases as Programs and Features names them ("Qlik Sense February 2022", patches as
// "Qlik Sense February 2022 Patch 3"), ordered, for the checks the guide ties to a release (QPI from February 2022).
import type { InstalledProduct } from '../host/types.js';

const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];

export interface QlikRelease {
  /** "February 2022". */
  name: string;
  /** Sortable: year * 12 + month index. */
  order: number;
  version: string;
  /** "Patch 3" entries for this release. */
  patches: string[];
}

/** Order of a release name ("February 2022"), or null when it is not "<Month> <Year>". */
export function releaseOrder(name: string): number | null {
  const m = /^(\w+)\s+(\d{4})$/.exec(name.trim());
  if (!m) return null;
  const month = MONTHS.indexOf(m[1].toLowerCase());
  return month < 0 ? null : Number(m[2]) * 12 + month;
}

/** The installed Qlik Sense release and its patches, from the product list; null when Qlik Sense is not listed. */
export function installedRelease(products: InstalledProduct[]): QlikRelease | null {
  const base = products.map((p) => ({ p, m: /^Qlik Sense (\w+ \d{4})$/.exec(p.name.trim()) })).find((x) => x.m);
  if (!base) return null;
  const name = base.m![1];
  const patches = products.filter((p) => new RegExp(`^Qlik Sense ${name} Patch \\d+$`).test(p.name.trim())).map((p) => p.name.trim().slice(`Qlik Sense ${name} `.length));
  return { name, order: releaseOrder(name)!, version: base.p.version, patches };
}
