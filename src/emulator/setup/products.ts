// Programs and Features of an emulated node (.emulator/products.json): what setup and update write, and what the
// node's QRS reports as its build. Kept small: the emulated QRS reads it at start-up.
import fs from 'node:fs';
import path from 'node:path';
import { PRODUCTS_FILE } from '../../host/emulated/machine.js';
import type { InstalledProduct } from '../../host/types.js';

/** Programs and Features of the node (.emulator/products.json). */
export function readProducts(root: string): InstalledProduct[] {
  const file = path.join(root, '.emulator', PRODUCTS_FILE);
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as InstalledProduct[]) : [];
}

export function writeProducts(root: string, products: InstalledProduct[]): void {
  const file = path.join(root, '.emulator', PRODUCTS_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(products, null, 2) + '\n');
  fs.renameSync(tmp, file);
}

