// A small BSON codec for what mongodump writes (a .bson file is BSON documents one after another): enough to check a
// dump in `backup verify` and for the emulator's fake tools. Types: double, string, document, array, ObjectId, bool,
// UTC datetime, null, int32, int64. ObjectId and datetime appear as {$oid} and {$date} (Extended JSON), as
// mongoexport shows them.
export type Doc = Record<string, unknown>;

/** Encode one document. */
export function encodeDoc(doc: Doc): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(doc)) parts.push(element(k, v));
  const body = Buffer.concat(parts);
  const out = Buffer.alloc(body.length + 5);
  out.writeInt32LE(out.length, 0);
  body.copy(out, 4);
  out[out.length - 1] = 0;
  return out;
}

function cstring(s: string): Buffer {
  if (s.includes('\0')) throw new Error(`a BSON key cannot hold a NUL character: ${JSON.stringify(s)}`);
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
}

function element(key: string, v: unknown): Buffer {
  const head = (type: number) => Buffer.concat([Buffer.from([type]), cstring(key)]);
  if (v === null || v === undefined) return head(0x0a);
  if (typeof v === 'boolean') return Buffer.concat([head(0x08), Buffer.from([v ? 1 : 0])]);
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) {
      const b = Buffer.alloc(4);
      b.writeInt32LE(v);
      return Buffer.concat([head(0x10), b]);
    }
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    return Buffer.concat([head(0x01), b]);
  }
  if (typeof v === 'string') {
    const s = Buffer.from(v, 'utf8');
    const len = Buffer.alloc(4);
    len.writeInt32LE(s.length + 1);
    return Buffer.concat([head(0x02), len, s, Buffer.from([0])]);
  }
  if (Array.isArray(v)) return Buffer.concat([head(0x04), encodeDoc(Object.fromEntries(v.map((x, i) => [String(i), x])))]);
  if (typeof v === 'object') {
    const o = v as Doc;
    if (typeof o.$oid === 'string' && Object.keys(o).length === 1 && /^[0-9a-f]{24}$/i.test(o.$oid)) return Buffer.concat([head(0x07), Buffer.from(o.$oid, 'hex')]);
    if (typeof o.$date === 'string' && Object.keys(o).length === 1) {
      const b = Buffer.alloc(8);
      b.writeBigInt64LE(BigInt(Date.parse(o.$date)));
      return Buffer.concat([head(0x09), b]);
    }
    return Buffer.concat([head(0x03), encodeDoc(o)]);
  }
  throw new Error(`cannot encode ${typeof v} as BSON (key ${key})`);
}

/** Decode every document of a .bson file; throws naming the offset where the bytes stop being BSON. */
export function decodeAll(buf: Buffer): Doc[] {
  const docs: Doc[] = [];
  let at = 0;
  while (at < buf.length) {
    const [doc, next] = decodeDoc(buf, at);
    docs.push(doc);
    at = next;
  }
  return docs;
}

function decodeDoc(buf: Buffer, at: number, asArray = false): [Doc, number] {
  if (at + 5 > buf.length) throw new Error(`truncated BSON document at byte ${at}`);
  const len = buf.readInt32LE(at);
  const end = at + len;
  if (len < 5 || end > buf.length || buf[end - 1] !== 0) throw new Error(`bad BSON document length ${len} at byte ${at}`);
  const doc: Doc = {};
  let p = at + 4;
  while (p < end - 1) {
    const type = buf[p++];
    const z = buf.indexOf(0, p);
    if (z < 0 || z >= end) throw new Error(`unterminated BSON key at byte ${p}`);
    const key = buf.toString('utf8', p, z);
    p = z + 1;
    let v: unknown;
    switch (type) {
      case 0x01: v = buf.readDoubleLE(p); p += 8; break;
      case 0x02: { const n = buf.readInt32LE(p); v = buf.toString('utf8', p + 4, p + 4 + n - 1); p += 4 + n; break; }
      case 0x03: case 0x04: { const [d, q] = decodeDoc(buf, p, type === 0x04); v = d; p = q; break; }
      case 0x07: v = { $oid: buf.toString('hex', p, p + 12) }; p += 12; break;
      case 0x08: v = buf[p] === 1; p += 1; break;
      case 0x09: v = { $date: new Date(Number(buf.readBigInt64LE(p))).toISOString() }; p += 8; break;
      case 0x0a: v = null; break;
      case 0x10: v = buf.readInt32LE(p); p += 4; break;
      case 0x12: v = Number(buf.readBigInt64LE(p)); p += 8; break;
      default: throw new Error(`BSON type 0x${type.toString(16)} at byte ${p} is not one qsadmin reads`);
    }
    if (p > end - 1) throw new Error(`BSON element ${key} runs past its document at byte ${at}`);
    doc[key] = v;
  }
  return [asArray ? (Object.values(doc) as unknown as Doc) : doc, end];
}
