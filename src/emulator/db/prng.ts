// A seeded xorshift128 generator: deterministic test data, and incompressible bytes at about 2 GB/s
// (faster here than AES-CTR from node:crypto, and never repeating a block that zstd --long could find again).
import { createHash } from 'node:crypto';

export class Prng {
  private x: number;
  private y: number;
  private z: number;
  private w: number;

  // Seed the state from a text key (the same key gives the same sequence).
  constructor(key: string) {
    const h = createHash('sha256').update(key).digest();
    this.x = h.readUInt32LE(0) | 1;
    this.y = h.readUInt32LE(4);
    this.z = h.readUInt32LE(8);
    this.w = h.readUInt32LE(12);
  }

  // The next 32-bit unsigned value.
  next(): number {
    const t = this.x ^ (this.x << 11);
    this.x = this.y;
    this.y = this.z;
    this.z = this.w;
    this.w = (this.w ^ (this.w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    return this.w;
  }

  // A float in [0, 1).
  float(): number {
    return this.next() / 4294967296;
  }

  // An integer in [lo, hi].
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  // One element of a list.
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)];
  }

  // Fill a buffer with random bytes (the hot loop keeps the state in locals).
  fill(buf: Buffer): void {
    if (buf.byteOffset % 4 !== 0) {
      const aligned = Buffer.alloc(buf.length);
      this.fill(aligned);
      aligned.copy(buf);
      return;
    }
    const words = buf.length >>> 2;
    const u = new Uint32Array(buf.buffer, buf.byteOffset, words);
    let { x, y, z, w } = this;
    for (let i = 0; i < words; i++) {
      const t = x ^ (x << 11);
      x = y;
      y = z;
      z = w;
      w = w ^ (w >>> 19) ^ (t ^ (t >>> 8));
      u[i] = w;
    }
    this.x = x;
    this.y = y;
    this.z = z;
    this.w = w >>> 0;
    for (let i = words << 2; i < buf.length; i++) buf[i] = this.next() & 0xff;
  }
}
